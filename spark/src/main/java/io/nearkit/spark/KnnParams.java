package io.nearkit.spark;

import java.util.Collections;
import java.util.Map;
import org.apache.spark.ml.param.IntParam;
import org.apache.spark.ml.param.Param;
import org.apache.spark.ml.param.ParamValidators;
import org.apache.spark.ml.param.Params;
import org.apache.spark.sql.types.DataTypes;
import org.apache.spark.sql.types.StructField;
import org.apache.spark.sql.types.StructType;

/**
 * The search parameters {@link NearkitKnn} and {@link NearkitKnnModel} share, declared once: each
 * class holds its own instances (Spark finds a stage's parameters through its methods) made here.
 */
final class KnnParams {
    private KnnParams() {
    }

    static Param<String> featuresCol(Params owner) {
        return new Param<>(owner, "featuresCol",
                "the vector column: a Spark ML Vector, array<float>, array<double> or binary (binary vectors)");
    }

    static IntParam k(Params owner) {
        return new IntParam(owner, "k", "the number of neighbours per query row (>= 1)", ParamValidators.gtEq(1));
    }

    static Param<String> neighborsCol(Params owner) {
        return new Param<>(owner, "neighborsCol", "output column: the ids of the k nearest, nearest first"
                + " (array<bigint>, padded with -1 where fewer than k exist)");
    }

    static Param<String> distancesCol(Params owner) {
        return new Param<>(owner, "distancesCol", "output column: their distances (array<float>, padded"
                + " with Infinity)");
    }

    static StringMapParam searchParams(Params owner) {
        return new StringMapParam(owner, "searchParams",
                "per-search kind parameters by name, such as {\"ef_search\": \"64\"} or {\"nprobe\": \"8\"}");
    }

    static IntParam numThreads(Params owner) {
        return new IntParam(owner, "numThreads", "native threads per task; 0 (default) uses the task's cores"
                + " (spark.task.cpus)", ParamValidators.gtEq(0));
    }

    static IntParam queryBatchSize(Params owner) {
        return new IntParam(owner, "queryBatchSize", "query rows broadcast to the shards at a time (>= 1)",
                ParamValidators.gtEq(1));
    }

    /** Sets the shared defaults on {@code owner}, whose parameters these are. */
    static void setDefaults(Params owner) {
        owner.setDefault(owner.getParam("featuresCol"), "features");
        owner.setDefault(owner.getParam("k"), 10);
        owner.setDefault(owner.getParam("neighborsCol"), "neighbors");
        owner.setDefault(owner.getParam("distancesCol"), "distances");
        owner.setDefault(owner.getParam("searchParams"), Collections.<String, String>emptyMap());
        owner.setDefault(owner.getParam("numThreads"), 0);
        owner.setDefault(owner.getParam("queryBatchSize"), 10000);
    }

    /** {@code schema} with the two output columns added, after checking the vector column. */
    static StructType outputSchema(StructType schema, String featuresCol, String neighborsCol, String distancesCol) {
        VectorBlock.sourceOf(schema, featuresCol);
        for (String c : new String[] {neighborsCol, distancesCol}) {
            if (java.util.Arrays.asList(schema.fieldNames()).contains(c)) {
                throw new IllegalArgumentException("nearkit: output column '" + c + "' exists already");
            }
        }
        return schema.add(new StructField(neighborsCol, DataTypes.createArrayType(DataTypes.LongType, false), false,
                org.apache.spark.sql.types.Metadata.empty()))
                .add(new StructField(distancesCol, DataTypes.createArrayType(DataTypes.FloatType, false), false,
                        org.apache.spark.sql.types.Metadata.empty()));
    }

    static Map<String, String> map(Object value) {
        @SuppressWarnings("unchecked")
        Map<String, String> m = (Map<String, String>) value;
        return m;
    }
}
