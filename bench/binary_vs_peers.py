#!/usr/bin/env python3
"""nearkit's binary kinds (mih, ivf_binary) against PyNear and Faiss, side by side, at 1 thread.

    python3 bench/binary_vs_peers.py [--build-dir build] [--scale 1.0] [--sections near,fashion,scale]

Sections:
  near     Near-duplicates: 1,000,000 random 512-bit codes and 1,000 queries made by flipping 1 to 8
           random bits of stored codes; k = 1; recall of the planted code and ms/query. nearkit
           mih (automatic m, exact), Faiss IndexBinaryFlat, Faiss IndexBinaryMultiHash and PyNear
           MIHBinaryIndex (for these two, every configuration in the lists below is run and the
           fastest that finds every planted code is reported). Then the same at 256 bits with
           m = 4 for every multi-index hashing (Faiss nflip = 2: the pigeonhole bound for 8 flips).
  fashion  General Hamming k-NN, k = 10: Fashion-MNIST (Debian's dataset-fashion-mnist package,
           installed with apt-get when missing): the 60,000 training images as the base and the
           10,000 test images as queries, centred and turned into 64-, 128- and 256-bit codes by
           sign random projection. nearkit ivf_binary, Faiss IndexBinaryIVF and PyNear
           IVFFlatBinaryIndex with the same nlist (round(sqrt(n)) = 245), nprobe = 1, 2, 4, ...,
           nlist; each trains as it does by default (nearkit: binary k-means on 128 codes per
           list, at most 15 rounds; Faiss: float k-means on 256 per list, 25 rounds; PyNear: its
           k-means on the whole base). Exact references: nearkit mih, nearkit flat, Faiss
           IndexBinaryFlat.
  scale    The same on 1,000,000 x 128-bit codes from clustered synthetic vectors (1,000 Gaussian
           clusters in 64 dimensions), 1,000 queries, nlist = 1024.
Recall@10 is against exact Hamming k-NN, ties counted as the golden manifest's rule says: a
returned id counts when its distance is at most the 10th true distance.

nearkit runs through its C library directly (ctypes on libnearkit.so; the index is built once and
nprobe changed between searches); Faiss through faiss-cpu; PyNear through pynear. Every search is
one batch call at 1 thread; builds run at 1 thread too. --scale shrinks every base and query set
(e.g. 0.05 to check the script in a minute). Needs: pip install numpy faiss-cpu pynear.

Prints name=value lines. Per index: <section>_<index>_ms_per_query or _qps, _recall, _build_seconds,
_memory_bytes (nearkit: nearkit_index_memory_bytes; Faiss: the size of its serialised index;
PyNear, which reports none: growth of the process's resident memory over the build) and
_rss_bytes (resident-memory growth over the build, for every index). Ratios (above 1: nearkit is
better): mih_vs_faiss_flat_512, mih_vs_pynear_512, mih_vs_faiss_multihash_512 and the _256_m4
twins (speed at 100% planted recall); ivfbin_vs_faiss_ivf_r90 and ivfbin_vs_pynear_ivf_r90 (QPS at
recall 0.9, interpolated on each recall/QPS curve, on the scale set; the fashion_<bits>_ twins per
code size; the curves themselves as <prefix>_<index>_curve=nprobe:recall:qps;...), and
ivfbin_build_vs_faiss_ivf (Faiss build time over nearkit's). Each search is timed --runs times
(default 3) and the fastest counts. --skip-pynear-ivf leaves out PyNear's IVF, whose build over
the whole base is slow at full size.
"""
import argparse
import ctypes
import gc
import gzip
import os
import subprocess
import sys
import time

os.environ.setdefault("OMP_NUM_THREADS", "1")  # PyNear and Faiss: one thread, set before import
import numpy as np  # noqa: E402

FASHION_PACKAGE = "dataset-fashion-mnist"
KIND = {"flat": 1, "mih": 6, "ivf_binary": 7}
HAMMING, BINARY = 6, 2
FAISS_MULTIHASH_512 = [(16, 32, 0), (26, 19, 0), (32, 16, 0), (8, 64, 1)]  # (nhash, b, nflip)
PYNEAR_MIH_512 = [8, 16, 32]  # m (PyNear needs 64 bytes / m <= 8)
PYNEAR_RADIUS = 8  # the most bits a near-duplicate query has flipped
POPCOUNT = np.array([bin(i).count("1") for i in range(256)], dtype=np.uint16)


def emit(name, value):
    if isinstance(value, float):
        value = f"{value:.6g}"
    print(f"{name}={value}", flush=True)


# ---- nearkit through its C ABI ------------------------------------------------------------------

class IndexOptions(ctypes.Structure):
    _fields_ = [("struct_size", ctypes.c_uint32), ("num_threads", ctypes.c_uint32),
                ("seed", ctypes.c_uint64), ("params", ctypes.c_char_p)]


class Nearkit:
    def __init__(self, build_dir):
        path = os.path.join(build_dir, "libnearkit.so")
        if not os.path.exists(path):
            sys.exit(f"{path} not found: build nearkit first (cmake ... && cmake --build)")
        lib = ctypes.CDLL(path)
        p, u32, u64, i32 = ctypes.c_void_p, ctypes.c_uint32, ctypes.c_uint64, ctypes.c_int32
        lib.nearkit_index_create.argtypes = [ctypes.POINTER(p), i32, i32, u32, ctypes.POINTER(IndexOptions)]
        lib.nearkit_index_add.argtypes = [p, i32, p, u64, p]
        lib.nearkit_index_build.argtypes = [p]
        lib.nearkit_index_set_param.argtypes = [p, ctypes.c_char_p, ctypes.c_double]
        lib.nearkit_index_get_param.argtypes = [ctypes.POINTER(ctypes.c_double), p, ctypes.c_char_p]
        lib.nearkit_index_search.argtypes = [p, p, p, i32, p, u64, u64, p]
        lib.nearkit_index_memory_bytes.argtypes = [p]
        lib.nearkit_index_memory_bytes.restype = u64
        lib.nearkit_index_free.argtypes = [p]
        lib.nearkit_last_error_message.restype = ctypes.c_char_p
        self.lib = lib

    def check(self, status):
        if status != 0:
            raise RuntimeError("nearkit: " + self.lib.nearkit_last_error_message().decode())


class NearkitIndex:
    def __init__(self, nk, kind, bits, params=""):
        self.nk, self.lib = nk, nk.lib
        opts = IndexOptions(ctypes.sizeof(IndexOptions), 1, 42, params.encode() or None)
        self.handle = ctypes.c_void_p()
        nk.check(self.lib.nearkit_index_create(ctypes.byref(self.handle), KIND[kind], HAMMING, bits,
                                               ctypes.byref(opts)))

    def build(self, codes):
        codes = np.ascontiguousarray(codes, dtype=np.uint8)
        self.nk.check(self.lib.nearkit_index_add(self.handle, BINARY, codes.ctypes.data, len(codes), None))
        self.nk.check(self.lib.nearkit_index_build(self.handle))

    def search(self, queries, k):
        queries = np.ascontiguousarray(queries, dtype=np.uint8)
        ids = np.empty((len(queries), k), dtype=np.int64)
        dist = np.empty((len(queries), k), dtype=np.float32)
        self.nk.check(self.lib.nearkit_index_search(ids.ctypes.data, dist.ctypes.data, self.handle, BINARY,
                                                    queries.ctypes.data, len(queries), k, None))
        return ids

    def set(self, name, value):
        self.nk.check(self.lib.nearkit_index_set_param(self.handle, name.encode(), float(value)))

    def get(self, name):
        v = ctypes.c_double()
        self.nk.check(self.lib.nearkit_index_get_param(ctypes.byref(v), self.handle, name.encode()))
        return v.value

    def memory(self):
        return int(self.lib.nearkit_index_memory_bytes(self.handle))

    def free(self):
        if self.handle:
            self.lib.nearkit_index_free(self.handle)
            self.handle = ctypes.c_void_p()


# ---- measuring ----------------------------------------------------------------------------------

_libc = ctypes.CDLL("libc.so.6")


def rss():
    """Resident bytes of this process, after giving freed heap back to the system."""
    gc.collect()
    _libc.malloc_trim(0)
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def timed(fn):
    t0 = time.perf_counter()
    result = fn()
    return time.perf_counter() - t0, result


def best_time(fn, runs):
    """The fastest of `runs` calls (the machine may be shared) and the last result."""
    best, result = float("inf"), None
    for _ in range(runs):
        seconds, result = timed(fn)
        best = min(best, seconds)
    return best, result


def hamming_rows(queries, base, ids):
    """Hamming distance of each query to each of its returned ids (-1: a large sentinel)."""
    safe = np.where(ids < 0, 0, ids)
    x = np.bitwise_xor(base[safe], queries[:, None, :])
    d = POPCOUNT[x].sum(axis=2).astype(np.int64)
    return np.where(ids < 0, 1 << 30, d)


def recall_at_k(queries, base, ids, kth_true):
    """Share of returned entries within the k-th true distance (distinct valid ids only)."""
    d = hamming_rows(queries, base, ids)
    ok = (d <= kth_true[:, None]) & (ids >= 0)
    for row in range(len(ids)):  # a repeated id counts once
        seen = set()
        for j, i in enumerate(ids[row]):
            if i in seen:
                ok[row, j] = False
            seen.add(i)
    return float(ok.sum()) / ids.size


def exact_kth(base, queries, k, bits):
    import faiss
    faiss.omp_set_num_threads(os.cpu_count() or 1)
    index = faiss.IndexBinaryFlat(bits)
    index.add(base)
    dist, _ = index.search(queries, k)
    faiss.omp_set_num_threads(1)
    return dist[:, k - 1].astype(np.int64)


# ---- data ---------------------------------------------------------------------------------------

def flip_queries(rng, base, nq, max_flips):
    bits = base.shape[1] * 8
    planted = rng.integers(0, len(base), nq)
    queries = base[planted].copy()
    for q in range(nq):
        for b in rng.choice(bits, int(rng.integers(1, max_flips + 1)), replace=False):
            queries[q, b // 8] ^= np.uint8(1 << (b % 8))
    return queries, planted


def sign_projection(rng, x, bits):
    """Codes of the signs of random Gaussian projections of the centred vectors, LSB first."""
    proj = rng.standard_normal((x.shape[1], bits)).astype(np.float32)
    return lambda v: np.packbits((v - x.mean(axis=0)) @ proj > 0, axis=1, bitorder="little")


def fashion_files():
    listing = subprocess.run(["dpkg", "-L", FASHION_PACKAGE], capture_output=True, text=True)
    if listing.returncode != 0:
        print(f"# installing {FASHION_PACKAGE} with apt-get", file=sys.stderr)
        subprocess.run(["apt-get", "install", "-y", "-q", FASHION_PACKAGE], check=True,
                       stdout=subprocess.DEVNULL)
        listing = subprocess.run(["dpkg", "-L", FASHION_PACKAGE], capture_output=True, text=True, check=True)
    files = listing.stdout.split()
    pick = lambda stem: next(f for f in files if os.path.basename(f).startswith(stem))
    return pick("train-images-idx3-ubyte"), pick("t10k-images-idx3-ubyte")


def read_idx_images(path):
    with (gzip.open(path) if path.endswith(".gz") else open(path, "rb")) as f:
        data = f.read()
    n, rows, cols = (int.from_bytes(data[i:i + 4], "big") for i in (4, 8, 12))
    return np.frombuffer(data, dtype=np.uint8, offset=16).reshape(n, rows * cols).astype(np.float32)


# ---- near-duplicates ----------------------------------------------------------------------------

def planted_recall(ids, planted):
    return float(np.mean([planted[q] in ids[q] for q in range(len(planted))]))


def run_near(nk, args, rng, bits, m=None):
    import faiss
    import pynear
    tag = f"{bits}" if m is None else f"{bits}_m{m}"
    n, nq, nbytes = max(1000, int(1_000_000 * args.scale)), max(100, int(1000 * min(1.0, args.scale * 10))), bits // 8
    base = rng.integers(0, 256, (n, nbytes), dtype=np.uint8)
    queries, planted = flip_queries(rng, base, nq, 8)
    emit(f"near_{tag}_base", n)
    emit(f"near_{tag}_queries", nq)
    results = {}

    def report(name, build_s, search_s, ids, memory, rss_bytes, extra=""):
        recall = planted_recall(ids, planted)
        ms = search_s / nq * 1000
        emit(f"near_{tag}_{name}_ms_per_query", ms)
        emit(f"near_{tag}_{name}_recall", recall)
        emit(f"near_{tag}_{name}_build_seconds", build_s)
        emit(f"near_{tag}_{name}_memory_bytes", memory)
        emit(f"near_{tag}_{name}_rss_bytes", rss_bytes)
        if extra:
            emit(f"near_{tag}_{name}_config", extra)
        results[name] = (ms, recall)

    # nearkit mih
    r0 = rss()
    ix = NearkitIndex(nk, "mih", bits, f"m={m}" if m else "")
    build_s, _ = timed(lambda: ix.build(base))
    r1 = rss()
    search_s, ids = best_time(lambda: ix.search(queries, 1), args.runs)
    report("mih", build_s, search_s, ids, ix.memory(), r1 - r0, f"m={int(ix.get('substrings'))}")
    ix.free()

    # Faiss flat
    faiss.omp_set_num_threads(1)
    r0 = rss()
    fx = faiss.IndexBinaryFlat(bits)
    build_s, _ = timed(lambda: fx.add(base))
    r1 = rss()
    search_s, (_, ids) = best_time(lambda: fx.search(queries, 1), args.runs)
    report("faiss_flat", build_s, search_s, ids, len(faiss.serialize_index_binary(fx)), r1 - r0)
    del fx

    # Faiss multi-index hashing: the fastest configuration that finds every planted code
    configs = [(m, 64, 2)] if m else FAISS_MULTIHASH_512 if bits == 512 else [(bits // 32, 32, 0)]
    best = None
    for nhash, b, nflip in configs:
        r0 = rss()
        mh = faiss.IndexBinaryMultiHash(bits, nhash, b)
        build_s, _ = timed(lambda: mh.add(base))
        r1 = rss()
        mh.nflip = nflip
        search_s, (_, ids) = best_time(lambda: mh.search(queries, 1), args.runs)
        recall = planted_recall(ids, planted)
        emit(f"near_{tag}_faiss_multihash_try", f"nhash={nhash}:b={b}:nflip={nflip}:recall={recall:.4f}:"
                                                f"ms={search_s / nq * 1000:.4f}")
        row = (recall < 1.0, search_s, build_s, ids, len(faiss.serialize_index_binary(mh)), r1 - r0,
               f"nhash={nhash},b={b},nflip={nflip}")
        best = row if best is None or row[:2] < best[:2] else best
        del mh
    report("faiss_multihash", best[2], best[1], best[3], best[4], best[5], best[6])

    # PyNear MIH: the same choice among its settings
    best = None
    for pm in ([m] if m else PYNEAR_MIH_512 if bits == 512 else [bits // 64]):
        r0 = rss()
        px = pynear.MIHBinaryIndex(pm)
        build_s, _ = timed(lambda: px.set(base))
        r1 = rss()
        search_s, (ids, _) = best_time(lambda: px.searchKNN_arrays(queries, 1, PYNEAR_RADIUS), args.runs)
        recall = planted_recall(ids, planted)
        emit(f"near_{tag}_pynear_mih_try", f"m={pm}:radius={PYNEAR_RADIUS}:recall={recall:.4f}:"
                                           f"ms={search_s / nq * 1000:.4f}")
        row = (recall < 1.0, search_s, build_s, ids, r1 - r0, r1 - r0, f"m={pm},radius={PYNEAR_RADIUS}")
        best = row if best is None or row[:2] < best[:2] else best
        del px
    report("pynear_mih", best[2], best[1], best[3], best[4], best[5], best[6])

    mih_ms = results["mih"][0]
    suffix = f"{bits}" if m is None else f"{bits}_m{m}"
    for peer, name in (("faiss_flat", "faiss_flat"), ("pynear_mih", "pynear"), ("faiss_multihash", "faiss_multihash")):
        emit(f"mih_vs_{name}_{suffix}", results[peer][0] / mih_ms)
        if results[peer][1] < 1.0:
            emit(f"mih_vs_{name}_{suffix}_note", f"peer recall {results[peer][1]:.4f} < 1")


# ---- general k-NN: recall / QPS curves ----------------------------------------------------------

def nprobe_sweep(nlist):
    p, out = 1, []
    while p < nlist:
        out.append(p)
        p *= 2
    return out + [nlist]


def qps_at(curve, target):
    """QPS at exactly `target` recall, interpolated (log QPS linear in recall) between the last
    sweep point below it and the first at or above it; None when no point reaches it."""
    for i, (_, recall, qps) in enumerate(curve):
        if recall >= target:
            if i == 0 or recall == target:
                return qps
            _, r0, q0 = curve[i - 1]
            if r0 >= recall:
                return qps
            w = (target - r0) / (recall - r0)
            return float(np.exp(np.log(q0) + w * (np.log(qps) - np.log(q0))))
    return None


def run_knn(nk, args, prefix, base, queries, bits, nlist, k=10):
    import faiss
    import pynear
    nq = len(queries)
    kth = exact_kth(base, queries, k, bits)
    emit(f"{prefix}_base", len(base))
    emit(f"{prefix}_queries", nq)
    emit(f"{prefix}_nlist", nlist)
    curves, builds = {}, {}

    def exact_row(name, build_s, search_s, ids, memory, rss_bytes):
        emit(f"{prefix}_{name}_build_seconds", build_s)
        emit(f"{prefix}_{name}_qps", nq / search_s)
        emit(f"{prefix}_{name}_recall", recall_at_k(queries, base, ids, kth))
        emit(f"{prefix}_{name}_memory_bytes", memory)
        emit(f"{prefix}_{name}_rss_bytes", rss_bytes)

    def curve_rows(name, build_s, memory, rss_bytes, search):
        curve = []
        for nprobe in nprobe_sweep(nlist):
            search_s, ids = best_time(lambda: search(nprobe), args.runs)
            curve.append((nprobe, recall_at_k(queries, base, ids, kth), nq / search_s))
        curves[name], builds[name] = curve, build_s
        emit(f"{prefix}_{name}_build_seconds", build_s)
        emit(f"{prefix}_{name}_memory_bytes", memory)
        emit(f"{prefix}_{name}_rss_bytes", rss_bytes)
        emit(f"{prefix}_{name}_curve", ";".join(f"{p}:{r:.4f}:{q:.1f}" for p, r, q in curve))
        qps = qps_at(curve, 0.9)
        emit(f"{prefix}_{name}_qps_at_r90", qps if qps is not None else "")
        qps = qps_at(curve, 0.95)
        emit(f"{prefix}_{name}_qps_at_r95", qps if qps is not None else "")

    for kind in ("flat", "mih"):
        r0 = rss()
        ix = NearkitIndex(nk, kind, bits)
        build_s, _ = timed(lambda: ix.build(base))
        r1 = rss()
        search_s, ids = best_time(lambda: ix.search(queries, k), args.runs)
        exact_row(kind, build_s, search_s, ids, ix.memory(), r1 - r0)
        ix.free()

    faiss.omp_set_num_threads(1)
    r0 = rss()
    fx = faiss.IndexBinaryFlat(bits)
    build_s, _ = timed(lambda: fx.add(base))
    r1 = rss()
    search_s, (_, ids) = best_time(lambda: fx.search(queries, k), args.runs)
    exact_row("faiss_flat", build_s, search_s, ids, len(faiss.serialize_index_binary(fx)), r1 - r0)
    del fx

    r0 = rss()
    ix = NearkitIndex(nk, "ivf_binary", bits, f"nlist={nlist}")
    build_s, _ = timed(lambda: ix.build(base))
    r1 = rss()

    def nk_search(nprobe):
        ix.set("nprobe", nprobe)
        return ix.search(queries, k)
    curve_rows("ivf_binary", build_s, ix.memory(), r1 - r0, nk_search)
    ix.free()

    r0 = rss()
    quantizer = faiss.IndexBinaryFlat(bits)
    fx = faiss.IndexBinaryIVF(quantizer, bits, nlist)

    def faiss_build():
        fx.train(base)
        fx.add(base)
    build_s, _ = timed(faiss_build)
    r1 = rss()

    def faiss_search(nprobe):
        fx.nprobe = nprobe
        return fx.search(queries, k)[1]
    curve_rows("faiss_ivf", build_s, len(faiss.serialize_index_binary(fx)), r1 - r0, faiss_search)
    del fx, quantizer

    if not args.skip_pynear_ivf:
        r0 = rss()
        px = pynear.IVFFlatBinaryIndex(nlist, 1)
        build_s, _ = timed(lambda: px.set(base))
        r1 = rss()

        def pynear_search(nprobe):
            px.set_nprobe(nprobe)
            return px.searchKNN_arrays(queries, k)[0]
        curve_rows("pynear_ivf", build_s, r1 - r0, r1 - r0, pynear_search)
        del px

    ours = qps_at(curves["ivf_binary"], 0.9)
    for peer, name in (("faiss_ivf", "faiss_ivf"), ("pynear_ivf", "pynear_ivf")):
        if peer not in curves:
            continue
        theirs = qps_at(curves[peer], 0.9)
        emit(f"{prefix}_ivfbin_vs_{name}_r90", ours / theirs if ours and theirs else "")
        emit(f"{prefix}_ivfbin_build_vs_{name}", builds[peer] / builds["ivf_binary"])
    return curves, builds


def run_fashion(nk, args, rng):
    train_path, test_path = fashion_files()
    train, test = read_idx_images(train_path), read_idx_images(test_path)
    n, nq = max(2000, int(len(train) * args.scale)), max(200, int(len(test) * args.scale))
    train, test = train[:n], test[:nq]
    nlist = int(round(np.sqrt(n)))
    for bits in (64, 128, 256):
        code = sign_projection(rng, train, bits)
        run_knn(nk, args, f"fashion_{bits}", code(train), code(test), bits, nlist)


def run_scale(nk, args, rng):
    n, nq, d = max(5000, int(1_000_000 * args.scale)), max(200, int(1000 * min(1.0, args.scale * 10))), 64
    centres = rng.standard_normal((1000, d)).astype(np.float32) * 2.0
    spread = rng.uniform(0.5, 1.5, len(centres)).astype(np.float32)

    def sample(count):
        which = rng.integers(0, len(centres), count)
        return centres[which] + rng.standard_normal((count, d), dtype=np.float32) * spread[which, None]
    base_f, query_f = sample(n), sample(nq)
    code = sign_projection(rng, base_f, 128)
    nlist = 1024 if n >= 500_000 else max(16, int(round(np.sqrt(n))))
    curves, builds = run_knn(nk, args, "scale_128", code(base_f), code(query_f), 128, nlist)
    ours = qps_at(curves["ivf_binary"], 0.9)
    for peer, name in (("faiss_ivf", "faiss_ivf"), ("pynear_ivf", "pynear_ivf")):
        if peer in curves:
            theirs = qps_at(curves[peer], 0.9)
            emit(f"ivfbin_vs_{name}_r90", ours / theirs if ours and theirs else "")
    emit("ivfbin_build_vs_faiss_ivf", builds["faiss_ivf"] / builds["ivf_binary"])


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--build-dir", default=os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "build"))
    ap.add_argument("--scale", type=float, default=1.0, help="shrink every data set (default 1.0)")
    ap.add_argument("--sections", default="near,fashion,scale")
    ap.add_argument("--seed", type=int, default=2024)
    ap.add_argument("--runs", type=int, default=3, help="searches timed per setting; the fastest counts")
    ap.add_argument("--skip-pynear-ivf", action="store_true", help="PyNear's IVF build is slow at full size")
    args = ap.parse_args()
    nk = Nearkit(args.build_dir)
    rng = np.random.default_rng(args.seed)
    emit("threads", 1)
    emit("scale", args.scale)
    sections = args.sections.split(",")
    if "near" in sections:
        run_near(nk, args, rng, 512)
        run_near(nk, args, rng, 256, m=4)
    if "fashion" in sections:
        run_fashion(nk, args, rng)
    if "scale" in sections:
        run_scale(nk, args, rng)


if __name__ == "__main__":
    main()
