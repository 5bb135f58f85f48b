package io.nearkit.spark;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.nearkit.Index;
import io.nearkit.Nearkit;
import io.nearkit.SearchOptions;
import io.nearkit.SearchResult;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.io.Serializable;
import java.io.UncheckedIOException;
import java.net.URI;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Collections;
import java.util.Iterator;
import java.util.List;
import java.util.Map;
import java.util.UUID;
import org.apache.hadoop.fs.FSDataInputStream;
import org.apache.hadoop.fs.FileSystem;
import org.apache.hadoop.fs.Path;
import org.apache.spark.TaskContext;
import org.apache.spark.api.java.JavaRDD;
import org.apache.spark.api.java.JavaSparkContext;
import org.apache.spark.broadcast.Broadcast;
import org.apache.spark.sql.Dataset;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.SparkSession;
import org.apache.spark.sql.catalyst.InternalRow;
import org.apache.spark.storage.StorageLevel;
import org.apache.spark.util.SerializableConfiguration;
import scala.Tuple2;

/**
 * A model's shards on the cluster: an RDD with one nearkit index per partition (kept on the
 * executors' disks by Spark, opened once per executor JVM by {@link ShardCache}), and the driver's
 * list of them. Searching broadcasts a block of queries, lets every shard's partition answer it
 * where the shard lives, and merges the per-shard answers with the Java package's
 * {@link Nearkit#mergeKnn} (the core's merge: exact, ties by id).
 *
 * <p>Once the shards are files on a POSIX file system ({@code file:}: a local disk or a shared
 * mount), because the model was saved there or loaded from there, a search may instead open each
 * shard file as a read-only view on the executors: the files are mapped, not read into each JVM,
 * so the executors of one host share one copy of them in the page cache. Shards on other file
 * systems (HDFS, S3) travel as bytes.
 */
final class ShardSet implements Serializable {
    private static final long serialVersionUID = 1L;
    private static final ObjectMapper JSON = new ObjectMapper();
    static final String MANIFEST = "manifest.json";
    static final String MANIFEST_FORMAT = "nearkit-sharded"; /* the core's (core/api/manifest.c) */
    static final int MANIFEST_VERSION = 1;

    private final transient JavaRDD<Shard> shards;
    private final List<Shard.Info> infos;
    private final String token = UUID.randomUUID().toString();
    /* the local path of the sharded directory the shards were saved to or loaded from, on a file: path */
    private transient String localDir;
    /* whether the shards were loaded from that directory: their bytes exist nowhere else */
    private transient boolean loaded;
    private transient boolean searchedBytes;
    private transient boolean searchedViews;

    private ShardSet(JavaRDD<Shard> shards, List<Shard.Info> infos) {
        this.shards = shards;
        this.infos = Collections.unmodifiableList(infos);
        if (infos.isEmpty()) {
            throw new IllegalArgumentException("nearkit: no vectors to index (every partition is empty)");
        }
        Shard.Info first = infos.get(0);
        for (Shard.Info i : infos) {
            if (i.dimension != first.dimension || i.binary != first.binary) {
                throw new IllegalArgumentException("nearkit: shards differ in dimension (" + first.dimension
                        + " and " + i.dimension + "); every vector must have the same length");
            }
        }
    }

    /** What to build in each partition. */
    static final class BuildSpec implements Serializable {
        private static final long serialVersionUID = 1L;
        final String kind;
        final String metric;
        final Map<String, String> params;
        final long seed;

        BuildSpec(String kind, String metric, Map<String, String> params, long seed) {
            this.kind = kind;
            this.metric = metric;
            this.params = params;
            this.seed = seed;
        }
    }

    /** The cores Spark gave the running task (spark.task.cpus): the native threads it may use. */
    static int taskThreads(int requested) {
        if (requested > 0) {
            return requested;
        }
        TaskContext tc = TaskContext.get();
        return tc == null ? 1 : Math.max(1, tc.cpus());
    }

    /**
     * Builds one shard per partition of {@code data} (columns: id, vector), each an index of
     * {@code spec} over the partition's vectors; empty partitions make no shard.
     */
    static ShardSet build(Dataset<Row> data, BuildSpec spec) {
        VectorBlock.sourceOf(data.schema(), data.columns()[1]); // a bad column fails here, on the driver
        org.apache.spark.sql.types.StructType schema = data.schema();
        String column = data.columns()[1];
        // Spark's internal rows: the vectors are copied out as they are, not boxed into Rows first
        JavaRDD<Shard> shards = data.queryExecution().toRdd().toJavaRDD().mapPartitionsWithIndex((number, rows) -> {
            VectorBlock block = VectorBlock.forColumn(schema, column);
            LongList ids = new LongList();
            while (rows.hasNext()) {
                InternalRow r = rows.next();
                if (r.isNullAt(0)) {
                    throw new IllegalArgumentException("nearkit: a null id in column '" + schema.fieldNames()[0] + "'");
                }
                ids.add(r.getLong(0));
                block.add(r, 1);
            }
            if (block.size() == 0) {
                return Collections.emptyIterator();
            }
            return Collections.singletonList(buildShard(number, block, ids.toArray(), spec)).iterator();
        }, true);
        shards.persist(StorageLevel.DISK_ONLY());
        List<Shard.Info> infos = shards.map(s -> s.info).collect();
        return new ShardSet(shards, new ArrayList<>(infos));
    }

    private static Shard buildShard(int number, VectorBlock block, long[] ids, BuildSpec spec) {
        try (Index index = Index.builder().kind(spec.kind).metric(spec.metric).dimension(block.dimension())
                .numThreads(taskThreads(0)).seed(spec.seed).params(spec.params).build()) {
            block.addTo(index, ids);
            index.build();
            byte[] data = index.toBytes();
            return new Shard(data, new Shard.Info(number, index.size(), index.memoryBytes(), data.length,
                    block.dimension(), block.binary(), index.metric().metricName()));
        }
    }

    List<Shard.Info> infos() {
        return infos;
    }

    int dimension() {
        return infos.get(0).dimension;
    }

    boolean binary() {
        return infos.get(0).binary;
    }

    long count() {
        long n = 0;
        for (Shard.Info i : infos) {
            n += i.count;
        }
        return n;
    }

    /**
     * The k nearest of every query of {@code queries}: each shard answers the broadcast block on
     * its executor with the task's cores as native threads, and the driver merges the answers.
     */
    SearchResult search(JavaSparkContext jsc, VectorBlock queries, int k, Map<String, String> searchParams,
            int numThreads, boolean viewShards) {
        if (queries.binary() != binary() || queries.dimension() != dimension()) {
            throw new IllegalArgumentException("nearkit: the queries are " + describe(queries.binary(),
                    queries.dimension()) + " but the model holds " + describe(binary(), dimension()));
        }
        boolean viewed = viewShards && viewable();
        JavaRDD<Shard> source = viewed ? shardFiles(jsc) : shards;
        searchedViews |= viewed;
        searchedBytes |= !viewed;
        Broadcast<VectorBlock> block = jsc.broadcast(queries.trimmed());
        String shardToken = token;
        try {
            List<Tuple2<long[], float[]>> parts = source.mapPartitionsWithIndex((number, it) -> {
                Index index = ShardCache.get(shardToken, viewed, number, it);
                if (index == null) {
                    return Collections.<Tuple2<long[], float[]>>emptyIterator();
                }
                SearchOptions.Builder o = SearchOptions.builder().numThreads(taskThreads(numThreads));
                for (Map.Entry<String, String> e : searchParams.entrySet()) {
                    o.param(e.getKey(), Double.parseDouble(e.getValue()));
                }
                SearchResult r = block.value().searchIn(index, k, o.build());
                return Collections.singletonList(new Tuple2<>(r.allIds(), r.allDistances())).iterator();
            }, true).collect();
            long[][] ids = new long[parts.size()][];
            float[][] distances = new float[parts.size()][];
            for (int p = 0; p < parts.size(); p++) {
                ids[p] = parts.get(p)._1();
                distances[p] = parts.get(p)._2();
            }
            return Nearkit.mergeKnn(queries.size(), ids, distances, k, false);
        } finally {
            block.destroy();
        }
    }

    private static String describe(boolean binary, int dimension) {
        return binary ? dimension + "-bit binary vectors" : dimension + "-d float vectors";
    }

    /**
     * Whether the shards are files a search can view: saved to or loaded from a {@code file:} path.
     * Fitted shards whose directory has since gone (its manifest is no longer there, as the driver
     * sees it) are searched from their bytes again, which the fitted set still has; loaded shards
     * have no bytes but the directory's, so their searches keep viewing it and fail with the reason.
     */
    boolean viewable() {
        return localDir != null && (loaded || new java.io.File(localDir, MANIFEST).isFile());
    }

    /** The shards as their directory, one partition each (shard i in partition i), for views. */
    private JavaRDD<Shard> shardFiles(JavaSparkContext jsc) {
        List<Shard> byFile = new ArrayList<>();
        for (Shard.Info info : infos) {
            byFile.add(new Shard(localDir, info));
        }
        return jsc.parallelize(byFile, byFile.size());
    }

    /** The token the executors' {@link ShardCache} keys this set's shards by. */
    String token() {
        return token;
    }

    /**
     * Closes the shards the executors have opened and drops the RDD's blocks. Runs on the RDDs the
     * searches ran on (the bytes' partitions, where they are kept, and the files'), not computing
     * the bytes of shards that were only viewed.
     */
    void release() {
        String shardToken = token;
        if (searchedBytes) {
            shards.mapPartitions(it -> Collections.singletonList(ShardCache.release(shardToken)).iterator()).count();
        }
        if (searchedViews) {
            JavaSparkContext jsc = JavaSparkContext.fromSparkContext(shards.context());
            shardFiles(jsc).mapPartitions(it -> Collections.singletonList(ShardCache.release(shardToken)).iterator())
                    .count();
        }
        shards.unpersist(false);
    }

    /**
     * The local path of directory {@code dir} when it is on a POSIX file system ({@code file:}, or
     * no scheme with a {@code file:} default file system), else null (HDFS, S3, ...).
     */
    private static String localPath(SerializableConfiguration conf, String dir) {
        Path path = new Path(dir);
        try {
            URI uri = path.getFileSystem(conf.value()).makeQualified(path).toUri();
            return "file".equals(uri.getScheme()) ? new java.io.File(uri.getPath()).getAbsolutePath() : null;
        } catch (IOException e) {
            return null;
        }
    }

    /** Remembers sharded directory {@code dir} for views, when it is a local path. */
    private void rememberDirectory(SerializableConfiguration conf, String dir) {
        localDir = localPath(conf, dir);
    }

    // ---- persistence: one ordinary nearkit index file per shard and a manifest -----------------

    /**
     * Writes shard-NNNNN.nkx for each shard (from the executors) and manifest.json into {@code dir}:
     * the core's sharded-collection manifest (docs/distributed.md, "On disk"), so the directory
     * also opens outside Spark (nearkit_sharded_open, Python's ShardedIndex.open, Dask's open).
     * Each shard's native memory and file size ride along as fields the core's reader skips.
     */
    void save(SparkSession spark, String dir) {
        SerializableConfiguration conf = new SerializableConfiguration(spark.sparkContext().hadoopConfiguration());
        shards.foreach(s -> {
            Path file = new Path(dir, fileName(s.info.number));
            try (OutputStream out = file.getFileSystem(conf.value()).create(file, true)) {
                out.write(s.data);
            }
        });
        ObjectNode manifest = JSON.createObjectNode();
        manifest.put("format", MANIFEST_FORMAT);
        manifest.put("version", MANIFEST_VERSION);
        manifest.put("vector_type", binary() ? "binary" : "float32");
        manifest.put("metric", infos.get(0).metric);
        manifest.put("dimension", dimension());
        manifest.put("count", count());
        ArrayNode list = manifest.putArray("shards");
        for (Shard.Info i : infos) {
            list.addObject().put("file", fileName(i.number)).put("count", i.count)
                    .put("memory_bytes", i.memoryBytes).put("file_bytes", i.fileBytes);
        }
        // written last, as the core does: a manifest names complete shards only
        Path file = new Path(dir, MANIFEST);
        try (OutputStream out = file.getFileSystem(conf.value()).create(file, true)) {
            out.write(JSON.writerWithDefaultPrettyPrinter().writeValueAsBytes(manifest));
        } catch (IOException e) {
            throw new UncheckedIOException("nearkit: cannot write " + file, e);
        }
        rememberDirectory(conf, dir);
    }

    private static String fileName(int number) {
        return String.format("shard-%05d.nkx", number);
    }

    /** The manifest in {@code dir}, checked for the fields {@link #load} needs. */
    private static JsonNode readManifest(SerializableConfiguration conf, String dir) {
        Path file = new Path(dir, MANIFEST);
        JsonNode manifest;
        try (InputStream in = file.getFileSystem(conf.value()).open(file)) {
            manifest = JSON.readTree(new String(in.readAllBytes(), StandardCharsets.UTF_8));
        } catch (IOException e) {
            throw new UncheckedIOException("nearkit: cannot read the shard manifest " + file, e);
        }
        if (!MANIFEST_FORMAT.equals(manifest.path("format").asText())) {
            throw new IllegalArgumentException("nearkit: " + file + " is not a nearkit-sharded manifest");
        }
        if (manifest.path("version").asInt() < 1 || manifest.path("version").asInt() > MANIFEST_VERSION) {
            throw new IllegalArgumentException("nearkit: " + file + " has manifest version "
                    + manifest.path("version").asText() + "; this package reads version " + MANIFEST_VERSION);
        }
        String vectorType = manifest.path("vector_type").asText();
        if (!vectorType.equals("float32") && !vectorType.equals("binary")) {
            throw new IllegalArgumentException("nearkit: " + file + " has an unknown vector_type " + vectorType);
        }
        if (manifest.path("dimension").asInt() < 1 || !manifest.path("shards").isArray()
                || manifest.path("shards").size() == 0) {
            throw new IllegalArgumentException("nearkit: " + file + " lacks a dimension or shards");
        }
        return manifest;
    }

    /**
     * The shards in {@code dir} (written by {@link #save} or by any package's sharded save), one
     * partition each, read on the executors.
     */
    static ShardSet load(SparkSession spark, String dir) {
        SerializableConfiguration conf = new SerializableConfiguration(spark.sparkContext().hadoopConfiguration());
        JsonNode manifest = readManifest(conf, dir);
        int dimension = manifest.path("dimension").asInt();
        boolean binary = manifest.path("vector_type").asText().equals("binary");
        String metric = manifest.path("metric").asText();
        List<Shard.Info> infos = new ArrayList<>();
        List<String> files = new ArrayList<>();
        for (JsonNode s : manifest.path("shards")) {
            files.add(s.path("file").asText());
            infos.add(new Shard.Info(infos.size(), s.path("count").asLong(), s.path("memory_bytes").asLong(),
                    s.path("file_bytes").asLong(), dimension, binary, metric));
        }
        JavaSparkContext jsc = JavaSparkContext.fromSparkContext(spark.sparkContext());
        List<Shard.Info> infosCopy = new ArrayList<>(infos);
        JavaRDD<Shard> shards = jsc.parallelize(files, Math.max(1, files.size()))
                .mapPartitionsWithIndex((number, names) -> {
                    if (!names.hasNext()) {
                        return Collections.<Shard>emptyIterator();
                    }
                    Path shardFile = new Path(dir, names.next());
                    FileSystem fs = shardFile.getFileSystem(conf.value());
                    byte[] data = new byte[Math.toIntExact(fs.getFileStatus(shardFile).getLen())];
                    try (FSDataInputStream in = fs.open(shardFile)) {
                        in.readFully(data);
                    }
                    return Collections.singletonList(new Shard(data, infosCopy.get(number))).iterator();
                }, true);
        shards.persist(StorageLevel.DISK_ONLY()); // read only if a search needs the bytes
        ShardSet set = new ShardSet(shards, infos);
        set.rememberDirectory(conf, dir);
        set.loaded = true;
        return set;
    }

}
