package io.nearkit.spark;

import java.util.ArrayList;
import java.util.List;
import org.apache.spark.ml.param.ParamMap;
import org.apache.spark.sql.Column;
import org.apache.spark.sql.Dataset;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.functions;

/**
 * k-NN joins of DataFrames through {@link NearkitKnn}: every row of one side with its k nearest
 * rows of the other, and a dataset with itself (its k-NN graph).
 */
public final class NearkitJoins {
    private NearkitJoins() {
    }

    /** The model's answers (materialised by transform), after which its shards are let go. */
    private static Dataset<Row> answerAndRelease(NearkitKnnModel model, Dataset<?> queries) {
        try {
            return model.transform(queries);
        } finally {
            model.release();
        }
    }

    private static String q(String name) {
        return "`" + name.replace("`", "``") + "`";
    }

    /**
     * The k-NN graph of {@code data}: each row with the ids and distances of its {@code k} nearest
     * other rows (itself left out), in the columns the estimator names (by default {@code neighbors}
     * and {@code distances}). With a flat estimator this is the exact graph, ties by smaller id.
     *
     * @param data rows with the estimator's id and vector columns
     * @param estimator the index to build (kind, metric, parameters, columns); not changed
     * @param k neighbours per row, at least 1
     * @return {@code data}'s rows with the two columns added, in {@code data}'s order
     */
    public static Dataset<Row> knnGraph(Dataset<?> data, NearkitKnn estimator, int k) {
        if (k < 1) {
            throw new IllegalArgumentException("nearkit: k must be at least 1, got " + k);
        }
        NearkitKnn est = estimator.copy(ParamMap.empty()).setK(k + 1);
        NearkitKnnModel model = est.fit(data);
        String n = est.getOrDefault(est.neighborsCol());
        String d = est.getOrDefault(est.distancesCol());
        String id = est.getOrDefault(est.idCol());
        // Each row finds itself (unless k + 1 exact duplicates come first): drop its own id, keep k.
        String zipped = "__nearkit_zipped";
        return answerAndRelease(model, data)
                .withColumn(zipped, functions.expr("slice(filter(arrays_zip(" + q(n) + ", " + q(d) + "), x -> x."
                        + q(n) + " != " + q(id) + "), 1, " + k + ")"))
                .withColumn(n, functions.expr("transform(" + zipped + ", x -> x." + q(n) + ")"))
                .withColumn(d, functions.expr("transform(" + zipped + ", x -> x." + q(d) + ")"))
                .drop(zipped);
    }

    /**
     * Joins each row of {@code left} with its {@code k} nearest rows of {@code right}: an index of
     * {@code right} is built as the estimator says and searched with {@code left}'s vector column
     * (the same column name). One output row per pair: {@code left}'s columns, {@code rank} (0 for
     * the nearest), {@code distance}, and {@code neighbor}, a struct of the right row's columns.
     * Where {@code right} holds fewer than {@code k} rows, a left row has fewer pairs.
     *
     * @param left the query rows
     * @param right the rows to index, with the estimator's id and vector columns
     * @param estimator the index to build; not changed
     * @param k pairs per left row, at least 1
     * @return the pairs
     */
    public static Dataset<Row> knnJoin(Dataset<?> left, Dataset<?> right, NearkitKnn estimator, int k) {
        NearkitKnn est = estimator.copy(ParamMap.empty()).setK(k);
        NearkitKnnModel model = est.fit(right);
        String n = est.getOrDefault(est.neighborsCol());
        String d = est.getOrDefault(est.distancesCol());
        String id = est.getOrDefault(est.idCol());
        String pair = "__nearkit_pair";
        String neighborId = "__nearkit_neighbor_id";
        List<Column> leftColumns = new ArrayList<>();
        for (String c : left.columns()) {
            leftColumns.add(functions.col(q(c)));
        }
        List<Column> exploded = new ArrayList<>(leftColumns);
        exploded.add(functions.posexplode(functions.arrays_zip(functions.col(q(n)), functions.col(q(d))))
                .as(new String[] {"rank", pair}));
        Dataset<Row> pairs = answerAndRelease(model, left).select(exploded.toArray(new Column[0]))
                .where(functions.col(pair + "." + q(n)).notEqual(-1));
        Dataset<Row> rights = right.select(functions.col(q(id)).as(neighborId),
                functions.struct(functions.col("*")).as("neighbor"));
        List<Column> out = new ArrayList<>(leftColumns);
        out.add(functions.col("rank"));
        out.add(functions.col(pair + "." + q(d)).as("distance"));
        out.add(functions.col("neighbor"));
        return pairs.join(rights, pairs.col(pair + "." + q(n)).equalTo(rights.col(neighborId)))
                .select(out.toArray(new Column[0]));
    }
}
