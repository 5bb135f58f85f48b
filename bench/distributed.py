#!/usr/bin/env python3
"""nearkit on cluster engines: build and search throughput with 1 and 2 workers, and the engine's
overhead against the plain package on the same shards (docs/distributed.md).

    python3 bench/distributed.py --engine dask          # 1M x 128, 10,000 queries (the README's)
    python3 bench/distributed.py --engine dask --n 200000 --queries 2000   # a quick run
    python3 bench/distributed.py --engine all
    python3 bench/distributed.py --shard-plan     # one 768-d ivf_pq shard: docs/distributed.md's plan
    python3 bench/distributed.py --view-memory    # a shard's heap loaded and viewed, per kind

Data: clustered synthetic float32 vectors (Gaussian blobs around 1,000 centres), generated on the
workers, one partition per shard (--shards, default 2). Every index is --kind (default ivf_flat,
nlist 1024 per shard, nprobe 16), one native thread per task. Figures (one line each, name value):

  dask_build_seconds_<w>w, dask_search_qps_<w>w     with w = 1 and 2 worker processes
  dask_build_scaling_2v1   build time 1 worker / 2 workers
  dask_search_scaling_2v1  search QPS 2 workers / 1 worker            (issue 21's target: >= 1.6)
  dask_vs_native_search    Dask's QPS with 2 workers / nearkit.ShardedIndex's over the same shard
                           files with 2 native threads (the engine's overhead; 1 = none)
  native_search_scaling_2v1  nearkit.ShardedIndex's QPS with 2 threads / 1 thread: what the
                           machine's free cores allow any 2-over-1 figure to reach

The Spark half (--engine spark) is added by the Spark module's work.
"""

import argparse
import os
import shutil
import sys
import tempfile
import time

import numpy as np

# This file's name is the distributed package's: its directory, first on sys.path when run as a
# script, would shadow the package.
_HERE = os.path.dirname(os.path.abspath(__file__))
sys.path[:] = [p for p in sys.path if os.path.abspath(p or os.curdir) != _HERE]


def clustered_block(block_id, rows, dim, centres_seed=7):
    """Rows of one partition: Gaussian blobs around 1,000 shared centres (seeded per block)."""
    centres = np.random.default_rng(centres_seed).normal(size=(1000, dim)).astype(np.float32) * 3
    rng = np.random.default_rng(1000 + block_id)
    x = centres[rng.integers(0, 1000, rows)] + rng.normal(size=(rows, dim)).astype(np.float32)
    return x.astype(np.float32)


def dask_vectors(n, dim, parts, seed_offset=0):
    import dask.array as da
    from dask import delayed

    rows = [n // parts + (1 if i < n % parts else 0) for i in range(parts)]
    blocks = [da.from_delayed(delayed(clustered_block)(seed_offset + i, r, dim), (r, dim), np.float32)
              for i, r in enumerate(rows)]
    return da.concatenate(blocks, axis=0)


def run_dask_once(workers, args, queries, save_to=None):
    """(build seconds, search QPS) with `workers` worker processes of one thread each."""
    import dask
    import distributed

    import nearkit.dask as nkd

    with distributed.LocalCluster(n_workers=workers, processes=True, threads_per_worker=1,
                                  dashboard_address=None, memory_limit=0) as cluster, \
            distributed.Client(cluster) as client:
        x = dask_vectors(args.n, args.dim, args.shards)
        params = {"nlist": args.nlist} if args.kind.startswith("ivf") else {}
        start = time.perf_counter()
        index = nkd.build(x, kind=args.kind, client=client, **params)
        distributed.wait([s for s in index.shards])
        build = time.perf_counter() - start
        runtime = {"nprobe": args.nprobe} if args.kind.startswith("ivf") else {}
        client.scatter(queries, broadcast=True)  # the queries on every worker before the clock
        q = dask.array.from_array(queries, chunks=(args.query_chunk, -1))
        start = time.perf_counter()
        dask.compute(*index.search(q, args.k, **runtime))
        qps = len(queries) / (time.perf_counter() - start)
        if save_to:
            index.save(save_to)
    return build, qps


def native_qps(path, args, queries, threads):
    """nearkit.ShardedIndex's QPS over the shard files the Dask run saved, with `threads`."""
    import nearkit

    sharded = nearkit.ShardedIndex.open(path, num_threads=threads)
    runtime = {"nprobe": args.nprobe} if args.kind.startswith("ivf") else {}
    start = time.perf_counter()
    sharded.search(queries, args.k, **runtime)
    return len(queries) / (time.perf_counter() - start)


def bench_dask(args):
    queries = clustered_block(10**6, args.queries, args.dim)
    results = {}
    tmp = tempfile.mkdtemp(prefix="nearkit-bench-dask-")
    try:
        for workers in (1, 2):
            build, qps = run_dask_once(workers, args, queries, save_to=tmp if workers == 2 else None)
            results[f"dask_build_seconds_{workers}w"] = build
            results[f"dask_search_qps_{workers}w"] = qps
            print(f"dask {workers} worker(s): build {build:.1f} s, search {qps:.0f} queries/s",
                  flush=True)
        # the machine's own 2-over-1 ceiling: the same shards in one process, 1 then 2 threads
        results["native_search_qps_1t"] = native_qps(tmp, args, queries, threads=1)
        native = native_qps(tmp, args, queries, threads=2)
        results["native_search_qps_2t"] = native
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    results["dask_build_scaling_2v1"] = results["dask_build_seconds_1w"] / results["dask_build_seconds_2w"]
    results["dask_search_scaling_2v1"] = results["dask_search_qps_2w"] / results["dask_search_qps_1w"]
    results["dask_vs_native_search"] = results["dask_search_qps_2w"] / native
    results["native_search_scaling_2v1"] = native / results["native_search_qps_1t"]
    return results


def bench_shard(args):
    """The per-shard figures of docs/distributed.md's plan: one --plan-n x --plan-dim shard of
    --plan-kind (compressed codes), its build time, QPS (1 and 2 threads) and bytes per vector
    in memory (memory_bytes) and on disk."""
    import nearkit

    x = clustered_block(0, args.plan_n, args.plan_dim)
    queries = clustered_block(10**6, 1000, args.plan_dim)
    params = dict(p.split("=") for p in args.plan_params.split(",") if p)
    index = nearkit.Index(args.plan_kind, "l2", args.plan_dim, num_threads=2,
                          **{k: float(v) for k, v in params.items()})
    start = time.perf_counter()
    index.add(x)
    index.build()
    build = time.perf_counter() - start
    truth = nearkit.Index("flat", "l2", args.plan_dim)
    truth.add(x)
    want = truth.search(queries, 10).ids
    results = {"shard_build_seconds": build,
               "shard_memory_bytes_per_vector": index.memory_bytes / args.plan_n}
    for threads in (1, 2):
        start = time.perf_counter()
        got = index.search(queries, 10, num_threads=threads, nprobe=args.plan_nprobe).ids
        results[f"shard_search_qps_{threads}t"] = len(queries) / (time.perf_counter() - start)
    results["shard_recall_at_10"] = float(np.mean([len(set(a) & set(b)) / 10 for a, b in zip(got, want)]))
    with tempfile.TemporaryDirectory() as tmp:
        index.save(os.path.join(tmp, "shard.nkx"))
        results["shard_file_bytes_per_vector"] = os.path.getsize(os.path.join(tmp, "shard.nkx")) / args.plan_n
    print(f"# shard: {args.plan_n} x {args.plan_dim} {args.plan_kind} {args.plan_params} "
          f"nprobe {args.plan_nprobe}")
    return results


def bench_spark(args):
    raise SystemExit("bench/distributed.py: the Spark half is not here yet (--engine dask)")


def bench_view_memory(args):
    """A shard's native heap loaded against viewed (docs/distributed.md, "Shards as views"): one
    --plan-n x --dim shard of each kind saved, loaded and viewed; memory_bytes per vector of each,
    and the file's bytes per vector (what the page cache holds once per host for views)."""
    import nearkit

    x = clustered_block(0, args.plan_n, args.dim)
    kinds = {"flat": {}, "ivf_flat": {"nlist": 256}, "hnsw": {"M": 16}, "ivf_sq8": {"nlist": 256}}
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        for kind, params in kinds.items():
            index = nearkit.Index(kind, "l2", args.dim, num_threads=2, **params)
            index.add(x)
            index.build()
            path = os.path.join(tmp, f"{kind}.nkx")
            index.save(path)
            index.close()
            loaded, viewed = nearkit.load(path), nearkit.view(path)
            results[f"{kind}_load_bytes_per_vector"] = loaded.memory_bytes / args.plan_n
            results[f"{kind}_view_bytes_per_vector"] = viewed.memory_bytes / args.plan_n
            results[f"{kind}_file_bytes_per_vector"] = os.path.getsize(path) / args.plan_n
            results[f"{kind}_view_vs_load_memory"] = viewed.memory_bytes / loaded.memory_bytes
            loaded.close()
            viewed.close()
    print(f"# one shard of {args.plan_n} x {args.dim} clustered float32 vectors per kind")
    return results


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--engine", choices=["dask", "spark", "all"], default="dask")
    p.add_argument("--n", type=int, default=1_000_000)
    p.add_argument("--dim", type=int, default=128)
    p.add_argument("--queries", type=int, default=10_000)
    p.add_argument("--query-chunk", type=int, default=2_500)
    p.add_argument("--shards", type=int, default=2)
    p.add_argument("--kind", default="ivf_flat")
    p.add_argument("--nlist", type=int, default=1024)
    p.add_argument("--nprobe", type=int, default=16)
    p.add_argument("--k", type=int, default=10)
    p.add_argument("--shard-plan", action="store_true",
                   help="measure one shard for the 1-billion-vector plan instead of an engine")
    p.add_argument("--plan-n", type=int, default=200_000)
    p.add_argument("--plan-dim", type=int, default=768)
    p.add_argument("--plan-kind", default="ivf_pq")
    p.add_argument("--plan-params", default="nlist=1024,m=96")
    p.add_argument("--plan-nprobe", type=int, default=16)
    p.add_argument("--view-memory", action="store_true",
                   help="a --plan-n x --dim shard's heap loaded and viewed, per kind")
    args = p.parse_args()
    results = {}
    if args.view_memory:
        for name, value in bench_view_memory(args).items():
            print(f"{name} {value:.3f}")
        return
    if args.shard_plan:
        for name, value in bench_shard(args).items():
            print(f"{name} {value:.3f}")
        return
    if args.engine in ("dask", "all"):
        results.update(bench_dask(args))
    if args.engine in ("spark", "all"):
        results.update(bench_spark(args))
    print(f"# {args.n} x {args.dim}, {args.queries} queries, k {args.k}, {args.shards} shards of "
          f"{args.kind}, python {sys.version.split()[0]}, {os.cpu_count()} cores")
    for name, value in results.items():
        print(f"{name} {value:.3f}")


if __name__ == "__main__":
    main()
