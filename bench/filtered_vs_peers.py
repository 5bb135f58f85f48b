#!/usr/bin/env python3
"""Filtered search: nearkit against Faiss with an id selector, at 50%, 10%, 1% and 0.1% selectivity.

    python3 bench/filtered_vs_peers.py [--build-dir build] [--scale 1.0] [--datasets fashion,synth128]

For each dataset (those of bench/ivf_vs_peers.py: Fashion-MNIST, L2, and 1,000,000 x 128 clustered
synthetic vectors, L2) and each selectivity s, one allow-list of round(s n) ids is drawn (seeded),
and the truth is the exact top-10 among the allowed vectors only (Faiss's exact flat index over
them). Then, one thread, every query in one batch call:
  ivf    nearkit ivf_flat with the allow-list as a filter (NEARKIT_FILTER_IDS) and nprobe given per
         call (search options), against Faiss IndexIVFFlat searched with SearchParametersIVF(sel=
         IDSelectorBatch(allowed), nprobe); both trained on the same sample, same nlist, nprobe from
         1 to nlist;
  flat   nearkit flat with the same filter against Faiss IndexFlatL2 with SearchParameters(sel=...)
         (exact: recall 1 for both; QPS compared).
Prints name=value lines; per dataset D and selectivity S (in per mille, e.g. s1 = 0.1%):
  D_sS_<lib>_ivf_curve (nprobe:recall:qps;...), D_sS_<lib>_ivf_qps_at_r95, D_sS_nearkit_ivf_best_recall,
  D_sS_filtered_ivf_vs_faiss_qps_at_r95 (nearkit QPS / Faiss QPS at recall >= 0.95; empty when Faiss
  never reaches 0.95, in which case D_sS_faiss_ivf_best_recall says how far it got),
  D_sS_filtered_flat_vs_faiss_qps,
and, over everything measured: filtered_ivf_vs_faiss_qps_at_r95 (the minimum where both reach 0.95),
nearkit_ivf_r95_everywhere (1 when nearkit reaches recall 0.95 at every selectivity), and
filtered_flat_vs_faiss_qps (the minimum).
Needs: pip install numpy faiss-cpu. nearkit runs through its C library (ctypes), built in --build-dir.
"""
import argparse
import ctypes
import math
import os
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import ivf_vs_peers as peers  # noqa: E402  (the datasets, recall, timing and the ctypes loader)

SELECTIVITIES = (0.5, 0.1, 0.01, 0.001)
FILTER_IDS = 1


class Filter(ctypes.Structure):
    _fields_ = [("struct_size", ctypes.c_uint32), ("type", ctypes.c_uint32),
                ("ids", ctypes.c_void_p), ("n_ids", ctypes.c_uint64),
                ("bitmap", ctypes.c_void_p), ("bitmap_first", ctypes.c_int64),
                ("bitmap_bits", ctypes.c_uint64), ("predicate", ctypes.c_void_p),
                ("context", ctypes.c_void_p)]


class ParamValue(ctypes.Structure):
    _fields_ = [("name", ctypes.c_char_p), ("value", ctypes.c_double)]


class SearchOptions(ctypes.Structure):
    _fields_ = [("struct_size", ctypes.c_uint32), ("num_threads", ctypes.c_uint32),
                ("filter", ctypes.POINTER(Filter)), ("params", ctypes.POINTER(ParamValue)),
                ("n_params", ctypes.c_uint64)]


def nearkit_search_with(nk, ix, queries, k, allowed=None, params=None):
    """One batch search, on one thread, with an allow-list (None: no filter) and per-call
    parameters."""
    lib = nk.lib
    lib.nearkit_index_search.argtypes = [ctypes.c_void_p] * 3 + [ctypes.c_int32, ctypes.c_void_p,
                                                                  ctypes.c_uint64, ctypes.c_uint64,
                                                                  ctypes.POINTER(SearchOptions)]
    flt = None if allowed is None else Filter(ctypes.sizeof(Filter), FILTER_IDS, allowed.ctypes.data, len(allowed))
    pairs = list((params or {}).items())
    values = (ParamValue * max(1, len(pairs)))(*[ParamValue(n.encode(), float(v)) for n, v in pairs])
    opts = SearchOptions(ctypes.sizeof(SearchOptions), 1, ctypes.pointer(flt) if flt else None, values,
                         len(pairs))
    ids = np.empty((len(queries), k), dtype=np.int64)
    dist = np.empty((len(queries), k), dtype=np.float32)
    nk.check(lib.nearkit_index_search(ids.ctypes.data, dist.ctypes.data, ix, peers.FLOAT32,
                                      queries.ctypes.data, len(queries), k, ctypes.byref(opts)),
             "filtered search")
    return ids, dist


def filtered_truth(faiss, base, queries, allowed, k):
    """The exact top-k among the allowed rows (ids are row numbers)."""
    flat = faiss.IndexFlatL2(base.shape[1])
    flat.add(np.ascontiguousarray(base[allowed]))
    faiss.omp_set_num_threads(2)
    _, rows = flat.search(queries, min(k, len(allowed)))
    truth = np.where(rows >= 0, allowed[np.maximum(rows, 0)], -1)
    if truth.shape[1] < k:
        truth = np.hstack([truth, np.full((len(queries), k - truth.shape[1]), -1)])
    return truth


def recall_filtered(found, truth):
    """Share of the true allowed neighbours found (rows of fewer than k true neighbours count what
    there is)."""
    hits = total = 0
    for f, t in zip(found, truth):
        t = set(t[t >= 0].tolist())
        hits += len(t & set(f.tolist()))
        total += len(t)
    return hits / total if total else 1.0


def ivf_curves(nk, faiss, nk_ivf, fs_ivf, queries, allowed, truth, nlist, k):
    sel = faiss.IDSelectorBatch(len(allowed), faiss.swig_ptr(allowed))
    faiss.omp_set_num_threads(1)
    curves = {"nearkit": [], "faiss": []}
    for p in peers.nprobe_sweep(nlist):
        secs, (ids, _) = peers.timed(lambda: nearkit_search_with(nk, nk_ivf, queries, k, allowed,
                                                                      {"nprobe": p}))
        curves["nearkit"].append((p, recall_filtered(ids, truth), len(queries) / secs))
        params = faiss.SearchParametersIVF(sel=sel, nprobe=p)
        secs, (_, ids) = peers.timed(lambda: fs_ivf.search(queries, k, params=params))
        curves["faiss"].append((p, recall_filtered(ids, truth), len(queries) / secs))
        if min(r for _, r, _ in (curves["nearkit"][-1], curves["faiss"][-1])) >= 0.999:
            break  # both are exact from here on; more lists only cost time
    return curves


def flat_qps(nk, faiss, nk_flat, fs_flat, queries, allowed, k):
    sel = faiss.IDSelectorBatch(len(allowed), faiss.swig_ptr(allowed))
    faiss.omp_set_num_threads(1)
    mine, _ = peers.timed(lambda: nearkit_search_with(nk, nk_flat, queries, k, allowed))
    theirs, _ = peers.timed(lambda: fs_flat.search(queries, k, params=faiss.SearchParameters(sel=sel)))
    return len(queries) / mine, len(queries) / theirs


def build_pair(nk, faiss, base, sample, nlist):
    d = base.shape[1]
    nk_ivf = nk.create(peers.K_IVF_FLAT, "l2", d, f"nlist={nlist},train_iterations={peers.TRAIN_ITERATIONS}", 2)
    nk.train(nk_ivf, sample)
    nk.add(nk_ivf, base)
    nk.build(nk_ivf)
    faiss.omp_set_num_threads(2)
    fs_ivf = faiss.IndexIVFFlat(faiss.IndexFlatL2(d), d, nlist, faiss.METRIC_L2)
    fs_ivf.cp.niter = peers.TRAIN_ITERATIONS
    fs_ivf.cp.max_points_per_centroid = peers.POINTS_PER_LIST
    fs_ivf.train(sample)
    fs_ivf.add(base)
    nk_flat = nk.create(peers.K_FLAT, "l2", d, "", 1)
    nk.add(nk_flat, base)
    fs_flat = faiss.IndexFlatL2(d)
    fs_flat.add(base)
    return nk_ivf, fs_ivf, nk_flat, fs_flat


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--build-dir", default=os.path.join(here, "..", "build"))
    ap.add_argument("--datasets", default="fashion,synth128")
    ap.add_argument("--scale", type=float, default=1.0, help="fraction of every base and query set")
    ap.add_argument("--queries", type=int, default=1000, help="queries per search (at most)")
    ap.add_argument("--k", type=int, default=10)
    ap.add_argument("--clock", choices=("wall", "cpu"), default="cpu")
    args = ap.parse_args()
    import faiss

    peers.CLOCK = time.process_time if args.clock == "cpu" else time.perf_counter
    nk = peers.Nearkit(args.build_dir)
    rng = np.random.default_rng(2026)
    k = args.k
    print(f"scale={args.scale}", f"k={k}", f"clock={args.clock}", f"faiss_version={faiss.__version__}", sep="\n")
    ivf_ratios, flat_ratios, reached = [], [], True
    for name in args.datasets.split(","):
        base, queries, metric = peers.dataset(name, args.scale, rng)
        assert metric == "l2", "the filtered benchmark runs the L2 datasets"
        base, queries = np.ascontiguousarray(base), np.ascontiguousarray(queries[:args.queries])
        n = len(base)
        nlist = max(1, round(4 * math.sqrt(n)))
        take = min(n, peers.POINTS_PER_LIST * nlist)
        sample = np.ascontiguousarray(base[np.sort(rng.choice(n, take, replace=False))])
        print(f"{name}_n={n}", f"{name}_d={base.shape[1]}", f"{name}_queries={len(queries)}",
              f"{name}_nlist={nlist}", sep="\n", flush=True)
        nk_ivf, fs_ivf, nk_flat, fs_flat = build_pair(nk, faiss, base, sample, nlist)
        for s in SELECTIVITIES:
            tag = f"{name}_s{round(s * 1000)}"
            allowed = np.sort(rng.choice(n, max(1, round(s * n)), replace=False)).astype(np.int64)
            truth = filtered_truth(faiss, base, queries, allowed, k)
            curves = ivf_curves(nk, faiss, nk_ivf, fs_ivf, queries, allowed, truth, nlist, k)
            for lib, curve in curves.items():
                print(f"{tag}_{lib}_ivf_curve=" + ";".join(f"{p}:{r:.4f}:{q:.1f}" for p, r, q in curve),
                      f"{tag}_{lib}_ivf_qps_at_r95={peers.fmt(peers.qps_at(curve, 0.95))}",
                      f"{tag}_{lib}_ivf_best_recall={max(r for _, r, _ in curve):.4f}", sep="\n")
            mine, theirs = peers.qps_at(curves["nearkit"], 0.95), peers.qps_at(curves["faiss"], 0.95)
            reached = reached and mine is not None
            value = peers.ratio(mine, theirs)
            print(f"{tag}_filtered_ivf_vs_faiss_qps_at_r95={peers.fmt(value)}")
            if value is not None:
                ivf_ratios.append(value)
            mine, theirs = flat_qps(nk, faiss, nk_flat, fs_flat, queries, allowed, k)
            print(f"{tag}_nearkit_flat_qps={mine:.1f}", f"{tag}_faiss_flat_qps={theirs:.1f}",
                  f"{tag}_filtered_flat_vs_faiss_qps={mine / theirs:.4g}", sep="\n", flush=True)
            flat_ratios.append(mine / theirs)
        for ix in (nk_ivf, nk_flat):
            nk.free(ix)
    print(f"filtered_ivf_vs_faiss_qps_at_r95={peers.fmt(min(ivf_ratios) if ivf_ratios else None)}",
          f"nearkit_ivf_r95_everywhere={int(reached)}",
          f"filtered_flat_vs_faiss_qps={peers.fmt(min(flat_ratios))}", sep="\n")


if __name__ == "__main__":
    main()
