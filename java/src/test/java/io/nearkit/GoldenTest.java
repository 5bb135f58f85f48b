package io.nearkit;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Optional;
import java.util.stream.Stream;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.DynamicContainer;
import org.junit.jupiter.api.DynamicNode;
import org.junit.jupiter.api.DynamicTest;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestFactory;
import org.junit.jupiter.api.io.TempDir;

/**
 * The golden conformance suite: every case of tests/golden/manifest.json against every index kind
 * the native library reports as exact and that supports the case's metric and vector type; k-NN
 * and range search, then again after a byte-array round trip and after a file round trip. The
 * manifest's approximate kinds run the same way under their exact_params, and under their
 * recall_params their recall@k must reach the manifest's floor for the case's dataset.
 *
 * <p>The manifest's living cases (docs/golden.md, "Living cases") run on the same kinds (approximate
 * ones under their exact_params only): the base added and built, the case's ids removed, some added
 * back with their ids, built again, the count checked, then k-NN and range search with the case's
 * id-list filter (all queries in one call, and one query per call), and again on a copy loaded
 * from bytes. A kind whose remove, add after build or filtered search is unsupported prints a SKIP
 * line and is skipped, not failed, while the kinds gain removal and filters.
 */
class GoldenTest {
    @TempDir
    static Path tmp;

    private static final Map<String, Golden.Dataset> DATASETS = new HashMap<>();

    private static synchronized Golden.Dataset dataset(Golden g, String name) throws IOException {
        Golden.Dataset d = DATASETS.get(name);
        if (d == null) {
            d = g.dataset(name);
            DATASETS.put(name, d);
        }
        return d;
    }

    static List<KindInfo> exactKinds(Metric metric) {
        List<KindInfo> out = new ArrayList<>();
        for (KindInfo k : Nearkit.kinds()) {
            if (k.isExact() && k.supports(metric)) {
                out.add(k);
            }
        }
        return out;
    }

    @Test
    void everyCaseHasAnExactKind() throws IOException {
        Golden g = Golden.load();
        assertFalse(g.cases.isEmpty(), "the manifest has no cases");
        for (Map<String, Object> c : g.cases) {
            Metric m = Metric.fromName((String) c.get("metric"));
            assertFalse(exactKinds(m).isEmpty(), "no exact kind supports case " + c.get("name"));
        }
    }

    @Test
    void everyLivingCaseHasAnExactKind() throws IOException {
        Golden g = Golden.load();
        assertFalse(g.living.isEmpty(), "the manifest has no living cases");
        for (Map<String, Object> c : g.living) {
            Metric m = Metric.fromName((String) c.get("metric"));
            assertFalse(exactKinds(m).isEmpty(), "no exact kind supports living case " + c.get("name"));
        }
    }

    /** The library's kind named by the manifest's approximate section, if there is one. */
    private static Optional<KindInfo> kind(Golden.Approximate a) {
        return Nearkit.kinds().stream().filter(k -> k.name().equals(a.kind())).findFirst();
    }

    @Test
    void everyApproximateKindExists() throws IOException {
        for (Golden.Approximate a : Golden.load().approximate) {
            assertTrue(kind(a).isPresent(), "the manifest's approximate kind " + a.kind()
                    + " is not a kind of the library");
        }
    }

    @TestFactory
    Stream<DynamicNode> manifest() throws IOException {
        Golden g = Golden.load();
        List<DynamicNode> nodes = new ArrayList<>();
        for (Map<String, Object> c : g.cases) {
            String name = (String) c.get("name");
            Metric metric = Metric.fromName((String) c.get("metric"));
            List<DynamicNode> perKind = new ArrayList<>();
            for (KindInfo kind : exactKinds(metric)) {
                perKind.add(DynamicTest.dynamicTest(kind.name(), () -> runCase(g, c, kind, metric, "")));
            }
            for (Golden.Approximate a : g.approximate) {
                Optional<KindInfo> kind = kind(a).filter(k -> k.supports(metric));
                if (kind.isEmpty()) {
                    continue; // not a kind of the library: everyApproximateKindExists fails
                }
                perKind.add(DynamicTest.dynamicTest(a.label() + " " + a.exactParams(),
                        () -> runCase(g, c, kind.get(), metric, a.exactParams())));
                Double floor = a.floor((String) c.get("dataset"));
                if (floor != null) {
                    perKind.add(DynamicTest.dynamicTest(a.label() + " recall " + a.recallParams(),
                            () -> checkRecall(g, c, kind.get(), metric, a.recallParams(), floor)));
                }
            }
            nodes.add(DynamicContainer.dynamicContainer(name, perKind));
        }
        return nodes.stream();
    }

    @TestFactory
    Stream<DynamicNode> living() throws IOException {
        Golden g = Golden.load();
        List<DynamicNode> nodes = new ArrayList<>();
        for (Map<String, Object> c : g.living) {
            Metric metric = Metric.fromName((String) c.get("metric"));
            List<DynamicNode> perKind = new ArrayList<>();
            for (KindInfo kind : exactKinds(metric)) {
                perKind.add(DynamicTest.dynamicTest(kind.name(), () -> runLiving(g, c, kind, metric, "")));
            }
            for (Golden.Approximate a : g.approximate) {
                Optional<KindInfo> kind = kind(a).filter(k -> k.supports(metric));
                if (kind.isPresent()) {
                    perKind.add(DynamicTest.dynamicTest(a.label() + " " + a.exactParams(),
                            () -> runLiving(g, c, kind.get(), metric, a.exactParams())));
                }
            }
            nodes.add(DynamicContainer.dynamicContainer("living " + c.get("name"), perKind));
        }
        return nodes.stream();
    }

    /**
     * A new index of the kind over the case's base vectors, built; params are index parameters as
     * the manifest writes them ("name=value,name=value", empty for none).
     */
    private static Index builtIndex(Map<String, Object> c, KindInfo kind, Metric metric, Golden.Dataset d,
            String params) {
        assertEquals(metric.vectorType() == VectorType.BINARY, d.binary,
                c.get("name") + ": metric and dataset vector type disagree");
        Index.Builder b = Index.builder().kind(kind.name()).metric(metric).dimension(d.dimension);
        for (String p : params.split(",")) {
            if (!p.isEmpty()) {
                String[] nv = p.split("=", 2);
                assertEquals(2, nv.length, "index parameter without '=': " + p);
                b.param(nv[0], nv[1]);
            }
        }
        Index index = b.build();
        try {
            if (d.binary) {
                index.add(d.baseB);
            } else {
                index.add(d.baseF);
            }
            index.build();
            assertEquals(d.count, index.size());
            assertTrue(index.isReady());
            return index;
        } catch (Throwable t) {
            index.close();
            throw t;
        }
    }

    private static void runCase(Golden g, Map<String, Object> c, KindInfo kind, Metric metric, String params)
            throws IOException {
        Golden.Dataset d = dataset(g, (String) c.get("dataset"));
        int k = ((Number) c.get("k")).intValue();
        double radius = ((Number) c.get("radius")).doubleValue();
        Golden.Expected e = g.expected(c);
        String label = c.get("name") + "/" + kind.name() + (params.isEmpty() ? "" : " " + params);
        try (Index index = builtIndex(c, kind, metric, d, params)) {
            check(g, label, index, d, e, k, radius);

            try (Index copy = Index.fromBytes(index.toBytes())) {
                check(g, label + " (bytes)", copy, d, e, k, radius);
            }
            Path file = Files.createTempFile(tmp, "golden-", ".nkx");
            index.save(file);
            try (Index copy = Index.load(file)) {
                check(g, label + " (file)", copy, d, e, k, radius);
            }
            Files.delete(file);
        }
    }

    /**
     * One living case on one kind, the steps of docs/golden.md: remove, add back, build again, the
     * count, filtered searches (batch and single), and again on a copy loaded from bytes.
     */
    private static void runLiving(Golden g, Map<String, Object> c, KindInfo kind, Metric metric, String params)
            throws IOException {
        Golden.Dataset d = dataset(g, (String) c.get("dataset"));
        Golden.Living l = g.living(c);
        int k = ((Number) c.get("k")).intValue();
        double radius = ((Number) c.get("radius")).doubleValue();
        String label = c.get("name") + "/" + kind.name() + (params.isEmpty() ? "" : " " + params);
        long count = d.count - l.remove().length + l.addBack().length;
        try (Index index = builtIndex(c, kind, metric, d, params)) {
            applyLivingChanges(label, index, d, l);
            assertEquals(count, index.size(), label + " (original): count after remove and add back");

            SearchOptions options = filterOptions(l.filter(), 0);
            if (l.filter() != null) {
                unlessUnsupported(label, "original", "a filtered search", () -> knn(index, d, 1, options));
            }
            checkLiving(g, label + " (original)", index, d, l.expected(), k, radius, options);
            checkLivingOnePerCall(g, label + " (single)", index, d, l.expected(), k, radius, options);

            try (Index copy = Index.fromBytes(index.toBytes())) {
                String at = label + " (buffer)";
                assertEquals(index.kind(), copy.kind(), at + ": kind");
                assertEquals(index.metric(), copy.metric(), at + ": metric");
                assertEquals(index.vectorType(), copy.vectorType(), at + ": vector type");
                assertEquals(index.dimension(), copy.dimension(), at + ": dimension");
                assertEquals(count, copy.size(), at + ": count");
                assertTrue(copy.isReady(), at + ": the loaded index is not ready to search");
                checkLiving(g, at, copy, d, l.expected(), k, radius, filterOptions(l.filter(), 1));
            }
        }
    }

    /**
     * Removes the case's ids (one call, even when there are none), adds the add_back ids again with
     * their base vectors in their order (one call), builds again.
     */
    private static void applyLivingChanges(String label, Index index, Golden.Dataset d, Golden.Living l) {
        long removed = unlessUnsupported(label, "remove", "remove", () -> index.remove(l.remove()));
        assertEquals(l.remove().length, removed, label + " (remove): the number removed");
        unlessUnsupported(label, "add_back", "add", () -> {
            if (d.binary) {
                index.add(baseRows(d.baseB, d.count, l.addBack()), l.addBack());
            } else {
                index.add(baseRows(d.baseF, d.count, l.addBack()), l.addBack());
            }
            return null;
        });
        unlessUnsupported(label, "rebuild", "build", () -> {
            index.build();
            return null;
        });
    }

    /** The rows of the ids from a dataset's count rows stored back to back, in the ids' order. */
    private static float[] baseRows(float[] base, int count, long[] ids) {
        int width = base.length / count;
        float[] out = new float[ids.length * width];
        for (int i = 0; i < ids.length; i++) {
            System.arraycopy(base, (int) ids[i] * width, out, i * width, width);
        }
        return out;
    }

    private static byte[] baseRows(byte[] base, int count, long[] ids) {
        int width = base.length / count;
        byte[] out = new byte[ids.length * width];
        for (int i = 0; i < ids.length; i++) {
            System.arraycopy(base, (int) ids[i] * width, out, i * width, width);
        }
        return out;
    }

    /** Search options with the case's id-list filter (none for null), on threads (0: the index's). */
    private static SearchOptions filterOptions(long[] filter, int threads) {
        SearchOptions.Builder b = SearchOptions.builder().numThreads(threads);
        if (filter != null) {
            b.filter(filter);
        }
        return b.build();
    }

    /** One step of a living case, run by unlessUnsupported; a step with no result returns null. */
    private interface Step<T> {
        T run();
    }

    /**
     * Runs the step; when the kind reports it unsupported, prints a SKIP line (as the C suite does)
     * and skips the test instead of failing it.
     */
    private static <T> T unlessUnsupported(String label, String stage, String what, Step<T> step) {
        try {
            return step.run();
        } catch (NearkitUnsupportedException e) {
            String line = "SKIP " + label + " stage=" + stage + ": " + what + " is unsupported (" + e.getMessage()
                    + ")";
            System.out.println(line);
            Assumptions.abort(line);
            throw e; // not reached: abort throws
        }
    }

    private static SearchResult knn(Index index, Golden.Dataset d, int k, SearchOptions options) {
        return d.binary ? index.search(d.queriesB, k, options) : index.search(d.queriesF, k, options);
    }

    /** Filtered k-NN and range search of all queries in one call each, compared with the case. */
    private static void checkLiving(Golden g, String label, Index index, Golden.Dataset d, Golden.Expected e,
            int k, double radius, SearchOptions options) {
        g.checkKnn(label, e, knn(index, d, k, options), k);
        RangeSearchResult rr = d.binary ? index.rangeSearch(d.queriesB, (float) radius, options)
                : index.rangeSearch(d.queriesF, (float) radius, options);
        g.checkRange(label, e, rr, (float) radius);
    }

    /** The same searches with one query per call. */
    private static void checkLivingOnePerCall(Golden g, String label, Index index, Golden.Dataset d,
            Golden.Expected e, int k, double radius, SearchOptions options) {
        int width = d.binary ? d.dimension / 8 : d.dimension;
        for (int q = 0; q < d.queryCount; q++) {
            SearchResult r;
            RangeSearchResult rr;
            if (d.binary) {
                byte[] query = Arrays.copyOfRange(d.queriesB, q * width, (q + 1) * width);
                r = index.search(query, k, options);
                rr = index.rangeSearch(query, (float) radius, options);
            } else {
                float[] query = Arrays.copyOfRange(d.queriesF, q * width, (q + 1) * width);
                r = index.search(query, k, options);
                rr = index.rangeSearch(query, (float) radius, options);
            }
            g.checkKnnRow(label + " knn query " + q, e, q, r.ids(0), r.distances(0), k);
            g.checkRangeRow(label + " range query " + q, e, q, rr.ids(0), rr.distances(0), (float) radius);
        }
    }

    /** An approximate kind under its recall parameters: recall@k against the manifest's floor. */
    private static void checkRecall(Golden g, Map<String, Object> c, KindInfo kind, Metric metric, String params,
            double floor) throws IOException {
        Golden.Dataset d = dataset(g, (String) c.get("dataset"));
        int k = ((Number) c.get("k")).intValue();
        try (Index index = builtIndex(c, kind, metric, d, params)) {
            double recall = Golden.recall(g.expected(c), knn(index, d, k));
            assertTrue(recall >= floor, String.format(Locale.ROOT,
                    "%s/%s %s: recall@%d %.4f is below the floor %.4f", c.get("name"), kind.name(), params, k,
                    recall, floor));
        }
    }

    private static SearchResult knn(Index index, Golden.Dataset d, int k) {
        return d.binary ? index.search(d.queriesB, k) : index.search(d.queriesF, k);
    }

    private static void check(Golden g, String label, Index index, Golden.Dataset d, Golden.Expected e, int k,
            double radius) {
        g.checkKnn(label, e, knn(index, d, k), k);
        RangeSearchResult rr = d.binary ? index.rangeSearch(d.queriesB, (float) radius)
                : index.rangeSearch(d.queriesF, (float) radius);
        g.checkRange(label, e, rr, (float) radius);
    }
}
