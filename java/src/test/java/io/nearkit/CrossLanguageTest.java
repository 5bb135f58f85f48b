package io.nearkit;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Index files cross languages: the CLI writes an index that Java loads with identical results, and
 * an index Java saves is searched by the CLI with identical results.
 */
class CrossLanguageTest {
    @TempDir
    Path tmp;

    private static Path data(String file) throws java.io.IOException {
        return Golden.load().dir.resolve("data").resolve(file);
    }

    /** The CLI's k-NN results, read from the .ivecs / .fvecs files it writes. */
    private SearchResult cliSearch(Path index, Path queries, int k) throws Exception {
        Path ids = tmp.resolve("ids-" + System.nanoTime() + ".ivecs");
        Path dist = tmp.resolve("dist-" + System.nanoTime() + ".fvecs");
        Cli.run("search", "--k", Integer.toString(k), "--out", ids.toString(), "--distances", dist.toString(),
                index.toString(), queries.toString());
        int[] dim = new int[1];
        int[] id32 = Vecs.readIvecs(ids, dim);
        assertEquals(k, dim[0]);
        Vecs.Floats d = Vecs.readFvecs(dist);
        long[] id64 = new long[id32.length];
        for (int i = 0; i < id32.length; i++) {
            id64[i] = id32[i];
        }
        return new SearchResult(id32.length / k, k, id64, d.data);
    }

    /** The CLI's range results, parsed from its printed "id:distance" lines. */
    private static List<long[]> cliRangeIds(String printed, List<float[]> distances) {
        List<long[]> rows = new ArrayList<>();
        for (String line : printed.split("\n", -1)) {
            String t = line.trim();
            String[] parts = t.isEmpty() ? new String[0] : t.split("\\s+");
            long[] ids = new long[parts.length];
            float[] d = new float[parts.length];
            for (int i = 0; i < parts.length; i++) {
                int colon = parts[i].lastIndexOf(':');
                ids[i] = Long.parseLong(parts[i].substring(0, colon));
                d[i] = Float.parseFloat(parts[i].substring(colon + 1));
            }
            rows.add(ids);
            distances.add(d);
        }
        return rows;
    }

    private static void assertSame(SearchResult expected, SearchResult actual) {
        assertEquals(expected.queryCount(), actual.queryCount());
        assertArrayEquals(expected.allIds(), actual.allIds());
        assertArrayEquals(expected.allDistances(), actual.allDistances());
    }

    @Test
    void cliIndexLoadsInJava() throws Exception {
        Path base = data("clustered_d16.base.fvecs");
        Path queries = data("clustered_d16.queries.fvecs");
        for (String metric : new String[] {"l2", "cosine", "ip"}) {
            Path file = tmp.resolve("cli-" + metric + ".nkx");
            Cli.run("build", "--metric", metric, base.toString(), file.toString());
            SearchResult cli = cliSearch(file, queries, 10);
            float[] q = Vecs.readFvecs(queries).data;
            try (Index index = Index.load(file)) {
                assertEquals(Metric.fromName(metric), index.metric());
                assertEquals(2000, index.size());
                assertSame(cli, index.search(q, 10));
            }
            // The same data indexed in Java gives the same results too.
            try (Index own = Index.builder().metric(metric).dimension(16).build()) {
                own.add(Vecs.readFvecs(base).data);
                own.build();
                assertSame(cli, own.search(q, 10));
            }
        }
    }

    @Test
    void javaIndexLoadsInCli() throws Exception {
        Path queries = data("clustered_d16.queries.fvecs");
        Vecs.Floats base = Vecs.readFvecs(data("clustered_d16.base.fvecs"));
        Vecs.Floats q = Vecs.readFvecs(queries);
        Path file = tmp.resolve("java.nkx");
        SearchResult own;
        RangeSearchResult ownRange;
        try (Index index = Index.builder().kind("flat").metric(Metric.L1).dimension(16).build()) {
            index.add(base.data);
            index.build();
            index.save(file);
            own = index.search(q.data, 7);
            ownRange = index.rangeSearch(q.data, 2.0f);
        }
        assertSame(own, cliSearch(file, queries, 7));

        List<float[]> dist = new ArrayList<>();
        List<long[]> ids = cliRangeIds(Cli.run("search", "--radius", "2.0", file.toString(), queries.toString()),
                dist);
        for (int i = 0; i < ownRange.queryCount(); i++) {
            assertArrayEquals(ownRange.ids(i), ids.get(i), "range query " + i);
            assertArrayEquals(ownRange.distances(i), dist.get(i), "range query " + i);
        }
    }

    @Test
    void binaryIndexBothWays() throws Exception {
        Path base = data("binary64.base.bvecs");
        Path queries = data("binary64.queries.bvecs");
        byte[] q = Vecs.readBvecs(queries).data;
        Path cliFile = tmp.resolve("cli-hamming.nkx");
        Cli.run("build", "--metric", "hamming", base.toString(), cliFile.toString());
        SearchResult cli = cliSearch(cliFile, queries, 12);
        try (Index index = Index.load(cliFile)) {
            assertEquals(VectorType.BINARY, index.vectorType());
            assertEquals(64, index.dimension());
            assertSame(cli, index.search(q, 12));
        }
        Path javaFile = tmp.resolve("java-hamming.nkx");
        try (Index index = Index.builder().metric(Metric.HAMMING).dimension(64).build()) {
            index.add(Vecs.readBvecs(base).data);
            index.build();
            index.save(javaFile);
            assertSame(index.search(q, 12), cliSearch(javaFile, queries, 12));
        }
    }
}
