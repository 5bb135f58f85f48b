#!/usr/bin/env python3
"""nearkit's rpforest against Annoy 1.17 (issue 19): recall@10-QPS over a sweep of search_k, build
time and file size.

    python3 bench/forest_vs_annoy.py [--datasets fashion,synth128] [--scale fashion=1,synth128=1]
                                     [--trees 20] [--queries 500] [--build-runs 3]

  fashion   Fashion-MNIST, l2: the 60,000 training images (784 pixel values) as the base, the first
            --queries test images as queries (Debian's dataset-fashion-mnist, installed with apt-get
            when absent, as bench/ivf_vs_peers.py does).
  synth128  1M x 128 clustered float vectors (bench/ivf_vs_peers.py's generator), l2; --scale
            synth128=0.05 makes 50,000.

Both libraries build --trees trees on two threads (Annoy's n_jobs=2, nearkit's num_threads=2) and
search one query per call on one thread, search_k swept from n_trees * 10 upwards; the truth is
nearkit's flat index. Searches are timed in process CPU time (one thread: immune to other work on
a shared machine); builds in wall time and CPU time (both printed; the ratio is of wall times),
each library's the least of --build-runs builds (default 3), the two libraries' builds taking
turns so that a slow spell of a shared machine falls on both. Prints name=value lines per dataset
(<dataset>_<name>) and, over the datasets
measured, rpforest_vs_annoy_qps_at_r80 / _r90 (the minimum of nearkit's best QPS reaching the
recall over Annoy's), rpforest_build_vs_annoy (the minimum of Annoy's build time over nearkit's),
rpforest_file_vs_annoy (the maximum of nearkit's file size over Annoy's) and
rpforest_shared_projections_saving (the file's fraction saved with shared_projections=64).
Needs: pip install numpy ./python; annoy is installed with pip when absent.
"""
import argparse
import importlib.util
import os
import subprocess
import sys
import tempfile
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import ivf_vs_peers as ivf  # noqa: E402  (Fashion-MNIST, the clustered generator, recall, timing)

K = 10
BUILD_THREADS = 2
SEED = 42
TARGETS = (0.80, 0.90)
SEARCH_K_FACTORS = (1, 1.5, 2, 3, 4, 6, 8, 12, 16, 24, 32, 48, 64, 96, 128, 192, 256)  # steps of about 1.4x


def emit(name, value):
    print(f"{name}={'' if value is None else f'{value:.4g}' if isinstance(value, float) else value}", flush=True)


def import_annoy():
    if importlib.util.find_spec("annoy") is None:
        print("# installing annoy", file=sys.stderr, flush=True)
        subprocess.run([sys.executable, "-m", "pip", "install", "-q", "annoy>=1.17,<1.18"], check=True)
    import annoy
    from importlib.metadata import version
    emit("annoy_version", version("annoy"))
    return annoy


def dataset(name, scale, n_queries, rng):
    if name == "fashion":
        train, test = ivf.fashion_mnist()
        return np.ascontiguousarray(train[:max(1000, int(len(train) * scale))]), \
            np.ascontiguousarray(test[:n_queries])
    if name != "synth128":
        sys.exit(f"unknown dataset {name!r} (fashion, synth128)")
    n, d = max(2000, int(1_000_000 * scale)), 128
    centres = rng.standard_normal((max(50, n // 500), d), dtype=np.float32) * 3.0
    pool = ivf.clustered(rng, n + n_queries, d, centres)
    return np.ascontiguousarray(pool[:n]), np.ascontiguousarray(pool[n:])


def truth(nearkit, base, queries):
    flat = nearkit.Index("flat", "l2", dim=base.shape[1], num_threads=BUILD_THREADS)
    flat.add(base)
    return flat.search(queries, K)[0]


def timed_cpu(fn, runs=2):
    """The least process CPU time of fn over a few runs, and its result."""
    best, result = float("inf"), None
    for _ in range(runs):
        t0 = time.process_time()
        result = fn()
        best = min(best, time.process_time() - t0)
    return best, result


def timed_build(fn):
    """(wall seconds, CPU seconds) of fn."""
    w0, c0 = time.perf_counter(), time.process_time()
    fn()
    return time.perf_counter() - w0, time.process_time() - c0


def curve(search_fn, queries, gt, sweep):
    """[(search_k, recall, qps)] with one query per call on one thread, best of a few runs."""
    points = []
    for search_k in sweep:
        def run():
            return [search_fn(q, search_k) for q in queries]
        seconds, found = timed_cpu(run)
        points.append((search_k, ivf.recall(found, gt), len(queries) / seconds))
        if points[-1][1] >= 0.995:
            break
    return points


def interleaved_builds(builds, runs):
    """{name: (wall, cpu, index)}: the least wall time (and that run's CPU time) of each library's
    build over `runs` rounds, the libraries taking turns within a round. builds maps a name to
    (prepare, build): prepare() returns an index holding the rows, untimed; build(index) is timed;
    the index of the last round is returned."""
    best, last = {}, {}
    for _ in range(runs):
        for name, (prepare, build) in builds.items():
            last[name] = None  # the previous round's index goes before the next one is filled
            index = last[name] = prepare()
            timed = timed_build(lambda: build(index))
            if name not in best or timed[0] < best[name][0]:
                best[name] = timed
    return {name: best[name] + (last[name],) for name in builds}


def measure(name, base, queries, nearkit, annoy, trees, work, build_runs):
    gt = truth(nearkit, base, queries)
    d = base.shape[1]
    sweep = [int(trees * K * f) for f in SEARCH_K_FACTORS]

    t0 = time.perf_counter()
    theirs = annoy.AnnoyIndex(d, "euclidean")
    theirs.set_seed(SEED)
    for i, v in enumerate(base):
        theirs.add_item(i, v)
    t_add = time.perf_counter() - t0

    def annoy_rows():
        if theirs.get_n_trees() > 0:
            theirs.unbuild()  # the items stay; the next build makes every tree again
        return theirs

    def nearkit_rows():
        index = nearkit.Index("rpforest", "l2", dim=d, num_threads=BUILD_THREADS, seed=SEED, n_trees=trees)
        index.add(base)
        return index

    best = interleaved_builds({"annoy": (annoy_rows, lambda t: t.build(trees, n_jobs=BUILD_THREADS)),
                               "nearkit": (nearkit_rows, lambda index: index.build())}, build_runs)
    annoy_build, annoy_build_cpu, _ = best["annoy"]
    nearkit_build, nearkit_build_cpu, ours = best["nearkit"]
    annoy_path = os.path.join(work, f"{name}.ann")
    theirs.save(annoy_path)
    ours_path = os.path.join(work, f"{name}.nkx")
    ours.save(ours_path)
    shared = nearkit.Index("rpforest", "l2", dim=d, num_threads=BUILD_THREADS, seed=SEED, n_trees=trees,
                           shared_projections=64)
    shared.add(base)
    shared.build()
    shared_path = os.path.join(work, f"{name}-shared.nkx")
    shared.save(shared_path)
    ours.set_param("num_threads", 1)

    def nearkit_search(q, search_k):
        ours.set_param("search_k", search_k)
        return ours.search(q, K)[0][0]

    def annoy_search(q, search_k):
        return np.asarray(theirs.get_nns_by_vector(q, K, search_k=search_k))

    ours_curve = curve(nearkit_search, queries, gt, sweep)
    annoy_curve = curve(annoy_search, queries, gt, sweep)
    for lib, points in (("rpforest", ours_curve), ("annoy", annoy_curve)):
        for search_k, r, qps in points:
            print(f"# {name} {lib} search_k={search_k} recall={r:.4f} qps={qps:.0f}", flush=True)
    results = {"build_vs_annoy": annoy_build / nearkit_build,
               "file_vs_annoy": os.path.getsize(ours_path) / os.path.getsize(annoy_path),
               "shared_projections_saving": 1 - os.path.getsize(shared_path) / os.path.getsize(ours_path)}
    for target in TARGETS:
        tag = f"r{int(target * 100)}"
        results[f"qps_at_{tag}"] = ivf.ratio(ivf.qps_at(ours_curve, target), ivf.qps_at(annoy_curve, target))
    emit(f"{name}_rows", len(base))
    emit(f"{name}_rpforest_build_s", nearkit_build)
    emit(f"{name}_annoy_build_s", annoy_build)
    emit(f"{name}_rpforest_build_cpu_s", nearkit_build_cpu)
    emit(f"{name}_annoy_build_cpu_s", annoy_build_cpu)
    emit(f"{name}_annoy_add_items_s", t_add)
    emit(f"{name}_rpforest_file_bytes", os.path.getsize(ours_path))
    emit(f"{name}_rpforest_shared_file_bytes", os.path.getsize(shared_path))
    emit(f"{name}_annoy_file_bytes", os.path.getsize(annoy_path))
    for key, value in results.items():
        emit(f"{name}_rpforest_vs_annoy_{key}" if key.startswith("qps") else f"{name}_rpforest_{key}", value)
    return results


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--datasets", default="fashion,synth128")
    p.add_argument("--scale", default="", help="name=fraction,... (default 1 each)")
    p.add_argument("--trees", type=int, default=20)
    p.add_argument("--queries", type=int, default=500)
    p.add_argument("--build-runs", type=int, default=3, help="builds of each library, the least timed")
    args = p.parse_args()
    scales = dict((k, float(v)) for k, v in (kv.split("=") for kv in args.scale.split(",") if kv))
    try:
        import nearkit
    except ImportError:
        sys.exit("nearkit is not installed: pip install ./python (from the repository root)")
    emit("nearkit_version", nearkit.__version__)
    annoy = import_annoy()
    rng = np.random.default_rng(SEED)
    all_results = []
    with tempfile.TemporaryDirectory() as work:
        for name in args.datasets.split(","):
            base, queries = dataset(name, scales.get(name, 1.0), args.queries, rng)
            all_results.append(measure(name, base, queries, nearkit, annoy, args.trees, work,
                                       max(1, args.build_runs)))

    def over(key, pick):
        values = [r[key] for r in all_results if r[key] is not None]
        return pick(values) if values else None

    for target in TARGETS:
        emit(f"rpforest_vs_annoy_qps_at_r{int(target * 100)}", over(f"qps_at_r{int(target * 100)}", min))
    emit("rpforest_build_vs_annoy", over("build_vs_annoy", min))
    emit("rpforest_file_vs_annoy", over("file_vs_annoy", max))
    emit("rpforest_shared_projections_saving", over("shared_projections_saving", min))


if __name__ == "__main__":
    main()
