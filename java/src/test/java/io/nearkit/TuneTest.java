package io.nearkit;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.FloatBuffer;
import java.util.HashSet;
import java.util.Random;
import java.util.Set;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/** Index.tune (issue 16, part 4): the cheapest runtime setting reaching a recall target. */
@Timeout(300)
class TuneTest {
    private static final int DIM = 24;
    private static final int N = 6000;
    private static final int NQ = 200;

    /** n points around 30 centres, overlapping so that a query's neighbours spread over lists. */
    private static float[] clustered(int n, Random rng) {
        return clustered(n, rng, 30, 12);
    }

    private static float[] clustered(int n, Random rng, int clusters, double spread) {
        float[] centres = new float[clusters * DIM];
        for (int i = 0; i < centres.length; i++) {
            centres[i] = (float) (rng.nextDouble() * 20 - 10);
        }
        float[] x = new float[n * DIM];
        for (int i = 0; i < n; i++) {
            int c = rng.nextInt(clusters);
            for (int j = 0; j < DIM; j++) {
                x[i * DIM + j] = centres[c * DIM + j] + (float) ((rng.nextDouble() - 0.5) * 2 * spread);
            }
        }
        return x;
    }

    private static float[] rows(float[] x, int from, int to) {
        float[] out = new float[(to - from) * DIM];
        System.arraycopy(x, from * DIM, out, 0, out.length);
        return out;
    }

    private static double recall(Index index, Index flat, float[] queries, int k) {
        SearchResult got = index.search(queries, k);
        SearchResult want = flat.search(queries, k);
        double hits = 0;
        for (int q = 0; q < got.queryCount(); q++) {
            Set<Long> truth = new HashSet<>();
            for (long id : want.ids(q)) {
                truth.add(id);
            }
            for (long id : got.ids(q)) {
                hits += truth.contains(id) ? 1 : 0;
            }
        }
        return hits / (got.queryCount() * (double) k);
    }

    private void reachesTheTarget(String kind, String param, Index.Builder builder) {
        Assumptions.assumeTrue(Nearkit.kind(kind).isPresent(), kind + " is not in this library");
        float[] x = clustered(N + 2 * NQ, new Random(5));
        float[] base = rows(x, 0, N);
        float[] sample = rows(x, N, N + NQ);
        float[] heldOut = rows(x, N + NQ, N + 2 * NQ);
        try (Index index = builder.kind(kind).metric(Metric.L2).dimension(DIM).numThreads(1).build();
                Index flat = Index.builder().kind("flat").metric(Metric.L2).dimension(DIM).build()) {
            index.add(base);
            index.build();
            flat.add(base);
            TuneResult r = index.tune(sample, 10, 0.95);
            assertEquals(param, r.param());
            assertTrue(r.reached() && r.recall() >= 0.95 && r.qps() > 0 && r.measurements() >= 1, r.toString());
            assertEquals(r.value(), index.getParam(param));
            if (r.fineParam() == null) {
                assertEquals(0.0, r.fineValue());
            } else {
                assertEquals(r.fineValue(), index.getParam(r.fineParam()));
            }
            assertTrue(Math.abs(recall(index, flat, heldOut, 10) - r.recall()) < 0.03, r.toString());

            FloatBuffer direct = ByteBuffer.allocateDirect(sample.length * 4).order(ByteOrder.nativeOrder())
                    .asFloatBuffer().put(sample);
            direct.flip();
            TuneResult again = index.tune(direct, 10, 0.95);
            assertEquals(r.value(), again.value());
        }
    }

    @Test
    void ivfFlatReachesTheTarget() {
        reachesTheTarget("ivf_flat", "nprobe", Index.builder().param("nlist", 80));
    }

    @Test
    void hnswReachesTheTarget() {
        reachesTheTarget("hnsw", "ef_search", Index.builder().param("M", 8).param("ef_construction", 40));
    }

    /** A few large lists: one more list jumps past the target, so a scan budget is set too. */
    @Test
    void finerSettingCutsTheLastList() {
        float[] x = clustered(6300, new Random(11), 12, 9);
        float[] sample = rows(x, 6000, 6300);
        try (Index index = Index.builder().kind("ivf_flat").metric(Metric.L2).dimension(DIM)
                .param("nlist", 12).numThreads(1).build()) {
            index.add(rows(x, 0, 6000));
            index.build();
            ParamInfo budget = index.paramInfo().stream().filter(p -> p.name().equals("max_codes")).findFirst()
                    .orElseThrow();
            assertTrue(budget.isRecallFineSetting() && !budget.isRecallSetting() && budget.isInteger());
            int chosen = 0;
            for (double target : new double[] {0.6, 0.8, 0.9}) {
                TuneResult r = index.tune(sample, 10, target);
                assertTrue(r.reached() && r.recall() >= target, r.toString());
                assertEquals(r.fineValue(), index.getParam("max_codes"));
                if (r.fineParam() != null) {
                    assertEquals("max_codes", r.fineParam());
                    assertTrue(r.fineValue() >= 1, r.toString());
                    chosen++;
                }
            }
            assertTrue(chosen >= 1);
        }
    }

    @Test
    void exactKindsHaveNothingToTune() {
        float[] x = clustered(100, new Random(6));
        try (Index index = Index.builder().kind("flat").metric(Metric.L2).dimension(DIM).build()) {
            index.add(x);
            TuneResult r = index.tune(x, 5, 0.9);
            assertNull(r.param());
            assertNull(r.fineParam());
            assertEquals(1.0, r.recall());
            assertTrue(r.reached());
        }
    }

    @Test
    void badInput() {
        float[] x = clustered(500, new Random(7));
        float[] sample = rows(x, 0, 20);
        try (Index index = Index.builder().kind("ivf_flat").metric(Metric.L2).dimension(DIM)
                .param("nlist", 8).build()) {
            assertThrows(IllegalStateException.class, () -> index.tune(sample, 10, 0.9)); // empty
            index.add(x);
            assertThrows(IllegalStateException.class, () -> index.tune(sample, 10, 0.9)); // untrained
            index.build();
            assertThrows(IllegalArgumentException.class, () -> index.tune(sample, 10, 0.0));
            assertThrows(IllegalArgumentException.class, () -> index.tune(sample, 10, 1.5));
            assertThrows(IllegalArgumentException.class, () -> index.tune(sample, 10, Double.NaN));
            assertThrows(IllegalArgumentException.class, () -> index.tune(sample, 0, 0.9));
            assertThrows(IllegalArgumentException.class, () -> index.tune(new byte[DIM], 10, 0.9));
            assertThrows(IllegalArgumentException.class, () -> index.tune(new float[DIM + 1], 10, 0.9));
            TuneResult r = index.tune(sample, 10, 1.0, 0, 2, 0);
            assertFalse(r.reached());
            assertEquals(2.0, r.value());
            index.close();
            assertThrows(IllegalStateException.class, () -> index.tune(sample, 10, 0.9));
        }
    }
}
