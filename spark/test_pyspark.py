"""ctest spark_pyspark: nearkit.spark's PySpark wrappers drive the JVM classes (local[2]).

Exits 77 (skip) with the reason when pyspark or the nearkit-spark jar is missing. Checks: fit and
transform through the wrappers equal one flat index of the Python package (ids and distances); the
parameters round-trip to the JVM; save and load of model and estimator (the saved shards open outside
Spark as the core's sharded collection, with the same answers); knn_graph and knn_join.
"""

import os
import sys
import tempfile

try:
    import numpy as np
    from pyspark.sql import SparkSession
    from pyspark.sql.types import ArrayType, FloatType, LongType, StructField, StructType
except ImportError as e:
    print(f"SKIP: pyspark is not installed ({e})")
    sys.exit(77)

import nearkit
from nearkit.spark import NearkitKnn, NearkitKnnModel, knn_graph, knn_join

JAR = os.environ.get("NEARKIT_SPARK_JAR", "")
if not os.path.isfile(JAR):
    print(f"SKIP: no nearkit-spark jar at '{JAR}' (built by ctest spark_test)")
    sys.exit(77)

SCHEMA = StructType([StructField("id", LongType(), False),
                     StructField("features", ArrayType(FloatType(), False), False)])


def frame(spark, x, partitions):
    rows = [(i, [float(v) for v in row]) for i, row in enumerate(x)]
    return spark.createDataFrame(rows, SCHEMA).repartition(partitions)


def main():
    spark = (SparkSession.builder.master("local[2]").appName("nearkit-pyspark-test")
             .config("spark.jars", JAR).config("spark.ui.enabled", "false")
             .config("spark.sql.shuffle.partitions", "4").getOrCreate())
    spark.sparkContext.setLogLevel("ERROR")
    spark.sparkContext.setCheckpointDir(tempfile.mkdtemp(prefix="nearkit-pyspark-ckpt-"))
    try:
        rng = np.random.default_rng(5)
        base = rng.standard_normal((600, 12)).astype(np.float32)
        queries = rng.standard_normal((40, 12)).astype(np.float32)
        data, q = frame(spark, base, 3), frame(spark, queries, 2)

        est = NearkitKnn(kind="flat", metric="l2", k=7, numShards=3)
        assert est.getOrDefault("kind") == "flat" and est.getOrDefault("k") == 7
        model = est.fit(data)
        assert isinstance(model, NearkitKnnModel) and model.numShards() == 3, model.numShards()
        assert sum(model.shardCounts()) == len(base)
        assert all(b > 0 for b in model.shardMemoryBytes())

        one = nearkit.Index(kind="flat", metric="l2", dim=12)
        one.add(base)
        want_ids, want_dist = one.search(queries, k=7)
        rows = model.transform(q).collect()
        assert len(rows) == len(queries)
        for r in rows:
            assert list(r["neighbors"]) == list(want_ids[r["id"]]), r["id"]
            assert np.array_equal(np.array(r["distances"], dtype=np.float32), want_dist[r["id"]])

        hnsw = NearkitKnn(kind="hnsw", buildParams={"M": 12}, searchParams={"ef_search": 48}, k=5)
        hmodel = hnsw.fit(data)
        assert hmodel.getOrDefault("searchParams") == {"ef_search": "48"}
        with tempfile.TemporaryDirectory() as d:
            hmodel.write().overwrite().save(os.path.join(d, "model"))
            hnsw.write().overwrite().save(os.path.join(d, "est"))
            back = NearkitKnnModel.load(os.path.join(d, "model"))
            assert back.getOrDefault("k") == 5 and back.shardCounts() == hmodel.shardCounts()
            assert back.viewsShardFiles() and not back.setViewShards(False).viewsShardFiles()
            back.setViewShards(True)  # a local path: the executors view the shard files
            a = [list(r["neighbors"]) for r in hmodel.transform(q).collect()]
            b = [list(r["neighbors"]) for r in back.transform(q).collect()]
            assert a == b
            est_back = NearkitKnn.load(os.path.join(d, "est"))
            assert est_back.getOrDefault("buildParams") == {"M": "12"}
            back.release()
            # the saved shards are the core's sharded collection: they open outside Spark
            # (the core gives the same answers as Spark's model: one exact merge of the same shards)
            outside = nearkit.ShardedIndex.open(os.path.join(d, "model", "shards"))
            assert outside.shard_count == len(hmodel.shardCounts()) and len(outside) == len(base)
            rows = sorted(hmodel.transform(q).collect(), key=lambda r: r["id"])
            got = outside.search(queries, 5, ef_search=48)
            assert [list(r["neighbors"]) for r in rows] == got.ids.tolist()
        hmodel.release()

        graph = knn_graph(data, NearkitKnn(kind="flat"), 4).collect()
        self_ids, _ = one.search(base, k=5)
        for r in graph:
            want = [j for j in self_ids[r["id"]] if j != r["id"]][:4]
            assert list(r["neighbors"]) == want, r["id"]

        pairs = knn_join(q, data, NearkitKnn(kind="flat"), 2).collect()
        assert len(pairs) == 2 * len(queries)
        for p in pairs:
            assert p["neighbor"]["id"] == want_ids[p["id"]][p["rank"]]

        try:
            NearkitKnn(kind="no_such_kind").fit(data)
        except Exception as e:  # py4j surfaces the JVM's IllegalArgumentException
            assert "no_such_kind" in str(e), e
        else:
            raise AssertionError("an unknown kind was accepted")
        model.release()
        print("spark_pyspark: OK")
    finally:
        spark.stop()


if __name__ == "__main__":
    main()
