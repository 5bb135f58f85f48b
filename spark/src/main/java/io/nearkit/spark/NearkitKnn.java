package io.nearkit.spark;

import io.nearkit.KindInfo;
import io.nearkit.Metric;
import io.nearkit.Nearkit;
import java.util.Collections;
import java.util.Map;
import org.apache.spark.ml.Estimator;
import org.apache.spark.ml.param.IntParam;
import org.apache.spark.ml.param.LongParam;
import org.apache.spark.ml.param.Param;
import org.apache.spark.ml.param.ParamMap;
import org.apache.spark.ml.param.ParamValidators;
import org.apache.spark.ml.util.DefaultParamsReader;
import org.apache.spark.ml.util.DefaultParamsWritable;
import org.apache.spark.ml.util.Identifiable;
import org.apache.spark.ml.util.MLReader;
import org.apache.spark.sql.Dataset;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.functions;
import org.apache.spark.sql.types.DataTypes;
import org.apache.spark.sql.types.StructType;

/**
 * Spark ML estimator of a nearkit k-NN model: {@link #fit} builds one nearkit index (any kind the
 * library has, with its parameters) per partition of a DataFrame with a {@code long} id column and
 * a vector column, on the executors, and keeps the shards there.
 *
 * <pre>{@code
 * NearkitKnnModel model = new NearkitKnn().setKind("hnsw").setMetric("l2")
 *     .setBuildParams(Map.of("m", "16")).setK(10).fit(data);
 * Dataset<Row> answered = model.transform(queries); // + neighbors, distances
 * }</pre>
 */
public final class NearkitKnn extends Estimator<NearkitKnnModel> implements DefaultParamsWritable {
    private static final long serialVersionUID = 1L;

    private final String uid;
    private final Param<String> idCol;
    private final Param<String> kind;
    private final Param<String> metric;
    private final StringMapParam buildParams;
    private final IntParam numShards;
    private final LongParam seed;
    private final Param<String> featuresCol;
    private final IntParam k;
    private final Param<String> neighborsCol;
    private final Param<String> distancesCol;
    private final StringMapParam searchParams;
    private final IntParam numThreads;
    private final IntParam queryBatchSize;

    /** An estimator with a fresh uid. */
    public NearkitKnn() {
        this(Identifiable.randomUID("nearkitKnn"));
    }

    /**
     * An estimator with the given uid (Spark's reflection uses this one).
     *
     * @param uid the uid
     */
    public NearkitKnn(String uid) {
        this.uid = uid;
        idCol = new Param<>(this, "idCol", "the id column (bigint): the ids the neighbours are reported by");
        kind = new Param<>(this, "kind", "the nearkit index kind of every shard, e.g. flat, hnsw, ivf_flat");
        metric = new Param<>(this, "metric", "the metric, e.g. l2, cosine, ip, hamming (binary vectors)");
        buildParams = new StringMapParam(this, "buildParams",
                "the kind's build parameters by name, e.g. {\"nlist\": \"64\"}");
        numShards = new IntParam(this, "numShards", "shards to build: 0 (default) builds one per partition of"
                + " the data, more repartitions it first", ParamValidators.gtEq(0));
        seed = new LongParam(this, "seed", "the seed of randomised builds");
        featuresCol = KnnParams.featuresCol(this);
        k = KnnParams.k(this);
        neighborsCol = KnnParams.neighborsCol(this);
        distancesCol = KnnParams.distancesCol(this);
        searchParams = KnnParams.searchParams(this);
        numThreads = KnnParams.numThreads(this);
        queryBatchSize = KnnParams.queryBatchSize(this);
        setDefault(idCol, "id");
        setDefault(kind, "flat");
        setDefault(metric, "l2");
        setDefault(buildParams, Collections.<String, String>emptyMap());
        setDefault(numShards, 0);
        setDefault(seed, 42L);
        KnnParams.setDefaults(this);
    }

    @Override
    public String uid() {
        return uid;
    }

    /** @return the id column */
    public Param<String> idCol() {
        return idCol;
    }

    /** @return the index kind */
    public Param<String> kind() {
        return kind;
    }

    /** @return the metric */
    public Param<String> metric() {
        return metric;
    }

    /** @return the kind's build parameters */
    public StringMapParam buildParams() {
        return buildParams;
    }

    /** @return the shard count (0: one per partition) */
    public IntParam numShards() {
        return numShards;
    }

    /** @return the seed of randomised builds */
    public LongParam seed() {
        return seed;
    }

    /** @return the vector column */
    public Param<String> featuresCol() {
        return featuresCol;
    }

    /** @return the number of neighbours per query row, passed to the model */
    public IntParam k() {
        return k;
    }

    /** @return the output column of neighbour ids, passed to the model */
    public Param<String> neighborsCol() {
        return neighborsCol;
    }

    /** @return the output column of distances, passed to the model */
    public Param<String> distancesCol() {
        return distancesCol;
    }

    /** @return per-search kind parameters, passed to the model */
    public StringMapParam searchParams() {
        return searchParams;
    }

    /** @return native threads per task (0: the task's cores) */
    public IntParam numThreads() {
        return numThreads;
    }

    /** @return query rows searched per broadcast, passed to the model */
    public IntParam queryBatchSize() {
        return queryBatchSize;
    }

    /**
     * @param value the id column (bigint)
     * @return this estimator
     */
    public NearkitKnn setIdCol(String value) {
        set(idCol, value);
        return this;
    }

    /**
     * @param value the index kind, as nearkit names it
     * @return this estimator
     */
    public NearkitKnn setKind(String value) {
        set(kind, value);
        return this;
    }

    /**
     * @param value the metric, as nearkit names it
     * @return this estimator
     */
    public NearkitKnn setMetric(String value) {
        set(metric, value);
        return this;
    }

    /**
     * @param value the kind's build parameters (values as text)
     * @return this estimator
     */
    public NearkitKnn setBuildParams(Map<String, String> value) {
        set(buildParams, value);
        return this;
    }

    /**
     * @param value shards to build, 0 for one per partition
     * @return this estimator
     */
    public NearkitKnn setNumShards(int value) {
        set(numShards, value);
        return this;
    }

    /**
     * @param value the seed of randomised builds
     * @return this estimator
     */
    public NearkitKnn setSeed(long value) {
        set(seed, value);
        return this;
    }

    /**
     * @param value the vector column
     * @return this estimator
     */
    public NearkitKnn setFeaturesCol(String value) {
        set(featuresCol, value);
        return this;
    }

    /**
     * @param value the number of neighbours per query row, at least 1
     * @return this estimator
     */
    public NearkitKnn setK(int value) {
        set(k, value);
        return this;
    }

    /**
     * @param value the output column of neighbour ids
     * @return this estimator
     */
    public NearkitKnn setNeighborsCol(String value) {
        set(neighborsCol, value);
        return this;
    }

    /**
     * @param value the output column of distances
     * @return this estimator
     */
    public NearkitKnn setDistancesCol(String value) {
        set(distancesCol, value);
        return this;
    }

    /**
     * @param value per-search kind parameters (values as text)
     * @return this estimator
     */
    public NearkitKnn setSearchParams(Map<String, String> value) {
        set(searchParams, value);
        return this;
    }

    /**
     * @param value native threads per task, 0 for the task's cores
     * @return this estimator
     */
    public NearkitKnn setNumThreads(int value) {
        set(numThreads, value);
        return this;
    }

    /**
     * @param value query rows searched per broadcast
     * @return this estimator
     */
    public NearkitKnn setQueryBatchSize(int value) {
        set(queryBatchSize, value);
        return this;
    }

    @Override
    public NearkitKnnModel fit(Dataset<?> dataset) {
        transformSchema(dataset.schema());
        String kindName = $(kind);
        checkKindAndMetric(kindName, $(metric));
        Dataset<Row> data = dataset.select(functions.col($(idCol)), functions.col($(featuresCol)));
        int shards = (Integer) $(numShards);
        if (shards > 0) {
            data = data.repartition(shards);
        }
        ShardSet set = ShardSet.build(data, new ShardSet.BuildSpec(kindName, $(metric),
                KnnParams.map($(buildParams)), (Long) $(seed)));
        NearkitKnnModel model = new NearkitKnnModel(Identifiable.randomUID("nearkitKnnModel"), set);
        return copyValues(model, extractParamMap()).setParent(this);
    }

    /**
     * Refuses an unknown kind or metric, or a metric the kind does not support, here on the driver:
     * otherwise the first executor task building a shard would fail, inside a job's stack trace.
     */
    private static void checkKindAndMetric(String kindName, String metricName) {
        KindInfo info = Nearkit.kind(kindName).orElseThrow(
                () -> new IllegalArgumentException("nearkit: unknown index kind '" + kindName + "'"));
        Metric metricValue;
        try {
            metricValue = Metric.fromName(metricName);
        } catch (IllegalArgumentException e) {
            throw new IllegalArgumentException("nearkit: unknown metric '" + metricName + "'", e);
        }
        if (!info.supports(metricValue)) {
            throw new IllegalArgumentException("nearkit: kind '" + kindName + "' does not support metric '"
                    + metricName + "'");
        }
    }

    @Override
    public StructType transformSchema(StructType schema) {
        String id = $(idCol);
        if (!java.util.Arrays.asList(schema.fieldNames()).contains(id)
                || !schema.apply(id).dataType().equals(DataTypes.LongType)) {
            throw new IllegalArgumentException("nearkit: the id column '" + id + "' must exist and be bigint (long)"
                    + " in " + schema.simpleString());
        }
        return KnnParams.outputSchema(schema, $(featuresCol), $(neighborsCol), $(distancesCol));
    }

    @Override
    public NearkitKnn copy(ParamMap extra) {
        return defaultCopy(extra);
    }

    /**
     * A reader of saved estimators.
     *
     * @return the reader
     */
    public static MLReader<NearkitKnn> read() {
        return new DefaultParamsReader<>();
    }

    /**
     * Loads an estimator saved with {@code write().save(path)}.
     *
     * @param path the directory
     * @return the estimator
     */
    public static NearkitKnn load(String path) {
        return read().load(path);
    }
}
