#!/usr/bin/env python3
"""The Voronoi demo's search against peers, side by side in one run.

    python3 bench/voronoi_search.py [--seeds 50] [--width 800] [--height 600] [--runs 5]

One frame of the live Voronoi diagram (issue 22) is one batch 1-NN search: every pixel centre of a
width x height image (480,000 two-dimensional queries) against the seeds (50 by default, uniform
over the image, fixed seed). Timed here in one process on the same arrays, best of --runs, at 1
thread and at 2, for l2 and l1:

  nearkit flat     the default of the demo: k = 1 over rows of <= 4 floats takes the core's nearest
                   path (core/kernels/kernels_small.h's small_nearest)
  nearkit flat heap the same index and call with a filter that admits every id: the general heap
                   path, what every k = 1 search of 2-D points ran before the nearest path
  nearkit vptree   the demo's other seed kind
  faiss flat       faiss.IndexFlatL2 / IndexFlat(METRIC_L1), faiss-cpu
  scipy kdtree     scipy.spatial.cKDTree.query(workers=threads)
  pynear vptree    PyNear's VPTreeL2Index / VPTreeL1Index (searchKNN returns Python lists; one
                   thread, as PyNear's demo runs it)

Prints name=value lines: voronoi_<metric>_t<threads>_<engine>_ms (the frame's search), the
*_vs_* ratios (the peer's time over nearkit flat's: above 1, nearkit is faster), and
*_answers_agree (the fraction of pixels whose nearest seed is the one nearkit reports; ties
between equidistant seeds may be broken differently by peers). Needs numpy, faiss-cpu, scipy,
pynear and the nearkit package (pip install ./python).
"""
import argparse
import time

import numpy as np

import nearkit


def best_of(runs, fn):
    best = float("inf")
    for _ in range(runs):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best * 1e3


def pixel_centres(width, height):
    ys, xs = np.mgrid[0:height, 0:width].astype(np.float32)
    return np.ascontiguousarray(np.stack([xs.ravel() + 0.5, ys.ravel() + 0.5], axis=1))


def engines(metric, seeds, threads):
    """name -> (search(queries) -> nearest seed numbers), for the engines this machine has."""
    out = {}
    flat = nearkit.Index(kind="flat", metric=metric, dim=2, num_threads=threads)
    flat.add(seeds)
    everyone = np.ones(len(seeds), dtype=bool)
    out["nearkit_flat"] = lambda q: flat.search(q, 1).ids[:, 0]
    out["nearkit_flat_heap"] = lambda q: flat.search(q, 1, filter=everyone).ids[:, 0]
    tree = nearkit.Index(kind="vptree", metric=metric, dim=2, num_threads=threads)
    tree.add(seeds)
    tree.build()
    out["nearkit_vptree"] = lambda q: tree.search(q, 1).ids[:, 0]
    try:
        import faiss

        fx = faiss.IndexFlatL2(2) if metric == "l2" else faiss.IndexFlat(2, faiss.METRIC_L1)
        fx.add(seeds)

        def faiss_search(q):
            faiss.omp_set_num_threads(threads)
            return fx.search(q, 1)[1][:, 0]

        out["faiss_flat"] = faiss_search
    except ImportError:
        print("faiss_skipped=faiss-cpu not installed")
    try:
        from scipy.spatial import cKDTree

        kd = cKDTree(seeds)
        p = 2 if metric == "l2" else 1
        out["scipy_kdtree"] = lambda q: kd.query(q, k=1, p=p, workers=threads)[1]
    except ImportError:
        print("scipy_skipped=scipy not installed")
    if threads == 1:
        try:
            import pynear

            pn = pynear.VPTreeL2Index() if metric == "l2" else pynear.VPTreeL1Index()
            pn.set(seeds)
            out["pynear_vptree"] = lambda q: np.array(pn.searchKNN(q, 1)[0])[:, 0]
        except ImportError:
            print("pynear_skipped=pynear not installed")
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--seeds", type=int, default=50)
    ap.add_argument("--width", type=int, default=800)
    ap.add_argument("--height", type=int, default=600)
    ap.add_argument("--runs", type=int, default=5)
    args = ap.parse_args()
    rng = np.random.default_rng(22)
    seeds = (rng.random((args.seeds, 2)) * [args.width, args.height]).astype(np.float32)
    queries = pixel_centres(args.width, args.height)
    print(f"voronoi_queries={len(queries)}")
    print(f"voronoi_seeds={args.seeds}")
    for metric in ("l2", "l1"):
        for threads in (1, 2):
            found = engines(metric, seeds, threads)
            truth = found["nearkit_flat"](queries)
            times = {}
            for name, search in found.items():
                agree = float(np.mean(np.asarray(search(queries)) == truth))
                times[name] = best_of(args.runs, lambda: search(queries))
                prefix = f"voronoi_{metric}_t{threads}_{name}"
                print(f"{prefix}_ms={times[name]:.2f}")
                if name != "nearkit_flat":
                    print(f"{prefix}_answers_agree={agree:.6f}")
            for name, ms in times.items():
                if name != "nearkit_flat":
                    print(f"voronoi_{metric}_t{threads}_nearkit_flat_vs_{name}={ms / times['nearkit_flat']:.2f}")


if __name__ == "__main__":
    main()
