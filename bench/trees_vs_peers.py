#!/usr/bin/env python3
"""nearkit's exact trees against PyNear, scikit-learn's KDTree and BallTree, and nearkit's flat
index, side by side in one run (issue 7).

    python3 bench/trees_vs_peers.py [--build-dir build] [--scale 1.0] [--queries 10000]
                                    [--dims 2,8,16,32,64] [--repeats 3] [--binary-queries Q]
                                    [--skip-binary] [--sklearn-queries Q]

Float data, uniform in the unit cube and clustered (Gaussian blobs), l2: N = 1,000,000 at d = 2
and 100,000 at d = 8, 16, 32, 64 (times --scale), --queries queries from the same distribution,
k = 1 and k = 10, one thread. Binary: N = 1,000,000 random 256-bit codes (times --scale),
hamming, nearkit's vptree and bktree against PyNear's VPTreeBinaryIndex. Build times too.

nearkit runs through `nearkit bench` (the C library, no binding: build with cmake first); the
peers through their Python APIs, timing only the search call (for PyNear the fastest of its
search methods, searchKNN, searchKNN_arrays and search1NN). Every figure is the best of
--repeats runs (fewer for calls that take more than half a minute). With --sklearn-queries Q,
scikit-learn's trees are timed on the first Q queries only (at d >= 32 they take minutes per
10,000), and the exact neighbours for recall come from nearkit's flat index instead of KDTree.
Prints name=value lines:
  qps_<impl>_<data>_d<D>_k<K>, build_seconds_<impl>_<data>_d<D>
  vptree_vs_<peer>_<data>_d<D>_k<K>   nearkit vptree QPS over the peer's (uniform, clustered)
  vptree_vs_<peer>_d<D>_k<K>          the smaller of the two: the figure the targets apply to
      peers: pynear, kdtree, balltree, sklearn_best (the faster of KDTree and BallTree), flat
  flat_overtakes_vptree_<data>_k<K>   the smallest D where nearkit flat is at least as fast
  target_vs_pynear_1.5, target_vs_sklearn_1.0_d16: met / missed
Needs: pip install numpy scikit-learn pynear. The machine should be otherwise idle.
"""
import argparse
import os
import subprocess
import sys
import tempfile
import time

os.environ.setdefault("OMP_NUM_THREADS", "1")  # peers on one thread, before numpy loads

import numpy as np


def uniform(rng, n, d):
    return rng.random((n, d), dtype=np.float32)


def clustered(rng, n, d, centres):
    """Gaussian blobs of varied spread around shared centres in the unit cube."""
    which = rng.integers(0, len(centres), n)
    spread = rng.uniform(0.01, 0.05, len(centres)).astype(np.float32)
    noise = rng.standard_normal((n, d), dtype=np.float32)
    return (centres[which] + noise * spread[which, None]).astype(np.float32)


def best_time(repeats, fn, budget=30.0):
    """Best of `repeats` timed calls; no more repeats once `budget` seconds are spent (a slow
    peer at full size would otherwise take hours)."""
    best, result, spent = float("inf"), None, 0.0
    for _ in range(repeats):
        t0 = time.perf_counter()
        result = fn()
        elapsed = time.perf_counter() - t0
        best, spent = min(best, elapsed), spent + elapsed
        if spent > budget:
            break
    return best, result


def nearkit_bench(cli, kind, metric, base, queries, truth, k, repeats):
    """Best QPS and build time of `repeats` runs of `nearkit bench` (one thread)."""
    cmd = [cli, "bench", "--kind", kind, "--metric", metric, "--k", str(k), "--threads", "1",
           "--machine", base, queries, truth]
    qps, build, recall = 0.0, float("inf"), None
    for _ in range(repeats):
        out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
        r = dict(line.split("=", 1) for line in out.split() if "=" in line)
        qps = max(qps, float(r["qps"]))
        build = min(build, float(r["build_seconds"]))
        recall = r.get("recall")
    return qps, build, recall


def nearkit_truth(cli, metric, base, queries, k, out):
    """Exact neighbour ids (ties in id order, as nearkit reports them) from a flat index, on
    every core: the reference for recall where ties are common (binary codes)."""
    index = out + ".nkx"
    subprocess.run([cli, "build", "--kind", "flat", "--metric", metric, base, index], check=True,
                   capture_output=True)
    subprocess.run([cli, "search", "--k", str(k), "--threads", "0", "--out", out, index, queries],
                   check=True, capture_output=True)
    os.remove(index)


def pynear_search(index, queries, k, repeats):
    """Best time over PyNear's search methods (the peer's fastest path) and the indices."""
    methods = [lambda: index.searchKNN(queries, k)]
    if hasattr(index, "searchKNN_arrays"):
        methods.append(lambda: index.searchKNN_arrays(queries, k))
    if k == 1 and hasattr(index, "search1NN"):
        methods.append(lambda: index.search1NN(queries))
    best, ids = float("inf"), None
    for m in methods:
        t, result = best_time(repeats, m)
        if t < best:
            best = t
        if ids is None:
            ids = result[0]
    return best, ids


def line(name, value):
    if isinstance(value, float):
        value = f"{value:.6g}"
    print(f"{name}={value}", flush=True)


def ratio(a, b):
    return a / b if b > 0 else float("inf")


def run_float(args, cli, tmp, rng, results):
    import pynear
    from sklearn.neighbors import BallTree, KDTree

    for d in args.dims:
        n = max(1000, int((1_000_000 if d == 2 else 100_000) * args.scale))
        centres = rng.random((max(8, n // 2000), d), dtype=np.float32)
        for data in ("uniform", "clustered"):
            gen = (lambda m: uniform(rng, m, d)) if data == "uniform" else (lambda m: clustered(rng, m, d, centres))
            base, queries = gen(n), gen(args.queries)
            tag = f"{data}_d{d}"
            base_path, query_path = os.path.join(tmp, f"{tag}.npy"), os.path.join(tmp, f"{tag}.q.npy")
            np.save(base_path, base)
            np.save(query_path, queries)

            t0 = time.perf_counter()
            kd = KDTree(base)
            line(f"build_seconds_kdtree_{tag}", time.perf_counter() - t0)
            t0 = time.perf_counter()
            ball = BallTree(base)
            line(f"build_seconds_balltree_{tag}", time.perf_counter() - t0)
            py = pynear.VPTreeL2Index()
            t0 = time.perf_counter()
            py.set(base)
            line(f"build_seconds_pynear_{tag}", time.perf_counter() - t0)

            sk_queries = queries[:args.sklearn_queries] if args.sklearn_queries else queries
            for k in (1, 10):
                t, (_, truth) = best_time(args.repeats, lambda: kd.query(sk_queries, k))
                qps = {"kdtree": len(sk_queries) / t}
                t, _ = best_time(args.repeats, lambda: ball.query(sk_queries, k))
                qps["balltree"] = len(sk_queries) / t
                t, _ = pynear_search(py, queries, k, args.repeats)
                qps["pynear"] = len(queries) / t
                truth_path = os.path.join(tmp, f"{tag}.k{k}.truth.npy")
                if len(sk_queries) == len(queries):
                    np.save(truth_path, truth.astype(np.int64))
                else:
                    nearkit_truth(cli, "l2", base_path, query_path, k, truth_path)
                for kind in ("vptree", "flat"):
                    q, build, recall = nearkit_bench(cli, kind, "l2", base_path, query_path, truth_path, k,
                                                     args.repeats)
                    qps[kind] = q
                    if k == 1:
                        line(f"build_seconds_{kind}_{tag}", build)
                    line(f"recall_{kind}_{tag}_k{k}", recall)
                qps["sklearn_best"] = max(qps["kdtree"], qps["balltree"])
                for impl in ("vptree", "flat", "pynear", "kdtree", "balltree"):
                    line(f"qps_{impl}_{tag}_k{k}", qps[impl])
                for peer in ("pynear", "kdtree", "balltree", "sklearn_best", "flat"):
                    r = ratio(qps["vptree"], qps[peer])
                    line(f"vptree_vs_{peer}_{tag}_k{k}", r)
                    results.setdefault((peer, d, k), {})[data] = r
                results.setdefault(("flat_wins", data, k), {})[d] = qps["flat"] >= qps["vptree"]


def run_binary(args, cli, tmp, rng, results):
    import pynear

    n = max(1000, int(1_000_000 * args.scale))
    base = rng.integers(0, 256, (n, 32), dtype=np.uint8)
    queries = rng.integers(0, 256, (args.binary_queries or args.queries, 32), dtype=np.uint8)
    base_path, query_path = os.path.join(tmp, "binary256.npy"), os.path.join(tmp, "binary256.q.npy")
    np.save(base_path, base)
    np.save(query_path, queries)
    py = pynear.VPTreeBinaryIndex()
    t0 = time.perf_counter()
    py.set(base)
    line("build_seconds_pynear_binary256", time.perf_counter() - t0)
    for k in (1, 10):
        t, _ = pynear_search(py, queries, k, args.repeats)
        qps_py = len(queries) / t
        truth_path = os.path.join(tmp, f"binary256.k{k}.truth.npy")
        nearkit_truth(cli, "hamming", base_path, query_path, k, truth_path)
        line(f"qps_pynear_binary256_k{k}", qps_py)
        for kind in ("vptree", "bktree", "flat"):
            q, build, recall = nearkit_bench(cli, kind, "hamming", base_path, query_path, truth_path, k,
                                             args.repeats)
            if k == 1:
                line(f"build_seconds_{kind}_binary256", build)
            line(f"qps_{kind}_binary256_k{k}", q)
            line(f"recall_{kind}_binary256_k{k}", recall)
            line(f"{kind}_vs_pynear_binary256_k{k}", ratio(q, qps_py))
            if kind == "vptree":
                results.setdefault(("pynear", "binary256", k), {})["binary"] = ratio(q, qps_py)


def summarise(args, results):
    for d in args.dims:
        for k in (1, 10):
            for peer in ("pynear", "kdtree", "balltree", "sklearn_best", "flat"):
                got = results.get((peer, d, k))
                if got:
                    line(f"vptree_vs_{peer}_d{d}_k{k}", min(got.values()))
    for k in (1, 10):
        got = results.get(("pynear", "binary256", k))
        if got:
            line(f"vptree_vs_pynear_binary256_k{k}_min", min(got.values()))
    for data in ("uniform", "clustered"):
        for k in (1, 10):
            wins = results.get(("flat_wins", data, k), {})
            first = next((d for d in sorted(wins) if wins[d]), None)
            line(f"flat_overtakes_vptree_{data}_k{k}", first if first is not None else "none")
    pynear = [min(v.values()) for key, v in results.items() if key[0] == "pynear"]
    sklearn = [min(v.values()) for key, v in results.items()
               if key[0] == "sklearn_best" and isinstance(key[1], int) and key[1] <= 16]
    if pynear:
        line("target_vs_pynear_1.5", "met" if min(pynear) >= 1.5 else f"missed (worst {min(pynear):.3g})")
    if sklearn:
        line("target_vs_sklearn_1.0_d16", "met" if min(sklearn) >= 1.0 else f"missed (worst {min(sklearn):.3g})")


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--build-dir", default=os.path.join(here, "..", "build"))
    p.add_argument("--scale", type=float, default=1.0, help="multiplies every N (e.g. 0.05 for a quick check)")
    p.add_argument("--queries", type=int, default=10_000)
    p.add_argument("--dims", default="2,8,16,32,64")
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--binary-queries", type=int, default=0,
                   help="queries of the binary run (default: --queries); PyNear needs about 0.1 s "
                        "per query there at N = 1,000,000")
    p.add_argument("--skip-binary", action="store_true")
    p.add_argument("--sklearn-queries", type=int, default=0,
                   help="time scikit-learn's trees on this many of the queries (default: all)")
    p.add_argument("--seed", type=int, default=7)
    args = p.parse_args()
    args.dims = [int(x) for x in args.dims.split(",") if x]
    cli = os.path.join(args.build_dir, "nearkit")
    if not os.path.exists(cli):
        sys.exit(f"{cli} not found: build nearkit first (cmake -S . -B build && cmake --build build)")
    rng = np.random.default_rng(args.seed)
    line("threads", 1)
    line("scale", args.scale)
    line("queries", args.queries)
    line("sklearn_queries", args.sklearn_queries or args.queries)
    results = {}
    with tempfile.TemporaryDirectory(prefix="nearkit-trees-") as tmp:
        run_float(args, cli, tmp, rng, results)
        if not args.skip_binary:
            run_binary(args, cli, tmp, rng, results)
    summarise(args, results)


if __name__ == "__main__":
    main()
