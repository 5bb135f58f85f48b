"""nearkit on Spark (issue 21): build and search scaling, engine overhead, Fashion-MNIST k-NN graph.

    python bench/distributed_spark.py [--jar spark/target/nearkit-spark-0.1.0-with-nearkit.jar]
                                      [--n 1000000] [--queries 10000] [--repeats 3]
                                      [--sections scaling,fashion]

Needs pyspark (ci/deps-spark.sh), the nearkit Python package and the nearkit-spark jar (`mvn -q -B
package -DskipTests` in spark/, or ctest spark_test). Prints `name value` lines:

  scaling  n x 128 clustered synthetic vectors (100 clusters, made by Spark SQL and kept as Parquet),
           two ivf_flat shards (nlist 256, nprobe 8), the queries another draw of the same clusters.
           Spark local[1] and local[2]: fit seconds (`spark_build_seconds_local1/2`) and the search
           of the queries (`spark_search_seconds_local1/2`, after a 100-query warm-up that opens the
           shards on the executor; the best of --repeats searches); `spark_build_scaling_2v1`,
           `spark_search_scaling_2v1` are local[1] time / local[2] time. `spark_vs_native_search`:
           the Python package searching the same two saved shard files one after the other with 2
           threads each and merging (nearkit.merge_knn), its best of --repeats / Spark local[2]'s
           best (1.0: Spark costs nothing).
           `spark_shard_memory_bytes`: the largest shard's native memory (memory_bytes).
  fashion  Fashion-MNIST's 60,000 training images (Debian's dataset-fashion-mnist, installed with
           apt-get when missing) as 784-d floats, the k = 10 graph through NearkitJoins.knnGraph
           on flat shards (local[2]) against the exact graph of one flat index of the Python package
           (k + 1 nearest, the point itself left out): `fashion_graph_equal` 1 when every row's ids
           are equal, `fashion_graph_rows_differing`, and both times.
This is bench/distributed.py's Spark part, kept in its own file.
"""

import argparse
import gzip
import os
import shutil
import subprocess
import sys
import tempfile
import time

import numpy as np

import nearkit

FASHION_PACKAGE = "dataset-fashion-mnist"
DIM = 128


def emit(name, value):
    print(f"{name} {value:.6g}" if isinstance(value, float) else f"{name} {value}", flush=True)


def session(master, jar, tmp):
    from pyspark.sql import SparkSession
    spark = (SparkSession.builder.master(master).appName(f"nearkit-bench-{master}")
             .config("spark.jars", jar).config("spark.ui.enabled", "false")
             .config("spark.ui.showConsoleProgress", "false")
             .config("spark.driver.memory", "10g").config("spark.sql.shuffle.partitions", "2")
             .config("spark.local.dir", tmp).getOrCreate())
    spark.sparkContext.setLogLevel("ERROR")
    spark.sparkContext.setCheckpointDir(os.path.join(tmp, "checkpoints"))
    return spark


def write_clustered(spark, path, n, seed, partitions):
    """n clustered 128-d vectors made by Spark SQL: centre (from a hash of cluster, column) + noise."""
    from pyspark.sql import functions as F
    columns = [(F.pmod(F.xxhash64(F.col("c"), F.lit(j)), F.lit(2000)) / 100.0 - 10.0
                + F.randn(seed * 1000 + j) * 2.0).cast("float") for j in range(DIM)]
    (spark.range(0, n, numPartitions=partitions)
     .withColumn("c", F.pmod(F.xxhash64(F.col("id"), F.lit(seed)), F.lit(100)))
     .select("id", F.array(*columns).alias("features"))
     .write.mode("overwrite").parquet(path))


def run_scaling(args, tmp):
    from nearkit.spark import NearkitKnn
    data_path, query_path = os.path.join(tmp, "base.parquet"), os.path.join(tmp, "queries.parquet")
    times = {}
    for cores in (1, 2):
        spark = session(f"local[{cores}]", args.jar, tmp)
        if cores == 1:
            write_clustered(spark, data_path, args.n, 1, 8)
            write_clustered(spark, query_path, args.queries, 2, 2)
        data = spark.read.parquet(data_path).repartition(2).persist()
        data.count()
        queries = spark.read.parquet(query_path).persist()
        queries.count()
        est = NearkitKnn(kind="ivf_flat", metric="l2", buildParams={"nlist": 256},
                         searchParams={"nprobe": 8}, k=10)
        t = time.perf_counter()
        model = est.fit(data)
        times[f"build{cores}"] = time.perf_counter() - t
        model.transform(queries.limit(100)).count()  # opens the shards on the executor
        times[f"search{cores}"] = float("inf")
        for _ in range(args.repeats):
            t = time.perf_counter()
            answered = model.transform(queries)
            answered.count()
            times[f"search{cores}"] = min(times[f"search{cores}"], time.perf_counter() - t)
        emit(f"spark_build_seconds_local{cores}", times[f"build{cores}"])
        emit(f"spark_search_seconds_local{cores}", times[f"search{cores}"])
        if cores == 2:
            emit("spark_shard_memory_bytes", max(model.shardMemoryBytes()))
            model_dir = os.path.join(tmp, "model")
            model.write().overwrite().save(model_dir)
            rows = answered.select("id", "features", "neighbors").collect()
            q = np.array([r["features"] for r in rows], dtype=np.float32)
            spark_ids = np.array([r["neighbors"] for r in rows], dtype=np.int64)
            native_s, native_ids = native_search(model_dir, q, 10, args.repeats)
            emit("spark_native_search_seconds", native_s)
            emit("spark_vs_native_search", native_s / times["search2"])
            emit("spark_native_ids_equal", int(np.array_equal(spark_ids, native_ids)))
        model.release()
        spark.stop()
    emit("spark_build_scaling_2v1", times["build1"] / times["build2"])
    emit("spark_search_scaling_2v1", times["search1"] / times["search2"])


def native_search(model_dir, q, k, repeats):
    """The best time of `repeats` searches of the saved shards by the Python package, and the ids."""
    shard_dir = os.path.join(model_dir, "shards")
    shards = [nearkit.Index.load(os.path.join(shard_dir, f))
              for f in sorted(os.listdir(shard_dir)) if f.endswith(".nkx")]
    for s in shards:
        s.set_param("nprobe", 8)
    best = float("inf")
    for _ in range(repeats):
        t = time.perf_counter()
        parts = [s.search(q, k=k, num_threads=2) for s in shards]
        merged = nearkit.merge_knn([p.ids for p in parts], [p.distances for p in parts], k)
        best = min(best, time.perf_counter() - t)
    return best, merged.ids


def fashion_train():
    listing = subprocess.run(["dpkg", "-L", FASHION_PACKAGE], capture_output=True, text=True)
    if listing.returncode != 0:
        print(f"# installing {FASHION_PACKAGE} with apt-get", file=sys.stderr)
        subprocess.run(["apt-get", "install", "-y", "-q", FASHION_PACKAGE], check=True, stdout=subprocess.DEVNULL)
        listing = subprocess.run(["dpkg", "-L", FASHION_PACKAGE], capture_output=True, text=True, check=True)
    path = next(f for f in listing.stdout.split() if os.path.basename(f).startswith("train-images-idx3-ubyte"))
    with (gzip.open(path) if path.endswith(".gz") else open(path, "rb")) as f:
        raw = f.read()
    n, rows, cols = (int.from_bytes(raw[i:i + 4], "big") for i in (4, 8, 12))
    return np.frombuffer(raw, dtype=np.uint8, offset=16).reshape(n, rows * cols)


def run_fashion(args, tmp):
    from pyspark.sql import functions as F
    from nearkit.spark import NearkitKnn, knn_graph
    pixels = fashion_train()
    x = pixels.astype(np.float32)
    k = 10
    # CSV is the quickest way in without pyarrow: one line per image, the id first.
    csv = os.path.join(tmp, "fashion.csv")
    with open(csv, "w") as f:
        for i, row in enumerate(pixels):
            f.write(f"{i}," + ",".join(map(str, row.tolist())) + "\n")
    spark = session("local[2]", args.jar, tmp)
    raw = spark.read.csv(csv, inferSchema=False).repartition(2)
    cols = raw.columns
    df = raw.select(F.col(cols[0]).cast("long").alias("id"),
                    F.array(*[F.col(c).cast("float") for c in cols[1:]]).alias("features")).persist()
    df.count()
    t = time.perf_counter()
    graph = knn_graph(df, NearkitKnn(kind="flat", metric="l2"), k).select("id", "neighbors").collect()
    emit("fashion_graph_spark_seconds", time.perf_counter() - t)
    spark.stop()
    t = time.perf_counter()
    one = nearkit.Index(kind="flat", metric="l2", dim=x.shape[1])
    one.add(x)
    ids, _ = one.search(x, k=k + 1)
    emit("fashion_graph_native_seconds", time.perf_counter() - t)
    differing = 0
    for r in graph:
        i = r["id"]
        want = [j for j in ids[i] if j != i][:k]
        differing += list(r["neighbors"]) != want
    emit("fashion_graph_rows", len(graph))
    emit("fashion_graph_rows_differing", differing)
    emit("fashion_graph_equal", int(differing == 0 and len(graph) == len(x)))


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    here = os.path.dirname(os.path.abspath(__file__))
    p.add_argument("--jar", default=os.path.join(here, "..", "spark", "target", "nearkit-spark-0.1.0-with-nearkit.jar"))
    p.add_argument("--n", type=int, default=1_000_000)
    p.add_argument("--queries", type=int, default=10_000)
    p.add_argument("--repeats", type=int, default=3, help="searches timed per figure (the best is reported)")
    p.add_argument("--sections", default="scaling,fashion")
    args = p.parse_args()
    if not os.path.isfile(args.jar):
        sys.exit(f"no nearkit-spark jar at {args.jar}: run `mvn -q -B package -DskipTests` in spark/")
    tmp = tempfile.mkdtemp(prefix="nearkit-spark-bench-")
    try:
        sections = args.sections.split(",")
        if "scaling" in sections:
            run_scaling(args, tmp)
        if "fashion" in sections:
            run_fashion(args, tmp)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
