#!/usr/bin/env python3
"""Churn: a collection that removes and adds 10% of its vectors per round keeps its recall and memory.

    python3 bench/churn.py [--build-dir build] [--n 200000] [--d 128] [--rounds 10] [--kinds ivf_flat,flat]

Clustered synthetic vectors (bench/ivf_vs_peers.py's generator; one pool, so the vectors added
later follow the first ones' distribution and the queries too), L2, k = 10. Each kind's index is
built once; then every round removes 10% of the vectors it holds (random ids) and adds as many new
ones (new ids, same distribution). After the last round the churned index is compared with a
fresh index built from the same vectors the same way (IVF: trained on a sample of them, same
nlist), both searched with the same settings (nprobe per call), one thread:
  <kind>_recall_churned, <kind>_recall_fresh  recall@10 against the exact neighbours of the current set
  <kind>_recall_loss=fresh - churned          target <= 0.01
  <kind>_memory_ratio=churned / fresh bytes   (nearkit_index_memory_bytes) target <= 1.2
  <kind>_round_seconds                        the mean time of one round's remove + add
Also each round's recall as <kind>_round<i>_recall. nearkit runs through its C library (ctypes).
Needs: pip install numpy faiss-cpu (Faiss computes the exact neighbours).
"""
import argparse
import ctypes
import math
import os
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import filtered_vs_peers as filtered  # noqa: E402  (search with per-call parameters)
import ivf_vs_peers as peers  # noqa: E402

KINDS = {"flat": peers.K_FLAT, "ivf_flat": peers.K_IVF_FLAT}


def remove(nk, ix, ids):
    lib = nk.lib
    lib.nearkit_index_remove.argtypes = [ctypes.POINTER(ctypes.c_uint64), ctypes.c_void_p,
                                         ctypes.c_void_p, ctypes.c_uint64]
    lib.nearkit_index_remove.restype = ctypes.c_int32
    removed = ctypes.c_uint64()
    nk.check(lib.nearkit_index_remove(ctypes.byref(removed), ix, ids.ctypes.data, len(ids)), "remove")
    assert removed.value == len(ids), (removed.value, len(ids))


def add(nk, ix, x, ids):
    nk.check(nk.lib.nearkit_index_add(ix, peers.FLOAT32, x.ctypes.data, len(x), ids.ctypes.data), "add")


def build(nk, kind, x, ids, nlist, rng):
    params = f"nlist={nlist},train_iterations={peers.TRAIN_ITERATIONS}" if kind == "ivf_flat" else ""
    ix = nk.create(KINDS[kind], "l2", x.shape[1], params, 2)
    if kind == "ivf_flat":
        take = min(len(x), peers.POINTS_PER_LIST * nlist)
        nk.train(ix, np.ascontiguousarray(x[np.sort(rng.choice(len(x), take, replace=False))]))
    add(nk, ix, x, ids)
    nk.build(ix)
    return ix


def recall_of(nk, faiss, ix, x, ids, queries, k, nprobe):
    flat = faiss.IndexFlatL2(x.shape[1])
    flat.add(x)
    faiss.omp_set_num_threads(2)
    _, rows = flat.search(queries, k)
    truth = ids[rows]
    found, _ = filtered.nearkit_search_with(nk, ix, queries, k, None, {"nprobe": nprobe} if nprobe else {})
    return peers.recall(found, truth)


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--build-dir", default=os.path.join(here, "..", "build"))
    ap.add_argument("--n", type=int, default=200_000)
    ap.add_argument("--d", type=int, default=128)
    ap.add_argument("--queries", type=int, default=1000)
    ap.add_argument("--rounds", type=int, default=10)
    ap.add_argument("--share", type=float, default=0.1, help="share of the vectors replaced per round")
    ap.add_argument("--kinds", default="ivf_flat,flat")
    ap.add_argument("--nprobe", type=int, default=16)
    args = ap.parse_args()
    import faiss

    nk = peers.Nearkit(args.build_dir)
    rng = np.random.default_rng(7)
    n, d, k = args.n, args.d, 10
    centres = rng.standard_normal((max(50, n // 500), d), dtype=np.float32) * 3.0
    nlist = max(1, round(4 * math.sqrt(n)))
    print(f"n={n}", f"d={d}", f"rounds={args.rounds}", f"share={args.share}", f"nlist={nlist}",
          f"nprobe={args.nprobe}", sep="\n", flush=True)
    for kind in args.kinds.split(","):
        nprobe = args.nprobe if kind == "ivf_flat" else 0
        # one pool drawn at once, so the vectors added later come from the same distribution as
        # the first ones (each clustered() call draws its own cluster spreads)
        pool = peers.clustered(rng, n + int(n * args.share * 1.2) * args.rounds, d, centres)
        taken = n
        x = np.ascontiguousarray(pool[:n])
        ids = np.arange(n, dtype=np.int64)
        queries = np.ascontiguousarray(pool[-args.queries:])  # never added: drawn like the rest
        next_id = n
        ix = build(nk, kind, x, ids, nlist, rng)
        spent = 0.0
        for r in range(args.rounds):
            m = int(len(ids) * args.share)
            gone = rng.choice(len(ids), m, replace=False)
            fresh_x = np.ascontiguousarray(pool[taken:taken + m])
            taken += m
            fresh_ids = np.arange(next_id, next_id + m, dtype=np.int64)
            next_id += m
            t0 = time.perf_counter()
            remove(nk, ix, np.ascontiguousarray(ids[gone]))
            add(nk, ix, fresh_x, fresh_ids)
            spent += time.perf_counter() - t0
            keep = np.ones(len(ids), dtype=bool)
            keep[gone] = False
            x = np.ascontiguousarray(np.vstack([x[keep], fresh_x]))
            ids = np.concatenate([ids[keep], fresh_ids])
            print(f"{kind}_round{r + 1}_recall={recall_of(nk, faiss, ix, x, ids, queries, k, nprobe):.4f}",
                  flush=True)
        churned = recall_of(nk, faiss, ix, x, ids, queries, k, nprobe)
        churned_bytes = nk.lib.nearkit_index_memory_bytes(ix)
        again = build(nk, kind, x, ids, nlist, rng)
        fresh = recall_of(nk, faiss, again, x, ids, queries, k, nprobe)
        fresh_bytes = nk.lib.nearkit_index_memory_bytes(again)
        print(f"{kind}_recall_churned={churned:.4f}", f"{kind}_recall_fresh={fresh:.4f}",
              f"{kind}_recall_loss={fresh - churned:.4f}",
              f"{kind}_memory_ratio={churned_bytes / fresh_bytes:.4f}",
              f"{kind}_round_seconds={spent / args.rounds:.4f}", sep="\n", flush=True)
        nk.free(ix)
        nk.free(again)


if __name__ == "__main__":
    main()
