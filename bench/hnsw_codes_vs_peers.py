#!/usr/bin/env python3
"""nearkit's hnsw_sq8 (graph traversal on 8-bit scalar codes) against the 8-bit graph indexes of
PyNear (HNSWL2IndexSQ8) and USearch (Index(dtype="i8")), side by side in one run (issue 17, "What
it must show": HNSW-SQ8 QPS at recall 0.95 >= each peer's, memory per vector <= each).

    build/python-venv/bin/python bench/hnsw_codes_vs_peers.py [--dataset fashion] [--scale 1.0]
                                                              [--queries 1000] [--modes batch,single]

--dataset fashion (l2): the 60,000 Fashion-MNIST training images (784 pixel values; --scale keeps
the first scale x 60,000) as the base, the first --queries test images as queries (Debian's
dataset-fashion-mnist, installed with apt-get when missing, as bench/hnsw_vs_peers.py does).
--dataset synth128 (cosine): bench/hnsw_vs_peers.py's 1,000,000 x 128 clustered vectors (--scale
keeps scale x 1,000,000), USearch's i8 home ground (its cosine format); PyNear's L2 graph gets
the vectors normalised (its l2 order on them is the cosine order). k = 10.

Libraries, every graph with M 16 and ef_construction 200, builds on two threads, searches on one:
  nearkit hnsw_sq8          refine 0: codes only, the originals dropped (distances of the codes);
  nearkit hnsw_sq8 refine   refine 2: the originals kept, 2 k candidates re-ranked exactly;
  PyNear HNSWL2IndexSQ8     its SQ8 graph (PyNear re-ranks nothing: codes only);
  USearch i8                Index(metric="l2sq" / "cos", dtype="i8"). USearch scales each vector to
                            unit length before quantising it to integers in [-127, 127] (i8 is meant
                            for cosine), so under l2 it ranks by direction and loses the norms: on
                            Fashion-MNIST its recall stays far below 0.90 at every ef_search, and its
                            QPS ratios are then empty (the peer reaches neither recall); synth128
                            measures it where it works. The images are given to it scaled into
                            [0, 1] (outside every timing).
and, for reference, nearkit hnsw over float32 (--libs).
ef_search is swept over the same values for every library (hnsw_vs_peers.EF_SWEEP) until recall
0.999 or a plateau past 0.99; searches timed by process CPU time, best of repeated runs; recall@10
by the golden manifest's tie rule; QPS at a recall interpolated on each curve. The helpers (data,
truth, scoring, sweeps, interpolation, adapters for nearkit and PyNear) are bench/hnsw_vs_peers.py's.

Memory per vector: nearkit's memory_bytes / n, USearch's memory_usage / n, and for every library
the growth of resident memory over its build / n (PyNear reports no figure of its own).

Prints name=value lines: <mode>_<lib>_curve, <mode>_<lib>_qps_at_r90/_r95, per lib
<lib>_bytes_per_vector (own figure) and <lib>_rss_per_vector; the ratios (nearkit over the peer:
QPS > 1 and memory < 1 favour nearkit), for the batch mode and, prefixed single_, one query per
call: hnsw_sq8_vs_pynear_sq8_qps_at_r90/_r95, hnsw_sq8_vs_usearch_i8_qps_at_r90/_r95 (and
hnsw_sq8_refine_vs_... for refine 2), hnsw_sq8_memory_vs_pynear_sq8, hnsw_sq8_memory_vs_usearch_i8
(resident growth; _own for USearch's own figure against memory_bytes). A peer that never reaches
recall 0.90 also gets <mode_prefix><peer>_peak_recall (the most it reaches, rounded down to a
hundredth) and <mode_prefix><ours>_vs_<peer>_qps_at_peer_peak (both QPS at that recall).
"""
import argparse
import math
import os
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import hnsw_vs_peers as hv  # noqa: E402  (data, truth, scoring, sweeps, adapters)
import ivf_vs_peers as ivf  # noqa: E402  (timing clock)


class NearkitCodes(hv.NearkitAdapter):
    """nearkit hnsw_sq8 (or another kind over codes), refine given at creation."""

    def __init__(self, nearkit, kind, metric, dim, n, refine):
        super().__init__(nearkit, "hnsw", metric, dim, n)
        self.kind, self.refine = kind, refine
        self.key = kind + ("_refine" if refine else "")
        self.label = f"nearkit {kind}" + (f" refine {refine}" if refine else "")
        if refine:
            self.params = dict(self.params, refine=refine)


class PynearSQ8(hv.PynearAdapter):
    key, label = "pynear_sq8", "PyNear HNSWL2IndexSQ8"

    def __init__(self, pynear, metric):
        self.cls = pynear.HNSWL2IndexSQ8
        self.metric = metric
        self.index = None

    def prepare(self, x):
        """Cosine: unit vectors, whose l2 order is the cosine order (outside every timing)."""
        return ivf.normalised(x) if self.metric == "cosine" else x


class UsearchI8(hv.UsearchAdapter):
    key, label = "usearch_i8", 'USearch dtype="i8"'

    def __init__(self, usearch, metric, dim, scale):
        from usearch.index import Index
        self.scale = scale
        kind = {"l2": "l2sq", "cosine": "cos"}[metric]
        self.make = lambda: Index(ndim=dim, metric=kind, dtype="i8", connectivity=hv.M,
                                  expansion_add=hv.EF_CONSTRUCTION, expansion_search=64)
        self.index = None

    def prepare(self, x):
        return np.ascontiguousarray(x * np.float32(self.scale))


def ratio_line(name, ours, theirs):
    hv.emit(name, hv.ratio(ours, theirs))


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--dataset", default="fashion", choices=("fashion", "synth128"))
    ap.add_argument("--scale", type=float, default=1.0, help="fraction of the dataset's base")
    ap.add_argument("--queries", type=int, default=1000)
    ap.add_argument("--modes", default="batch,single")
    ap.add_argument("--libs", default="hnsw_sq8,hnsw_sq8_refine,pynear_sq8,usearch_i8",
                    help="a subset of hnsw_sq8,hnsw_sq8_refine,pynear_sq8,usearch_i8,hnsw")
    ap.add_argument("--refine", type=float, default=2.0)
    ap.add_argument("--work-dir", default="/tmp/nearkit-bench-hnsw")
    args = ap.parse_args()
    libs, modes = args.libs.split(","), args.modes.split(",")

    hnswlib, usearch, faiss, pynear = hv.import_peers()
    nearkit = hv.import_nearkit()
    ivf.CLOCK = time.process_time
    os.makedirs(args.work_dir, exist_ok=True)
    for key, value in (("dataset", args.dataset), ("scale", args.scale), ("k", hv.K), ("M", hv.M), ("ef_construction", hv.EF_CONSTRUCTION),
                       ("build_threads", hv.BUILD_THREADS), ("search_threads", 1), ("clock", "cpu"),
                       ("refine", args.refine)):
        hv.emit(key, value)
    rng = np.random.default_rng(2026)
    base, queries, _, metric, dim = hv.load_dataset(args.dataset, args.scale, args.queries, 0, rng)
    n = len(base)
    hv.emit("n", n)
    hv.emit("dim", dim)
    truth = hv.exact_neighbours(faiss, args.dataset, base, queries, metric, args.work_dir)
    score = hv.Scorer(base, queries, truth, metric)

    adapters = []
    if "hnsw_sq8" in libs:
        adapters.append(NearkitCodes(nearkit, "hnsw_sq8", metric, dim, n, 0))
    if "hnsw_sq8_refine" in libs:
        adapters.append(NearkitCodes(nearkit, "hnsw_sq8", metric, dim, n, args.refine))
    if "pynear_sq8" in libs:
        adapters.append(PynearSQ8(pynear, metric))
    if "usearch_i8" in libs:
        adapters.append(UsearchI8(usearch, metric, dim, 1.0 / float(np.abs(base).max())))
    if "hnsw" in libs:
        adapters.append(hv.NearkitAdapter(nearkit, "hnsw", metric, dim, n))

    qps = {}
    curves = {}
    memory = {}
    for a in adapters:
        b, q = a.prepare(base), a.prepare(queries)
        wall, cpu, rss = hv.build_measured(a, b)
        own = a.memory_bytes()
        hv.emit(f"{a.key}_build_seconds", wall)
        hv.emit(f"{a.key}_build_cpu_seconds", cpu)
        hv.emit(f"{a.key}_bytes_per_vector", None if own is None else own / n)
        hv.emit(f"{a.key}_rss_per_vector", rss / n)
        memory[a.key] = (own, rss)
        for mode in modes:
            curve = hv.sweep(a, q, score, mode)
            curves[(mode, a.key)] = curve
            hv.emit(f"{mode}_{a.key}_curve", ";".join(f"{v}:{r:.4f}:{s:.1f}" for v, r, s in curve))
            for target in (0.90, 0.95):
                qps[(mode, a.key, target)] = hv.qps_at(curve, target)
                hv.emit(f"{mode}_{a.key}_qps_at_r{round(target * 100)}", qps[(mode, a.key, target)])
        a.free()
        del b, q

    for mode in modes:
        prefix = "" if mode == "batch" else f"{mode}_"
        for ours in ("hnsw_sq8", "hnsw_sq8_refine"):
            for peer in ("pynear_sq8", "usearch_i8"):
                for target in (0.90, 0.95):
                    if (mode, ours, target) in qps and (mode, peer, target) in qps:
                        ratio_line(f"{prefix}{ours}_vs_{peer}_qps_at_r{round(target * 100)}",
                                   qps[(mode, ours, target)], qps[(mode, peer, target)])
    # A peer that never reaches 0.90 (USearch's i8 on l2, and on cosine): QPS at the most it
    # reaches, rounded down to a hundredth, so that it still has a figure to be compared by.
    for mode in modes:
        prefix = "" if mode == "batch" else f"{mode}_"
        for peer in ("pynear_sq8", "usearch_i8"):
            if (mode, peer) not in curves or qps.get((mode, peer, 0.90)) is not None:
                continue
            peak = math.floor(max(r for _, r, _ in curves[(mode, peer)]) * 100) / 100
            hv.emit(f"{prefix}{peer}_peak_recall", peak)
            for ours in ("hnsw_sq8", "hnsw_sq8_refine"):
                if (mode, ours) in curves:
                    ratio_line(f"{prefix}{ours}_vs_{peer}_qps_at_peer_peak",
                               hv.qps_at(curves[(mode, ours)], peak), hv.qps_at(curves[(mode, peer)], peak))
    for ours in ("hnsw_sq8", "hnsw_sq8_refine"):
        for peer in ("pynear_sq8", "usearch_i8"):
            if ours in memory and peer in memory:
                ratio_line(f"{ours}_memory_vs_{peer}", memory[ours][1], memory[peer][1])
                if memory[peer][0] is not None:
                    ratio_line(f"{ours}_memory_vs_{peer}_own", memory[ours][0], memory[peer][0])


if __name__ == "__main__":
    main()
