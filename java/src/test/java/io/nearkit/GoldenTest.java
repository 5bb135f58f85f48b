package io.nearkit;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.stream.Stream;
import org.junit.jupiter.api.DynamicContainer;
import org.junit.jupiter.api.DynamicNode;
import org.junit.jupiter.api.DynamicTest;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestFactory;
import org.junit.jupiter.api.io.TempDir;

/**
 * The golden conformance suite: every case of tests/golden/manifest.json against every index kind
 * the native library reports as exact and that supports the case's metric and vector type; k-NN
 * and range search, then again after a byte-array round trip and after a file round trip.
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

    @TestFactory
    Stream<DynamicNode> manifest() throws IOException {
        Golden g = Golden.load();
        List<DynamicNode> nodes = new ArrayList<>();
        for (Map<String, Object> c : g.cases) {
            String name = (String) c.get("name");
            Metric metric = Metric.fromName((String) c.get("metric"));
            List<DynamicNode> perKind = new ArrayList<>();
            for (KindInfo kind : exactKinds(metric)) {
                perKind.add(DynamicTest.dynamicTest(kind.name(), () -> runCase(g, c, kind, metric)));
            }
            nodes.add(DynamicContainer.dynamicContainer(name, perKind));
        }
        return nodes.stream();
    }

    private static void runCase(Golden g, Map<String, Object> c, KindInfo kind, Metric metric)
            throws IOException {
        String name = (String) c.get("name");
        Golden.Dataset d = dataset(g, (String) c.get("dataset"));
        assertEquals(metric.vectorType() == VectorType.BINARY, d.binary,
                name + ": metric and dataset vector type disagree");
        int k = ((Number) c.get("k")).intValue();
        double radius = ((Number) c.get("radius")).doubleValue();
        Golden.Expected e = g.expected(c);
        String label = name + "/" + kind.name();
        try (Index index = Index.builder().kind(kind.name()).metric(metric).dimension(d.dimension).build()) {
            if (d.binary) {
                index.add(d.baseB);
            } else {
                index.add(d.baseF);
            }
            index.build();
            assertEquals(d.count, index.size());
            assertTrue(index.isReady());
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

    private static void check(Golden g, String label, Index index, Golden.Dataset d, Golden.Expected e, int k,
            double radius) {
        SearchResult r = d.binary ? index.search(d.queriesB, k) : index.search(d.queriesF, k);
        g.checkKnn(label, e, r, k);
        RangeSearchResult rr = d.binary ? index.rangeSearch(d.queriesB, (float) radius)
                : index.rangeSearch(d.queriesF, (float) radius);
        g.checkRange(label, e, rr, (float) radius);
    }
}
