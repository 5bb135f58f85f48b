package io.nearkit;

import static org.junit.jupiter.api.Assertions.fail;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.Paths;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * The golden manifest (tests/golden/manifest.json) and its comparison rule, as written in the
 * manifest's "comparison" section, implemented the same way as in every other language.
 */
final class Golden {
    final Path dir;
    final double rtol;
    final double atol;
    final Map<String, Object> datasets;
    final List<Map<String, Object>> cases;
    final List<Approximate> approximate;
    /** The manifest's "living" list (docs/golden.md, "Living cases"); empty when it has none. */
    final List<Map<String, Object>> living;

    @SuppressWarnings("unchecked")
    private Golden(Path dir) throws IOException {
        this.dir = dir;
        Path manifest = dir.resolve("manifest.json");
        if (!Files.isRegularFile(manifest)) {
            fail("golden manifest not found: " + manifest + " (set -Dnearkit.golden.dir)");
        }
        Map<String, Object> m = (Map<String, Object>) Json.parse(Files.readString(manifest));
        Map<String, Object> cmp = (Map<String, Object>) m.get("comparison");
        rtol = ((Number) cmp.get("distance_rtol")).doubleValue();
        atol = ((Number) cmp.get("distance_atol")).doubleValue();
        datasets = (Map<String, Object>) m.get("datasets");
        List<Map<String, Object>> c = new ArrayList<>();
        for (Object o : (List<Object>) m.get("cases")) {
            c.add((Map<String, Object>) o);
        }
        cases = c;
        List<Approximate> a = new ArrayList<>();
        Map<String, Object> section = (Map<String, Object>) m.get("approximate");
        if (section != null) {
            for (Map.Entry<String, Object> e : ((Map<String, Object>) section.get("kinds")).entrySet()) {
                Map<String, Object> k = (Map<String, Object>) e.getValue();
                String kind = k.containsKey("kind") ? (String) k.get("kind") : e.getKey();
                a.add(new Approximate(e.getKey(), kind, (String) k.get("exact_params"),
                        (String) k.get("recall_params"), (Map<String, Object>) k.get("min_recall")));
            }
        }
        approximate = a;
        List<Map<String, Object>> l = new ArrayList<>();
        Object list = m.get("living");
        if (list != null) {
            for (Object o : (List<Object>) list) {
                l.add((Map<String, Object>) o);
            }
        }
        living = l;
    }

    /**
     * An entry of the manifest's "approximate" section, named {@code label}, of the library kind
     * {@code kind} (the entry's "kind", else its label): exact under {@code exactParams}; under
     * {@code recallParams} its recall@k must reach {@code minRecall} of the case's dataset.
     */
    record Approximate(String label, String kind, String exactParams, String recallParams, Map<String, Object> minRecall) {
        /** The recall floor for a dataset, or null when the dataset has none. */
        Double floor(String dataset) {
            Number n = (Number) minRecall.get(dataset);
            return n == null ? null : n.doubleValue();
        }
    }

    static Golden load() throws IOException {
        String d = System.getProperty("nearkit.golden.dir");
        if (d == null || d.isEmpty()) {
            String env = System.getenv("NEARKIT_GOLDEN_DIR");
            d = env != null && !env.isEmpty() ? env : "../tests/golden";
        }
        return new Golden(Paths.get(d).toAbsolutePath().normalize());
    }

    double tol(double d) {
        return atol + rtol * Math.abs(d);
    }

    /** One dataset's files, read once per test run. */
    static final class Dataset {
        final String name;
        final boolean binary;
        final int dimension;
        final float[] baseF;
        final float[] queriesF;
        final byte[] baseB;
        final byte[] queriesB;
        final int count;
        final int queryCount;

        Dataset(String name, boolean binary, int dimension, float[] baseF, float[] queriesF, byte[] baseB,
                byte[] queriesB, int count, int queryCount) {
            this.name = name;
            this.binary = binary;
            this.dimension = dimension;
            this.baseF = baseF;
            this.queriesF = queriesF;
            this.baseB = baseB;
            this.queriesB = queriesB;
            this.count = count;
            this.queryCount = queryCount;
        }
    }

    @SuppressWarnings("unchecked")
    Dataset dataset(String name) throws IOException {
        Map<String, Object> d = (Map<String, Object>) datasets.get(name);
        if (d == null) {
            fail("manifest has no dataset " + name);
        }
        boolean binary = "binary".equals(d.get("vector_type"));
        int dim = ((Number) d.get("dimension")).intValue();
        int count = ((Number) d.get("count")).intValue();
        int qcount = ((Number) d.get("query_count")).intValue();
        Path base = dir.resolve((String) d.get("base"));
        Path queries = dir.resolve((String) d.get("queries"));
        if (binary) {
            Vecs.Bytes b = Vecs.readBvecs(base);
            Vecs.Bytes q = Vecs.readBvecs(queries);
            check(b.count == count && q.count == qcount && b.bytesPerRow * 8 == dim
                    && q.bytesPerRow * 8 == dim, "dataset " + name + " does not match its files");
            return new Dataset(name, true, dim, null, null, b.data, q.data, count, qcount);
        }
        Vecs.Floats b = Vecs.readFvecs(base);
        Vecs.Floats q = Vecs.readFvecs(queries);
        check(b.count == count && q.count == qcount && b.dim == dim && q.dim == dim,
                "dataset " + name + " does not match its files");
        return new Dataset(name, false, dim, b.data, q.data, null, null, count, qcount);
    }

    /** Expected results of one case. */
    static final class Expected {
        final long[][] knnIds;
        final double[][] knnDistances; // +Infinity for null
        final long[][] rangeIds;
        final double[][] rangeDistances;

        Expected(long[][] knnIds, double[][] knnDistances, long[][] rangeIds, double[][] rangeDistances) {
            this.knnIds = knnIds;
            this.knnDistances = knnDistances;
            this.rangeIds = rangeIds;
            this.rangeDistances = rangeDistances;
        }
    }

    Expected expected(Map<String, Object> c) throws IOException {
        return expectedRows(readObject((String) c.get("expected")));
    }

    @SuppressWarnings("unchecked")
    private Map<String, Object> readObject(String relative) throws IOException {
        Path p = dir.resolve(relative);
        return (Map<String, Object>) Json.parse(Files.readString(p, StandardCharsets.UTF_8));
    }

    /** The knn_* and range_* rows of an expected file or a living case file. */
    @SuppressWarnings("unchecked")
    private static Expected expectedRows(Map<String, Object> e) {
        return new Expected(ids((List<Object>) e.get("knn_ids")), dists((List<Object>) e.get("knn_distances")),
                ids((List<Object>) e.get("range_ids")), dists((List<Object>) e.get("range_distances")));
    }

    /**
     * A living case's changes and expected rows (living/&lt;name&gt;.json): the ids to remove, the ids
     * to add back (in that order, with their base vectors), the allowed ids ({@code null}: no
     * filter; empty: nothing allowed).
     */
    record Living(long[] remove, long[] addBack, long[] filter, Expected expected) {
    }

    /** Reads the case file of an entry of the manifest's "living" list. */
    @SuppressWarnings("unchecked")
    Living living(Map<String, Object> entry) throws IOException {
        Map<String, Object> f = readObject((String) entry.get("case"));
        Object filter = f.get("filter");
        return new Living(idList((List<Object>) f.get("remove")), idList((List<Object>) f.get("add_back")),
                filter == null ? null : idList((List<Object>) filter), expectedRows(f));
    }

    private static long[] idList(List<Object> list) {
        long[] out = new long[list.size()];
        for (int i = 0; i < out.length; i++) {
            out[i] = ((Number) list.get(i)).longValue();
        }
        return out;
    }

    @SuppressWarnings("unchecked")
    private static long[][] ids(List<Object> rows) {
        long[][] out = new long[rows.size()][];
        for (int i = 0; i < out.length; i++) {
            List<Object> r = (List<Object>) rows.get(i);
            out[i] = new long[r.size()];
            for (int j = 0; j < r.size(); j++) {
                out[i][j] = ((Number) r.get(j)).longValue();
            }
        }
        return out;
    }

    @SuppressWarnings("unchecked")
    private static double[][] dists(List<Object> rows) {
        double[][] out = new double[rows.size()][];
        for (int i = 0; i < out.length; i++) {
            List<Object> r = (List<Object>) rows.get(i);
            out[i] = new double[r.size()];
            for (int j = 0; j < r.size(); j++) {
                Object v = r.get(j);
                out[i][j] = v == null ? Double.POSITIVE_INFINITY : ((Number) v).doubleValue();
            }
        }
        return out;
    }

    private static void check(boolean ok, String what) {
        if (!ok) {
            fail(what);
        }
    }

    /** The k-NN part of the rule, for every query. */
    void checkKnn(String label, Expected e, SearchResult r, int k) {
        check(r.queryCount() == e.knnIds.length, label + ": query count " + r.queryCount() + " != "
                + e.knnIds.length);
        check(r.k() == k, label + ": k");
        for (int q = 0; q < r.queryCount(); q++) {
            checkKnnRow(label + " knn query " + q, e, q, r.ids(q), r.distances(q), k);
        }
    }

    /** The k-NN part of the rule for query q's expected row and one actual row. */
    void checkKnnRow(String at, Expected e, int q, long[] aid, float[] ad, int k) {
        long[] eid = e.knnIds[q];
        double[] ed = e.knnDistances[q];
        check(eid.length == k && aid.length == k, at + ": row lengths");
        double dk = Double.NEGATIVE_INFINITY;
        for (int j = 0; j < k; j++) {
            check((eid[j] == -1) == (aid[j] == -1), at + " position " + j + ": expected id " + eid[j]
                    + ", got " + aid[j]);
            if (eid[j] != -1) {
                check(Math.abs(ad[j] - ed[j]) <= tol(ed[j]), at + " position " + j + ": distance "
                        + ad[j] + ", expected " + ed[j]);
                if (!Double.isInfinite(ed[j])) {
                    dk = Math.max(dk, ed[j]);
                }
            } else {
                check(ad[j] == Float.POSITIVE_INFINITY, at + " position " + j
                        + ": missing neighbour without +inf distance");
            }
        }
        if (dk == Double.NEGATIVE_INFINITY) {
            return;
        }
        double bound = dk - tol(dk);
        Set<Long> actual = new HashSet<>();
        Set<Long> expected = new HashSet<>();
        for (int j = 0; j < k; j++) {
            if (aid[j] != -1) {
                check(actual.add(aid[j]), at + ": id " + aid[j] + " twice");
            }
            if (eid[j] != -1) {
                expected.add(eid[j]);
            }
        }
        for (int j = 0; j < k; j++) {
            if (eid[j] != -1 && ed[j] < bound) {
                check(actual.contains(eid[j]), at + ": expected id " + eid[j] + " (distance " + ed[j]
                        + ") is missing");
            }
            if (aid[j] != -1 && !expected.contains(aid[j])) {
                check(ad[j] >= bound, at + ": unexpected id " + aid[j] + " at distance " + ad[j]
                        + " < " + bound);
            }
        }
    }

    /**
     * Recall@k over every query: the expected non-null ids found in the actual rows, over all
     * expected non-null ids (1 when there are none).
     */
    static double recall(Expected e, SearchResult r) {
        long found = 0;
        long wanted = 0;
        for (int q = 0; q < e.knnIds.length; q++) {
            Set<Long> actual = new HashSet<>();
            for (long id : r.ids(q)) {
                actual.add(id);
            }
            for (long id : e.knnIds[q]) {
                if (id != -1) {
                    wanted++;
                    found += actual.contains(id) ? 1 : 0;
                }
            }
        }
        return wanted == 0 ? 1.0 : (double) found / wanted;
    }

    /** The range part of the rule, for every query. */
    void checkRange(String label, Expected e, RangeSearchResult r, double radius) {
        check(r.queryCount() == e.rangeIds.length, label + ": range query count");
        for (int q = 0; q < r.queryCount(); q++) {
            checkRangeRow(label + " range query " + q, e, q, r.ids(q), r.distances(q), radius);
        }
    }

    /** The range part of the rule for query q's expected row and one actual row. */
    void checkRangeRow(String at, Expected e, int q, long[] aid, float[] ad, double radius) {
        double lo = radius - tol(radius);
        double hi = radius + tol(radius);
        long[] eid = e.rangeIds[q];
        double[] ed = e.rangeDistances[q];
        java.util.Map<Long, Double> exp = new java.util.HashMap<>();
        for (int j = 0; j < eid.length; j++) {
            exp.put(eid[j], ed[j]);
        }
        java.util.Map<Long, Float> act = new java.util.HashMap<>();
        for (int j = 0; j < aid.length; j++) {
            check(act.put(aid[j], ad[j]) == null, at + ": id " + aid[j] + " twice");
            if (j > 0) {
                check(ad[j] >= ad[j - 1], at + ": distances decrease at " + j);
            }
        }
        for (int j = 0; j < eid.length; j++) {
            if (ed[j] < lo) {
                check(act.containsKey(eid[j]), at + ": expected id " + eid[j] + " (distance " + ed[j]
                        + ") is missing");
            }
            Float a = act.get(eid[j]);
            if (a != null) {
                check(Math.abs(a - ed[j]) <= tol(ed[j]), at + ": id " + eid[j] + " distance " + a
                        + ", expected " + ed[j]);
            }
        }
        for (int j = 0; j < aid.length; j++) {
            if (!exp.containsKey(aid[j])) {
                check(ad[j] >= lo && ad[j] <= hi, at + ": unexpected id " + aid[j] + " at distance "
                        + ad[j]);
            }
        }
    }
}
