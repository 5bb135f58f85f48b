package io.nearkit.spark;

import io.nearkit.SearchResult;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.Iterator;
import java.util.List;
import java.util.Map;
import org.apache.spark.api.java.JavaSparkContext;
import org.apache.spark.api.java.function.MapFunction;
import org.apache.spark.broadcast.Broadcast;
import org.apache.spark.sql.Encoders;
import org.apache.spark.sql.Dataset;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.RowFactory;
import org.apache.spark.sql.SparkSession;
import org.apache.spark.sql.functions;
import org.apache.spark.sql.types.StructType;
import org.apache.spark.storage.StorageLevel;

/**
 * The transform of {@link NearkitKnnModel}: the query rows are numbered, their vectors streamed to
 * the driver a batch at a time and searched on the shards ({@link ShardSet#search}), and the
 * answers appended to the rows where they are (no shuffle), in the rows' order.
 */
final class KnnSearch {
    /** One query row's answer. */
    private static final class Answer implements java.io.Serializable {
        private static final long serialVersionUID = 1L;
        final long[] ids;
        final float[] distances;

        Answer(long[] ids, float[] distances) {
            this.ids = ids;
            this.distances = distances;
        }
    }

    private static final String ROW = "__nearkit_row";

    private KnnSearch() {
    }

    /** What a search needs besides the shards and the rows. */
    static final class Spec {
        final String featuresCol;
        final int k;
        final String neighborsCol;
        final String distancesCol;
        final Map<String, String> searchParams;
        final int numThreads;
        final int batch;
        final boolean viewShards;

        Spec(String featuresCol, int k, String neighborsCol, String distancesCol, Map<String, String> searchParams,
                int numThreads, int batch, boolean viewShards) {
            this.featuresCol = featuresCol;
            this.k = k;
            this.neighborsCol = neighborsCol;
            this.distancesCol = distancesCol;
            this.searchParams = searchParams;
            this.numThreads = numThreads;
            this.batch = batch;
            this.viewShards = viewShards;
        }
    }

    static Dataset<Row> transform(ShardSet shards, Dataset<?> dataset, Spec spec) {
        KnnParams.outputSchema(dataset.schema(), spec.featuresCol, spec.neighborsCol, spec.distancesCol);
        SparkSession spark = dataset.sparkSession();
        JavaSparkContext jsc = JavaSparkContext.fromSparkContext(spark.sparkContext());
        // Numbered and kept, so the rows read here are the rows the answers are joined to.
        Dataset<Row> numbered = dataset.toDF().withColumn(ROW, functions.monotonically_increasing_id())
                .persist(StorageLevel.MEMORY_AND_DISK());
        try {
            Dataset<Row> queries = numbered.select(ROW, spec.featuresCol);
            HashMap<Long, Answer> answers = new HashMap<>();
            Iterator<Row> it = queries.toLocalIterator();
            while (it.hasNext()) {
                VectorBlock block = VectorBlock.forColumn(queries.schema(), spec.featuresCol);
                List<Long> rows = new ArrayList<>();
                while (it.hasNext() && block.size() < spec.batch) {
                    Row r = it.next();
                    rows.add(r.getLong(0));
                    block.add(r, 1);
                }
                SearchResult res = shards.search(jsc, block, spec.k, spec.searchParams, spec.numThreads,
                        spec.viewShards);
                for (int q = 0; q < rows.size(); q++) {
                    answers.put(rows.get(q), new Answer(res.ids(q), res.distances(q)));
                }
            }
            // The answers go to the rows' partitions (no shuffle), appended in the rows' order.
            Broadcast<HashMap<Long, Answer>> byRow = jsc.broadcast(answers);
            StructType inSchema = numbered.schema();
            int rowField = inSchema.fieldIndex(ROW);
            StructType outSchema = KnnParams.outputSchema(inSchema, spec.featuresCol, spec.neighborsCol,
                    spec.distancesCol);
            Dataset<Row> answered = numbered.map((MapFunction<Row, Row>) r -> {
                Answer a = byRow.value().get(r.getLong(rowField));
                Object[] values = new Object[r.size() + 2];
                for (int i = 0; i < r.size(); i++) {
                    values[i] = r.get(i);
                }
                values[r.size()] = a.ids;
                values[r.size() + 1] = a.distances;
                return RowFactory.create(values);
            }, Encoders.row(outSchema)).drop(ROW);
            // Materialised before the numbered rows are let go: a recomputation could number them anew.
            Dataset<Row> result = answered.localCheckpoint(true);
            byRow.destroy();
            return result;
        } finally {
            numbered.unpersist(false);
        }
    }
}
