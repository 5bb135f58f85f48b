#!/usr/bin/env python3
"""nearkit's compressed IVF kinds against Faiss's IVF scalar and product quantisers, side by side.

    python3 bench/codes_vs_peers.py [--datasets fashion,synth128] [--codecs sq8,fp16,bf16,sq4,pq,pq4,rabitq]
                                    [--refine 0,3] [--scale 1.0] [--queries 1000]

For each dataset and codec, nearkit's ivf_<codec> kind and Faiss's IndexIVFScalarQuantizer of the
same format (sq8: QT_8bit, sq4: QT_4bit, fp16: QT_fp16, bf16: QT_bf16; both per-dimension ranges
from the training sample's minimum and maximum) get the same nlist (round(4 sqrt(n))), the same
training sample (256 points per list) and 10 k-means iterations, then the whole base. For pq,
nearkit's ivf_pq (m = dim / 4 sub-quantisers of 8 bits: dim / 4 bytes, codes of the vectors)
meets two Faiss indexes of the same code size: IndexIVFPQ (m x 8 bits, codes of the residuals to
the list's centroid, Faiss's default) and the fast-scan IVF{nlist},PQ{2m}x4fs (2m x 4 bits). For
pq4, nearkit's ivf_pq with nbits=4 (2m sub-quantisers of 4 bits, its fast scan: the same code
size) meets that fast-scan index alone; on synth128 both take m = dim sub-quantisers (64 bytes)
and a re-rank factor of 40 wherever --refine asks for one (PQ4_CODE: at dim / 4 bytes, or with
refine 3, neither reaches recall 0.90 there), and on fashion m = dim (dim / 2 bytes) without a
re-rank (at dim / 4 bytes neither reaches 0.90 there); --pq4-m and --pq4-refine override. For rabitq, nearkit's ivf_rabitq (a bit per dimension of
the rotated residual, d padded to a multiple of 64, and two floats; the query quantised to 4 bits)
meets Faiss's IndexIVFRaBitQ (qb 4, its default) behind a random rotation (IndexPreTransform with a
RandomRotationMatrix: Faiss's RaBitQ does not rotate by itself, and RaBitQ's estimator assumes a
rotation). With
--refine R > 0 nearkit keeps the original vectors (its `refine` parameter) and Faiss wraps its index
in IndexRefineFlat with k_factor R: both re-rank R * k candidates exactly. Builds run at 2
threads, searches at one thread, every query in one batch call, nprobe swept from 1 up.

Datasets (k = 10) are those of bench/hnsw_vs_peers.py: fashion (Fashion-MNIST, 60,000 x 784, L2,
Debian's dataset-fashion-mnist, installed with apt-get when missing) and synth128 (1,000,000 x
128 clustered vectors, cosine; Faiss gets normalised vectors and inner product). recall@10 by the
golden manifest's tie rule (an id counts when its exact distance is within the tolerance of the
k-th true one).

Prints name=value lines. Per dataset D, codec C and refine R (tag D_C_rR), lib being nearkit or
a peer (faiss; for pq faiss and faiss_fs; for pq4 faiss_fs):
  <tag>_<lib>_bytes_per_vector   nearkit: memory_bytes / n; Faiss: the size of its serialised
                                 index / n (codes, ids, quantizer, refine vectors);
  <tag>_<lib>_curve              nprobe:recall:qps;...
  <tag>_<lib>_qps_at_r90/_r95/_r99, and <tag>_ivf<C>_vs_<peer>_qps_at_r90/... (nearkit's QPS over
  the peer's at that recall: 0 when only the peer reaches it, empty when the peer does not);
  <tag>_memory_vs_<peer>         nearkit's bytes per vector over the peer's (below 1: smaller).
The unprefixed ivf<C>_vs_<peer>_qps_at_rXX are the minimum over datasets and refine settings.

Brute force over codes (--flat, default sq8,pq4; "" for none): nearkit's flat_sq8 against Faiss's
IndexScalarQuantizer (QT_8bit), and flat_pq with nbits=4 (2m sub-quantisers of 4 bits) against
IndexPQFastScan of the same code size; both trained on the same sample, searched at one thread,
every query in one batch call. Per dataset D and codec C (tag D_flat_C):
  <tag>_<lib>_recall, <tag>_<lib>_qps, <tag>_<lib>_bytes_per_vector (lib nearkit or faiss);
  <tag>_vs_faiss_qps, <tag>_vs_faiss_memory   nearkit's over Faiss's.
Draws memory per vector against recall at a fixed nprobe into --plot (docs/codes_memory_recall.png).
Needs: pip install numpy faiss-cpu matplotlib, and nearkit's Python package.
"""
import argparse
import math
import os
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import hnsw_vs_peers as hv  # noqa: E402  (datasets, exact neighbours, the recall rule, sweeps)
import ivf_vs_peers as ivf  # noqa: E402  (timing, normalising)

SEED = 42
BUILD_THREADS = 2
TARGETS = (0.90, 0.95, 0.99)
FIXED_NPROBE = 16  # the plot's and the README's fixed setting
FAISS_QTYPE = {"sq8": "QT_8bit", "sq4": "QT_4bit", "fp16": "QT_fp16", "bf16": "QT_bf16"}
CODECS = (*FAISS_QTYPE, "pq", "pq4", "rabitq")
FLAT_CODECS = ("sq8", "pq4")


def pq_m(dim):
    """nearkit's default sub-quantisers (8 bits per 4 dimensions where 4 divides dim)."""
    return dim // 4 if dim % 4 == 0 else dim // 2 if dim % 2 == 0 else dim


# pq4's code and re-rank per dataset where not pq's code size (twice pq's sub-quantisers: dim / 4
# bytes) and --refine's factors. On synth128 (near-equal distances within each cluster) neither
# library reaches recall 0.90 at 32 bytes, even with refine 3 (ceilings 0.155 and 0.318), so the
# QPS ratios at 0.90 / 0.95 do not exist there. The largest fast-scan code, m = dim (64 bytes, a
# sub-quantiser per dimension), tops out at 0.30 / 0.33 (nearkit / Faiss) alone, 0.53 / 0.57 with
# refine 3, 0.81 / 0.83 with 10, 0.93 / 0.94 with 20, and 0.99 / 0.995 with 40: m = dim and a
# re-rank of 40 k candidates wherever --refine asks for one (README, issue 17).
# On fashion at pq's code size (m = dim / 2, 196 bytes) the codes alone top out at recall 0.86 in
# both libraries, so without a re-rank the ratios at 0.90 / 0.95 do not exist there; at m = dim
# (392 bytes, an eighth of float32's) both pass 0.95 (0.960 / 0.951): "m_codes_only", the code of
# the runs without a re-rank.
PQ4_CODE = {"synth128": {"m": lambda dim: dim, "refine": 40}, "fashion": {"m_codes_only": lambda dim: dim}}


def pq4_m(name, dim, override=None, refine=None):
    """The fast scan's sub-quantisers on a dataset: --pq4-m's, PQ4_CODE's (its m_codes_only for
    refine 0), or twice pq's."""
    if override and name in override:
        return override[name]
    code = PQ4_CODE.get(name, {})
    if refine == 0 and "m_codes_only" in code:
        return code["m_codes_only"](dim)
    return code["m"](dim) if "m" in code else 2 * pq_m(dim)


def pq4_refine(name, refine, override=None):
    """pq4's re-rank factor on a dataset for --refine's R: 0 stays 0, else --pq4-refine's or
    PQ4_CODE's factor, or R."""
    if not refine:
        return 0
    if override and name in override:
        return override[name]
    return PQ4_CODE[name].get("refine", refine) if name in PQ4_CODE else refine


class NearkitCodes:
    def __init__(self, nearkit, codec, metric, dim, nlist, refine, m4=None):
        self.label, self.key = f"nearkit ivf_{codec}", "nearkit"
        # pq4: ivf_pq's fast scan, m4 sub-quantisers of 4 bits (default twice pq's: the same code size)
        m4 = m4 or 2 * pq_m(dim)
        extra = {"nbits": 4, "m": m4} if codec == "pq4" else {}
        if codec == "pq4":
            self.label = f"nearkit ivf_pq m={m4} nbits=4"
        kind = "ivf_pq" if codec.startswith("pq") else f"ivf_{codec}"
        self.make = lambda: nearkit.Index(kind=kind, metric=metric, dim=dim, num_threads=BUILD_THREADS,
                                          seed=SEED, nlist=nlist, train_iterations=ivf.TRAIN_ITERATIONS,
                                          refine=refine, **extra)
        self.index = None

    def build(self, base, sample):
        self.index = self.make()
        self.index.train(sample)
        self.index.add(base)
        self.index.num_threads = 1

    def set_nprobe(self, p):
        self.index.set_param("nprobe", p)

    def batch(self, queries):
        return self.index.search(queries, hv.K)[0]

    def bytes_per_vector(self, n):
        return self.index.memory_bytes / n

    def free(self):
        self.index.close()
        self.index = None


class FaissCodes:
    """Faiss's IVF index of a codec: the scalar quantiser of the same format, or for pq the 8-bit
    IndexIVFPQ (fast_scan False) or the 4-bit fast-scan one of the same code size (True)."""

    def __init__(self, faiss, codec, metric, dim, nlist, refine, fast_scan=False, m4=None):
        self.faiss, self.fast_scan = faiss, fast_scan
        self.key = "faiss_fs" if fast_scan else "faiss"
        m = pq_m(dim)
        self.m4 = m4 or 2 * m
        self.label = (f"Faiss IVF,PQ{self.m4}x4fs" if fast_scan else f"Faiss IVF,PQ{m}") if codec.startswith("pq") else \
            "Faiss RR,IVF,RaBitQ" if codec == "rabitq" else f"Faiss IVF,SQ{codec[2:] if codec.startswith('sq') else codec}"
        self.codec, self.metric, self.dim, self.nlist, self.refine = codec, metric, dim, nlist, refine
        self.index = self.ivf = None

    def make_ivf(self, quantizer, metric):
        f, d = self.faiss, self.dim
        if self.codec == "rabitq":
            return f.IndexIVFRaBitQ(quantizer, d, self.nlist, metric)
        if not self.codec.startswith("pq"):
            qtype = getattr(f.ScalarQuantizer, FAISS_QTYPE[self.codec])
            return f.IndexIVFScalarQuantizer(quantizer, d, self.nlist, qtype, metric)
        m = pq_m(d)
        if self.fast_scan:
            return f.IndexIVFPQFastScan(quantizer, d, self.nlist, self.m4, 4, metric)
        return f.IndexIVFPQ(quantizer, d, self.nlist, m, 8, metric)

    def prepare(self, x):
        return ivf.normalised(x) if self.metric == "cosine" else x

    def build(self, base, sample):
        f, d = self.faiss, self.dim
        f.omp_set_num_threads(BUILD_THREADS)
        ip = self.metric != "l2"
        quantizer = f.IndexFlatIP(d) if ip else f.IndexFlatL2(d)
        self.ivf = self.make_ivf(quantizer, f.METRIC_INNER_PRODUCT if ip else f.METRIC_L2)
        self.ivf.cp.niter = ivf.TRAIN_ITERATIONS
        self.ivf.cp.max_points_per_centroid = ivf.POINTS_PER_LIST
        self.ivf.cp.spherical = ip
        self.ivf.own_fields = False
        self.quantizer = quantizer  # kept alive: the IVF index does not own it here
        base_index = self.ivf
        if self.codec == "rabitq":  # the rotation RaBitQ assumes, as Faiss's factory "RR,IVF,RaBitQ"
            self.rotation = f.RandomRotationMatrix(d, d)
            base_index = self.rotated = f.IndexPreTransform(self.rotation, self.ivf)
        self.index = f.IndexRefineFlat(base_index) if self.refine else base_index
        if self.refine:
            self.index.k_factor = float(self.refine)
        self.index.train(self.prepare(sample))
        self.index.add(self.prepare(base))
        f.omp_set_num_threads(1)

    def set_nprobe(self, p):
        self.ivf.nprobe = p

    def batch(self, queries):
        return self.index.search(self.prepare(queries), hv.K)[1]

    def bytes_per_vector(self, n):
        return self.faiss.serialize_index(self.index).nbytes / n

    def free(self):
        self.index = self.ivf = self.quantizer = self.rotated = self.rotation = None


class NearkitFlatCodes(NearkitCodes):
    """Brute force over codes: flat_sq8, or for pq4 flat_pq's fast scan (2m sub-quantisers of 4 bits)."""

    def __init__(self, nearkit, codec, metric, dim, m4=None):
        extra = {"nbits": 4, "m": m4 or 2 * pq_m(dim)} if codec == "pq4" else {}
        kind = "flat_pq" if codec == "pq4" else f"flat_{codec}"
        self.label, self.key, self.index = f"nearkit {kind}", "nearkit", None
        self.make = lambda: nearkit.Index(kind=kind, metric=metric, dim=dim, num_threads=BUILD_THREADS,
                                          seed=SEED, **extra)


class FaissFlatCodes(FaissCodes):
    """Faiss's brute force over the same codes: IndexScalarQuantizer, or IndexPQFastScan (2m x 4 bits)."""

    def __init__(self, faiss, codec, metric, dim, m4=None):
        super().__init__(faiss, codec, metric, dim, nlist=0, refine=0, m4=m4)
        self.key = "faiss"
        self.label = f"Faiss PQ{self.m4}x4fs" if codec == "pq4" else f"Faiss SQ{codec[2:]}"

    def build(self, base, sample):
        f, d = self.faiss, self.dim
        metric = f.METRIC_INNER_PRODUCT if self.metric != "l2" else f.METRIC_L2
        self.index = f.IndexPQFastScan(d, self.m4, 4, metric) if self.codec == "pq4" else \
            f.IndexScalarQuantizer(d, getattr(f.ScalarQuantizer, FAISS_QTYPE[self.codec]), metric)
        f.omp_set_num_threads(BUILD_THREADS)
        self.index.train(self.prepare(sample))
        self.index.add(self.prepare(base))
        f.omp_set_num_threads(1)


def import_faiss():
    import importlib.util
    import subprocess
    if importlib.util.find_spec("faiss") is None:
        subprocess.run([sys.executable, "-m", "pip", "install", "-q", "faiss-cpu"], check=True)
    import faiss
    from importlib.metadata import version
    hv.emit("faiss_cpu_version", version("faiss-cpu"))
    # the instruction sets each side runs: Faiss's dynamic dispatch (FAISS_SIMD_LEVEL=AVX2 forces
    # its AVX2 code, as NEARKIT_KERNELS=avx2 does nearkit's)
    config = getattr(faiss, "SIMDConfig", None)
    hv.emit("faiss_simd_level", config.get_level_name() if config and hasattr(config, "get_level_name") else "")
    hv.emit("nearkit_kernels", os.environ.get("NEARKIT_KERNELS", "auto"))
    return faiss


def sweep(lib, queries, score, nlist):
    curve = []
    for p in hv.nprobe_sweep(nlist):
        lib.set_nprobe(p)
        seconds, ids = ivf.timed(lambda: lib.batch(queries))
        curve.append((p, score(ids), len(queries) / seconds))
        if curve[-1][1] >= hv.EXACT_ENOUGH or (len(curve) > 1 and curve[-1][1] >= 0.99
                                               and curve[-1][1] - curve[-2][1] < hv.PLATEAU[1]):
            break
    return curve


def at_nprobe(curve, p):
    """(recall, qps) at nprobe p, or at the last setting swept when the sweep stopped before it."""
    for value, r, q in curve:
        if value >= p:
            return r, q
    return curve[-1][1], curve[-1][2]


def run_flat(name, data, nearkit, faiss, codecs):
    """Brute force over codes, nearkit's flat kinds against Faiss's: one measurement each (no knob)."""
    base, queries, score, metric, dim, sample, m4 = data
    for codec in codecs:
        tag, figures = f"{name}_flat_{codec}", {}
        for lib in (NearkitFlatCodes(nearkit, codec, metric, dim, m4), FaissFlatCodes(faiss, codec, metric, dim, m4)):
            lib.build(base, sample)
            seconds, ids = ivf.timed(lambda: lib.batch(queries))
            figures[lib.key] = {"recall": score(ids), "qps": len(queries) / seconds,
                                "bytes_per_vector": lib.bytes_per_vector(len(base))}
            lib.free()
            for what, value in figures[lib.key].items():
                hv.emit(f"{tag}_{lib.key}_{what}", value)
        hv.emit(f"{tag}_vs_faiss_qps", figures["nearkit"]["qps"] / figures["faiss"]["qps"])
        hv.emit(f"{tag}_vs_faiss_memory", figures["nearkit"]["bytes_per_vector"] / figures["faiss"]["bytes_per_vector"])


def run(name, scale, nearkit, faiss, args, rng, results):
    base, queries, _, metric, dim = hv.load_dataset(name, scale, args.queries, 0, rng)
    truth = hv.exact_neighbours(faiss, name, base, queries, metric, args.work_dir)
    score = hv.Scorer(base, queries, truth, metric)
    n, nlist = len(base), max(1, round(4 * math.sqrt(len(base))))
    sample = base[np.sort(rng.choice(n, size=min(n, nlist * ivf.POINTS_PER_LIST), replace=False))]
    m4 = pq4_m(name, dim, args.pq4_m)
    for key, value in (("n", n), ("dim", dim), ("metric", metric), ("queries", len(queries)), ("nlist", nlist),
                       ("pq4_m", m4)):
        hv.emit(f"{name}_{key}", value)
    for codec in args.codecs:
        for refine in dict.fromkeys(pq4_refine(name, r, args.pq4_refine) if codec == "pq4" else r
                                    for r in args.refine):
            tag = f"{name}_{codec}_r{refine}"
            figures = {}
            m = pq4_m(name, dim, args.pq4_m, refine) if codec == "pq4" else None
            if m:
                hv.emit(f"{tag}_pq4_m", m)
            peers = [] if codec == "pq4" else [FaissCodes(faiss, codec, metric, dim, nlist, refine)]
            if codec.startswith("pq"):
                peers.append(FaissCodes(faiss, codec, metric, dim, nlist, refine, fast_scan=True, m4=m))
            for lib in (NearkitCodes(nearkit, codec, metric, dim, nlist, refine, m), *peers):
                t0 = time.perf_counter()
                lib.build(base, sample)
                hv.emit(f"{tag}_{lib.key}_build_seconds", time.perf_counter() - t0)
                bpv = lib.bytes_per_vector(n)
                curve = sweep(lib, queries, score, nlist)
                lib.free()
                hv.emit(f"{tag}_{lib.key}_bytes_per_vector", bpv)
                hv.emit(f"{tag}_{lib.key}_curve", ";".join(f"{p}:{r:.4f}:{q:.1f}" for p, r, q in curve))
                figures[lib.key] = {"label": lib.label, "bpv": bpv, "curve": curve,
                                    "qps": {t: hv.qps_at(curve, t) for t in TARGETS}}
                for t in TARGETS:
                    hv.emit(f"{tag}_{lib.key}_qps_at_r{round(t * 100)}", figures[lib.key]["qps"][t])
            ours = figures["nearkit"]
            for peer in peers:
                theirs = figures[peer.key]
                for t in TARGETS:
                    hv.emit(f"{tag}_ivf{codec}_vs_{peer.key}_qps_at_r{round(t * 100)}",
                            hv.ratio(ours["qps"][t], theirs["qps"][t]))
                hv.emit(f"{tag}_memory_vs_{peer.key}", ours["bpv"] / theirs["bpv"])
                results.append({"dataset": name, "codec": codec, "refine": refine, "peer": peer.key,
                                "nearkit": ours, "faiss": theirs})
    run_flat(name, (base, queries, score, metric, dim, sample, m4), nearkit, faiss, args.flat)


def summary(results):
    for codec, peer in sorted({(r["codec"], r["peer"]) for r in results}):
        for t in TARGETS:
            ratios = [hv.ratio(r["nearkit"]["qps"][t], r["faiss"]["qps"][t]) for r in results
                      if r["codec"] == codec and r["peer"] == peer]
            ratios = [x for x in ratios if x is not None]
            hv.emit(f"ivf{codec}_vs_{peer}_qps_at_r{round(t * 100)}", min(ratios) if ratios else None)


def table(results):
    """The README's table: one row per dataset, codec and refine, at FIXED_NPROBE."""
    print(f"\n| dataset | codec | refine | peer | nearkit B/vec | peer B/vec | nearkit recall / QPS at nprobe"
          f" {FIXED_NPROBE} | peer recall / QPS | QPS ratio at r95 |")
    print("|---|---|---|---|---|---|---|---|---|")
    for r in results:
        (ra, qa), (rb, qb) = at_nprobe(r["nearkit"]["curve"], FIXED_NPROBE), at_nprobe(r["faiss"]["curve"], FIXED_NPROBE)
        ratio = hv.ratio(r["nearkit"]["qps"][0.95], r["faiss"]["qps"][0.95])
        print(f"| {r['dataset']} | {r['codec']} | {r['refine']} | {r['faiss']['label']} | {r['nearkit']['bpv']:.0f}"
              f" | {r['faiss']['bpv']:.0f} | {ra:.3f} / {qa:,.0f} | {rb:.3f} / {qb:,.0f}"
              f" | {'-' if ratio is None else f'{ratio:.2f}'} |")


def plot(path, results):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    datasets = sorted({r["dataset"] for r in results})
    fig, axes = plt.subplots(1, len(datasets), figsize=(6 * len(datasets), 4.5), squeeze=False)
    for ax, name in zip(axes[0], datasets):
        for r in (r for r in results if r["dataset"] == name):
            for key, marker in (("nearkit", "o"), ("faiss", "x")):
                recall, _ = at_nprobe(r[key]["curve"], FIXED_NPROBE)
                ax.scatter(r[key]["bpv"], recall, marker=marker, color="C0" if key == "nearkit" else "C3")
                what = r["codec"] if key == "nearkit" else r[key]["label"].replace("Faiss ", "")
                ax.annotate(f"{what}{'+refine' if r['refine'] else ''}", (r[key]["bpv"], recall),
                            fontsize=7, xytext=(3, 3), textcoords="offset points")
        ax.set_xscale("log")
        ax.set_xlabel("bytes per vector")
        ax.set_ylabel(f"recall@10 at nprobe {FIXED_NPROBE}")
        ax.set_title(f"{name}: o nearkit, x Faiss")
        ax.grid(True, alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--datasets", default="fashion,synth128")
    ap.add_argument("--codecs", default="sq8,fp16,bf16,sq4,pq,pq4,rabitq", help='IVF codecs ("" for none)')
    ap.add_argument("--flat", default=",".join(FLAT_CODECS), help='brute force over codes: sq8, pq4 ("" for none)')
    ap.add_argument("--refine", default="0,3", help="re-rank factors: 0 (codes only) and R * k candidates")
    ap.add_argument("--scale", default="1.0", help="fraction of every base, or name=fraction,...")
    ap.add_argument("--pq4-m", default="", help="pq4's sub-quantisers per dataset, name=m,... (default: PQ4_CODE)")
    ap.add_argument("--pq4-refine", default="", help="pq4's re-rank factor per dataset where --refine asks for one,"
                    " name=R,... (default: PQ4_CODE)")
    ap.add_argument("--queries", type=int, default=1000)
    ap.add_argument("--clock", choices=("cpu", "wall"), default="cpu")
    ap.add_argument("--work-dir", default="/tmp/nearkit-bench-codes")
    ap.add_argument("--plot", default=os.path.join(here, "..", "docs", "codes_memory_recall.png"))
    args = ap.parse_args()
    args.codecs = [c for c in args.codecs.split(",") if c]
    args.flat = [c for c in args.flat.split(",") if c]
    args.refine = [int(r) for r in args.refine.split(",")]
    args.pq4_m = {k: int(v) for k, v in (item.split("=", 1) for item in args.pq4_m.split(",") if item)}
    args.pq4_refine = {k: int(v) for k, v in (item.split("=", 1) for item in args.pq4_refine.split(",") if item)}
    unknown = [c for c in args.codecs if c not in CODECS] + [c for c in args.flat if c not in FLAT_CODECS]
    if unknown:
        sys.exit(f"unknown codecs {unknown} (ivf: {', '.join(CODECS)}; flat: {', '.join(FLAT_CODECS)})")
    scales = hv.dataset_scales(args.scale, args.datasets.split(","))
    faiss = import_faiss()
    nearkit = hv.import_nearkit()
    ivf.CLOCK = time.process_time if args.clock == "cpu" else time.perf_counter
    os.makedirs(args.work_dir, exist_ok=True)
    for key, value in (("k", hv.K), ("build_threads", BUILD_THREADS), ("search_threads", 1), ("clock", args.clock)):
        hv.emit(key, value)
    rng = np.random.default_rng(2026)
    results = []
    for name in args.datasets.split(","):
        run(name, scales.get(name, 1.0), nearkit, faiss, args, rng, results)
    summary(results)
    if results:
        table(results)
    if args.plot and results:
        plot(args.plot, results)
        hv.emit("plot", os.path.abspath(args.plot))


if __name__ == "__main__":
    main()
