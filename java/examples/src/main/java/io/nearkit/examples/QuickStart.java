package io.nearkit.examples;

import io.nearkit.Index;
import io.nearkit.KindInfo;
import io.nearkit.Metric;
import io.nearkit.Nearkit;
import io.nearkit.RangeSearchResult;
import io.nearkit.SearchResult;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.Random;

/**
 * A tour of the nearkit Java API: build an index, search it, tune it, save and load it.
 * Exits with status 1 if anything comes out wrong, so it doubles as a smoke test.
 */
public final class QuickStart {
    private QuickStart() {
    }

    public static void main(String[] args) throws Exception {
        System.out.println("nearkit " + Nearkit.version() + " on " + Nearkit.platform());
        for (KindInfo kind : Nearkit.kinds()) {
            System.out.printf("  kind %-10s exact=%-5s %s%n", kind.name(), kind.isExact(), kind.description());
        }

        int dim = 32;
        int n = 5000;
        Random random = new Random(42);
        float[] vectors = new float[n * dim];
        for (int i = 0; i < vectors.length; i++) {
            vectors[i] = (float) random.nextGaussian();
        }

        try (Index index = Index.builder().kind("flat").metric(Metric.L2).dimension(dim).numThreads(0).build()) {
            index.add(vectors); // ids 0 .. n-1
            index.build();
            System.out.println(index + ": " + index.size() + " vectors, " + index.memoryBytes() + " bytes");

            // Query with three stored vectors: each must find itself first, at distance (about) 0.
            float[] queries = Arrays.copyOfRange(vectors, 10 * dim, 13 * dim);
            SearchResult result = index.search(queries, 5);
            for (int q = 0; q < result.queryCount(); q++) {
                System.out.println("query " + q + ": ids " + Arrays.toString(result.ids(q)) + " distances "
                        + Arrays.toString(result.distances(q)));
                check(result.id(q, 0) == 10 + q && result.distance(q, 0) < 1e-3f, "self match");
            }

            RangeSearchResult near = index.rangeSearch(queries, 6.5f);
            System.out.println("within 6.5 of query 0: " + near.count(0) + " vectors");
            check(near.count(0) >= 1, "range search finds the query itself");

            System.out.println("parameters: " + index.params());

            Path file = Files.createTempFile("nearkit-example-", ".nkx");
            try {
                index.save(file);
                try (Index loaded = Index.load(file)) {
                    check(Arrays.equals(loaded.search(queries, 5).allIds(), result.allIds()), "loaded index agrees");
                }
            } finally {
                Files.deleteIfExists(file);
            }

            try {
                index.search(new float[dim + 1], 5);
                check(false, "a wrong length is refused");
            } catch (IllegalArgumentException expected) {
                System.out.println("bad input is refused: " + expected.getMessage());
            }
        }
        System.out.println("QuickStart OK");
    }

    private static void check(boolean ok, String what) {
        if (!ok) {
            System.err.println("QuickStart FAILED: " + what);
            System.exit(1);
        }
    }
}
