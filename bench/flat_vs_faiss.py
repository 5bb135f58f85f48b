#!/usr/bin/env python3
"""nearkit's flat index against Faiss's brute force, side by side in one run.

    python3 bench/flat_vs_faiss.py [--build-dir build] [--n 1000000] [--queries 1000]

float: N x 128 clustered synthetic vectors, 1,000 queries, k = 10, L2, at 1 thread and at 2;
binary: N x 512-bit codes, 100 queries planted as near-duplicates (1 to 8 bits flipped), k = 10,
at 1 thread. nearkit runs through the `nearkit bench` command (the C library, no binding); Faiss
through faiss-cpu. Prints one name=value line per figure; the *_vs_faiss_* ratios are nearkit
QPS divided by Faiss QPS, measured in this run. Needs: pip install numpy faiss-cpu.
"""
import argparse
import os
import subprocess
import sys
import time

import numpy as np


def clustered(rng, n, d, centres):
    """Gaussian clusters of varied spread around shared centres: a stand-in for embeddings."""
    which = rng.integers(0, len(centres), n)
    spread = rng.uniform(0.5, 2.0, len(centres)).astype(np.float32)
    noise = rng.standard_normal((n, d), dtype=np.float32)
    return centres[which] + noise * spread[which, None]


def write_vecs(path, rows, dtype):
    rows = np.ascontiguousarray(rows, dtype=dtype)
    n, d = rows.shape
    out = np.empty((n, 4 + d * rows.itemsize), dtype=np.uint8)
    out[:, :4] = np.frombuffer(np.int32(d).tobytes(), dtype=np.uint8)
    out[:, 4:] = rows.view(np.uint8).reshape(n, -1)
    out.tofile(path)


def nearkit_bench(cli, metric, base, queries, truth, k, threads):
    cmd = [cli, "bench", "--kind", "flat", "--metric", metric, "--k", str(k),
           "--threads", str(threads), "--machine", base, queries, truth]
    out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
    return dict(line.split("=", 1) for line in out.split() if "=" in line)


def best_of(runs, fn):
    best = float("inf")
    result = None
    for _ in range(runs):
        t0 = time.perf_counter()
        result = fn()
        best = min(best, time.perf_counter() - t0)
    return best, result


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--build-dir", default=os.path.join(os.path.dirname(__file__), "..", "build"))
    ap.add_argument("--n", type=int, default=1_000_000)
    ap.add_argument("--queries", type=int, default=1000)
    ap.add_argument("--k", type=int, default=10)
    ap.add_argument("--runs", type=int, default=3, help="best of this many timed runs per figure")
    ap.add_argument("--work-dir", default="/tmp/nearkit-bench-flat")
    args = ap.parse_args()

    import faiss

    cli = os.path.join(args.build_dir, "nearkit")
    if not os.path.exists(cli):
        sys.exit(f"{cli} not found: build first (bash ci/build.sh)")
    os.makedirs(args.work_dir, exist_ok=True)
    rng = np.random.default_rng(2026)
    k = args.k
    print(f"n={args.n}", f"queries={args.queries}", f"k={k}", f"faiss_version={faiss.__version__}", sep="\n")

    # ---- float L2 -----------------------------------------------------------------------------
    d = 128
    centres = (rng.standard_normal((1000, d), dtype=np.float32) * 4.0)
    xb = clustered(rng, args.n, d, centres)
    xq = clustered(rng, args.queries, d, centres)
    base, queries, truth = (os.path.join(args.work_dir, f) for f in ("base.fvecs", "queries.fvecs", "faiss.ivecs"))
    write_vecs(base, xb, np.float32)
    write_vecs(queries, xq, np.float32)

    index = faiss.IndexFlatL2(d)
    index.add(xb)
    faiss_qps = {}
    for threads in (1, 2):
        faiss.omp_set_num_threads(threads)
        seconds, (_, ids) = best_of(args.runs, lambda: index.search(xq, k))
        faiss_qps[threads] = args.queries / seconds
        if threads == 1:
            write_vecs(truth, ids.astype(np.int32), np.int32)
    del index
    nk = {}
    for threads in (1, 2):
        best = None
        for _ in range(args.runs):
            r = nearkit_bench(cli, "l2", base, queries, truth, k, threads)
            if best is None or float(r["qps"]) > float(best["qps"]):
                best = r
        nk[threads] = best
    for threads in (1, 2):
        print(f"faiss_flat_l2_qps_{threads}t={faiss_qps[threads]:.1f}")
        print(f"nearkit_flat_l2_qps_{threads}t={float(nk[threads]['qps']):.1f}")
        print(f"flat_l2_vs_faiss_{threads}t={float(nk[threads]['qps']) / faiss_qps[threads]:.3f}")
    print(f"nearkit_flat_l2_recall_vs_faiss={float(nk[1]['recall']):.4f}")
    print(f"flat_l2_2t_vs_1t={float(nk[2]['qps']) / float(nk[1]['qps']):.3f}")
    del xb

    # ---- binary hamming, planted near-duplicates ---------------------------------------------
    nbytes = 64
    codes = rng.integers(0, 256, (args.n, nbytes), dtype=np.uint8)
    nq = 100
    planted = rng.choice(args.n, nq, replace=False)
    bq = codes[planted].copy()
    for i in range(nq):
        for bit in rng.choice(nbytes * 8, rng.integers(1, 9), replace=False):
            bq[i, bit // 8] ^= np.uint8(1 << (bit % 8))
    bbase, bqueries, btruth = (os.path.join(args.work_dir, f) for f in ("codes.bvecs", "codeq.bvecs", "faiss_bin.ivecs"))
    write_vecs(bbase, codes, np.uint8)
    write_vecs(bqueries, bq, np.uint8)
    bindex = faiss.IndexBinaryFlat(nbytes * 8)
    bindex.add(codes)
    faiss.omp_set_num_threads(1)
    seconds, (_, bids) = best_of(args.runs, lambda: bindex.search(bq, k))
    faiss_bin_qps = nq / seconds
    write_vecs(btruth, bids.astype(np.int32), np.int32)
    best = None
    for _ in range(args.runs):
        r = nearkit_bench(cli, "hamming", bbase, bqueries, btruth, k, 1)
        if best is None or float(r["qps"]) > float(best["qps"]):
            best = r
    print(f"faiss_flat_hamming_qps_1t={faiss_bin_qps:.1f}")
    print(f"nearkit_flat_hamming_qps_1t={float(best['qps']):.1f}")
    print(f"flat_hamming_vs_faiss_1t={float(best['qps']) / faiss_bin_qps:.3f}")
    print(f"nearkit_flat_hamming_recall_vs_faiss={float(best['recall']):.4f}")
    planted_found = np.mean([planted[i] == bids[i, 0] for i in range(nq)])
    print(f"faiss_planted_recall={planted_found:.3f}")


if __name__ == "__main__":
    main()
