package io.nearkit.bench;

import io.nearkit.Index;
import io.nearkit.Metric;
import io.nearkit.SearchResult;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.Paths;
import java.util.Arrays;
import java.util.HashMap;
import java.util.Map;

/**
 * Measures what the Java binding adds to a search, against the C baseline bench_overhead_c:
 * the same files (10,000 x 32 base and queries), a flat L2 index with one thread, k = 10;
 * the median time of one single-query search (2,000 runs, after a JIT warm-up) and the best of 5
 * runs of one 10,000-query batch. The C program and the Java measurements run back to back, three
 * rounds (system property bench.rounds), and each figure is the best of the rounds, which keeps
 * the load of other processes out of the comparison as far as possible.
 *
 * <p>Usage: {@code OverheadBench BENCH_OVERHEAD_C DIR}. Prints c_single_us, c_batch_s (from the C
 * program), java_single_us, java_overhead_us, java_batch_s, java_batch_vs_c, and two extra figures:
 * java_direct_single_us (the single-query search with a direct FloatBuffer) and java_call_floor_us
 * (a single-query search of a one-vector index: the whole cost of a call through the binding).
 */
public final class OverheadBench {
    private static final int K = 10;
    private static final int SINGLE_RUNS = 2000;
    private static final int WARMUP_RUNS = 20000;
    private static final int BATCH_RUNS = 5;

    private OverheadBench() {
    }

    public static void main(String[] args) throws Exception {
        if (args.length != 2) {
            System.err.println("usage: OverheadBench BENCH_OVERHEAD_C DIR");
            System.exit(2);
        }
        Path dir = Paths.get(args[1]);
        Files.createDirectories(dir);
        int rounds = Integer.getInteger("bench.rounds", 3);

        // Each round runs the C program and then the same measurements in Java, back to back, so
        // both see the same machine load; the best round of each figure is reported.
        double cSingle = Double.MAX_VALUE;
        double cBatch = Double.MAX_VALUE;
        double javaSingle = Double.MAX_VALUE;
        double javaDirect = Double.MAX_VALUE;
        double javaFloor = Double.MAX_VALUE;
        double javaBatch = Double.MAX_VALUE;
        for (int round = 0; round < rounds; round++) {
            Map<String, Double> c = runC(args[0], dir);
            cSingle = Math.min(cSingle, c.get("c_single_us"));
            cBatch = Math.min(cBatch, c.get("c_batch_s"));
            double[] j = measure(dir);
            javaSingle = Math.min(javaSingle, j[0]);
            javaDirect = Math.min(javaDirect, j[1]);
            javaFloor = Math.min(javaFloor, j[2]);
            javaBatch = Math.min(javaBatch, j[3]);
        }
        System.out.printf("c_single_us=%.3f%n", cSingle);
        System.out.printf("c_batch_s=%.6f%n", cBatch);
        System.out.printf("java_single_us=%.3f%n", javaSingle);
        System.out.printf("java_overhead_us=%.3f%n", javaSingle - cSingle);
        System.out.printf("java_direct_single_us=%.3f%n", javaDirect);
        System.out.printf("java_call_floor_us=%.3f%n", javaFloor);
        System.out.printf("java_batch_s=%.6f%n", javaBatch);
        System.out.printf("java_batch_vs_c=%.4f%n", javaBatch / cBatch);
    }

    private static long sink;

    private static double median(double[] times) {
        double[] t = times.clone();
        Arrays.sort(t);
        return t[t.length / 2];
    }

    /** Returns {single median us, direct-buffer single median us, call floor us, batch best s}. */
    private static double[] measure(Path dir) throws IOException {
        int[] dim = new int[1];
        float[] base = readFvecs(dir.resolve("base.fvecs"), dim);
        int d = dim[0];
        float[] queries = readFvecs(dir.resolve("queries.fvecs"), dim);
        int nq = queries.length / d;
        float[][] single = new float[nq][];
        for (int i = 0; i < nq; i++) {
            single[i] = Arrays.copyOfRange(queries, i * d, (i + 1) * d);
        }
        double[] out = new double[4];
        try (Index index = Index.builder().kind("flat").metric(Metric.L2).dimension(d).numThreads(1).build()) {
            index.add(base);
            index.build();

            for (int r = 0; r < WARMUP_RUNS; r++) {
                sink += index.search(single[r % nq], K).id(0, 0);
            }
            double[] times = new double[SINGLE_RUNS];
            for (int r = 0; r < SINGLE_RUNS; r++) {
                float[] q = single[r % nq];
                long t0 = System.nanoTime();
                SearchResult res = index.search(q, K);
                times[r] = (System.nanoTime() - t0) / 1e3;
                sink += res.id(0, 0);
            }
            out[0] = median(times);

            // the same through direct buffers (no input copy)
            FloatBuffer1 direct = new FloatBuffer1(queries, d);
            for (int r = 0; r < WARMUP_RUNS / 4; r++) {
                sink += index.search(direct.row(r % nq), K).id(0, 0);
            }
            for (int r = 0; r < SINGLE_RUNS; r++) {
                java.nio.FloatBuffer q = direct.row(r % nq);
                long t0 = System.nanoTime();
                SearchResult res = index.search(q, K);
                times[r] = (System.nanoTime() - t0) / 1e3;
                sink += res.id(0, 0);
            }
            out[1] = median(times);

            // The floor of a call through the binding: a single-query search of a one-vector index,
            // where the search itself costs next to nothing; an upper bound of the per-call overhead
            // that does not depend on timing two processes against each other.
            try (Index one = Index.builder().kind("flat").metric(Metric.L2).dimension(d).numThreads(1).build()) {
                one.add(single[0]);
                one.build();
                for (int r = 0; r < WARMUP_RUNS; r++) {
                    sink += one.search(single[r % nq], K).id(0, 0);
                }
                for (int r = 0; r < SINGLE_RUNS; r++) {
                    float[] q = single[r % nq];
                    long t0 = System.nanoTime();
                    SearchResult res = one.search(q, K);
                    times[r] = (System.nanoTime() - t0) / 1e3;
                    sink += res.id(0, 0);
                }
                out[2] = median(times);
            }

            double best = Double.MAX_VALUE;
            for (int r = 0; r < BATCH_RUNS; r++) {
                long t0 = System.nanoTime();
                SearchResult res = index.search(queries, K);
                best = Math.min(best, (System.nanoTime() - t0) / 1e9);
                sink += res.id(0, 0);
            }
            out[3] = best;
        }
        return out;
    }

    /** Direct-buffer views of each query row. */
    private static final class FloatBuffer1 {
        private final java.nio.FloatBuffer[] rows;

        FloatBuffer1(float[] data, int d) {
            java.nio.FloatBuffer all = ByteBuffer.allocateDirect(data.length * 4).order(ByteOrder.nativeOrder())
                    .asFloatBuffer();
            all.put(data);
            rows = new java.nio.FloatBuffer[data.length / d];
            for (int i = 0; i < rows.length; i++) {
                rows[i] = all.duplicate().position(i * d).limit((i + 1) * d).slice();
            }
        }

        java.nio.FloatBuffer row(int i) {
            return rows[i];
        }
    }

    private static Map<String, Double> runC(String program, Path dir) throws IOException, InterruptedException {
        Process p = new ProcessBuilder(program, dir.toString()).redirectError(ProcessBuilder.Redirect.INHERIT)
                .start();
        String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        if (p.waitFor() != 0) {
            throw new IOException(program + " failed with exit code " + p.exitValue());
        }
        Map<String, Double> values = new HashMap<>();
        for (String line : out.split("\n")) {
            int eq = line.indexOf('=');
            if (eq > 0) {
                values.put(line.substring(0, eq).trim(), Double.parseDouble(line.substring(eq + 1).trim()));
            }
        }
        if (!values.containsKey("c_single_us") || !values.containsKey("c_batch_s")) {
            throw new IOException(program + " printed no c_single_us / c_batch_s:\n" + out);
        }
        return values;
    }

    private static float[] readFvecs(Path p, int[] dimOut) throws IOException {
        ByteBuffer b = ByteBuffer.wrap(Files.readAllBytes(p)).order(ByteOrder.LITTLE_ENDIAN);
        int d = b.getInt(0);
        int n = b.remaining() / (4 + 4 * d);
        float[] out = new float[n * d];
        for (int i = 0; i < n; i++) {
            if (b.getInt() != d) {
                throw new IOException(p + ": rows of different dimensions");
            }
            for (int j = 0; j < d; j++) {
                out[i * d + j] = b.getFloat();
            }
        }
        dimOut[0] = d;
        return out;
    }
}
