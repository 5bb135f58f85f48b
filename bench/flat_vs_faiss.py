#!/usr/bin/env python3
"""nearkit's flat index against Faiss's brute force, side by side in one run.

    python3 bench/flat_vs_faiss.py [--build-dir build] [--n 1000000] [--queries 1000]

float: N x 128 clustered synthetic vectors, 1,000 queries, k = 10, L2, at 1 thread and at 2;
binary: N x 512-bit codes, 100 queries planted as near-duplicates (1 to 8 bits flipped), k = 10,
at 1 thread, with the kernels the CPU's best level picks, then again with each SIMD level the CPU
runs forced (NEARKIT_KERNELS=avx2, =avx512: *_avx2, *_avx512 lines). nearkit runs through its Python package (pip install ./python), Faiss through
faiss-cpu, in the same process on the same arrays. Prints one name=value line per figure; the
*_vs_faiss_* ratios are nearkit QPS divided by Faiss QPS, measured in this run, best of --runs.
One-thread figures also come as *_cpu ratios from the thread's CPU time, which a shared, busy
machine disturbs far less than wall time. Needs: pip install numpy faiss-cpu ./python.
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


def best_of(runs, fn, clock=time.perf_counter):
    best = float("inf")
    for _ in range(runs):
        t0 = clock()
        fn()
        best = min(best, clock() - t0)
    return best


def qps_pair(n, runs, search):
    """(wall QPS, thread-CPU QPS) of one search callable, each the best of `runs`."""
    return n / best_of(runs, search), n / best_of(runs, search, time.thread_time)


def float_section(args, rng, faiss, nearkit):
    k = args.k
    # ---- float L2 -----------------------------------------------------------------------------
    d = 128
    centres = rng.standard_normal((1000, d), dtype=np.float32) * 4.0
    xb = clustered(rng, args.n, d, centres)
    xq = clustered(rng, args.queries, d, centres)
    fx = faiss.IndexFlatL2(d)
    fx.add(xb)
    nx = nearkit.Index(kind="flat", metric="l2", dim=d)
    nx.add(xb)
    _, faiss_ids = fx.search(xq, k)
    nk_ids, _ = nx.search(xq, k)
    recall = np.mean([len(set(a) & set(b)) / k for a, b in zip(faiss_ids, nk_ids)])
    for threads in (1, 2):
        faiss.omp_set_num_threads(threads)
        nx.num_threads = threads
        f_wall, f_cpu = qps_pair(args.queries, args.runs, lambda: fx.search(xq, k))
        n_wall, n_cpu = qps_pair(args.queries, args.runs, lambda: nx.search(xq, k))
        print(f"faiss_flat_l2_qps_{threads}t={f_wall:.1f}")
        print(f"nearkit_flat_l2_qps_{threads}t={n_wall:.1f}")
        print(f"flat_l2_vs_faiss_{threads}t={n_wall / f_wall:.3f}")
        if threads == 1:
            print(f"flat_l2_vs_faiss_1t_cpu={n_cpu / f_cpu:.3f}")
            nk_1t = n_wall
        else:
            print(f"flat_l2_2t_vs_1t={n_wall / nk_1t:.3f}")
    print(f"nearkit_flat_l2_recall_vs_faiss={recall:.4f}")


def hamming_section(args, rng, faiss, nearkit):
    k, sfx = args.k, args.suffix
    # ---- binary hamming, planted near-duplicates ---------------------------------------------
    nbytes = 64
    codes = rng.integers(0, 256, (args.n, nbytes), dtype=np.uint8)
    nq = 100
    planted = rng.choice(args.n, nq, replace=False)
    bq = codes[planted].copy()
    for i in range(nq):
        for bit in rng.choice(nbytes * 8, rng.integers(1, 9), replace=False):
            bq[i, bit // 8] ^= np.uint8(1 << (bit % 8))
    fb = faiss.IndexBinaryFlat(nbytes * 8)
    fb.add(codes)
    nb = nearkit.Index(kind="flat", metric="hamming", dim=nbytes * 8, num_threads=1)
    nb.add(codes)
    faiss.omp_set_num_threads(1)
    f_wall, f_cpu = qps_pair(nq, args.runs, lambda: fb.search(bq, k))
    n_wall, n_cpu = qps_pair(nq, args.runs, lambda: nb.search(bq, k))
    _, fids = fb.search(bq, k)
    nids, _ = nb.search(bq, k)
    print(f"faiss_flat_hamming_qps_1t{sfx}={f_wall:.1f}")
    print(f"nearkit_flat_hamming_qps_1t{sfx}={n_wall:.1f}")
    print(f"flat_hamming_vs_faiss_1t{sfx}={n_wall / f_wall:.3f}")
    print(f"flat_hamming_vs_faiss_1t_cpu{sfx}={n_cpu / f_cpu:.3f}")
    print(f"nearkit_flat_hamming_planted_recall{sfx}={np.mean(nids[:, 0] == planted):.3f}")
    print(f"faiss_flat_hamming_planted_recall{sfx}={np.mean(fids[:, 0] == planted):.3f}")


def forced_levels():
    """The SIMD kernel levels this CPU runs, each to be forced in a run of its own."""
    try:
        with open("/proc/cpuinfo") as f:
            flags = next((line.split() for line in f if line.startswith("flags")), [])
    except OSError:
        return []
    return [lvl for lvl, need in (("avx2", ("avx2", "fma")),
                                  ("avx512", ("avx512f", "avx512bw", "avx512vl", "avx512vpopcntdq")))
            if all(x in flags for x in need)]


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=1_000_000)
    ap.add_argument("--queries", type=int, default=1000)
    ap.add_argument("--k", type=int, default=10)
    ap.add_argument("--runs", type=int, default=3, help="best of this many timed runs per figure")
    ap.add_argument("--work-dir", default="/tmp/nearkit-bench-flat")
    ap.add_argument("--only", choices=("l2", "hamming"), help="one section")
    ap.add_argument("--suffix", default="", help="appended to the hamming figures' names")
    args = ap.parse_args()

    import faiss
    import nearkit

    os.makedirs(args.work_dir, exist_ok=True)
    rng = np.random.default_rng(2026)
    if args.only != "hamming":
        print(f"n={args.n}", f"queries={args.queries}", f"k={args.k}", f"faiss_version={faiss.__version__}",
              f"nearkit_version={nearkit.__version__}", sep="\n")
        float_section(args, rng, faiss, nearkit)
    if args.only != "l2":
        hamming_section(args, np.random.default_rng(2027), faiss, nearkit)
    if args.only is None:  # the same codes and queries with each level forced, in a fresh process
        for level in forced_levels():
            cmd = [sys.executable, __file__, "--only", "hamming", "--suffix", "_" + level, "--n", str(args.n),
                   "--k", str(args.k), "--runs", str(args.runs), "--work-dir", args.work_dir]
            subprocess.run(cmd, check=True, env=dict(os.environ, NEARKIT_KERNELS=level))


if __name__ == "__main__":
    main()
