package io.nearkit.spark;

import java.util.Map;
import org.apache.spark.ml.Model;
import org.apache.spark.ml.param.BooleanParam;
import org.apache.spark.ml.param.IntParam;
import org.apache.spark.ml.param.Param;
import org.apache.spark.ml.param.ParamMap;
import org.apache.spark.ml.util.DefaultParamsReader;
import org.apache.spark.ml.util.DefaultParamsWriter;
import org.apache.spark.ml.util.Identifiable;
import org.apache.spark.ml.util.MLReader;
import org.apache.spark.ml.util.MLWritable;
import org.apache.spark.ml.util.MLWriter;
import org.apache.spark.sql.Dataset;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.types.StructType;

/**
 * A fitted nearkit k-NN model: one nearkit index shard per partition of the data it was fitted on,
 * held by the executors. {@link #transform} adds to each query row the ids and distances of its
 * {@code k} nearest vectors, exactly as one index over all the data would order them for exact
 * kinds (nearest first, equal distances by smaller id).
 *
 * <p>Saved with {@code write().save(path)} to any Hadoop file system path: Spark ML's metadata,
 * and under {@code shards/} one ordinary nearkit index file per shard plus {@code manifest.json},
 * the core's sharded-collection manifest: that directory also opens outside Spark as one sharded
 * collection (C {@code nearkit_sharded_open}, Python {@code nearkit.ShardedIndex.open}, Dask
 * {@code nearkit.dask.open}), and {@link #load(String)} reads such a directory written by any of
 * them.
 *
 * <p>Shards on a POSIX file system: once the model is saved to or loaded from a {@code file:} path
 * (a local disk in local mode, or a mount every executor has at the same path), {@link #transform}
 * opens each shard file on the executors as a read-only view (memory-mapped: the executors of one
 * host share one copy in the page cache) instead of reading its bytes into every executor, unless
 * {@link #viewShards()} is set to false. Other file systems (HDFS, S3) always ship the bytes.
 */
public final class NearkitKnnModel extends Model<NearkitKnnModel> implements MLWritable {
    private static final long serialVersionUID = 1L;

    private final String uid;
    private final Param<String> featuresCol;
    private final IntParam k;
    private final Param<String> neighborsCol;
    private final Param<String> distancesCol;
    private final StringMapParam searchParams;
    private final IntParam numThreads;
    private final IntParam queryBatchSize;
    private final BooleanParam viewShards;
    private transient ShardSet shards;

    /**
     * A model with no shards yet, for Spark's reflection (copy and load).
     *
     * @param uid the model's uid
     */
    public NearkitKnnModel(String uid) {
        this.uid = uid;
        featuresCol = KnnParams.featuresCol(this);
        k = KnnParams.k(this);
        neighborsCol = KnnParams.neighborsCol(this);
        distancesCol = KnnParams.distancesCol(this);
        searchParams = KnnParams.searchParams(this);
        numThreads = KnnParams.numThreads(this);
        queryBatchSize = KnnParams.queryBatchSize(this);
        viewShards = new BooleanParam(this, "viewShards", "open the shard files as read-only views on the"
                + " executors (shared through the page cache) where they are on a file: path the model was"
                + " saved to or loaded from; false ships the shards' bytes to each executor");
        KnnParams.setDefaults(this);
        setDefault(viewShards, true);
    }

    NearkitKnnModel(String uid, ShardSet shards) {
        this(uid);
        this.shards = shards;
    }

    @Override
    public String uid() {
        return uid;
    }

    /** @return the vector column of the query rows */
    public Param<String> featuresCol() {
        return featuresCol;
    }

    /** @return the number of neighbours per query row */
    public IntParam k() {
        return k;
    }

    /** @return the output column of neighbour ids */
    public Param<String> neighborsCol() {
        return neighborsCol;
    }

    /** @return the output column of distances */
    public Param<String> distancesCol() {
        return distancesCol;
    }

    /** @return per-search kind parameters */
    public StringMapParam searchParams() {
        return searchParams;
    }

    /** @return native threads per task (0: the task's cores) */
    public IntParam numThreads() {
        return numThreads;
    }

    /** @return query rows searched per broadcast */
    public IntParam queryBatchSize() {
        return queryBatchSize;
    }

    /** @return whether shard files on a {@code file:} path are opened as views (default true) */
    public BooleanParam viewShards() {
        return viewShards;
    }

    /**
     * @param value the vector column of the query rows
     * @return this model
     */
    public NearkitKnnModel setFeaturesCol(String value) {
        set(featuresCol, value);
        return this;
    }

    /**
     * @param value the number of neighbours per query row, at least 1
     * @return this model
     */
    public NearkitKnnModel setK(int value) {
        set(k, value);
        return this;
    }

    /**
     * @param value the output column of neighbour ids
     * @return this model
     */
    public NearkitKnnModel setNeighborsCol(String value) {
        set(neighborsCol, value);
        return this;
    }

    /**
     * @param value the output column of distances
     * @return this model
     */
    public NearkitKnnModel setDistancesCol(String value) {
        set(distancesCol, value);
        return this;
    }

    /**
     * @param value per-search kind parameters by name (values as text, e.g. "64")
     * @return this model
     */
    public NearkitKnnModel setSearchParams(Map<String, String> value) {
        set(searchParams, value);
        return this;
    }

    /**
     * @param value native threads per task, 0 for the task's cores
     * @return this model
     */
    public NearkitKnnModel setNumThreads(int value) {
        set(numThreads, value);
        return this;
    }

    /**
     * @param value query rows searched per broadcast
     * @return this model
     */
    public NearkitKnnModel setQueryBatchSize(int value) {
        set(queryBatchSize, value);
        return this;
    }

    /**
     * @param value true (the default) to open shard files on a {@code file:} path as read-only views
     *     on the executors; false to ship the shards' bytes to each executor
     * @return this model
     */
    public NearkitKnnModel setViewShards(boolean value) {
        set(viewShards, value);
        return this;
    }

    /**
     * Whether {@link #transform} opens the shard files as views: {@link #viewShards()} is set and the
     * model was saved to or loaded from a {@code file:} path.
     *
     * @return true when the executors view the shard files, false when they read the shards' bytes
     */
    public boolean viewsShardFiles() {
        return (Boolean) $(viewShards) && shards().viewable();
    }

    /** @return the number of shards */
    public int numShards() {
        return shards().infos().size();
    }

    /** @return the number of vectors in all shards */
    public long count() {
        return shards().count();
    }

    /** @return the vectors' dimension (bits for binary vectors) */
    public int dimension() {
        return shards().dimension();
    }

    /**
     * The native memory of each shard once opened on an executor (the Java package's memoryBytes):
     * what {@code spark.executor.memoryOverhead} must leave room for.
     *
     * @return bytes per shard, in shard order
     */
    public long[] shardMemoryBytes() {
        return shards().infos().stream().mapToLong(i -> i.memoryBytes).toArray();
    }

    /** @return the vector count of each shard, in shard order */
    public long[] shardCounts() {
        return shards().infos().stream().mapToLong(i -> i.count).toArray();
    }

    /** The shards, for this package (its tests ask the executors' cache by their token). */
    ShardSet shards() {
        if (shards == null) {
            throw new IllegalStateException("nearkit: this model has no shards (fit or load it)");
        }
        return shards;
    }

    /**
     * Closes the shards the executors opened and drops the shard blocks; the model cannot search
     * afterwards.
     */
    public void release() {
        if (shards != null) {
            shards.release();
            shards = null;
        }
    }

    @Override
    public Dataset<Row> transform(Dataset<?> dataset) {
        transformSchema(dataset.schema());
        return KnnSearch.transform(shards(), dataset, new KnnSearch.Spec($(featuresCol), (Integer) $(k),
                $(neighborsCol), $(distancesCol), KnnParams.map($(searchParams)), (Integer) $(numThreads),
                (Integer) $(queryBatchSize), (Boolean) $(viewShards)));
    }

    @Override
    public StructType transformSchema(StructType schema) {
        return KnnParams.outputSchema(schema, $(featuresCol), $(neighborsCol), $(distancesCol));
    }

    @Override
    public NearkitKnnModel copy(ParamMap extra) {
        NearkitKnnModel copied = new NearkitKnnModel(uid, shards);
        return copyValues(copied, extra).setParent(parent());
    }

    @Override
    public MLWriter write() {
        return new Writer(this);
    }

    /**
     * A reader of saved models.
     *
     * @return the reader
     */
    public static MLReader<NearkitKnnModel> read() {
        return new Reader();
    }

    /**
     * Loads a model saved with {@code write().save(path)}.
     *
     * @param path the directory (any Hadoop file system path)
     * @return the model
     */
    public static NearkitKnnModel load(String path) {
        return read().load(path);
    }

    private static final class Writer extends MLWriter {
        private final NearkitKnnModel model;

        Writer(NearkitKnnModel model) {
            this.model = model;
        }

        @Override
        public void saveImpl(String path) {
            DefaultParamsWriter.saveMetadata(model, path, sparkSession());
            model.shards().save(sparkSession(), new org.apache.hadoop.fs.Path(path, "shards").toString());
        }
    }

    private static final class Reader extends MLReader<NearkitKnnModel> {
        @Override
        public NearkitKnnModel load(String path) {
            DefaultParamsReader.Metadata metadata = DefaultParamsReader.loadMetadata(path, sparkSession(),
                    NearkitKnnModel.class.getName());
            ShardSet shards = ShardSet.load(sparkSession(), new org.apache.hadoop.fs.Path(path, "shards").toString());
            NearkitKnnModel model = new NearkitKnnModel(metadata.uid(), shards);
            metadata.getAndSetParams(model, scala.Option.empty());
            return model;
        }
    }
}
