#!/usr/bin/env python3
"""One query per call: nearkit's ivf_flat and flat against Faiss's IndexIVFFlat and IndexFlat,
side by side in one run, one thread (issue 18).

    build/python-venv/bin/python bench/single_query.py [--build-dir build] [--scale 1.0]
        [--datasets fashion,synth128,synth768] [--queries 1000]

Datasets as bench/ivf_vs_peers.py makes them (its functions are reused): Fashion-MNIST (l2, from
Debian's dataset-fashion-mnist, installed with apt-get when missing; 1,000 of its test images as
queries), 1,000,000 x 128 clustered synthetic (l2) and 200,000 x 768 clustered synthetic (cosine;
Faiss: inner product on normalised vectors, spherical k-means). --scale shrinks the synthetic
bases (Fashion-MNIST is always whole). k = 10, recall@10 against the exact neighbours.

IVF: every library gets the same nlist (round(4 sqrt(n))), the same training sample (256 points
per list) and 10 k-means iterations; nprobe is swept over 1, 2, 4, ... up to twice the first value
at which Faiss reaches recall 0.99, the same values for everyone. Each query is searched alone,
one call per query, one thread:
  - nearkit through its C library, no binding (bench_single_query_c from --build-dir, built with
    the library; the index lives in that process, which this script drives pass by pass);
  - nearkit through its Python package (import nearkit);
  - Faiss through faiss-cpu (one index.search call per query, omp at 1 thread).
Each setting runs a pass over the queries of each library in turn, 3 times, so that all three
meet the same load on a shared machine; the best pass counts, by the wall clock and by the
thread's CPU time (the *_cpu ratios, steadier when the machine is busy).

Flat: --flat-queries single queries through the C library, the Python package and Faiss's
IndexFlatL2 / IndexFlatIP, and the C figure's scan rate (bytes of stored vectors per second) over
the read bandwidth of one thread (bench_single_query_c bandwidth: a streaming sum over 1 GB). Then
batches of --batch queries at one thread: nearkit's flat index through Python against
IndexFlatL2, and cosine against IndexFlatIP on normalised vectors.

Prints name=value lines: per dataset D, D_<lib>_curve (nprobe:recall:wall QPS:CPU QPS;...),
D_<lib>_qps_at_r90 / _r95 / _r99, the ratios D_ivf_single_vs_faiss_qps_at_r95 / _r99 (the Python
package over Faiss, both through their bindings) and D_ivf_single_c_vs_faiss_qps_at_r95 / _r99
(the C library over Faiss), each also as _cpu, D_flat_single_vs_faiss, D_flat_single_c_vs_faiss,
D_flat_single_bandwidth_fraction, D_flat_l2_vs_faiss_1t and D_flat_cosine_vs_faiss_1t (and _cpu);
the unprefixed ratios are the minimum over the datasets measured.
Needs: pip install numpy faiss-cpu ./python, and the C library built (cmake --build).
"""
import argparse
import math
import os
import subprocess
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import ivf_vs_peers as peers  # noqa: E402  (the datasets, ground truth, recall and nprobe sweep)

PASSES = 3
TARGETS = (0.90, 0.95, 0.99)


class CLibrary:
    """bench_single_query_c serve: an index built in a process of its own, searched pass by pass."""

    def __init__(self, args, kind, metric, files, d, k, nlist, nq):
        self.out, self.k, self.nq = os.path.join(args.work_dir, f"c-{kind}"), k, nq
        cmd = [os.path.join(args.build_dir, "bench_single_query_c"), "serve", kind, metric, str(d),
               files["base"], files["queries"], files["sample"], str(k), str(nlist), self.out]
        self.proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        if self.proc.stdout.readline().strip() != "ready":
            sys.exit("bench_single_query_c failed")

    def search_pass(self, nprobe):
        """(wall seconds, thread CPU seconds, ids) of one pass over the queries."""
        self.proc.stdin.write(f"{nprobe}\n")
        self.proc.stdin.flush()
        wall, cpu = map(float, self.proc.stdout.readline().split())
        ids = np.fromfile(f"{self.out}.{nprobe}.ids", dtype=np.int64).reshape(self.nq, self.k)
        return wall, cpu, ids

    def close(self):
        self.proc.stdin.close()
        self.proc.wait()


def one_by_one(search, queries, k):
    """(wall seconds, thread CPU seconds, ids) of every query searched alone, one call each."""
    ids = np.empty((len(queries), k), dtype=np.int64)
    t0, c0 = time.perf_counter(), time.thread_time()
    for i, q in enumerate(queries):
        ids[i] = search(q)
    return time.perf_counter() - t0, time.thread_time() - c0, ids


def interleaved(passes):
    """Runs the libraries' passes in turn, PASSES times: {lib: (best wall, best CPU, ids)}."""
    best = {}
    for _ in range(PASSES):
        for lib, run in passes.items():
            wall, cpu, ids = run()
            w, c, _ = best.get(lib, (float("inf"), float("inf"), None))
            best[lib] = (min(w, wall), min(c, cpu), ids)
    return best


def curve_line(name, lib, curve):
    print(f"{name}_{lib}_curve=" + ";".join(f"{p}:{r:.4f}:{q:.1f}:{c:.1f}" for p, r, q, c in curve))
    for t in TARGETS:
        print(f"{name}_{lib}_qps_at_r{round(t * 100)}={peers.fmt(qps_at(curve, t))}")
    sys.stdout.flush()


def qps_at(curve, target, column=2):
    """The best QPS (wall: column 2, thread CPU: column 3) among settings reaching the recall."""
    qps = [c[column] for c in curve if c[1] >= target]
    return max(qps) if qps else None


def build_faiss_ivf(faiss, base, sample, metric, nlist):
    d = base.shape[1]
    faiss.omp_set_num_threads(2)
    if metric == "l2":
        fx = faiss.IndexIVFFlat(faiss.IndexFlatL2(d), d, nlist, faiss.METRIC_L2)
    else:
        fx = faiss.IndexIVFFlat(faiss.IndexFlatIP(d), d, nlist, faiss.METRIC_INNER_PRODUCT)
        fx.cp.spherical = True
    fx.cp.niter = peers.TRAIN_ITERATIONS
    fx.cp.max_points_per_centroid = peers.POINTS_PER_LIST
    fx.train(sample)
    fx.add(base)
    faiss.omp_set_num_threads(1)
    return fx


def ivf_single(args, faiss, nearkit, name, base, queries, sample, truth, metric, files):
    n, d = base.shape
    nq, k = len(queries), args.k
    nlist = max(1, round(4 * math.sqrt(n)))
    cosine = metric == "cosine"
    fq = peers.normalised(queries) if cosine else queries
    fx = build_faiss_ivf(faiss, peers.normalised(base) if cosine else base,
                         peers.normalised(sample) if cosine else sample, metric, nlist)
    clib = CLibrary(args, "ivf_flat", metric, files, d, k, nlist, nq)
    ix = nearkit.Index(kind="ivf_flat", metric=metric, dim=d, num_threads=2, nlist=nlist,
                       train_iterations=peers.TRAIN_ITERATIONS)
    ix.train(sample)
    ix.add(base)
    ix.build()
    ix.num_threads = 1
    curves = {"faiss": [], "nearkit_c": [], "nearkit_python": []}
    nprobes, stop = [], None
    for p in peers.nprobe_sweep(nlist):
        fx.nprobe = p
        ix.nprobe = p
        best = interleaved({
            "faiss": lambda: one_by_one(lambda q: fx.search(q[None, :], k)[1][0], fq, k),
            "nearkit_c": lambda: clib.search_pass(p),
            "nearkit_python": lambda: one_by_one(lambda q: ix.search(q, k)[0][0], queries, k)})
        for lib, (wall, cpu, ids) in best.items():
            curves[lib].append((p, peers.recall(ids, truth), nq / wall, nq / cpu))
        nprobes.append(p)
        if stop is None and curves["faiss"][-1][1] >= 0.99:
            stop = 2 * p
        if stop is not None and p >= stop:
            break
    clib.close()
    del fx, ix
    print(f"{name}_nlist={nlist}", f"{name}_nprobes={','.join(map(str, nprobes))}", sep="\n")
    for lib, curve in curves.items():
        curve_line(name, lib, curve)
    figures = {}
    for t in (0.95, 0.99):
        tag = f"r{round(t * 100)}"
        for column, clock in ((2, ""), (3, "_cpu")):
            faiss_qps = qps_at(curves["faiss"], t, column)
            figures[f"ivf_single_vs_faiss_qps_at_{tag}{clock}"] = peers.ratio(
                qps_at(curves["nearkit_python"], t, column), faiss_qps)
            figures[f"ivf_single_c_vs_faiss_qps_at_{tag}{clock}"] = peers.ratio(
                qps_at(curves["nearkit_c"], t, column), faiss_qps)
    return figures


def batch_pass(search):
    t0, c0 = time.perf_counter(), time.thread_time()
    search()
    return time.perf_counter() - t0, time.thread_time() - c0, None


def flat_figures(args, faiss, nearkit, name, base, queries, metric, files, read_gbs):
    n, d = base.shape
    k = args.k
    nq = min(args.flat_queries, len(queries))
    cosine = metric == "cosine"
    fx = faiss.IndexFlatL2(d) if metric == "l2" else faiss.IndexFlatIP(d)
    fx.add(peers.normalised(base) if cosine else base)
    fq = peers.normalised(queries) if cosine else queries
    faiss.omp_set_num_threads(1)
    clib = CLibrary(args, "flat", metric, dict(files, queries=files["flat_queries"]), d, k, 0, nq)
    ix = nearkit.Index(kind="flat", metric=metric, dim=d, num_threads=1)
    ix.add(base)
    best = interleaved({
        "faiss": lambda: one_by_one(lambda q: fx.search(q[None, :], k)[1][0], fq[:nq], k),
        "nearkit_c": lambda: clib.search_pass(0),
        "nearkit_python": lambda: one_by_one(lambda q: ix.search(q, k)[0][0], queries[:nq], k)})
    clib.close()
    agree = np.mean([len(set(a) & set(b)) / k for a, b in zip(best["nearkit_c"][2], best["faiss"][2])])
    c_wall = best["nearkit_c"][0]
    print(f"{name}_flat_single_queries={nq}",
          *(f"{name}_{lib}_flat_single_qps={nq / best[lib][0]:.2f}" for lib in best),
          f"{name}_flat_single_c_gbs={n * d * 4 * nq / c_wall / 1e9:.3f}",
          f"{name}_flat_single_recall_vs_faiss={agree:.4f}", sep="\n")
    figures = {"flat_single_vs_faiss": best["faiss"][0] / best["nearkit_python"][0],
               "flat_single_c_vs_faiss": best["faiss"][0] / c_wall,
               "flat_single_bandwidth_fraction": n * d * 4 * nq / c_wall / 1e9 / read_gbs}
    # A batch of args.batch queries at one thread (the queries repeated if the set is smaller).
    batch = np.ascontiguousarray(np.resize(queries, (args.batch, d)))
    fbatch = peers.normalised(batch) if cosine else batch
    best = interleaved({"faiss": lambda: batch_pass(lambda: fx.search(fbatch, k)),
                        "nearkit": lambda: batch_pass(lambda: ix.search(batch, k))})
    print(*(f"{name}_{lib}_flat_{metric}_batch_qps={args.batch / best[lib][0]:.1f}" for lib in best),
          sep="\n")
    figures[f"flat_{metric}_vs_faiss_1t"] = best["faiss"][0] / best["nearkit"][0]
    figures[f"flat_{metric}_vs_faiss_1t_cpu"] = best["faiss"][1] / best["nearkit"][1]
    if metric == "l2":  # the cosine batch of the same vectors too
        del fx, ix
        fc = faiss.IndexFlatIP(d)
        fc.add(peers.normalised(base))
        ic = nearkit.Index(kind="flat", metric="cosine", dim=d, num_threads=1)
        ic.add(base)
        fbatch = peers.normalised(batch)
        best = interleaved({"faiss": lambda: batch_pass(lambda: fc.search(fbatch, k)),
                            "nearkit": lambda: batch_pass(lambda: ic.search(batch, k))})
        print(*(f"{name}_{lib}_flat_cosine_batch_qps={args.batch / best[lib][0]:.1f}" for lib in best),
              sep="\n")
        figures["flat_cosine_vs_faiss_1t"] = best["faiss"][0] / best["nearkit"][0]
        figures["flat_cosine_vs_faiss_1t_cpu"] = best["faiss"][1] / best["nearkit"][1]
    return figures


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--build-dir", default=os.path.join(here, "..", "build"))
    ap.add_argument("--datasets", default="fashion,synth128,synth768")
    ap.add_argument("--scale", type=float, default=1.0, help="fraction of the synthetic bases")
    ap.add_argument("--queries", type=int, default=1000, help="single queries per IVF setting, at most")
    ap.add_argument("--flat-queries", type=int, default=20, help="single queries on the flat index")
    ap.add_argument("--batch", type=int, default=1000, help="queries of the flat batch")
    ap.add_argument("--k", type=int, default=10)
    ap.add_argument("--work-dir", default="/tmp/nearkit-bench-single")
    args = ap.parse_args()

    import faiss
    import nearkit

    os.makedirs(args.work_dir, exist_ok=True)
    rng = np.random.default_rng(2026)
    bw = subprocess.run([os.path.join(args.build_dir, "bench_single_query_c"), "bandwidth", "1024"],
                        check=True, capture_output=True, text=True).stdout
    read_gbs = float(bw.split()[0].split("=")[1])
    print(f"scale={args.scale}", f"k={args.k}", f"faiss_version={faiss.__version__}",
          f"nearkit_version={nearkit.__version__}", f"read_gbs={read_gbs:.3f}", sep="\n", flush=True)
    ratios = {}
    for name in args.datasets.split(","):
        base, queries, metric = peers.dataset(name, 1.0 if name == "fashion" else args.scale, rng)
        base, queries = np.ascontiguousarray(base), np.ascontiguousarray(queries[:args.queries])
        n, d = base.shape
        truth = peers.ground_truth(faiss, name, base, queries, metric, args.k, args.work_dir)
        take = min(n, peers.POINTS_PER_LIST * max(1, round(4 * math.sqrt(n))))
        sample = np.ascontiguousarray(base[np.sort(rng.choice(n, take, replace=False))])
        files = {key: os.path.join(args.work_dir, f"{name}-{key}.f32")
                 for key in ("base", "queries", "sample", "flat_queries")}
        base.tofile(files["base"])
        queries.tofile(files["queries"])
        sample.tofile(files["sample"])
        queries[:args.flat_queries].tofile(files["flat_queries"])
        print(f"{name}_n={n}", f"{name}_d={d}", f"{name}_queries={len(queries)}", f"{name}_metric={metric}",
              sep="\n", flush=True)
        figures = ivf_single(args, faiss, nearkit, name, base, queries, sample, truth, metric, files)
        figures.update(flat_figures(args, faiss, nearkit, name, base, queries, metric, files, read_gbs))
        for key, value in figures.items():
            print(f"{name}_{key}={peers.fmt(value)}", flush=True)
            if value is not None:
                ratios[key] = min(ratios.get(key, value), value)
    for key in sorted(ratios):
        print(f"{key}={peers.fmt(ratios[key])}")


if __name__ == "__main__":
    main()
