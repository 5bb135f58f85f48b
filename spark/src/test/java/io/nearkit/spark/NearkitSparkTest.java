package io.nearkit.spark;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.nearkit.Index;
import io.nearkit.SearchOptions;
import io.nearkit.SearchResult;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.Paths;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.SplittableRandom;
import org.apache.spark.sql.Dataset;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.RowFactory;
import org.apache.spark.sql.SparkSession;
import org.apache.spark.sql.types.DataTypes;
import org.apache.spark.sql.types.StructType;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;

/**
 * nearkit on Spark (issue 21): one local[2] session for every case. Exactness against one index of
 * the Java package on the golden datasets, recall of approximate shards, the k-NN graph, the join,
 * persistence and bad input.
 */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
class NearkitSparkTest {
    private static final Path GOLDEN = Paths.get(System.getProperty("nearkit.golden.dir", "../tests/golden"));
    private SparkSession spark;

    @BeforeAll
    void start() {
        spark = SparkSession.builder().master("local[2]").appName("nearkit-spark-test")
                .config("spark.ui.enabled", "false").config("spark.sql.shuffle.partitions", "4")
                .config("spark.checkpoint.dir", System.getProperty("nearkit.test.tmp", "target/test-tmp"))
                .getOrCreate();
        spark.sparkContext().setLogLevel("ERROR");
    }

    @AfterAll
    void stop() {
        spark.stop();
    }

    // ---- data --------------------------------------------------------------------------------

    /** Vectors of an .fvecs or .bvecs file (each: int32 width, then the values), as float[] or byte[]. */
    private static List<Object> readVecs(Path file) throws IOException {
        ByteBuffer b = ByteBuffer.wrap(Files.readAllBytes(file)).order(ByteOrder.LITTLE_ENDIAN);
        boolean binary = file.toString().endsWith(".bvecs");
        List<Object> out = new ArrayList<>();
        while (b.hasRemaining()) {
            int w = b.getInt();
            if (binary) {
                byte[] v = new byte[w];
                b.get(v);
                out.add(v);
            } else {
                float[] v = new float[w];
                b.asFloatBuffer().get(v);
                b.position(b.position() + 4 * w);
                out.add(v);
            }
        }
        return out;
    }

    private Dataset<Row> frame(List<Object> vectors, boolean binary, int partitions) {
        List<Row> rows = new ArrayList<>();
        for (int i = 0; i < vectors.size(); i++) {
            rows.add(RowFactory.create((long) i, vectors.get(i)));
        }
        StructType schema = new StructType().add("id", DataTypes.LongType, false)
                .add("features", binary ? DataTypes.BinaryType : DataTypes.createArrayType(DataTypes.FloatType, false));
        return spark.createDataFrame(rows, schema).repartition(partitions);
    }

    private static float[] concatFloats(List<Object> vectors) {
        int w = ((float[]) vectors.get(0)).length;
        float[] out = new float[vectors.size() * w];
        for (int i = 0; i < vectors.size(); i++) {
            System.arraycopy((float[]) vectors.get(i), 0, out, i * w, w);
        }
        return out;
    }

    private static byte[] concatBytes(List<Object> vectors) {
        int w = ((byte[]) vectors.get(0)).length;
        byte[] out = new byte[vectors.size() * w];
        for (int i = 0; i < vectors.size(); i++) {
            System.arraycopy((byte[]) vectors.get(i), 0, out, i * w, w);
        }
        return out;
    }

    /** One index of the Java package over all of {@code base}, searched for {@code queries}. */
    private static SearchResult oneIndex(String kind, String metric, Map<String, String> params, List<Object> base,
            List<Object> queries, int k, Map<String, Double> searchParams) {
        boolean binary = base.get(0) instanceof byte[];
        int dim = binary ? ((byte[]) base.get(0)).length * 8 : ((float[]) base.get(0)).length;
        try (Index index = Index.builder().kind(kind).metric(metric).dimension(dim).params(params).build()) {
            long[] ids = new long[base.size()];
            for (int i = 0; i < ids.length; i++) {
                ids[i] = i;
            }
            SearchOptions.Builder o = SearchOptions.builder();
            searchParams.forEach(o::param);
            if (binary) {
                index.add(concatBytes(base), ids);
                index.build();
                return index.search(concatBytes(queries), k, o.build());
            }
            index.add(concatFloats(base), ids);
            index.build();
            return index.search(concatFloats(queries), k, o.build());
        }
    }

    private static long[] longs(Row r, String col) {
        List<Long> l = r.getList(r.fieldIndex(col));
        return l.stream().mapToLong(Long::longValue).toArray();
    }

    private static float[] floats(Row r, String col) {
        List<Float> l = r.getList(r.fieldIndex(col));
        float[] out = new float[l.size()];
        for (int i = 0; i < out.length; i++) {
            out[i] = l.get(i);
        }
        return out;
    }

    // ---- exactness -----------------------------------------------------------------------------

    /**
     * Every golden k-NN case, float and binary (each a fit and a transform: the 60 take about 35 s
     * of Spark jobs here).
     */
    @Test
    void flatShardsEqualOneFlatIndexOnGoldenCases() throws IOException {
        JsonNode manifest = new ObjectMapper().readTree(GOLDEN.resolve("manifest.json").toFile());
        int checked = 0;
        Set<String> metrics = new HashSet<>();
        Map<String, List<JsonNode>> byDataset = new java.util.LinkedHashMap<>();
        for (JsonNode c : manifest.path("cases")) {
            byDataset.computeIfAbsent(c.path("dataset").asText(), d -> new ArrayList<>()).add(c);
            metrics.add(c.path("metric").asText());
        }
        for (Map.Entry<String, List<JsonNode>> e : byDataset.entrySet()) {
            JsonNode ds = manifest.path("datasets").path(e.getKey());
            List<Object> base = readVecs(GOLDEN.resolve(ds.path("base").asText()));
            List<Object> queries = readVecs(GOLDEN.resolve(ds.path("queries").asText()));
            boolean binary = base.get(0) instanceof byte[];
            Dataset<Row> data = frame(base, binary, 3).cache();
            Dataset<Row> q = frame(queries, binary, 2).cache();
            for (JsonNode c : e.getValue()) {
                String metric = c.path("metric").asText();
                int k = c.path("k").asInt();
                NearkitKnnModel model = new NearkitKnn().setKind("flat").setMetric(metric).setK(k).fit(data);
                SearchResult want = oneIndex("flat", metric, Map.of(), base, queries, k, Map.of());
                for (Row r : model.transform(q).collectAsList()) {
                    int id = (int) r.getLong(0);
                    String where = c.path("name").asText() + " query " + id;
                    assertArrayEquals(want.ids(id), longs(r, "neighbors"), where);
                    assertArrayEquals(want.distances(id), floats(r, "distances"), where);
                }
                model.release();
                checked++;
            }
            data.unpersist();
            q.unpersist();
        }
        System.out.printf("nearkit-spark golden cases checked: %d (metrics %s)%n", checked, metrics);
        assertTrue(checked == manifest.path("cases").size() && metrics.size() == 6,
                "golden cases checked: " + checked + ", metrics " + metrics);
    }

    // ---- approximate shards --------------------------------------------------------------------

    private static List<Object> clustered(int n, int dim, long seed) {
        SplittableRandom r = new SplittableRandom(seed);
        float[][] centres = new float[20][dim];
        for (float[] c : centres) {
            for (int j = 0; j < dim; j++) {
                c[j] = (float) (r.nextDouble() * 20 - 10);
            }
        }
        List<Object> out = new ArrayList<>();
        for (int i = 0; i < n; i++) {
            float[] c = centres[r.nextInt(centres.length)];
            float[] v = new float[dim];
            for (int j = 0; j < dim; j++) {
                v[j] = c[j] + (float) ((r.nextDouble() - 0.5) * 8);
            }
            out.add(v);
        }
        return out;
    }

    private static double recall(long[][] got, SearchResult truth) {
        double hits = 0;
        for (int q = 0; q < got.length; q++) {
            Set<Long> t = new HashSet<>();
            for (long id : truth.ids(q)) {
                t.add(id);
            }
            for (long id : got[q]) {
                hits += t.contains(id) ? 1 : 0;
            }
        }
        return hits / (got.length * (double) truth.k());
    }

    @Test
    void approximateShardsRecallAsOneIndex() {
        List<Object> base = clustered(4000, 24, 3);
        List<Object> queries = clustered(300, 24, 4);
        Dataset<Row> data = frame(base, false, 2);
        Dataset<Row> q = frame(queries, false, 2);
        SearchResult truth = oneIndex("flat", "l2", Map.of(), base, queries, 10, Map.of());
        String[][] kinds = {{"hnsw", "ef_search", "32"}, {"ivf_flat", "nprobe", "4"}};
        for (String[] kind : kinds) {
            Map<String, String> build = kind[0].equals("ivf_flat") ? Map.of("nlist", "32") : Map.of();
            NearkitKnnModel model = new NearkitKnn().setKind(kind[0]).setBuildParams(build).setK(10)
                    .setSearchParams(Map.of(kind[1], kind[2])).fit(data);
            assertEquals(2, model.numShards());
            List<Row> rows = model.transform(q).collectAsList();
            long[][] got = new long[queries.size()][];
            for (Row r : rows) {
                got[(int) r.getLong(0)] = longs(r, "neighbors");
            }
            double sharded = recall(got, truth);
            SearchResult single = oneIndex(kind[0], "l2", build, base, queries, 10,
                    Map.of(kind[1], Double.parseDouble(kind[2])));
            long[][] one = new long[queries.size()][];
            for (int i = 0; i < one.length; i++) {
                one[i] = single.ids(i);
            }
            double whole = recall(one, truth);
            System.out.printf("nearkit-spark recall@10 %s: 2 shards %.4f, one index %.4f%n", kind[0], sharded, whole);
            assertTrue(sharded >= whole - 0.01, kind[0] + ": sharded recall " + sharded + " vs one index " + whole);
            model.release();
        }
    }

    // ---- k-NN graph and join -------------------------------------------------------------------

    @Test
    void selfJoinGraphEqualsTheFlatGraph() {
        List<Object> base = clustered(3000, 16, 9);
        Dataset<Row> data = frame(base, false, 3);
        int k = 10;
        Dataset<Row> graph = NearkitJoins.knnGraph(data, new NearkitKnn().setKind("flat"), k);
        SearchResult all = oneIndex("flat", "l2", Map.of(), base, base, k + 1, Map.of());
        List<Row> rows = graph.collectAsList();
        assertEquals(base.size(), rows.size());
        for (Row r : rows) {
            int id = (int) r.getLong(0);
            long[] want = new long[k];
            int n = 0;
            for (long j : all.ids(id)) {
                if (j != id && n < k) {
                    want[n++] = j;
                }
            }
            assertArrayEquals(want, longs(r, "neighbors"), "point " + id);
        }
    }

    @Test
    void knnJoinPairsEachLeftRowWithItsNearestRightRows() {
        List<Object> right = clustered(500, 8, 11);
        List<Object> left = clustered(20, 8, 12);
        Dataset<Row> joined = NearkitJoins.knnJoin(frame(left, false, 2), frame(right, false, 2),
                new NearkitKnn().setKind("flat"), 3);
        SearchResult want = oneIndex("flat", "l2", Map.of(), right, left, 3, Map.of());
        List<Row> rows = joined.collectAsList();
        assertEquals(60, rows.size());
        for (Row r : rows) {
            int q = (int) r.getLong(r.fieldIndex("id"));
            int rank = r.getInt(r.fieldIndex("rank"));
            Row neighbor = r.getStruct(r.fieldIndex("neighbor"));
            assertEquals(want.id(q, rank), neighbor.getLong(0));
            assertEquals(want.distance(q, rank), r.getFloat(r.fieldIndex("distance")));
        }
    }

    // ---- persistence and bad input -------------------------------------------------------------

    @Test
    void savedModelsAndEstimatorsLoadBack() throws IOException {
        List<Object> base = clustered(1000, 8, 21);
        List<Object> queries = clustered(50, 8, 22);
        Path dir = Files.createTempDirectory(Paths.get(System.getProperty("nearkit.test.tmp", "target")), "model");
        NearkitKnn est = new NearkitKnn().setKind("hnsw").setBuildParams(Map.of("M", "12")).setK(5)
                .setNumShards(3).setSearchParams(Map.of("ef_search", "40"));
        NearkitKnnModel model = est.fit(frame(base, false, 2));
        assertEquals(3, model.numShards());
        model.write().overwrite().save(dir.resolve("model").toString());
        est.write().overwrite().save(dir.resolve("estimator").toString());
        NearkitKnnModel loaded = NearkitKnnModel.load(dir.resolve("model").toString());
        assertEquals(5, (int) loaded.getOrDefault(loaded.k()));
        assertEquals(Map.of("ef_search", "40"), loaded.getOrDefault(loaded.searchParams()));
        assertArrayEquals(model.shardCounts(), loaded.shardCounts());
        Dataset<Row> q = frame(queries, false, 1);
        List<Row> a = model.transform(q).collectAsList();
        List<Row> b = loaded.transform(q).collectAsList();
        for (int i = 0; i < a.size(); i++) {
            assertArrayEquals(longs(a.get(i), "neighbors"), longs(b.get(i), "neighbors"));
        }
        // each shard is an ordinary nearkit index file, listed in the core's sharded manifest
        try (Index shard = Index.load(dir.resolve("model/shards/shard-00000.nkx"))) {
            assertEquals("hnsw", shard.kind());
            assertEquals(model.shardCounts()[0], shard.size());
        }
        com.fasterxml.jackson.databind.JsonNode manifest = new com.fasterxml.jackson.databind.ObjectMapper()
                .readTree(dir.resolve("model/shards/manifest.json").toFile());
        assertEquals("nearkit-sharded", manifest.path("format").asText());
        assertEquals(1, manifest.path("version").asInt());
        assertEquals("float32", manifest.path("vector_type").asText());
        assertEquals("l2", manifest.path("metric").asText());
        assertEquals(8, manifest.path("dimension").asInt());
        assertEquals(1000, manifest.path("count").asLong());
        assertEquals(3, manifest.path("shards").size());
        assertEquals("shard-00002.nkx", manifest.path("shards").get(2).path("file").asText());
        NearkitKnn back = NearkitKnn.load(dir.resolve("estimator").toString());
        assertEquals(Map.of("M", "12"), back.getOrDefault(back.buildParams()));
        assertEquals("hnsw", back.getOrDefault(back.kind()));
        model.release();
        loaded.release();
    }

    /** Each row's neighbours and distances by its id. */
    private static Map<Long, Object[]> answersById(Dataset<Row> answered) {
        Map<Long, Object[]> out = new java.util.HashMap<>();
        for (Row r : answered.collectAsList()) {
            out.put(r.getLong(r.fieldIndex("id")), new Object[] {longs(r, "neighbors"), floats(r, "distances")});
        }
        return out;
    }

    private static void assertSameAnswers(Map<Long, Object[]> want, Map<Long, Object[]> got) {
        assertEquals(want.keySet(), got.keySet());
        for (Map.Entry<Long, Object[]> e : want.entrySet()) {
            assertArrayEquals((long[]) e.getValue()[0], (long[]) got.get(e.getKey())[0], "row " + e.getKey());
            assertArrayEquals((float[]) e.getValue()[1], (float[]) got.get(e.getKey())[1], "row " + e.getKey());
        }
    }

    @Test
    void shardFilesOnAFilePathAreViewedOnTheExecutors() throws IOException {
        List<Object> base = clustered(1200, 8, 31);
        List<Object> queries = clustered(60, 8, 32);
        Path dir = Files.createTempDirectory(Paths.get(System.getProperty("nearkit.test.tmp", "target")), "views");
        NearkitKnnModel model = new NearkitKnn().setKind("flat").setK(7).setNumShards(3).fit(frame(base, false, 2));
        assertFalse(model.viewsShardFiles()); // fitted: the shards are bytes on the executors
        Dataset<Row> q = frame(queries, false, 1);
        Map<Long, Object[]> fromBytes = answersById(model.transform(q));
        SearchResult one = oneIndex("flat", "l2", Map.of(), base, queries, 7, Map.of());
        for (int i = 0; i < queries.size(); i++) {
            assertArrayEquals(one.ids(i), (long[]) fromBytes.get((long) i)[0]);
        }

        model.write().overwrite().save(dir.resolve("model").toString()); // a local path, no scheme
        assertTrue(model.viewsShardFiles()); // saved to a file: path, its later searches view the files
        assertSameAnswers(fromBytes, answersById(model.transform(q)));
        NearkitKnnModel viewed = NearkitKnnModel.load("file:" + dir.resolve("model").toAbsolutePath());
        assertTrue(viewed.viewsShardFiles());
        assertSameAnswers(fromBytes, answersById(viewed.transform(q)));
        // local[2]: the executor is this JVM, so its cache of open shards can be asked
        assertTrue(ShardCache.allViews(viewed.shards().token()));

        NearkitKnnModel shipped = NearkitKnnModel.load(dir.resolve("model").toString()).setViewShards(false);
        assertFalse(shipped.viewsShardFiles());
        assertSameAnswers(fromBytes, answersById(shipped.transform(q)));
        assertFalse(ShardCache.allViews(shipped.shards().token()));
        assertTrue(shipped.copy(new org.apache.spark.ml.param.ParamMap()).setViewShards(true).viewsShardFiles());

        // a shard file unlike its manifest entry is refused on the executor, with the reason
        NearkitKnnModel stale = NearkitKnnModel.load(dir.resolve("model").toString());
        try (Index other = Index.builder().kind("flat").metric("l2").dimension(8).build()) {
            other.add(concatFloats(queries));
            other.save(dir.resolve("model/shards/shard-00001.nkx")); // 60 vectors, not the count listed
        }
        Exception e = assertThrows(Exception.class, () -> stale.transform(q));
        assertTrue(messages(e).contains("does not match the model's manifest")
                && messages(e).contains("the file holds 60 l2 8-d vectors, the manifest says"), messages(e));

        // the directory deleted: the fitted model still has its shards' bytes and searches them; a
        // model loaded from there has nothing else, and says why
        NearkitKnnModel orphan = NearkitKnnModel.load(dir.resolve("model").toString());
        deleteTree(dir.resolve("model"));
        assertFalse(model.viewsShardFiles());
        assertSameAnswers(fromBytes, answersById(model.transform(q)));
        assertTrue(orphan.viewsShardFiles());
        e = assertThrows(Exception.class, () -> orphan.transform(q));
        assertTrue(messages(e).contains("cannot view shard") && messages(e).contains("IO: "), messages(e));
        for (NearkitKnnModel m : List.of(model, viewed, shipped, stale, orphan)) {
            m.release();
        }
    }

    private static void deleteTree(Path dir) throws IOException {
        try (java.util.stream.Stream<Path> paths = Files.walk(dir)) {
            for (Path p : paths.sorted(java.util.Comparator.reverseOrder()).toList()) {
                Files.delete(p);
            }
        }
    }

    /** The messages of {@code e} and its causes (a task's exception reaches the driver wrapped). */
    private static String messages(Throwable e) {
        StringBuilder out = new StringBuilder();
        for (Throwable t = e; t != null; t = t.getCause() == t ? null : t.getCause()) {
            out.append(t).append('\n');
        }
        return out.toString();
    }

    @Test
    void badInputIsAClearError() {
        Dataset<Row> data = frame(clustered(100, 4, 1), false, 2);
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> new NearkitKnn().setKind("no_such_kind").fit(data));
        assertTrue(e.getMessage().contains("no_such_kind"), e.getMessage());
        // refused on the driver, before any job: an unknown metric, and one the kind lacks
        e = assertThrows(IllegalArgumentException.class, () -> new NearkitKnn().setMetric("no_such_metric").fit(data));
        assertTrue(e.getMessage().contains("unknown metric 'no_such_metric'"), e.getMessage());
        e = assertThrows(IllegalArgumentException.class,
                () -> new NearkitKnn().setKind("bktree").setMetric("l2").fit(data));
        assertTrue(e.getMessage().contains("does not support metric 'l2'"), e.getMessage());
        e = assertThrows(IllegalArgumentException.class, () -> new NearkitKnn().setFeaturesCol("id").fit(data));
        assertTrue(e.getMessage().contains("vectors must be"), e.getMessage());
        NearkitKnnModel model = new NearkitKnn().fit(data);
        e = assertThrows(IllegalArgumentException.class,
                () -> model.transform(frame(clustered(5, 6, 2), false, 1)));
        assertTrue(e.getMessage().contains("6-d"), e.getMessage());
        model.release();
    }
}
