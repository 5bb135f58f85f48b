#!/usr/bin/env python3
"""nearkit's hnsw and ivf_flat against the graph indexes in use today (hnswlib, USearch, Faiss HNSW,
PyNear's HNSW classes), side by side in one run (issue 16, "What it must show").

    python3 bench/hnsw_vs_peers.py [--datasets fashion,synth128,bin256] [--modes batch,single,churn,tuner]
                                   [--scale 1.0] [--queries 1000] [--plot docs/hnsw_recall_qps.png]

The default run is long (hours: six libraries build graphs over 1M vectors). The committed plot
and bench/results/hnsw_vs_peers.txt come from a run of about 13 minutes on a shared 2-core machine:
    --scale fashion=0.5,synth128=0.05,bin256=0.05 --queries 500 --tune-queries 500
Datasets (k = 10):
  fashion   Fashion-MNIST, l2: the 60,000 training images (784 pixel values) as the base, the first
            --queries test images as queries (Debian's dataset-fashion-mnist, installed with apt-get
            when missing; as bench/ivf_vs_peers.py).
  synth128  1,000,000 x 128 clustered synthetic vectors, cosine (bench/ivf_vs_peers.py's generator;
            base and queries drawn from one pool).
  bin256    1,000,000 x 256-bit codes, hamming: sign random projections of clustered 64-d vectors
            (1,000 clusters, close enough that the codes of neighbouring clusters mix).
--scale shrinks every base (Fashion-MNIST: its first scale x 60,000 images); name=fraction pairs
(e.g. fashion=1,synth128=0.05) shrink each dataset by its own (1 for those not named).

Libraries, every graph with the same M (16) and ef_construction (200): nearkit hnsw (when the C
library lists the kind: `nearkit.kinds()`) and nearkit ivf_flat (ivf_binary for bin256; nlist
round(4 sqrt(n))), through the Python package; hnswlib (l2, cosine); USearch (l2sq, cos, dtype f32);
Faiss IndexHNSWFlat (cosine: inner product on vectors normalised outside the timed calls) and
IndexBinaryHNSW; PyNear HNSWL2Index, HNSWCosineIndex, HNSWBinaryIndex. The peers are installed with
pip in this run when missing (hnswlib 0.8, usearch 2.x, faiss-cpu, pynear 2.6); nearkit must be
installed already (pip install ./python). --libs runs a subset (hnsw,ivf,hnswlib,usearch,faiss,
pynear). Builds run at two threads (wall time; CPU time too), searches at one thread, for
ef_search (nprobe for ivf) swept over the same values for every library until recall 0.999 (or
until it stops growing past 0.99), timed by process CPU time by default (steadier on a shared
machine; it also counts any thread a library's search would add; --clock wall: the wall clock),
best of repeated runs.

Modes:
  batch   every query in one search call.
  single  one query per call, in a Python loop (the ann-benchmarks mode).
  churn   nearkit's indexes on the first dataset: 5 rounds of removing 10% of the vectors (random
          ids) and adding them back under the same ids; recall at a fixed ef_search (nprobe) before
          and after (the fixed value: --churn-ef, or the smallest swept value reaching 0.95).
  tuner   nearkit's indexes on the first dataset: index.tune(sample, k, target) for targets 0.90,
          0.95, 0.99 on --tune-queries queries not among the measured ones, then recall on the
          measured (held-out) queries at the value it set (and the finer setting it set with it,
          ivf's max_codes scan budget: _fine_param, _fine_value; none and 0 when not chosen).
          Skipped, with a notice, when the package has no tune(). --modes tuner alone runs only
          this (no sweep; with --libs ivf, only ivf_flat's tuner).

Recall@10 follows the golden manifest's tie rule (tests/golden/manifest.json "comparison"): a
returned id counts when its exact distance is at most the 10th true distance plus tol(D) = 1e-4 +
1e-4 |D| (exact neighbours: Faiss's flat indexes, cached in --work-dir; distances recomputed in
float64). QPS at recall r is interpolated on each library's recall-QPS curve (log QPS linear in
recall between the best points around r).

Prints name=value lines. Per dataset D and mode M: D_M_<lib>_curve (value:recall:qps;...),
D_M_<lib>_qps_at_r90/_r95/_r99, D_M_hnsw_vs_<peer>_qps_at_r90/_r95/_r99 (nearkit hnsw QPS over the
peer's; 0 when only the peer reaches that recall), D_M_hnsw_vs_best_graph_peer_qps_at_r95, and
D_M_ivf_vs_hnswlib_qps_at_r95. Per dataset: D_<lib>_build_seconds, D_<lib>_build_cpu_seconds,
D_<lib>_memory_bytes (the library's own figure: nearkit memory_bytes, USearch memory_usage; empty
where the library has none), D_<lib>_rss_bytes (growth of resident memory over the build, for every
library), D_hnsw_build_vs_hnswlib (hnswlib's build seconds over nearkit's: >= 1 means nearkit builds
faster), D_hnsw_memory_vs_hnswlib (nearkit's resident growth over hnswlib's: <= 1 means nearkit takes
less). Unprefixed, over the float datasets and modes measured: hnsw_vs_hnswlib_qps_at_r90/_r95/_r99
and hnsw_vs_best_graph_peer_qps_at_r95 (the minimum), hnsw_build_vs_hnswlib (minimum),
hnsw_memory_vs_hnswlib (maximum); over bin256: hnsw_binary_vs_faiss_qps_at_r95,
hnsw_binary_vs_pynear_qps_at_r95; churn: <lib>_churn_recall_loss (fresh - churned); tuner:
tuner_<lib>_max_error (largest |held-out recall - target|). --plot draws the recall-QPS curves
(default docs/hnsw_recall_qps.png; "" for none).
Needs: pip install numpy matplotlib ./python (the peers are installed by the script).
"""
import argparse
import ctypes
import gc
import importlib.util
import math
import os
import subprocess
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import ivf_vs_peers as ivf  # noqa: E402  (Fashion-MNIST, the clustered generator, truth, timing)

K = 10
M = 16
EF_CONSTRUCTION = 200
SEED = 42
BUILD_THREADS = 2
EF_SWEEP = (10, 16, 24, 32, 48, 64, 96, 128, 192, 256, 384, 512, 768, 1024)
TARGETS = (0.90, 0.95, 0.99)
EXACT_ENOUGH = 0.999  # a sweep stops once recall reaches this: larger settings only cost time
PLATEAU = (0.99, 0.0005)  # ... or once past 0.99 a step gains less than this (the graph's ceiling)
RTOL = ATOL = 1e-4  # the golden manifest's comparison tolerance
GRAPH_PEERS = ("hnswlib", "usearch", "faiss", "pynear")
PEER_PACKAGES = {"hnswlib": "hnswlib>=0.8,<0.9", "usearch": "usearch>=2,<3", "faiss": "faiss-cpu",
                 "pynear": "pynear>=2.6,<2.7"}
POPCOUNT = np.array([bin(i).count("1") for i in range(256)], dtype=np.int64)


def emit(name, value):
    if value is None:
        value = ""
    elif isinstance(value, float):
        value = f"{value:.4g}"
    print(f"{name}={value}", flush=True)


def import_peers():
    """Installs the peers missing from this Python with pip, then imports them all."""
    missing = [spec for module, spec in PEER_PACKAGES.items() if importlib.util.find_spec(module) is None]
    if missing:
        print("# installing " + " ".join(missing), file=sys.stderr, flush=True)
        subprocess.run([sys.executable, "-m", "pip", "install", "-q", *missing], check=True)
    import faiss
    import hnswlib
    import pynear
    import usearch
    from importlib.metadata import version
    for dist in ("hnswlib", "usearch", "faiss-cpu", "pynear"):
        emit(f"{dist.replace('-', '_')}_version", version(dist))
    return hnswlib, usearch, faiss, pynear


def import_nearkit():
    try:
        import nearkit
    except ImportError:
        sys.exit("nearkit is not installed: pip install ./python (from the repository root)")
    emit("nearkit_version", nearkit.__version__)
    return nearkit


_LIBC = ctypes.CDLL("libc.so.6")


def resident_bytes():
    """Resident bytes of this process, after handing freed heap back to the system."""
    gc.collect()
    _LIBC.malloc_trim(0)
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


# ---- data -----------------------------------------------------------------------------------------

def sign_codes(rng, x, bits):
    """Packed codes (LSB first) of the signs of random Gaussian projections of the centred rows."""
    proj = rng.standard_normal((x.shape[1], bits)).astype(np.float32)
    centre = x.mean(axis=0)
    return np.ascontiguousarray(np.vstack([np.packbits((x[s:s + 100_000] - centre) @ proj > 0, axis=1,
                                                       bitorder="little")
                                           for s in range(0, len(x), 100_000)]))


def load_dataset(name, scale, n_queries, n_tune, rng):
    """(base, queries, tune_queries, metric, dim): the tune queries are never among the measured."""
    if name == "fashion":
        train, test = ivf.fashion_mnist()
        base = train[:max(1000, int(len(train) * scale))]
        n_queries = min(n_queries, len(test) - 100)
        return base, test[:n_queries], test[n_queries:n_queries + n_tune], "l2", base.shape[1]
    if name not in ("synth128", "bin256"):
        sys.exit(f"unknown dataset {name!r} (fashion, synth128, bin256)")
    n = max(2000, int(1_000_000 * scale))
    d = 128 if name == "synth128" else 64
    # as many points per cluster at every scale (the binary set: 1000 at 1M, as in
    # bench/binary_vs_peers.py); the binary set's centres closer, or its codes would mostly be
    # their cluster's code with a few bits flipped (recall 0.99 at the smallest ef_search)
    clusters, spread = (max(50, n // 500), 3.0) if name == "synth128" else (max(20, n // 1000), 1.0)
    centres = rng.standard_normal((clusters, d), dtype=np.float32) * spread
    # one pool, so the queries follow the base's distribution (each clustered() call draws its spreads)
    pool = ivf.clustered(rng, n + n_queries + n_tune, d, centres)
    if name == "bin256":
        pool = sign_codes(rng, pool, 256)
    parts = pool[:n], pool[n:n + n_queries], pool[n + n_queries:]
    metric, dim = ("cosine", d) if name == "synth128" else ("hamming", 256)
    return (*(np.ascontiguousarray(p) for p in parts), metric, dim)


def exact_neighbours(faiss, name, base, queries, metric, work_dir):
    """Exact top-k ids (Faiss's flat indexes, two threads), cached per dataset and size."""
    if metric != "hamming":
        return ivf.ground_truth(faiss, name, base, queries, metric, K, work_dir)
    path = os.path.join(work_dir, f"{name}-{len(base)}x{base.shape[1] * 8}-{len(queries)}-hamming-k{K}.gt.npy")
    if not os.path.exists(path):
        faiss.omp_set_num_threads(BUILD_THREADS)
        flat = faiss.IndexBinaryFlat(base.shape[1] * 8)
        flat.add(base)
        np.save(path, flat.search(queries, K)[1].astype(np.int64))
    return np.load(path)


def distances_to(base, norms, queries, ids, metric):
    """Exact distance (float64; hamming: bits) of each query to each of its ids; inf for -1."""
    out = np.empty(ids.shape, dtype=np.float64)
    for s in range(0, len(ids), 256):
        i = ids[s:s + 256]
        rows, q = base[np.maximum(i, 0)], queries[s:s + 256]
        if metric == "hamming":
            d = POPCOUNT[np.bitwise_xor(rows, q[:, None, :])].sum(axis=2)
        elif metric == "l2":
            d = ((rows.astype(np.float64) - q[:, None, :]) ** 2).sum(axis=2)
        else:  # cosine: 1 - cos
            dots = np.einsum("qkd,qd->qk", rows.astype(np.float64), q.astype(np.float64))
            scale = norms[np.maximum(i, 0)] * np.linalg.norm(q.astype(np.float64), axis=1)[:, None]
            d = 1.0 - dots / np.where(scale > 0, scale, 1.0)
        out[s:s + 256] = np.where(i < 0, np.inf, d)
    return out


class Scorer:
    """recall@k by the golden manifest's tie rule: a returned id counts when its exact distance is
    at most the k-th true distance D plus tol(D) (so a tie at the boundary is a hit), each id once."""

    def __init__(self, base, queries, truth, metric):
        self.base, self.queries, self.metric = base, queries, metric
        self.norms = np.linalg.norm(base, axis=1).astype(np.float64) if metric == "cosine" else None
        kth = distances_to(base, self.norms, queries, truth, metric).max(axis=1)
        self.bar = kth + ATOL + RTOL * np.abs(kth)

    def __call__(self, found):
        found = np.asarray(found, dtype=np.int64)
        d = distances_to(self.base, self.norms, self.queries, found, self.metric)
        hit = (found >= 0) & (d <= self.bar[:, None])
        ordered = np.sort(np.where(hit, found, -1), axis=1)
        repeats = (ordered[:, 1:] == ordered[:, :-1]) & (ordered[:, 1:] >= 0)  # an id counts once
        return float(hit.sum() - repeats.sum()) / (len(found) * K)


# ---- the libraries --------------------------------------------------------------------------------
# Each adapter builds its index at BUILD_THREADS and searches at one thread: set(value) changes the
# runtime setting, batch(q) searches every query in one call, one_fn() returns a callable that
# searches one query (a 1-row array) and returns its ids.

class NearkitAdapter:
    def __init__(self, nearkit, kind, metric, dim, n):
        self.nearkit, self.kind, self.metric, self.dim = nearkit, kind, metric, dim
        self.key = "hnsw" if kind == "hnsw" else "ivf"
        self.label = f"nearkit {kind}"
        if kind == "hnsw":
            self.knob, self.settings = "ef_search", EF_SWEEP
            self.params = hnsw_param_names(nearkit, metric, dim)
        else:
            nlist = max(1, round(4 * math.sqrt(n)))
            self.knob, self.settings = "nprobe", nprobe_sweep(nlist)
            self.params = {"nlist": nlist} if kind == "ivf_binary" else \
                {"nlist": nlist, "train_iterations": ivf.TRAIN_ITERATIONS}
        self.index = None

    def prepare(self, x):
        return x

    def build(self, base):
        self.index = self.nearkit.Index(kind=self.kind, metric=self.metric, dim=self.dim,
                                        num_threads=BUILD_THREADS, seed=SEED, **self.params)
        self.index.add(base)
        self.index.build()
        self.index.num_threads = 1

    def set(self, value):
        self.index.set_param(self.knob, value)

    def batch(self, queries):
        return self.index.search(queries, K)[0]

    def one_fn(self):
        search = self.index.search
        return lambda q: search(q, K)[0]

    def memory_bytes(self):
        return self.index.memory_bytes

    def free(self):
        self.index.close()
        self.index = None


def hnsw_param_names(nearkit, metric, dim):
    """M and ef_construction under the names the kind lists (whatever their case)."""
    probe = nearkit.Index(kind="hnsw", metric=metric, dim=dim)
    names = {n.lower(): n for n in probe.params.names()}
    probe.close()
    return {names.get("m", "M"): M, names.get("ef_construction", "ef_construction"): EF_CONSTRUCTION}


def nprobe_sweep(nlist):
    values, p = [], 1
    while p < nlist:
        values.append(p)
        p = p + 1 if p < 4 else int(p * 1.5)
    return values + [nlist]


class HnswlibAdapter:
    key, label, settings = "hnswlib", "hnswlib", EF_SWEEP

    def __init__(self, hnswlib, metric, dim):
        self.hnswlib, self.space, self.dim = hnswlib, {"l2": "l2", "cosine": "cosine"}[metric], dim
        self.index = None

    def prepare(self, x):
        return x

    def build(self, base):
        self.index = self.hnswlib.Index(space=self.space, dim=self.dim)
        self.index.init_index(max_elements=len(base), M=M, ef_construction=EF_CONSTRUCTION, random_seed=SEED)
        self.index.add_items(base, num_threads=BUILD_THREADS)
        self.index.set_num_threads(1)

    def set(self, value):
        self.index.set_ef(value)

    def batch(self, queries):
        return self.index.knn_query(queries, k=K, num_threads=1)[0]

    def one_fn(self):
        knn = self.index.knn_query
        return lambda q: knn(q, k=K, num_threads=1)[0]

    def memory_bytes(self):
        return None

    def free(self):
        self.index = None


class UsearchAdapter:
    key, label, settings = "usearch", "USearch", EF_SWEEP

    def __init__(self, usearch, metric, dim):
        from usearch.index import Index
        self.make = lambda: Index(ndim=dim, metric={"l2": "l2sq", "cosine": "cos"}[metric], dtype="f32",
                                  connectivity=M, expansion_add=EF_CONSTRUCTION, expansion_search=64)
        self.index = None

    def prepare(self, x):
        return x

    def build(self, base):
        self.index = self.make()
        self.index.add(np.arange(len(base), dtype=np.uint64), base, threads=BUILD_THREADS)

    def set(self, value):
        self.index.expansion_search = value

    def batch(self, queries):
        return self.index.search(queries, K, threads=1).keys

    def one_fn(self):
        search = self.index.search
        return lambda q: search(q, K, threads=1).keys

    def memory_bytes(self):
        return int(self.index.memory_usage)

    def free(self):
        self.index = None


class FaissAdapter:
    key, settings = "faiss", EF_SWEEP

    def __init__(self, faiss, metric, dim):
        self.faiss, self.metric, self.dim = faiss, metric, dim
        self.label = "Faiss IndexBinaryHNSW" if metric == "hamming" else "Faiss IndexHNSWFlat"
        self.index = None

    def prepare(self, x):
        """Cosine: Faiss takes normalised vectors and inner product (done outside every timing)."""
        return ivf.normalised(x) if self.metric == "cosine" else x

    def build(self, base):
        f = self.faiss
        f.omp_set_num_threads(BUILD_THREADS)
        if self.metric == "hamming":
            self.index = f.IndexBinaryHNSW(self.dim, M)
        else:
            self.index = f.IndexHNSWFlat(self.dim, M, f.METRIC_L2 if self.metric == "l2" else f.METRIC_INNER_PRODUCT)
        self.index.hnsw.efConstruction = EF_CONSTRUCTION
        self.index.add(base)
        f.omp_set_num_threads(1)

    def set(self, value):
        self.index.hnsw.efSearch = value

    def batch(self, queries):
        return self.index.search(queries, K)[1]

    def one_fn(self):
        search = self.index.search
        return lambda q: search(q, K)[1]

    def memory_bytes(self):
        return None

    def free(self):
        self.index = None


class PynearAdapter:
    key, settings = "pynear", EF_SWEEP

    def __init__(self, pynear, metric, dim):
        self.cls = {"l2": pynear.HNSWL2Index, "cosine": pynear.HNSWCosineIndex,
                    "hamming": pynear.HNSWBinaryIndex}[metric]
        self.label = f"PyNear {self.cls.__name__}"
        self.index = None

    def prepare(self, x):
        return x

    def build(self, base):
        # n_threads is PyNear's only thread setting (its builds); the process CPU clock counts every
        # thread a search would use
        self.index = self.cls(M=M, ef_construction=EF_CONSTRUCTION, ef_search=64, seed=SEED,
                              n_threads=BUILD_THREADS)
        self.index.set(base)

    def set(self, value):
        self.index.set_ef(value)

    def batch(self, queries):
        return self.index.searchKNN_arrays(queries, K)[0]

    def one_fn(self):
        search = self.index.searchKNN_arrays
        return lambda q: search(q, K)[0]

    def memory_bytes(self):
        return None

    def free(self):
        self.index = None


def make_adapters(libs, nearkit, peers, metric, dim, n):
    hnswlib, usearch, faiss, pynear = peers
    adapters = []
    if "hnsw" in libs and "hnsw" in nearkit.kinds():
        adapters.append(NearkitAdapter(nearkit, "hnsw", metric, dim, n))
    if "ivf" in libs:
        adapters.append(NearkitAdapter(nearkit, "ivf_binary" if metric == "hamming" else "ivf_flat", metric, dim, n))
    if "hnswlib" in libs and metric != "hamming":
        adapters.append(HnswlibAdapter(hnswlib, metric, dim))
    if "usearch" in libs and metric != "hamming":
        adapters.append(UsearchAdapter(usearch, metric, dim))
    if "faiss" in libs:
        adapters.append(FaissAdapter(faiss, metric, dim))
    if "pynear" in libs:
        adapters.append(PynearAdapter(pynear, metric, dim))
    return adapters


# ---- measuring ------------------------------------------------------------------------------------

def single_calls(adapter, queries):
    """Every query in its own call (a 1-row view, no copy), as ann-benchmarks does."""
    one = adapter.one_fn()
    out = np.empty((len(queries), K), dtype=np.int64)
    for i in range(len(queries)):
        out[i] = one(queries[i:i + 1])
    return out


def sweep(adapter, queries, score, mode):
    """[(setting, recall, qps)] from the smallest setting until recall reaches EXACT_ENOUGH or
    stops growing past PLATEAU."""
    search = adapter.batch if mode == "batch" else lambda q: single_calls(adapter, q)
    curve = []
    for value in adapter.settings:
        adapter.set(value)
        seconds, ids = ivf.timed(lambda: search(queries))
        curve.append((value, score(ids), len(queries) / seconds))
        recall, before = curve[-1][1], curve[-2][1] if len(curve) > 1 else 0.0
        if recall >= EXACT_ENOUGH or (recall >= PLATEAU[0] and recall - before < PLATEAU[1]):
            break
    return curve


def qps_at(curve, target):
    """QPS at recall `target`: on the curve's best points (none both faster and more accurate), log
    QPS linear in recall between the two around the target; the first point's QPS when it already
    passes it; None when no point reaches it."""
    frontier = []
    for recall, qps in sorted(((r, q) for _, r, q in curve), reverse=True):  # most accurate first
        if not frontier or qps > frontier[-1][1]:
            frontier.append((recall, qps))
    frontier.reverse()
    for i, (recall, qps) in enumerate(frontier):
        if recall >= target:
            if i == 0:
                return qps
            r0, q0 = frontier[i - 1]
            w = (target - r0) / (recall - r0)
            return math.exp(math.log(q0) + w * (math.log(qps) - math.log(q0)))
    return None


def ratio(ours, theirs):
    """ours / theirs; 0 when only the peer reaches the recall, None when the peer does not."""
    if theirs is None:
        return None
    return 0.0 if ours is None else ours / theirs


def build_measured(adapter, base):
    """(wall seconds, CPU seconds, resident growth) of one build."""
    before = resident_bytes()
    t0, c0 = time.perf_counter(), time.process_time()
    adapter.build(base)
    wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    return wall, cpu, resident_bytes() - before


def first_setting_reaching(adapter, queries, score, target):
    for value in adapter.settings:
        adapter.set(value)
        if score(adapter.batch(queries)) >= target:
            return value
    return adapter.settings[-1]


def churn(adapter, base, queries, score, args, rng, tag):
    """Rounds of removing a share of the ids and adding the same vectors back under them; recall
    at one fixed setting before (a fresh build) and after."""
    ix = adapter.index
    value = args.churn_ef if adapter.key == "hnsw" and args.churn_ef else \
        first_setting_reaching(adapter, queries, score, 0.95)
    adapter.set(value)
    fresh, fresh_bytes, spent = score(adapter.batch(queries)), ix.memory_bytes, 0.0
    emit(f"{tag}_churn_{adapter.knob}", value)
    for r in range(args.churn_rounds):
        gone = np.sort(rng.choice(len(base), int(len(base) * args.churn_share), replace=False)).astype(np.int64)
        ix.num_threads = BUILD_THREADS
        t0 = time.perf_counter()
        removed = ix.remove(gone)
        ix.add(base[gone], ids=gone)
        spent += time.perf_counter() - t0
        ix.num_threads = 1
        assert removed == len(gone), (removed, len(gone))
        emit(f"{tag}_churn_round{r + 1}_recall", score(adapter.batch(queries)))
    churned = score(adapter.batch(queries))
    emit(f"{tag}_churn_recall_fresh", fresh)
    emit(f"{tag}_churn_recall_churned", churned)
    emit(f"{tag}_churn_memory_ratio", ix.memory_bytes / fresh_bytes)
    emit(f"{tag}_churn_round_seconds", spent / args.churn_rounds)
    return fresh - churned


def tune_result_field(result, name):
    return result.get(name) if isinstance(result, dict) else getattr(result, name, None)


def tuner_check(adapter, tune_queries, queries, score, tag):
    """Largest |held-out recall - target| over TARGETS after index.tune(); None when there is none."""
    if getattr(type(adapter.index), "tune", None) is None:
        print(f"# {tag}: this nearkit package has no Index.tune(): tuner check skipped", flush=True)
        return None
    worst = 0.0
    for target in TARGETS:
        result = adapter.index.tune(tune_queries, k=K, target_recall=target)
        held_out = score(adapter.batch(queries))  # at the value tune() set on the index
        t = f"{tag}_tuner_t{round(target * 100)}"
        emit(f"{t}_{adapter.knob}", adapter.index.get_param(adapter.knob))
        # the finer setting set with it (ivf's max_codes), where one more step overshoots
        fine = tune_result_field(result, "fine_param")
        emit(f"{t}_fine_param", fine or "none")
        emit(f"{t}_fine_value", tune_result_field(result, "fine_value") or 0)
        emit(f"{t}_sample_recall", tune_result_field(result, "recall"))
        emit(f"{t}_heldout_recall", held_out)
        emit(f"{t}_error", held_out - target)  # above 0: more recall (and work) than asked
        worst = max(worst, abs(held_out - target))
    return worst


# ---- one dataset ----------------------------------------------------------------------------------

def run_dataset(name, scale, nearkit, peers, args, rng, extras):
    """Builds and sweeps every library on one dataset; returns its figures for the summary."""
    faiss = peers[2]
    base, queries, tune_queries, metric, dim = load_dataset(name, scale, args.queries, args.tune_queries, rng)
    truth = exact_neighbours(faiss, name, base, queries, metric, args.work_dir)
    score = Scorer(base, queries, truth, metric)
    for key, value in (("scale", scale), ("n", len(base)), ("dim", dim), ("metric", metric), ("queries", len(queries))):
        emit(f"{name}_{key}", value)
    modes = [m for m in ("batch", "single") if m in args.modes]
    info = {"scale": scale, "n": len(base), "dim": dim, "metric": metric, "curves": {m: {} for m in modes},
            "labels": {}, "build": {}, "rss": {}, "extras": {}}
    for adapter in make_adapters(args.libs, nearkit, peers, metric, dim, len(base)):
        prepared_base, prepared_queries = adapter.prepare(base), adapter.prepare(queries)
        wall, cpu, rss = build_measured(adapter, prepared_base)
        del prepared_base
        info["labels"][adapter.key], info["build"][adapter.key], info["rss"][adapter.key] = adapter.label, wall, rss
        tag = f"{name}_{adapter.key}"
        emit(f"{tag}_build_seconds", wall)
        emit(f"{tag}_build_cpu_seconds", cpu)
        emit(f"{tag}_memory_bytes", adapter.memory_bytes())
        emit(f"{tag}_rss_bytes", rss)
        for mode in modes:
            curve = sweep(adapter, prepared_queries, score, mode)
            info["curves"][mode][adapter.key] = curve
            emit(f"{name}_{mode}_{adapter.key}_curve", ";".join(f"{v}:{r:.4f}:{q:.1f}" for v, r, q in curve))
            for t in TARGETS:
                emit(f"{name}_{mode}_{adapter.key}_qps_at_r{round(t * 100)}", qps_at(curve, t))
        if extras and isinstance(adapter, NearkitAdapter):
            if "churn" in args.modes:
                info["extras"][f"{adapter.kind}_churn_recall_loss"] = churn(adapter, base, queries, score,
                                                                            args, rng, tag)
            if "tuner" in args.modes:
                info["extras"][f"tuner_{adapter.kind}_max_error"] = tuner_check(adapter, tune_queries,
                                                                                queries, score, tag)
        adapter.free()
    return info


def dataset_ratios(name, info):
    """The per-mode and per-dataset ratios; returns {figure: value} for the summary."""
    out = {}
    for mode, curves in info["curves"].items():
        ours = curves.get("hnsw")
        for peer in GRAPH_PEERS + ("ivf",):
            if peer not in curves or ours is None or peer == "ivf":
                continue
            for t in TARGETS:
                figure = f"hnsw_vs_{peer}_qps_at_r{round(t * 100)}"
                out[(mode, figure)] = ratio(qps_at(ours, t), qps_at(curves[peer], t))
        best = [q for q in (qps_at(curves[p], 0.95) for p in GRAPH_PEERS if p in curves) if q is not None]
        if ours is not None and best:
            out[(mode, "hnsw_vs_best_graph_peer_qps_at_r95")] = ratio(qps_at(ours, 0.95), max(best))
        if "ivf" in curves and "hnswlib" in curves:
            out[(mode, "ivf_vs_hnswlib_qps_at_r95")] = ratio(qps_at(curves["ivf"], 0.95),
                                                             qps_at(curves["hnswlib"], 0.95))
    for (mode, figure), value in out.items():
        emit(f"{name}_{mode}_{figure}", value)
    build, rss = info["build"], info["rss"]
    if "hnsw" in build and "hnswlib" in build:
        out[(None, "hnsw_build_vs_hnswlib")] = build["hnswlib"] / build["hnsw"]  # >= 1: nearkit faster
        out[(None, "hnsw_memory_vs_hnswlib")] = rss["hnsw"] / rss["hnswlib"] if rss["hnswlib"] > 0 else None
        emit(f"{name}_hnsw_build_vs_hnswlib", out[(None, "hnsw_build_vs_hnswlib")])
        emit(f"{name}_hnsw_memory_vs_hnswlib", out[(None, "hnsw_memory_vs_hnswlib")])
    return out


def summary(results):
    """The unprefixed figures: the worst over the datasets and modes measured."""
    floats = [r for n, r in results.items() if results[n]["metric"] != "hamming"]
    binary = [r for n, r in results.items() if results[n]["metric"] == "hamming"]
    worst = {}

    def gather(infos, figure, rename=None, pick=min):
        values = [v for info in infos for (_, f), v in info["ratios"].items() if f == figure and v is not None]
        worst[rename or figure] = pick(values) if values else None

    for t in TARGETS:
        gather(floats, f"hnsw_vs_hnswlib_qps_at_r{round(t * 100)}")
    gather(floats, "hnsw_vs_best_graph_peer_qps_at_r95")
    gather(floats, "hnsw_build_vs_hnswlib")
    gather(floats, "hnsw_memory_vs_hnswlib", pick=max)
    gather(floats, "ivf_vs_hnswlib_qps_at_r95")
    gather(binary, "hnsw_vs_faiss_qps_at_r95", "hnsw_binary_vs_faiss_qps_at_r95")
    gather(binary, "hnsw_vs_pynear_qps_at_r95", "hnsw_binary_vs_pynear_qps_at_r95")
    for figure, value in worst.items():
        emit(figure, value)
    for info in results.values():
        for figure, value in info["extras"].items():
            emit(figure, value)


# ---- the plot -------------------------------------------------------------------------------------

STYLES = {"hnsw": ("o-", "#1f77b4"), "ivf": ("o--", "#17becf"), "hnswlib": ("s-", "#ff7f0e"),
          "usearch": ("^-", "#2ca02c"), "faiss": ("D-", "#d62728"), "pynear": ("v-", "#9467bd")}


def plot(path, results):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    panels = [(name, mode, info) for name, info in results.items() for mode in info["curves"]]
    cols = min(2, len(panels))
    rows = (len(panels) + cols - 1) // cols
    fig, axes = plt.subplots(rows, cols, figsize=(5.6 * cols, 4.4 * rows), squeeze=False)
    for ax, (name, mode, info) in zip(axes.flat, panels):
        for key, curve in info["curves"][mode].items():
            style, colour = STYLES[key]
            ax.plot([r for _, r, _ in curve], [q for _, _, q in curve], style, color=colour,
                    label=info["labels"][key], markersize=3.5, linewidth=1.2)
        ax.set_yscale("log")
        ax.set_xlim(0.8, 1.002)  # where graph indexes are used; lower ivf points fall outside
        ax.set_xlabel("recall@10")
        ax.set_ylabel("queries per second (1 thread)")
        calls = "one query per call" if mode == "single" else "one batch call"
        ax.set_title(f"{name}: {info['n']:,} x {info['dim']} {info['metric']}, {calls}", fontsize=9.5)
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=7.5)
    for ax in axes.flat[len(panels):]:
        ax.set_visible(False)
    fig.suptitle(f"Graph indexes: recall against speed, M {M}, ef_construction {EF_CONSTRUCTION}, "
                 f"ef_search (ivf: nprobe) swept, k {K}", fontsize=10.5)
    fig.tight_layout()
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    fig.savefig(path, dpi=110)


def dataset_scales(text, names):
    """--scale: one fraction for every dataset, or name=fraction pairs (1 for the others)."""
    if "=" not in text:
        return {name: float(text) for name in names}
    pairs = dict(item.split("=", 1) for item in text.split(","))
    return {name: float(pairs.get(name, 1.0)) for name in names}


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--datasets", default="fashion,synth128,bin256")
    ap.add_argument("--modes", default="batch,single,churn,tuner")
    ap.add_argument("--libs", default="hnsw,ivf,hnswlib,usearch,faiss,pynear", help="a subset to run")
    ap.add_argument("--scale", default="1.0", help="fraction of every base, or name=fraction,...")
    ap.add_argument("--queries", type=int, default=1000, help="measured queries per dataset")
    ap.add_argument("--tune-queries", type=int, default=1000, help="the tuner's sample (held out)")
    ap.add_argument("--churn-rounds", type=int, default=5)
    ap.add_argument("--churn-share", type=float, default=0.1)
    ap.add_argument("--churn-ef", type=int, default=0,
                    help="hnsw's fixed ef_search for churn (0: the smallest swept reaching recall 0.95)")
    ap.add_argument("--clock", choices=("cpu", "wall"), default="cpu",
                    help="searches timed by process CPU time (steadier on a shared machine) or wall time")
    ap.add_argument("--work-dir", default="/tmp/nearkit-bench-hnsw")
    ap.add_argument("--plot", default=os.path.join(here, "..", "docs", "hnsw_recall_qps.png"))
    args = ap.parse_args()
    args.modes, args.libs = args.modes.split(","), args.libs.split(",")
    scales = dataset_scales(args.scale, args.datasets.split(","))

    peers = import_peers()
    nearkit = import_nearkit()
    ivf.CLOCK = time.process_time if args.clock == "cpu" else time.perf_counter
    os.makedirs(args.work_dir, exist_ok=True)
    emit("hnsw_available", int("hnsw" in nearkit.kinds()))
    for key, value in (("scale", args.scale), ("k", K), ("M", M), ("ef_construction", EF_CONSTRUCTION),
                       ("build_threads", BUILD_THREADS), ("search_threads", 1), ("clock", args.clock)):
        emit(key, value)
    rng = np.random.default_rng(2026)
    results = {}
    for i, name in enumerate(args.datasets.split(",")):
        info = run_dataset(name, scales.get(name, 1.0), nearkit, peers, args, rng, extras=(i == 0))
        info["ratios"] = dataset_ratios(name, info)
        results[name] = info
    summary(results)
    if args.plot and any(info["curves"] for info in results.values()):
        plot(args.plot, results)
        emit("plot", os.path.abspath(args.plot))


if __name__ == "__main__":
    main()
