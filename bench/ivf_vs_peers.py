#!/usr/bin/env python3
"""nearkit's ivf_flat index against Faiss's IndexIVFFlat and PyNear's IVFFlatL2Index, side by side.

    python3 bench/ivf_vs_peers.py [--build-dir build] [--scale 1.0] [--datasets fashion,synth128,synth768]

Datasets (k = 10; recall@10 against exact neighbours, computed once with Faiss's exact flat index
and cached in --work-dir):
  fashion   Fashion-MNIST, L2: the 60,000 training images (784 pixel values) as the base, the
            10,000 test images as queries. Read from Debian's dataset-fashion-mnist package, which
            is installed with apt-get when missing.
  synth128  1,000,000 x 128 clustered synthetic vectors, L2, 1,000 queries.
  synth768  200,000 x 768 clustered synthetic vectors, cosine, 1,000 queries (Faiss: inner
            product on normalised vectors, spherical k-means).
--scale shrinks every base and query set (e.g. 0.05 to check the script in a minute).

For each dataset every library gets the same nlist (default round(4 sqrt(n))). nearkit and Faiss
train on the same sample (256 points per list, drawn once) with 10 k-means iterations, then add the
whole base; PyNear trains on the whole base as it always does (its own k-means). Build time (train
+ add) runs at 2 threads; searches at 1 thread, every query in one batch call, for nprobe = 1, 2,
4, ... and nlist (PyNear up to --pynear-max-nprobe, on at most --pynear-queries queries, since it
loops over queries in Python; and by default only on fashion: its k-means of 100 iterations over
the whole base takes hours on the 1M set; --pynear-datasets changes that).

nearkit runs through its C library directly (ctypes on libnearkit.so: the index is built once and
nprobe changed between searches, which the CLI cannot do); Faiss through faiss-cpu; PyNear through
pynear. Needs: pip install numpy faiss-cpu pynear matplotlib threadpoolctl.

Searches are timed by the wall clock (--clock cpu: process CPU time, steadier on a shared machine),
best of repeated runs. Prints name=value lines. Per dataset D: D_<lib>_build_seconds, D_<lib>_curve (nprobe:recall:qps;
...), D_<lib>_qps_at_r95 / _r99 (the best QPS among settings reaching that recall; empty if none
does), and the ratios D_ivf_vs_faiss_qps_at_r95 / _r99, D_ivf_vs_pynear_qps_at_r95 / _r99 (nearkit
QPS over the peer's) and D_ivf_build_vs_faiss, D_ivf_build_vs_pynear (the peer's build time over
nearkit's: above 1 means nearkit builds faster). The unprefixed ratios are the minimum over the
datasets measured. Draws the recall-QPS curves into --plot (default docs/ivf_recall_qps.png).
"""
import argparse
import ctypes
import gzip
import math
import os
import subprocess
import sys
import time
import zlib

import numpy as np

FASHION_DIR = "/usr/share/datasets/fashion-mnist"
K_IVF_FLAT, K_FLAT = 4, 1
METRIC = {"l2": 1, "cosine": 4, "ip": 5}
FLOAT32 = 1
TRAIN_ITERATIONS = 10
POINTS_PER_LIST = 256


# ---- nearkit through its C ABI ------------------------------------------------------------------

class IndexOptions(ctypes.Structure):
    _fields_ = [("struct_size", ctypes.c_uint32), ("num_threads", ctypes.c_uint32),
                ("seed", ctypes.c_uint64), ("params", ctypes.c_char_p)]


class SearchOptions(ctypes.Structure):
    _fields_ = [("struct_size", ctypes.c_uint32), ("num_threads", ctypes.c_uint32)]


class Nearkit:
    def __init__(self, build_dir):
        path = os.path.join(build_dir, "libnearkit.so")
        if not os.path.exists(path):
            sys.exit(f"{path} not found: build nearkit first (cmake ... && cmake --build)")
        lib = ctypes.CDLL(path)
        p, u32, u64, i32 = ctypes.c_void_p, ctypes.c_uint32, ctypes.c_uint64, ctypes.c_int32
        lib.nearkit_index_create.argtypes = [ctypes.POINTER(p), i32, i32, u32, ctypes.POINTER(IndexOptions)]
        lib.nearkit_index_add.argtypes = [p, i32, p, u64, p]
        lib.nearkit_index_train.argtypes = [p, i32, p, u64]
        lib.nearkit_index_build.argtypes = [p]
        lib.nearkit_index_set_param.argtypes = [p, ctypes.c_char_p, ctypes.c_double]
        lib.nearkit_index_get_param.argtypes = [ctypes.POINTER(ctypes.c_double), p, ctypes.c_char_p]
        lib.nearkit_index_search.argtypes = [p, p, p, i32, p, u64, u64, ctypes.POINTER(SearchOptions)]
        lib.nearkit_index_memory_bytes.argtypes = [p]
        lib.nearkit_index_memory_bytes.restype = u64
        lib.nearkit_index_free.argtypes = [p]
        lib.nearkit_index_free.restype = None
        lib.nearkit_last_error_message.restype = ctypes.c_char_p
        for f in ("create", "add", "train", "build", "set_param", "get_param", "search"):
            getattr(lib, "nearkit_index_" + f).restype = i32
        self.lib = lib

    def check(self, status, what):
        if status != 0:
            raise RuntimeError(f"nearkit {what}: {self.lib.nearkit_last_error_message().decode()}")

    def create(self, kind, metric, d, params, threads):
        opts = IndexOptions(ctypes.sizeof(IndexOptions), threads, 42, params.encode())
        handle = ctypes.c_void_p()
        self.check(self.lib.nearkit_index_create(ctypes.byref(handle), kind, METRIC[metric], d,
                                                 ctypes.byref(opts)), "create")
        return handle

    def train(self, ix, x):
        self.check(self.lib.nearkit_index_train(ix, FLOAT32, x.ctypes.data, len(x)), "train")

    def add(self, ix, x):
        self.check(self.lib.nearkit_index_add(ix, FLOAT32, x.ctypes.data, len(x), None), "add")

    def build(self, ix):
        self.check(self.lib.nearkit_index_build(ix), "build")

    def set_param(self, ix, name, value):
        self.check(self.lib.nearkit_index_set_param(ix, name.encode(), float(value)), "set_param")

    def get_param(self, ix, name):
        v = ctypes.c_double()
        self.check(self.lib.nearkit_index_get_param(ctypes.byref(v), ix, name.encode()), "get_param")
        return v.value

    def search(self, ix, q, k, threads):
        ids = np.empty((len(q), k), dtype=np.int64)
        dist = np.empty((len(q), k), dtype=np.float32)
        opts = SearchOptions(ctypes.sizeof(SearchOptions), threads)
        self.check(self.lib.nearkit_index_search(ids.ctypes.data, dist.ctypes.data, ix, FLOAT32,
                                                 q.ctypes.data, len(q), k, ctypes.byref(opts)), "search")
        return ids, dist

    def free(self, ix):
        self.lib.nearkit_index_free(ix)


# ---- data -----------------------------------------------------------------------------------------

def read_idx_images(path):
    with gzip.open(path, "rb") as f:
        raw = f.read()
    magic, n, rows, cols = np.frombuffer(raw[:16], dtype=">u4")
    if magic != 2051:
        sys.exit(f"{path}: not an IDX image file")
    return np.frombuffer(raw[16:], dtype=np.uint8).reshape(int(n), int(rows) * int(cols)).astype(np.float32)


def fashion_mnist():
    train = os.path.join(FASHION_DIR, "train-images-idx3-ubyte.gz")
    if not os.path.exists(train):
        print("# installing Debian's dataset-fashion-mnist", file=sys.stderr)
        env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
        cmd = ["apt-get", "install", "-y", "-qq", "dataset-fashion-mnist"]
        if subprocess.run(cmd, env=env).returncode != 0:
            subprocess.run(["apt-get", "update", "-qq"], env=env, check=True)
            subprocess.run(cmd, env=env, check=True)
    return read_idx_images(train), read_idx_images(os.path.join(FASHION_DIR, "t10k-images-idx3-ubyte.gz"))


def clustered(rng, n, d, centres):
    """Gaussian clusters of varied spread around shared centres: a stand-in for embeddings."""
    out = np.empty((n, d), dtype=np.float32)
    spread = rng.uniform(0.5, 2.0, len(centres)).astype(np.float32)
    for s in range(0, n, 100_000):
        m = min(100_000, n - s)
        which = rng.integers(0, len(centres), m)
        out[s:s + m] = centres[which] + rng.standard_normal((m, d), dtype=np.float32) * spread[which, None]
    return out


def dataset(name, scale, rng):
    """(base, queries, metric) of one dataset at the given scale."""
    if name == "fashion":
        base, queries = fashion_mnist()
        nb, nq = max(1000, int(len(base) * scale)), max(100, int(len(queries) * scale))
        return base[:nb], queries[:nq], "l2"
    n, d, metric = {"synth128": (1_000_000, 128, "l2"), "synth768": (200_000, 768, "cosine")}[name]
    n, nq = max(2000, int(n * scale)), max(100, int(1000 * min(1.0, scale * 4)))
    centres = rng.standard_normal((max(50, n // 500), d), dtype=np.float32) * 3.0
    return clustered(rng, n, d, centres), clustered(rng, nq, d, centres), metric


def normalised(x):
    norms = np.linalg.norm(x, axis=1, keepdims=True)
    return (x / np.where(norms > 0, norms, 1)).astype(np.float32)


def ground_truth(faiss, name, base, queries, metric, k, work_dir):
    """Exact neighbours, computed once per dataset and cached under a checksum of the base and the
    queries: a cache named by sizes alone outlived a change of the synthetic data and gave every
    library a recall of 0."""
    digest = zlib.crc32(np.ascontiguousarray(queries).data, zlib.crc32(np.ascontiguousarray(base).data))
    path = os.path.join(work_dir, f"{name}-{len(base)}x{base.shape[1]}-{len(queries)}-{metric}-k{k}-{digest:08x}.gt.npy")
    if os.path.exists(path):
        return np.load(path)
    faiss.omp_set_num_threads(2)
    if metric == "l2":
        flat = faiss.IndexFlatL2(base.shape[1])
        flat.add(base)
        _, gt = flat.search(queries, k)
    else:
        flat = faiss.IndexFlatIP(base.shape[1])
        flat.add(normalised(base))
        _, gt = flat.search(normalised(queries), k)
    np.save(path, gt.astype(np.int64))
    return gt


def recall(found, truth):
    k = truth.shape[1]
    hits = sum(len(set(f[:k].tolist()) & set(t.tolist())) for f, t in zip(found, truth))
    return hits / truth.size


CLOCK = time.perf_counter  # --clock cpu: time.process_time (every search runs on one thread)


def timed(fn, budget=0.5, max_runs=10):
    """Best time of fn over at least 2 runs, more while they take under `budget` seconds in all."""
    best, result, spent, runs = float("inf"), None, 0.0, 0
    while runs < 2 or (spent < budget and runs < max_runs):
        t0 = CLOCK()
        result = fn()
        elapsed = CLOCK() - t0
        best, spent, runs = min(best, elapsed), spent + elapsed, runs + 1
        if elapsed > 5 * budget:  # a slow setting: one more run would not tell much
            break
    return best, result


def nprobe_sweep(nlist, cap=None):
    values, p = [], 1
    while p < nlist:
        values.append(p)
        p *= 2
    values.append(nlist)
    return [v for v in values if cap is None or v <= cap]


# ---- the three libraries --------------------------------------------------------------------------

def run_nearkit(nk, base, queries, sample, truth, metric, nlist, k):
    params = f"nlist={nlist},train_iterations={TRAIN_ITERATIONS}"
    t0 = time.perf_counter()
    ix = nk.create(K_IVF_FLAT, metric, base.shape[1], params, 2)
    nk.train(ix, sample)
    nk.add(ix, base)
    nk.build(ix)
    build = time.perf_counter() - t0
    assert int(nk.get_param(ix, "nlist")) == nlist
    curve = []
    for p in nprobe_sweep(nlist):
        nk.set_param(ix, "nprobe", p)
        seconds, (ids, _) = timed(lambda: nk.search(ix, queries, k, 1))
        curve.append((p, recall(ids, truth), len(queries) / seconds))
    nk.free(ix)
    return build, curve


def run_faiss(faiss, base, queries, sample, truth, metric, nlist, k):
    d = base.shape[1]
    if metric == "cosine":
        base, queries, sample = normalised(base), normalised(queries), normalised(sample)
    faiss.omp_set_num_threads(2)
    t0 = time.perf_counter()
    if metric == "l2":
        index = faiss.IndexIVFFlat(faiss.IndexFlatL2(d), d, nlist, faiss.METRIC_L2)
    else:
        index = faiss.IndexIVFFlat(faiss.IndexFlatIP(d), d, nlist, faiss.METRIC_INNER_PRODUCT)
        index.cp.spherical = True
    index.cp.niter = TRAIN_ITERATIONS
    index.cp.max_points_per_centroid = POINTS_PER_LIST
    index.train(sample)
    index.add(base)
    build = time.perf_counter() - t0
    faiss.omp_set_num_threads(1)
    curve = []
    for p in nprobe_sweep(nlist):
        index.nprobe = p
        seconds, (_, ids) = timed(lambda: index.search(queries, k))
        curve.append((p, recall(ids, truth), len(queries) / seconds))
    return build, curve


def run_pynear(base, queries, truth, nlist, k, max_nprobe, max_queries):
    import pynear
    from threadpoolctl import threadpool_limits

    queries, truth = queries[:max_queries], truth[:max_queries]
    with threadpool_limits(limits=2):
        t0 = time.perf_counter()
        index = pynear.IVFFlatL2Index(n_clusters=nlist, n_probe=1)
        index.set(base)
        build = time.perf_counter() - t0
    curve = []
    with threadpool_limits(limits=1):
        for p in nprobe_sweep(index.n_clusters, max_nprobe):
            index._n_probe = p  # PyNear takes n_probe only in its constructor; rebuilding would retrain
            seconds, (ids, _) = timed(lambda: index.searchKNN(queries, k))
            curve.append((p, recall(np.array([row + [-1] * (k - len(row)) for row in ids]), truth),
                          len(queries) / seconds))
    return build, curve


# ---- figures --------------------------------------------------------------------------------------

def qps_at(curve, target):
    qps = [q for _, r, q in curve if r >= target]
    return max(qps) if qps else None


def ratio(a, b):
    return a / b if a is not None and b else None


def fmt(v):
    return "" if v is None else f"{v:.4g}"


def plot(path, results):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(results), figsize=(5.2 * len(results), 4.4), squeeze=False)
    styles = {"nearkit": ("nearkit ivf_flat", "o-", "#1f77b4"),
              "faiss": ("Faiss IndexIVFFlat", "s--", "#ff7f0e"),
              "pynear": ("PyNear IVFFlatL2Index", "^:", "#2ca02c")}
    for ax, (name, info) in zip(axes[0], results.items()):
        for lib, (label, style, colour) in styles.items():
            curve = info["curves"].get(lib)
            if curve:
                ax.plot([r for _, r, _ in curve], [q for _, _, q in curve], style, color=colour,
                        label=label, markersize=4)
        ax.set_yscale("log")
        ax.set_xlabel("recall@10")
        ax.set_ylabel("queries per second (1 thread)")
        ax.set_title(f"{name}: {info['n']:,} x {info['d']} {info['metric']}, nlist {info['nlist']}", fontsize=10)
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=8)
    fig.suptitle("IVF-Flat: recall against speed, nprobe from 1 to nlist", fontsize=11)
    fig.tight_layout()
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    fig.savefig(path, dpi=110)


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--build-dir", default=os.path.join(here, "..", "build"))
    ap.add_argument("--datasets", default="fashion,synth128,synth768")
    ap.add_argument("--scale", type=float, default=1.0, help="fraction of every base and query set")
    ap.add_argument("--nlist", type=int, default=0, help="lists (default round(4 sqrt(n)) per dataset)")
    ap.add_argument("--k", type=int, default=10)
    ap.add_argument("--pynear-datasets", default="fashion")
    ap.add_argument("--pynear-max-nprobe", type=int, default=256)
    ap.add_argument("--pynear-queries", type=int, default=2000)
    ap.add_argument("--clock", choices=("wall", "cpu"), default="wall",
                    help="time searches by the wall clock, or by process CPU time (steadier on a busy "
                         "machine; the searches run on one thread)")
    ap.add_argument("--work-dir", default="/tmp/nearkit-bench-ivf")
    ap.add_argument("--plot", default=os.path.join(here, "..", "docs", "ivf_recall_qps.png"))
    args = ap.parse_args()

    import faiss

    global CLOCK
    CLOCK = time.process_time if args.clock == "cpu" else time.perf_counter
    nk = Nearkit(args.build_dir)
    os.makedirs(args.work_dir, exist_ok=True)
    rng = np.random.default_rng(2026)
    k = args.k
    print(f"scale={args.scale}", f"k={k}", f"clock={args.clock}", f"faiss_version={faiss.__version__}", sep="\n")
    results, ratios = {}, {}
    for name in args.datasets.split(","):
        base, queries, metric = dataset(name, args.scale, rng)
        base, queries = np.ascontiguousarray(base), np.ascontiguousarray(queries)
        n, d = base.shape
        nlist = args.nlist or max(1, round(4 * math.sqrt(n)))
        truth = ground_truth(faiss, name, base, queries, metric, k, args.work_dir)
        take = min(n, POINTS_PER_LIST * nlist)
        sample = np.ascontiguousarray(base[np.sort(rng.choice(n, take, replace=False))])
        print(f"{name}_n={n}", f"{name}_d={d}", f"{name}_queries={len(queries)}", f"{name}_metric={metric}",
              f"{name}_nlist={nlist}", f"{name}_train_sample={take}", sep="\n", flush=True)

        info = {"n": n, "d": d, "metric": metric, "nlist": nlist, "curves": {}, "build": {}}
        runs = [("nearkit", lambda: run_nearkit(nk, base, queries, sample, truth, metric, nlist, k)),
                ("faiss", lambda: run_faiss(faiss, base, queries, sample, truth, metric, nlist, k))]
        if name in args.pynear_datasets.split(",") and metric == "l2":
            runs.append(("pynear", lambda: run_pynear(base, queries, truth, nlist, k,
                                                      args.pynear_max_nprobe, args.pynear_queries)))
        for lib, run in runs:
            build, curve = run()
            info["build"][lib], info["curves"][lib] = build, curve
            print(f"{name}_{lib}_build_seconds={build:.3f}",
                  f"{name}_{lib}_curve=" + ";".join(f"{p}:{r:.4f}:{q:.1f}" for p, r, q in curve),
                  f"{name}_{lib}_qps_at_r95={fmt(qps_at(curve, 0.95))}",
                  f"{name}_{lib}_qps_at_r99={fmt(qps_at(curve, 0.99))}", sep="\n", flush=True)
        curves, builds = info["curves"], info["build"]
        mine = {t: qps_at(curves["nearkit"], t) for t in (0.95, 0.99)}
        figures = {"ivf_vs_faiss_qps_at_r95": ratio(mine[0.95], qps_at(curves["faiss"], 0.95)),
                   "ivf_vs_faiss_qps_at_r99": ratio(mine[0.99], qps_at(curves["faiss"], 0.99)),
                   "ivf_build_vs_faiss": ratio(builds["faiss"], builds["nearkit"])}
        if "pynear" in curves:
            figures.update({"ivf_vs_pynear_qps_at_r95": ratio(mine[0.95], qps_at(curves["pynear"], 0.95)),
                            "ivf_vs_pynear_qps_at_r99": ratio(mine[0.99], qps_at(curves["pynear"], 0.99)),
                            "ivf_build_vs_pynear": ratio(builds["pynear"], builds["nearkit"])})
        print(f"{name}_nearkit_recall_at_nprobe_nlist={curves['nearkit'][-1][1]:.4f}")
        for key, value in figures.items():
            print(f"{name}_{key}={fmt(value)}", flush=True)
            if value is not None:
                ratios[key] = min(ratios.get(key, value), value)
        results[name] = info
    for key in ("ivf_vs_faiss_qps_at_r95", "ivf_vs_faiss_qps_at_r99", "ivf_vs_pynear_qps_at_r95",
                "ivf_vs_pynear_qps_at_r99", "ivf_build_vs_faiss", "ivf_build_vs_pynear"):
        print(f"{key}={fmt(ratios.get(key))}")
    if args.plot:
        plot(args.plot, results)
        print(f"plot={os.path.abspath(args.plot)}")


if __name__ == "__main__":
    main()
