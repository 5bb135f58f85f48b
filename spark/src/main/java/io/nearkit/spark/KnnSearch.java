package io.nearkit.spark;

import io.nearkit.SearchResult;
import java.io.Serializable;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Iterator;
import java.util.List;
import java.util.Map;
import java.util.function.IntFunction;
import org.apache.spark.api.java.JavaRDD;
import org.apache.spark.api.java.JavaSparkContext;
import org.apache.spark.broadcast.Broadcast;
import org.apache.spark.sql.Column;
import org.apache.spark.sql.Dataset;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.SparkSession;
import org.apache.spark.sql.api.java.UDF1;
import org.apache.spark.sql.catalyst.InternalRow;
import org.apache.spark.sql.expressions.UserDefinedFunction;
import org.apache.spark.sql.functions;
import org.apache.spark.sql.types.DataTypes;
import org.apache.spark.sql.types.StructType;
import org.apache.spark.storage.StorageLevel;

/**
 * The transform of {@link NearkitKnnModel}: the query rows are numbered, their vectors packed on
 * the executors and streamed to the driver a batch at a time, searched on the shards
 * ({@link ShardSet#search}), and the answers appended to the rows where they are (no shuffle), in
 * the rows' order.
 *
 * <p>Besides the shards' search, the work is kept to copies of primitive arrays: the rows are read
 * in Spark's internal form, so a vector is one array copy rather than a boxed value per
 * element, both when the queries are packed and when the answered rows are written (the answers
 * are added by two functions of the row number; the rows' other columns are not converted); the
 * answers travel as three primitive arrays, found by row number with a binary search.
 */
final class KnnSearch {
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

    /** Up to a batch of one partition's query rows: their numbers and vectors. */
    private static final class Chunk implements Serializable {
        private static final long serialVersionUID = 1L;
        final long[] rows;
        final VectorBlock vectors;

        Chunk(long[] rows, VectorBlock vectors) {
            this.rows = rows;
            this.vectors = vectors.trimmed();
        }
    }

    /** Every query row's answer: row numbers ascending, and {@code k} ids and distances a row. */
    private static final class Answers implements Serializable {
        private static final long serialVersionUID = 1L;
        final int k;
        final long[] rows;
        final long[] ids;
        final float[] distances;

        Answers(int k, long[] rows, long[] ids, float[] distances) {
            this.k = k;
            this.rows = rows;
            this.ids = ids;
            this.distances = distances;
        }

        long[] ids(long row) {
            int at = at(row) * k;
            return Arrays.copyOfRange(ids, at, at + k);
        }

        float[] distances(long row) {
            int at = at(row) * k;
            return Arrays.copyOfRange(distances, at, at + k);
        }

        private int at(long row) {
            int at = Arrays.binarySearch(rows, row);
            if (at < 0) {
                throw new IllegalStateException("nearkit: query row " + row + " was not searched");
            }
            return at;
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
            Broadcast<Answers> answers = jsc.broadcast(searchAll(shards, jsc, numbered, spec));
            // The answers go to the rows' partitions (no shuffle), appended in the rows' order.
            Column row = functions.col(ROW);
            UserDefinedFunction ids = functions.udf((UDF1<Long, long[]>) r -> answers.value().ids(r),
                    DataTypes.createArrayType(DataTypes.LongType, false)).asNonNullable();
            UserDefinedFunction distances = functions.udf((UDF1<Long, float[]>) r -> answers.value().distances(r),
                    DataTypes.createArrayType(DataTypes.FloatType, false)).asNonNullable();
            Dataset<Row> answered = numbered.withColumn(spec.neighborsCol, ids.apply(row))
                    .withColumn(spec.distancesCol, distances.apply(row)).drop(ROW);
            // Materialised before the numbered rows are let go: a recomputation could number them anew.
            Dataset<Row> result = answered.localCheckpoint(true);
            answers.destroy();
            return result;
        } finally {
            numbered.unpersist(false);
        }
    }

    /**
     * Searches every numbered row's vector: the executors pack their partitions' vectors into
     * chunks of at most a batch, the driver streams them (a partition at a time) and searches a
     * batch at a time.
     */
    private static Answers searchAll(ShardSet shards, JavaSparkContext jsc, Dataset<Row> numbered, Spec spec) {
        Dataset<Row> queries = numbered.select(ROW, spec.featuresCol);
        StructType schema = queries.schema();
        String column = spec.featuresCol;
        int batch = spec.batch;
        JavaRDD<Chunk> chunks = queries.queryExecution().toRdd().toJavaRDD()
                .mapPartitions(rows -> chunksOf(rows, schema, column, batch));
        LongList rows = new LongList();
        List<long[]> ids = new ArrayList<>();
        List<float[]> distances = new ArrayList<>();
        VectorBlock block = null;
        for (Iterator<Chunk> it = chunks.toLocalIterator(); it.hasNext();) {
            Chunk c = it.next();
            if (block != null && block.size() + c.vectors.size() > batch) {
                search(shards, jsc, block, spec, ids, distances);
                block = null;
            }
            if (block == null) {
                block = c.vectors;
            } else {
                block.addAll(c.vectors);
            }
            for (long r : c.rows) {
                if (rows.size() > 0 && r <= rows.last()) {
                    throw new IllegalStateException("nearkit: the query rows came out of their order");
                }
                rows.add(r);
            }
        }
        if (block != null) {
            search(shards, jsc, block, spec, ids, distances);
        }
        return new Answers(spec.k, rows.toArray(), concat(ids, long[]::new), concat(distances, float[]::new));
    }

    /** Searches a batch of queries and appends its answers to {@code ids} and {@code distances}. */
    private static void search(ShardSet shards, JavaSparkContext jsc, VectorBlock block, Spec spec, List<long[]> ids,
            List<float[]> distances) {
        SearchResult r = shards.search(jsc, block, spec.k, spec.searchParams, spec.numThreads, spec.viewShards);
        ids.add(r.allIds());
        distances.add(r.allDistances());
    }

    /** A partition's rows (row number, vector) as chunks of at most {@code batch}, made as read. */
    private static Iterator<Chunk> chunksOf(Iterator<InternalRow> rows, StructType schema, String column, int batch) {
        return new Iterator<Chunk>() {
            @Override
            public boolean hasNext() {
                return rows.hasNext();
            }

            @Override
            public Chunk next() {
                VectorBlock vectors = VectorBlock.forColumn(schema, column);
                LongList numbers = new LongList();
                while (rows.hasNext() && vectors.size() < batch) {
                    InternalRow r = rows.next();
                    numbers.add(r.getLong(0));
                    vectors.add(r, 1);
                }
                return new Chunk(numbers.toArray(), vectors);
            }
        };
    }

    /** The arrays of {@code parts} (long[] or float[]) one after the other, in a new array. */
    private static <A> A concat(List<A> parts, IntFunction<A> make) {
        int total = 0;
        for (A p : parts) {
            total += java.lang.reflect.Array.getLength(p);
        }
        A out = make.apply(total);
        int at = 0;
        for (A p : parts) {
            int length = java.lang.reflect.Array.getLength(p);
            System.arraycopy(p, 0, out, at, length);
            at += length;
        }
        return out;
    }
}
