#!/usr/bin/env python3
"""Call overhead of nearkit's Python binding against the same calls in C.

    python bench/python_overhead.py [--c-bench build/bench_overhead_c] [--rounds 5]

Runs the C baseline `bench_overhead_c DIR` (it writes DIR/base.fvecs, 10,000 x 32 clustered floats,
and DIR/queries.fvecs, and prints c_single_us / c_batch_s), loads the same files, builds the same
flat l2 index with num_threads = 1 through the Python package and measures the same two things:
the median time of one single-query k = 10 search (2,000 calls, each timed alone, the query a 1-d
float32 row passed without a copy, the result arrays allocated by the call), and the best of 5
times of one 10,000-query k = 10 batch search. Each round runs C then Python; the best round of
each side is reported, which keeps other load on the machine out of the comparison.

Prints name=value lines: c_single_us, c_batch_s, python_single_us, python_overhead_us
(python_single_us - c_single_us), python_batch_s, python_batch_vs_c (python_batch_s / c_batch_s).
Targets: python_overhead_us < 5, python_batch_vs_c < 1.05.
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
SINGLE_RUNS = 2000
BATCH_RUNS = 5


def read_fvecs(path):
    raw = np.fromfile(path, dtype="<i4")
    dim = int(raw[0])
    rows = raw.reshape(-1, dim + 1)
    assert (rows[:, 0] == dim).all(), f"{path}: not a .fvecs file"
    return np.ascontiguousarray(rows[:, 1:]).view("<f4").astype(np.float32)


def run_c(program, workdir):
    out = subprocess.run([str(program), str(workdir)], capture_output=True, text=True, check=True)
    values = {}
    for line in out.stdout.splitlines():
        name, _, value = line.partition("=")
        if value:
            values[name.strip()] = float(value)
    return values["c_single_us"], values["c_batch_s"]


def run_python(base, queries):
    index = nearkit.Index(kind="flat", metric="l2", dim=base.shape[1], num_threads=1)
    index.add(base)
    index.build()
    search = index.search
    rows = [queries[r % len(queries)] for r in range(SINGLE_RUNS)]  # 1-d views, no copies
    for q in rows[:50]:  # warm up
        search(q, K)
    clock = time.perf_counter_ns
    times = np.empty(SINGLE_RUNS)
    for r, q in enumerate(rows):
        t0 = clock()
        search(q, K)
        times[r] = clock() - t0
    single_us = float(np.median(times)) / 1e3
    best = float("inf")
    for _ in range(BATCH_RUNS):
        t0 = time.perf_counter()
        search(queries, K)
        best = min(best, time.perf_counter() - t0)
    index.close()
    return single_us, best


def main():
    here = pathlib.Path(__file__).resolve().parent
    default_c = os.environ.get("NEARKIT_BENCH_OVERHEAD_C", here.parent / "build" / "bench_overhead_c")
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--c-bench", default=str(default_c), help="the bench_overhead_c program")
    parser.add_argument("--rounds", type=int, default=5, help="rounds of C + Python (best kept)")
    parser.add_argument("--dir", help="directory for the data files (default: a temporary one)")
    args = parser.parse_args()
    if not pathlib.Path(args.c_bench).exists():
        sys.exit(f"python_overhead: {args.c_bench} not found; build the target bench_overhead_c")

    with tempfile.TemporaryDirectory() as tmp:
        workdir = pathlib.Path(args.dir or tmp)
        workdir.mkdir(parents=True, exist_ok=True)
        c_single, c_batch, py_single, py_batch = [], [], [], []
        base = queries = None
        for _ in range(max(args.rounds, 1)):
            s, b = run_c(args.c_bench, workdir)
            c_single.append(s)
            c_batch.append(b)
            if base is None:
                base = read_fvecs(workdir / "base.fvecs")
                queries = read_fvecs(workdir / "queries.fvecs")
            s, b = run_python(base, queries)
            py_single.append(s)
            py_batch.append(b)

    cs, cb, ps, pb = min(c_single), min(c_batch), min(py_single), min(py_batch)
    print(f"c_single_us={cs:.3f}")
    print(f"c_batch_s={cb:.6f}")
    print(f"python_single_us={ps:.3f}")
    print(f"python_overhead_us={ps - cs:.3f}")
    print(f"python_batch_s={pb:.6f}")
    print(f"python_batch_vs_c={pb / cb:.4f}")


if __name__ == "__main__":
    main()
