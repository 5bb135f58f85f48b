#!/usr/bin/env python3
"""Read-only views against full loads (issue 19): opening time, memory shared across processes,
and search speed, in one run.

    build/python-venv/bin/python bench/views.py [--n 1000000] [--dim 128] [--procs 4]
        [--kind-n 100000] [--queries 2000] [--kinds flat,hnsw,...] [--cold] [--work-dir DIR]

1. Opening: a flat index of --n x --dim clustered float32 vectors (1M x 128: a 512 MB file) is
   saved once; then, the file in the page cache, each of nearkit.load, nearkit.view and
   nearkit.view(verify=True) opens it 5 times, alternating; the best time of each counts.
   view_open_ms and view_open_vs_load (target <= 0.01); view_verified_open_vs_load.
2. Memory: --procs processes (Python, as a web server's workers would be) each open the file and
   run the same batch of searches (a flat search reads every stored vector), then report the
   proportional set size (Pss in /proc/PID/smaps_rollup; a shared page counts 1/N in each of its
   N processes). Once with views, once with loads. view_pss_vs_file (total PSS of the viewing
   processes over the file size; target <= 1.2), load_pss_vs_file (about --procs) and
   view_pss_vs_load. The same figures less the PSS of as many idle processes (the interpreter,
   numpy and nearkit imported, the same searches run over a 1,000-row in-memory index) are
   printed as *_index_pss_vs_file: what the index itself costs.
3. Speed: for each kind, an index of --kind-n clustered vectors (float kinds: 64 dimensions, l2;
   binary kinds: 256 bits, hamming) is saved, loaded and viewed; --queries single queries (one
   call each, one thread, k = 10, repeated to fill about 0.3 s a pass) run through each in turn,
   6 passes (each first in every other one), warm; the best pass counts.
   <kind>_view_vs_load_qps (target >= 0.97; _cpu: by the process's CPU time, steadier on a busy
   machine), and for flat also batches (the GEMM path) on the
   --n index: flat_batch_view_vs_load_qps. Per kind also what opening costs: <kind>_view_owns_vs_load
   (the heap a view owns, memory_bytes after the warm-up, over a load's: what the view still copies
   or builds) and <kind>_view_open_vs_load (best of 5 opens each, the file in the page cache);
   <kind>_file_bytes_per_row and <kind>_load_bytes_per_row (the file's size and a load's
   memory_bytes over the rows: what keeping the structures in the file costs on disk), and
   <kind>_view_huge_fraction: the part of the file the view has mapped in 2 MB pages after the
   warm-up (FilePmdMapped of the process, whose only large file mapping is the view, over the
   file's size; 0 where the kernel maps files in 4 KB pages only). With --cold, the file's pages
   are dropped from the page cache (posix_fadvise) just before the view the speeds are measured
   on is opened, as a worker meets a file nobody read lately; the warm-up then reads it in
   through the view.

Needs: pip install numpy ./python (the nearkit package). Prints name=value lines.
"""
import argparse
import os
import subprocess
import sys
import tempfile
import time

import numpy as np

import nearkit

PASSES = 6  # alternating passes of the loaded index and the view; the best of each counts
WORKER = r"""
import sys, numpy as np, nearkit
path, how, nq = sys.argv[1], sys.argv[2], int(sys.argv[3])
if how == "idle":  # the same work over a tiny in-memory index: interpreter, numpy, BLAS buffers
    dim = nearkit.view(path).dim
    index = nearkit.Index("flat", "l2", dim)
    index.add(np.random.default_rng(2).normal(size=(1000, dim)).astype(np.float32))
else:
    index = nearkit.view(path) if how == "view" else nearkit.load(path)
index.num_threads = 1
rng = np.random.default_rng(1)
queries = rng.normal(size=(nq, index.dim)).astype(np.float32)
index.search(queries, 10)
print("ready", flush=True)
sys.stdin.readline()
"""


def clustered(n, d, seed, clusters=256):
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(clusters, d)).astype(np.float32) * 3
    out = np.empty((n, d), np.float32)
    for lo in range(0, n, 100_000):
        hi = min(n, lo + 100_000)
        out[lo:hi] = centres[rng.integers(0, clusters, hi - lo)] + rng.normal(size=(hi - lo, d))
    return out


def best_time(fn, rounds):
    best = float("inf")
    for _ in range(rounds):
        t = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t)
    return best


def open_figures(path, rounds=5):
    def opener(how):
        def run():
            (nearkit.view(path, verify=True) if how == "verified" else
             nearkit.view(path) if how == "view" else nearkit.load(path)).close()
        return run
    best = {how: float("inf") for how in ("load", "view", "verified")}
    for _ in range(rounds):  # alternate, so that every opener meets the same machine
        for how in best:
            best[how] = min(best[how], best_time(opener(how), 1))
    return best


def pss_kib(pid):
    with open(f"/proc/{pid}/smaps_rollup") as f:
        for line in f:
            if line.startswith("Pss:"):
                return int(line.split()[1])
    raise RuntimeError("no Pss line")


def processes_pss(path, how, procs, nq):
    """Total PSS (bytes) of `procs` worker processes that opened the file `how` and searched it."""
    workers = [subprocess.Popen([sys.executable, "-c", WORKER, path, how, str(nq)],
                                stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
               for _ in range(procs)]
    try:
        for w in workers:
            if w.stdout.readline().strip() != "ready":
                raise RuntimeError(f"a {how} worker failed")
        return sum(pss_kib(w.pid) for w in workers) * 1024
    finally:
        for w in workers:
            w.stdin.write("\n")
            w.stdin.flush()
            w.wait()


PASS_SECONDS = 0.3  # a pass repeats the queries for about this long: fast kinds took 40 ms a pass


def single_query_qps(index, queries, repeats=1):
    """(wall, CPU) queries per second of one pass, one call per query, the queries `repeats` times."""
    t, c = time.perf_counter(), time.process_time()
    for _ in range(repeats):
        for q in queries:
            index.search(q[None, :], 10)
    done = repeats * len(queries)
    return done / (time.perf_counter() - t), done / (time.process_time() - c)


def drop_from_page_cache(path):
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)  # dirty pages stay cached
        os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
    finally:
        os.close(fd)


def file_pmd_mapped_bytes():
    with open("/proc/self/smaps_rollup") as f:
        for line in f:
            if line.startswith("FilePmdMapped:"):
                return int(line.split()[1]) * 1024
    return 0


def kind_speed(kind, work, n, nq, cold):
    binary = kind in ("mih", "bktree", "ivf_binary")
    if binary:
        rng = np.random.default_rng(5)
        centres = rng.integers(0, 256, size=(64, 32), dtype=np.uint8)
        flips = rng.integers(0, 256, size=(n + nq, 32), dtype=np.uint8) & rng.integers(
            0, 256, size=(n + nq, 32), dtype=np.uint8) & 0x11
        data = centres[rng.integers(0, 64, n + nq)] ^ flips
        index = nearkit.Index(kind, "hamming", 256)
    else:
        data = clustered(n + nq, 64, 5)
        index = nearkit.Index(kind, "l2", 64)
    base, queries = data[:n], data[n:]
    index.num_threads = 1
    if kind.startswith("ivf"):
        index.nlist = int(4 * n ** 0.5)
        index.train(base)
    index.add(base)
    # the trees are ready unbuilt (they scan what is outside the tree): build them, or the file
    # holds no tree to view
    if not index.is_ready or kind in ("vptree", "bktree", "rpforest", "mih"):
        index.build()
    path = os.path.join(work, f"{kind}.nkx")
    index.save(path)
    index.close()
    file_bytes = os.path.getsize(path)
    opens = {"load": float("inf"), "view": float("inf")}
    for _ in range(5):
        for how, open_index in (("load", nearkit.load), ("view", nearkit.view)):
            t = time.perf_counter()
            ix = open_index(path)
            opens[how] = min(opens[how], time.perf_counter() - t)
            ix.close()
    loaded = nearkit.load(path)
    if cold:
        drop_from_page_cache(path)
    view = nearkit.view(path)
    for ix in (loaded, view):
        ix.num_threads = 1
        ix.search(queries, 10)  # warm: the view's pages are mapped, lazily computed state made
    huge = file_pmd_mapped_bytes() / file_bytes
    owns = view.memory_bytes / loaded.memory_bytes
    per_row = {"file": file_bytes / n, "load": loaded.memory_bytes / n}
    qps = {"load": 0.0, "view": 0.0, "load_cpu": 0.0, "view_cpu": 0.0}
    repeats = max(1, int(PASS_SECONDS * single_query_qps(loaded, queries)[0] / len(queries)))
    order = [("load", loaded), ("view", view)]
    for _ in range(PASSES):  # each goes first in turn: neither always meets a warmer machine
        for how, ix in order:
            wall, cpu = single_query_qps(ix, queries, repeats)
            qps[how] = max(qps[how], wall)
            qps[how + "_cpu"] = max(qps[how + "_cpu"], cpu)
        order.reverse()
    np.testing.assert_array_equal(loaded.search(queries, 10).ids, view.search(queries, 10).ids)
    loaded.close()
    view.close()
    os.remove(path)
    qps["owns"], qps["open"] = owns, opens["view"] / opens["load"]
    qps["file_per_row"], qps["load_per_row"] = per_row["file"], per_row["load"]
    qps["huge"] = min(huge, 1.0)
    return qps


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--n", type=int, default=1_000_000)
    ap.add_argument("--dim", type=int, default=128)
    ap.add_argument("--procs", type=int, default=4)
    ap.add_argument("--kind-n", type=int, default=100_000)
    ap.add_argument("--queries", type=int, default=2000)
    ap.add_argument("--kinds", default="flat,hnsw,ivf_flat,ivf_sq8,ivf_pq,rpforest,vptree,mih,bktree,ivf_binary")
    ap.add_argument("--cold", action="store_true",
                    help="drop each kind's file from the page cache before viewing it for the speeds")
    ap.add_argument("--work-dir", default=None)
    args = ap.parse_args()
    work = args.work_dir or tempfile.mkdtemp(prefix="nearkit-views-")
    os.makedirs(work, exist_ok=True)
    path = os.path.join(work, "flat.nkx")

    x = clustered(args.n, args.dim, 1)
    index = nearkit.Index("flat", "l2", args.dim)
    index.add(x)
    index.save(path)
    index.close()
    del x
    size = os.path.getsize(path)
    print(f"file_mb={size / 2**20:.1f}")

    t = open_figures(path)
    print(f"load_open_ms={t['load'] * 1e3:.2f}")
    print(f"view_open_ms={t['view'] * 1e3:.3f}")
    print(f"view_verified_open_ms={t['verified'] * 1e3:.2f}")
    print(f"view_open_vs_load={t['view'] / t['load']:.5f}")
    print(f"view_verified_open_vs_load={t['verified'] / t['load']:.3f}")

    nq = 64
    idle = processes_pss(path, "idle", args.procs, nq)
    view_pss = processes_pss(path, "view", args.procs, nq)
    load_pss = processes_pss(path, "load", args.procs, nq)
    print(f"processes={args.procs}")
    print(f"idle_processes_pss_mb={idle / 2**20:.1f}")
    print(f"view_pss_mb={view_pss / 2**20:.1f}")
    print(f"load_pss_mb={load_pss / 2**20:.1f}")
    print(f"view_pss_vs_file={view_pss / size:.3f}")
    print(f"load_pss_vs_file={load_pss / size:.3f}")
    print(f"view_pss_vs_load={view_pss / load_pss:.3f}")
    print(f"view_index_pss_vs_file={(view_pss - idle) / size:.3f}")
    print(f"load_index_pss_vs_file={(load_pss - idle) / size:.3f}")

    loaded, view = nearkit.load(path), nearkit.view(path)
    batch = clustered(256, args.dim, 9)
    for ix in (loaded, view):
        ix.num_threads = 1
        ix.search(batch, 10)
    best = {"load": float("inf"), "view": float("inf")}
    order = [("load", loaded), ("view", view)]
    for _ in range(PASSES):
        for how, ix in order:
            best[how] = min(best[how], best_time(lambda: ix.search(batch, 10), 1))
        order.reverse()
    print(f"flat_batch_view_vs_load_qps={best['load'] / best['view']:.3f}")
    loaded.close()
    view.close()
    os.remove(path)

    worst, worst_cpu = [], []
    for kind in args.kinds.split(","):
        qps = kind_speed(kind, work, args.kind_n, args.queries, args.cold)
        worst.append(qps["view"] / qps["load"])
        worst_cpu.append(qps["view_cpu"] / qps["load_cpu"])
        print(f"{kind}_load_qps={qps['load']:.0f}")
        print(f"{kind}_view_qps={qps['view']:.0f}")
        print(f"{kind}_view_vs_load_qps={worst[-1]:.3f}")
        print(f"{kind}_view_vs_load_qps_cpu={worst_cpu[-1]:.3f}")
        print(f"{kind}_view_owns_vs_load={qps['owns']:.3f}")
        print(f"{kind}_view_open_vs_load={qps['open']:.3f}")
        print(f"{kind}_file_bytes_per_row={qps['file_per_row']:.1f}")
        print(f"{kind}_load_bytes_per_row={qps['load_per_row']:.1f}")
        print(f"{kind}_view_huge_fraction={qps['huge']:.3f}")
    print(f"view_vs_load_qps_min={min(worst):.3f}")
    print(f"view_vs_load_qps_cpu_min={min(worst_cpu):.3f}")


if __name__ == "__main__":
    main()
