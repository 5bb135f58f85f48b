#!/usr/bin/env python3
"""Call overhead of nearkit's Python binding against the same calls in C.

    python bench/python_overhead.py [--c-bench build/bench_overhead_c] [--rounds 101] [--calls 1000]

Per-call overhead, paired. A single-query search of a 10,000-vector index costs ~30 us and the
difference of two such medians, taken by two processes at different moments on a shared machine,
swings by several microseconds. So the overhead is measured where the C call itself costs well
under a microsecond, with C and Python alternating:

- the C side is `bench_overhead_c --serve DIR` (see bench/overhead_c.c), a child process that
  holds two tiny single-thread indexes over the first 4 rows of DIR/base.fvecs (flat l2; hnsw l2)
  and times a block of single-query k = 1 searches on request;
- Python builds the same two indexes from the same file and times the same block of calls
  through the package (`index.search(q, 1)`, q a 1-d float32 row of the first 64 queries, the
  result arrays allocated by the call), right before or right after the C block (the order
  alternates from round to round, so drift in load favours neither side);
- both sides time a block on their thread's CPU clock (time.thread_time_ns here,
  CLOCK_THREAD_CPUTIME_ID in C), so time spent waiting for a core while other jobs run, most of
  the noise on a shared machine, counts on neither side;
- one round gives one difference of the mean per-call times (Python block minus C block);
  --rounds rounds (default 101) of --calls calls per block (default 1,000, after 50 untimed).

`python_overhead_us` is the median of the paired differences on the flat index, with its
interquartile range; `python_overhead_params_us` is the same for a search of the hnsw index with
the per-call parameter ef_search = 4 (`index.search(q, 1, ef_search=4)` against
nearkit_search_options.params in C): the per-call settings path.

Batch, unchanged: the C program `bench_overhead_c DIR` times a 10,000-query k = 10 batch on the
10,000 x 32 flat l2 index (best of 5) and Python the same batch; best of 3 rounds each.

Prints name=value lines: c_tiny_us, python_tiny_us (medians of the blocks' mean per-call times),
python_overhead_us, python_overhead_iqr_us (p25..p75 of the paired differences), the same with
_params, python_overhead_in_c_calls (python_overhead_us / c_tiny_us: other jobs on the cores slow
both sides alike, so this ratio moves less from run to run than the microseconds), and
c_batch_s, python_batch_s, python_batch_vs_c.
Targets (issue 18): python_overhead_us <= 2, stable within 0.5 us over three runs.
"""

import argparse
import os
import pathlib
import subprocess
import sys
import tempfile
import time

import numpy as np

import nearkit

K = 10
# Blocks are timed on the thread's CPU clock, as the C program times its blocks: time spent
# waiting for a core while other jobs run does not count (see bench/overhead_c.c).
_clock = time.thread_time_ns
BATCH_RUNS = 5
BATCH_ROUNDS = 3
# The paired measurement's tiny indexes: as in bench/overhead_c.c.
TINY_N, TINY_Q, TINY_K, TINY_EF, WARMUP_BLOCK = 4, 64, 1, 4, 50


def read_fvecs(path):
    raw = np.fromfile(path, dtype="<i4")
    dim = int(raw[0])
    rows = raw.reshape(-1, dim + 1)
    assert (rows[:, 0] == dim).all(), f"{path}: not a .fvecs file"
    return np.ascontiguousarray(rows[:, 1:]).view("<f4").astype(np.float32)


def c_values(program, workdir):
    out = subprocess.run([str(program), str(workdir)], capture_output=True, text=True, check=True)
    values = {}
    for line in out.stdout.splitlines():
        name, _, value = line.partition("=")
        if value:
            values[name.strip()] = float(value)
    return values


class CServer:
    """The C side of the paired measurement: `bench_overhead_c --serve DIR` as a child process."""

    def __init__(self, program, workdir):
        self.proc = subprocess.Popen([str(program), "--serve", str(workdir)], stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, text=True, bufsize=1)
        if self.proc.stdout.readline().strip() != "ready":
            sys.exit("python_overhead: the C program did not start serving")

    def block_us(self, what, calls):
        self.proc.stdin.write(f"{what} {calls}\n")
        line = self.proc.stdout.readline()
        if not line.startswith("us="):
            sys.exit(f"python_overhead: the C program answered {line!r} to {what}")
        return float(line[3:])

    def close(self):
        self.proc.stdin.write("quit\n")
        self.proc.stdin.close()
        self.proc.wait()


def flat_block_us(index, rows, calls):
    """Mean microseconds per call of `calls` searches, after WARMUP_BLOCK untimed ones, as C does."""
    search, picks = index.search, [rows[r % TINY_Q] for r in range(-WARMUP_BLOCK, calls)]
    for q in picks[:WARMUP_BLOCK]:
        search(q, TINY_K)
    t0 = _clock()
    for q in picks[WARMUP_BLOCK:]:
        search(q, TINY_K)
    return (_clock() - t0) / 1e3 / calls


def params_block_us(index, rows, calls):
    """flat_block_us for searches with the per-call parameter ef_search."""
    search, picks = index.search, [rows[r % TINY_Q] for r in range(-WARMUP_BLOCK, calls)]
    for q in picks[:WARMUP_BLOCK]:
        search(q, TINY_K, ef_search=TINY_EF)
    t0 = _clock()
    for q in picks[WARMUP_BLOCK:]:
        search(q, TINY_K, ef_search=TINY_EF)
    return (_clock() - t0) / 1e3 / calls


def paired(server, what, block, index, rows, rounds, calls):
    """(median C us, median Python us, paired differences) over `rounds` adjacent pairs of blocks."""
    c, py = np.empty(rounds), np.empty(rounds)
    for r in range(rounds):
        if r % 2:
            py[r] = block(index, rows, calls)
            c[r] = server.block_us(what, calls)
        else:
            c[r] = server.block_us(what, calls)
            py[r] = block(index, rows, calls)
    return float(np.median(c)), float(np.median(py)), py - c


def tiny_index(kind, base):
    index = nearkit.Index(kind=kind, metric="l2", dim=base.shape[1], num_threads=1)
    index.add(base[:TINY_N])
    index.build()
    return index


def measure_overheads(program, workdir, base, queries, rounds, calls):
    rows = [queries[i] for i in range(TINY_Q)]  # 1-d views, no copies
    flat, hnsw = tiny_index("flat", base), tiny_index("hnsw", base)
    server = CServer(program, workdir)
    try:
        c, py, diffs = paired(server, "flat", flat_block_us, flat, rows, rounds, calls)
        _, _, pdiffs = paired(server, "params", params_block_us, hnsw, rows, rounds, calls)
    finally:
        server.close()
    flat.close()
    hnsw.close()
    report = {"c_tiny_us": c, "python_tiny_us": py}
    for name, d in (("python_overhead", diffs), ("python_overhead_params", pdiffs)):
        p25, p50, p75 = np.percentile(d, [25, 50, 75])
        report[f"{name}_us"] = p50
        report[f"{name}_iqr_us"] = f"{p25:.3f}..{p75:.3f}"
    report["python_overhead_in_c_calls"] = report["python_overhead_us"] / c
    return report


def batch_s(base, queries):
    index = nearkit.Index(kind="flat", metric="l2", dim=base.shape[1], num_threads=1)
    index.add(base)
    index.build()
    best = float("inf")
    for _ in range(BATCH_RUNS):
        t0 = time.perf_counter()
        index.search(queries, K)
        best = min(best, time.perf_counter() - t0)
    index.close()
    return best


def main():
    here = pathlib.Path(__file__).resolve().parent
    default_c = os.environ.get("NEARKIT_BENCH_OVERHEAD_C", here.parent / "build" / "bench_overhead_c")
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--c-bench", default=str(default_c), help="the bench_overhead_c program")
    parser.add_argument("--rounds", type=int, default=101, help="paired rounds (C block + Python block)")
    parser.add_argument("--calls", type=int, default=1000, help="calls per block")
    parser.add_argument("--dir", help="directory for the data files (default: a temporary one)")
    args = parser.parse_args()
    if not pathlib.Path(args.c_bench).exists():
        sys.exit(f"python_overhead: {args.c_bench} not found; build the target bench_overhead_c")

    with tempfile.TemporaryDirectory() as tmp:
        workdir = pathlib.Path(args.dir or tmp)
        workdir.mkdir(parents=True, exist_ok=True)
        c_batch, py_batch = [], []
        for _ in range(BATCH_ROUNDS):
            c_batch.append(c_values(args.c_bench, workdir)["c_batch_s"])
            base = read_fvecs(workdir / "base.fvecs")
            queries = read_fvecs(workdir / "queries.fvecs")
            py_batch.append(batch_s(base, queries))
        report = measure_overheads(args.c_bench, workdir, base, queries, max(args.rounds, 1),
                                   max(args.calls, 1))

    for name, value in report.items():
        print(f"{name}={value:.3f}" if isinstance(value, float) else f"{name}={value}")
    cb, pb = min(c_batch), min(py_batch)
    print(f"c_batch_s={cb:.6f}")
    print(f"python_batch_s={pb:.6f}")
    print(f"python_batch_vs_c={pb / cb:.4f}")


if __name__ == "__main__":
    main()
