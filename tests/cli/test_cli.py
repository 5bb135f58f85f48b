#!/usr/bin/env python3
"""Tests of the nearkit command-line program (standard library only).

    python3 tests/cli/test_cli.py PATH/TO/nearkit [unittest names, e.g. RoundTrip]

Covers: build / search / info round trips on small generated files of every input format (checked
against a brute-force computation here), output files (.ivecs, .npy, .fvecs, .txt), bench,
progress-bar batching, bad inputs and arguments (each must exit non-zero with exactly one
"nearkit: error:" line on stderr, never a crash), `nearkit demo`, and the golden cases of
tests/golden/manifest.json for every exact kind the library reports, and the living-collection
commands (search --filter-ids, remove) on every kind whose remove is supported.
"""

import json
import math
import os
import random
import shutil
import stat
import struct
import subprocess
import sys
import tempfile
import unittest

NEARKIT = None  # set from argv
HERE = os.path.dirname(os.path.abspath(__file__))
GOLDEN = os.path.join(os.path.dirname(HERE), "golden")

# ------------------------------------------------------------------------------------------------
# Files
# ------------------------------------------------------------------------------------------------


def write_vecs(path, rows, code):
    """TEXMEX .fvecs ('f'), .ivecs ('i') or .bvecs ('B')."""
    with open(path, "wb") as f:
        for r in rows:
            f.write(struct.pack("<i", len(r)))
            f.write(struct.pack("<%d%s" % (len(r), code), *r))


def read_vecs(path, code):
    size = 1 if code == "B" else 4
    rows = []
    with open(path, "rb") as f:
        data = f.read()
    pos = 0
    while pos < len(data):
        (d,) = struct.unpack_from("<i", data, pos)
        pos += 4
        rows.append(list(struct.unpack_from("<%d%s" % (d, code), data, pos)))
        pos += d * size
    return rows


NPY_CODES = {"<f4": "f", "<f8": "d", "|u1": "B", "<i4": "i", "<i8": "q"}


def write_npy(path, rows, descr, version=1, fortran=False, shape=None):
    if shape is None:
        shape = (len(rows), len(rows[0]) if rows else 0)
    header = "{'descr': '%s', 'fortran_order': %s, 'shape': (%s), }" % (
        descr, "True" if fortran else "False", ", ".join(str(s) for s in shape) +
        ("," if len(shape) == 1 else ""))
    prefix = 10 if version == 1 else 12
    total = prefix + len(header) + 1
    header += " " * ((64 - total % 64) % 64) + "\n"
    with open(path, "wb") as f:
        f.write(b"\x93NUMPY" + bytes([version, 0]))
        f.write(struct.pack("<H" if version == 1 else "<I", len(header)))
        f.write(header.encode("latin1"))
        flat = [v for r in rows for v in r]
        f.write(struct.pack("<%d%s" % (len(flat), NPY_CODES[descr]), *flat))


def read_npy(path):
    with open(path, "rb") as f:
        data = f.read()
    assert data[:6] == b"\x93NUMPY", "bad magic"
    (hlen,) = struct.unpack_from("<H", data, 8)
    header = data[10:10 + hlen].decode("latin1")
    assert (10 + hlen) % 64 == 0, "header not 64-byte aligned"
    d = eval(header, {"__builtins__": {}}, {"True": True, "False": False})  # a Python literal
    rows, cols = d["shape"]
    code = NPY_CODES[d["descr"]]
    flat = struct.unpack_from("<%d%s" % (rows * cols, code), data, 10 + hlen)
    assert 10 + hlen + rows * cols * struct.calcsize(code) == len(data), "payload size"
    return [list(flat[i * cols:(i + 1) * cols]) for i in range(rows)]


def write_csv(path, rows, header=None, fmt=repr):
    with open(path, "w") as f:
        if header:
            f.write(header + "\n")
        for r in rows:
            f.write(",".join(fmt(v) for v in r) + "\n")


def f32(x):
    return struct.unpack("<f", struct.pack("<f", x))[0]


# ------------------------------------------------------------------------------------------------
# Reference computations
# ------------------------------------------------------------------------------------------------


def distance(metric, x, q):
    if metric == "l2":
        return math.sqrt(sum((a - b) ** 2 for a, b in zip(x, q)))
    if metric == "l1":
        return sum(abs(a - b) for a, b in zip(x, q))
    if metric == "linf":
        return max(abs(a - b) for a, b in zip(x, q))
    if metric == "ip":
        return -sum(a * b for a, b in zip(x, q))
    if metric == "cosine":
        nx = math.sqrt(sum(a * a for a in x))
        nq = math.sqrt(sum(b * b for b in q))
        if nx == 0 or nq == 0:
            return 1.0
        return 1.0 - sum(a * b for a, b in zip(x, q)) / (nx * nq)
    if metric == "hamming":  # rows of bytes
        return sum(bin(a ^ b).count("1") for a, b in zip(x, q))
    raise ValueError(metric)


def brute_knn(metric, base, queries, k):
    ids, dists = [], []
    for q in queries:
        order = sorted(range(len(base)), key=lambda i: (distance(metric, base[i], q), i))[:k]
        ids.append(order + [-1] * (k - len(order)))
        dists.append([distance(metric, base[i], q) for i in order] + [None] * (k - len(order)))
    return ids, dists


def brute_range(metric, base, queries, radius):
    ids, dists = [], []
    for q in queries:
        d = [(distance(metric, x, q), i) for i, x in enumerate(base)]
        hits = sorted(p for p in d if p[0] <= radius)
        ids.append([i for _, i in hits])
        dists.append([v for v, _ in hits])
    return ids, dists


RTOL = ATOL = 1e-4


def tol(x):
    return ATOL + RTOL * abs(x)


def compare_knn(exp_ids, exp_d, act_ids, act_d):
    """The golden comparison rule for one k-NN row; returns an error string or None."""
    if len(act_ids) != len(exp_ids):
        return "row length %d, expected %d" % (len(act_ids), len(exp_ids))
    for j, (e, a) in enumerate(zip(exp_ids, act_ids)):
        if (e == -1) != (a == -1):
            return "position %d: id %d, expected %d" % (j, a, e)
        if e != -1 and abs(act_d[j] - exp_d[j]) > tol(exp_d[j]):
            return "position %d: distance %r, expected %r" % (j, act_d[j], exp_d[j])
    present = [d for d in exp_d if d is not None]
    if not present:
        return None
    dk = max(present)
    for e, d in zip(exp_ids, exp_d):
        if d is not None and d < dk - tol(dk) and e not in act_ids:
            return "missing id %d (distance %r)" % (e, d)
    for a, d in zip(act_ids, act_d):
        if a != -1 and a not in exp_ids and d < dk - tol(dk):
            return "unexpected id %d at distance %r" % (a, d)
    real = [a for a in act_ids if a != -1]
    if len(set(real)) != len(real):
        return "duplicate ids"
    return None


def compare_range(radius, exp_ids, exp_d, act_ids, act_d):
    t = tol(radius)
    exp = dict(zip(exp_ids, exp_d))
    act = dict(zip(act_ids, act_d))
    for e, d in exp.items():
        if d < radius - t and e not in act:
            return "missing id %d (distance %r)" % (e, d)
    for a, d in act.items():
        if a not in exp and not (radius - t <= d <= radius + t):
            return "unexpected id %d at distance %r" % (a, d)
        if a in exp and abs(d - exp[a]) > tol(exp[a]):
            return "id %d: distance %r, expected %r" % (a, d, exp[a])
    if any(x > y for x, y in zip(act_d, act_d[1:])):
        return "distances not sorted"
    return None


# ------------------------------------------------------------------------------------------------
# Running the program
# ------------------------------------------------------------------------------------------------


def run(*args, env=None, check=True):
    e = dict(os.environ)
    e.pop("NEARKIT_PROGRESS", None)
    if env:
        e.update(env)
    p = subprocess.run([NEARKIT] + [str(a) for a in args], stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, env=e, timeout=600)
    out, err = p.stdout.decode("utf-8", "replace"), p.stderr.decode("utf-8", "replace")
    if check and p.returncode != 0:
        raise AssertionError("nearkit %s failed (%d): %s" % (" ".join(map(str, args)),
                                                             p.returncode, err))
    return p.returncode, out, err


def parse_results(text):
    ids, dists = [], []
    for line in text.splitlines():
        row_i, row_d = [], []
        for pair in line.split():
            i, d = pair.split(":")
            row_i.append(int(i))
            row_d.append(float(d))
        ids.append(row_i)
        dists.append(row_d)
    return ids, dists


def kind_table():
    """{name: (exact, [metrics])} of every kind, from `nearkit kinds`."""
    _, out, _ = run("kinds")
    table = {}
    for line in out.splitlines()[1:]:
        name, kind_type, _needs, metrics = line.split()[:4]
        table[name] = (kind_type == "exact", metrics.split(","))
    return table


def kinds():
    return sorted(kind_table())


class Base(unittest.TestCase):
    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix="nearkit-cli-test-")

    def tearDown(self):
        shutil.rmtree(self.dir, ignore_errors=True)

    def path(self, name):
        return os.path.join(self.dir, name)

    def fails(self, *args, contains=None, code=None):
        """Runs nearkit expecting one 'nearkit: error:' line on stderr and a failing exit."""
        rc, out, err = run(*args, check=False)
        self.assertGreater(rc, 0, "expected failure (no signal) for %r, got %d" % (args, rc))
        if code is not None:
            self.assertEqual(rc, code)
        lines = err.splitlines()
        self.assertEqual(len(lines), 1, "stderr of %r: %r" % (args, err))
        self.assertTrue(lines[0].startswith("nearkit: error: "), lines[0])
        if contains:
            self.assertIn(contains, lines[0])
        return lines[0]

    def check_knn(self, metric, base, queries, k, ids, dists):
        eids, edists = brute_knn(metric, base, queries, k)
        self.assertEqual(len(ids), len(queries))
        for q in range(len(queries)):
            err = compare_knn(eids[q], edists[q], ids[q],
                              [None if i == -1 else d for i, d in zip(ids[q], dists[q])])
            self.assertIsNone(err, "query %d: %s" % (q, err))

    def check_range(self, metric, base, queries, radius, ids, dists):
        eids, edists = brute_range(metric, base, queries, radius)
        self.assertEqual(len(ids), len(queries))
        for q in range(len(queries)):
            err = compare_range(radius, eids[q], edists[q], ids[q], dists[q])
            self.assertIsNone(err, "query %d: %s" % (q, err))


def random_rows(rng, n, d, lo=-1.0, hi=1.0):
    return [[f32(rng.uniform(lo, hi)) for _ in range(d)] for _ in range(n)]


def random_bytes(rng, n, nbytes):
    return [[rng.randrange(256) for _ in range(nbytes)] for _ in range(n)]


# ------------------------------------------------------------------------------------------------
# Round trips
# ------------------------------------------------------------------------------------------------


class RoundTrip(Base):
    """build -> info -> search, for every input format, checked against brute force."""

    def roundtrip(self, metric, base_path, query_path, base, queries, k=5, radius=None):
        index = self.path("index.nkx")
        _, out, _ = run("build", "--kind", "flat", "--metric", metric, base_path, index)
        self.assertIn("saved to", out)
        _, info, _ = run("info", index)
        self.assertIn("kind        flat", info)
        self.assertIn("metric      %s" % metric, info)
        self.assertIn("count       %d" % len(base), info)
        self.assertIn("num_threads", info)
        self.assertIn("description:", info)
        self.assertIn("opened as   read-only view (mapped)", info)  # the default
        self.assertIn("opened as   loaded", run("info", "--load", index)[1])
        self.assertIn("opened as   read-only view", run("info", "--no-verify", index)[1])
        _, out, _ = run("search", "--k", k, index, query_path)
        ids, dists = parse_results(out)
        self.check_knn(metric, base, queries, k, ids, dists)
        for how in ("--load", "--no-verify"):  # the same answers, however the file is opened
            self.assertEqual(run("search", "--k", k, how, index, query_path)[1], out)
        if radius is not None:
            _, out, _ = run("search", "--radius", repr(radius), index, query_path)
            self.assertEqual(out.count("\n"), len(queries))  # a query without match: empty line
            rids, rdists = parse_results(out)
            self.check_range(metric, base, queries, radius, rids, rdists)
        return index

    def test_fvecs_every_float_metric(self):
        rng = random.Random(1)
        base, queries = random_rows(rng, 120, 6), random_rows(rng, 15, 6)
        write_vecs(self.path("b.fvecs"), base, "f")
        write_vecs(self.path("q.fvecs"), queries, "f")
        for metric, radius in (("l2", 0.9), ("l1", 2.0), ("linf", 0.5), ("cosine", 0.3),
                               ("ip", -0.5)):
            with self.subTest(metric=metric):
                self.roundtrip(metric, self.path("b.fvecs"), self.path("q.fvecs"), base, queries,
                               radius=radius)

    def test_npy_float32_float64_uint8(self):
        rng = random.Random(2)
        base, queries = random_rows(rng, 80, 5), random_rows(rng, 10, 5)
        write_npy(self.path("b32.npy"), base, "<f4")
        write_npy(self.path("q64.npy"), queries, "<f8", version=2)
        self.roundtrip("l2", self.path("b32.npy"), self.path("q64.npy"), base,
                       [[f32(v) for v in r] for r in queries], radius=0.8)
        bb, qb = random_bytes(rng, 60, 4), random_bytes(rng, 8, 4)
        write_npy(self.path("bu8.npy"), bb, "|u1")
        write_npy(self.path("qu8.npy"), qb, "|u1")
        self.roundtrip("hamming", self.path("bu8.npy"), self.path("qu8.npy"), bb, qb, radius=10)
        # uint8 for a float metric: values converted to float
        self.roundtrip("l1", self.path("bu8.npy"), self.path("qu8.npy"), bb, qb, k=3)

    def test_csv_with_and_without_header(self):
        rng = random.Random(3)
        base, queries = random_rows(rng, 50, 3), random_rows(rng, 7, 3)
        write_csv(self.path("b.csv"), base, header="x,y,z")
        write_csv(self.path("q.csv"), queries)
        self.roundtrip("l2", self.path("b.csv"), self.path("q.csv"), base, queries, radius=0.7)
        # CRLF line ends, spaces and a blank line are accepted
        with open(self.path("crlf.csv"), "w", newline="") as f:
            f.write("a, b, c\r\n")
            for r in base:
                f.write(" , ".join(repr(v) for v in r).replace(" , ", ", ") + "\r\n")
            f.write("\r\n")
        self.roundtrip("l2", self.path("crlf.csv"), self.path("q.csv"), base, queries)

    def test_bvecs_hamming_and_float(self):
        rng = random.Random(4)
        base, queries = random_bytes(rng, 100, 8), random_bytes(rng, 12, 8)
        queries[0] = list(base[17])  # an exact duplicate
        write_vecs(self.path("b.bvecs"), base, "B")
        write_vecs(self.path("q.bvecs"), queries, "B")
        index = self.roundtrip("hamming", self.path("b.bvecs"), self.path("q.bvecs"), base,
                               queries, k=4, radius=24)
        _, info, _ = run("info", index)
        self.assertIn("dimension   64 bits", info)
        _, out, _ = run("search", "--k", "1", index, self.path("q.bvecs"))
        self.assertEqual(out.splitlines()[0], "17:0")
        # a .csv of bytes works for hamming too
        write_csv(self.path("q.csv"), queries, fmt=str)
        _, out2, _ = run("search", "--k", "4", index, self.path("q.csv"))
        _, out3, _ = run("search", "--k", "4", index, self.path("q.bvecs"))
        self.assertEqual(out2, out3)
        # bvecs for an l2 index: bytes become floats
        self.roundtrip("l2", self.path("b.bvecs"), self.path("q.bvecs"), base, queries, k=3)

    def test_output_files(self):
        rng = random.Random(5)
        base, queries = random_rows(rng, 40, 4), random_rows(rng, 9, 4)
        write_vecs(self.path("b.fvecs"), base, "f")
        write_vecs(self.path("q.fvecs"), queries, "f")
        index = self.path("i.nkx")
        run("build", "--metric", "l2", self.path("b.fvecs"), index)
        _, text, _ = run("search", "--k", "50", index, self.path("q.fvecs"))
        ids, dists = parse_results(text)
        self.assertEqual([len(r) for r in ids], [40] * 9)  # k above the count: the count's width
        run("search", "--k", "50", "--out", self.path("o.ivecs"), "--distances",
            self.path("o.fvecs"), index, self.path("q.fvecs"))
        self.assertEqual(read_vecs(self.path("o.ivecs"), "i"), ids)
        self.assertEqual(read_vecs(self.path("o.fvecs"), "f"), [[f32(d) for d in r] for r in dists])
        _, out, _ = run("search", "--k", "50", "--out", self.path("o.npy"), "--distances",
                        self.path("d.npy"), index, self.path("q.fvecs"))
        self.assertEqual(out, "")
        self.assertEqual(read_npy(self.path("o.npy")), ids)
        self.assertEqual(read_npy(self.path("d.npy")), [[f32(d) for d in r] for r in dists])
        _, text1, _ = run("search", "--k", "50", "--threads", "1", "--params", "num_threads=1",
                          index, self.path("q.fvecs"))
        self.assertEqual(text1, text)
        run("search", "--k", "50", "--out", self.path("o.txt"), index, self.path("q.fvecs"))
        with open(self.path("o.txt")) as f:
            self.assertEqual(f.read(), text)
        # range results are ragged: .ivecs rows of varying length
        _, rtext, _ = run("search", "--radius", "0.8", index, self.path("q.fvecs"))
        run("search", "--radius", "0.8", "--out", self.path("r.ivecs"), index,
            self.path("q.fvecs"))
        self.assertEqual(read_vecs(self.path("r.ivecs"), "i"), parse_results(rtext)[0])

    def test_k_above_count_prints_count_wide_rows(self):
        """k beyond the index's count prints (and writes) min(k, count) neighbours per query: the
        padding would say nothing, and --k 16777216 used to print 84 million of it."""
        rng = random.Random(8)
        base, queries = random_rows(rng, 50, 4), random_rows(rng, 3, 4)
        write_vecs(self.path("b.fvecs"), base, "f")
        write_vecs(self.path("q.fvecs"), queries, "f")
        index = self.path("i.nkx")
        run("build", "--metric", "l2", self.path("b.fvecs"), index)
        _, full, _ = run("search", "--k", "50", index, self.path("q.fvecs"))
        for k in ("51", "16777216", "18446744073709551615"):
            with self.subTest(k=k):
                _, text, _ = run("search", "--k", k, index, self.path("q.fvecs"))
                self.assertEqual(text, full)
                ids, _ = parse_results(text)
                self.assertEqual([len(r) for r in ids], [50] * 3)
                self.assertNotIn("-1:", text)
                run("search", "--k", k, "--out", self.path("o.npy"), "--distances",
                    self.path("d.npy"), index, self.path("q.fvecs"))
                self.assertEqual(read_npy(self.path("o.npy")), ids)
                run("search", "--k", k, "--out", self.path("o.ivecs"), index,
                    self.path("q.fvecs"))
                self.assertEqual(read_vecs(self.path("o.ivecs"), "i"), ids)
        self.check_knn("l2", base, queries, 50, *parse_results(full))
        _, small, _ = run("search", "--k", "7", index, self.path("q.fvecs"))
        self.assertEqual([len(r) for r in parse_results(small)[0]], [7] * 3)
        _, usage, _ = run("search", "--help")
        self.assertIn("At most as many neighbours as the index holds", usage)

    def test_distances_round_trip_exactly(self):
        """Printed distances read back as the same float32 values."""
        rng = random.Random(6)
        base, queries = random_rows(rng, 30, 7, -100, 100), random_rows(rng, 5, 7, -100, 100)
        write_vecs(self.path("b.fvecs"), base, "f")
        write_vecs(self.path("q.fvecs"), queries, "f")
        index = self.path("i.nkx")
        run("build", "--metric", "l2", self.path("b.fvecs"), index)
        _, text, _ = run("search", "--k", "30", index, self.path("q.fvecs"))
        run("search", "--k", "30", "--distances", self.path("d.fvecs"), "--out",
            self.path("o.ivecs"), index, self.path("q.fvecs"))
        printed = [[f32(d) for d in r] for r in parse_results(text)[1]]
        self.assertEqual(printed, read_vecs(self.path("d.fvecs"), "f"))

    def test_progress_batches_agree(self):
        """With progress forced on, vectors are added and searched in chunks: same results."""
        rng = random.Random(7)
        base, queries = random_rows(rng, 700, 3), random_rows(rng, 600, 3)
        write_vecs(self.path("b.fvecs"), base, "f")
        write_vecs(self.path("q.fvecs"), queries, "f")
        run("build", "--metric", "l2", self.path("b.fvecs"), self.path("a.nkx"))
        _, err_build, _ = run("build", "--metric", "l2", self.path("b.fvecs"),
                              self.path("p.nkx"), env={"NEARKIT_PROGRESS": "1"})
        _, plain, err = run("search", "--k", "3", self.path("a.nkx"), self.path("q.fvecs"))
        self.assertEqual(err, "")
        _, prog, err = run("search", "--k", "3", self.path("p.nkx"), self.path("q.fvecs"),
                           env={"NEARKIT_PROGRESS": "1"})
        self.assertIn("searching", err)
        self.assertEqual(plain, prog)
        _, rplain, _ = run("search", "--radius", "0.1", self.path("a.nkx"), self.path("q.fvecs"))
        _, rprog, _ = run("search", "--radius", "0.1", self.path("p.nkx"), self.path("q.fvecs"),
                          env={"NEARKIT_PROGRESS": "1"})
        self.assertEqual(rplain, rprog)
        ids, dists = parse_results(plain)
        self.check_knn("l2", base, queries[:50], 3, ids[:50], dists[:50])

    def test_help_and_version(self):
        rc, out, _ = run("--version")
        self.assertRegex(out, r"^nearkit \d+\.\d+\.\d+ \(ABI \d+")
        rc, out, _ = run("--help")
        self.assertIn("flat", out)
        for cmd in ("demo", "build", "search", "info", "bench", "kinds"):
            _, out, _ = run(cmd, "--help")
            self.assertIn("usage: nearkit " + cmd, out)
            _, out2, _ = run("help", cmd)
            self.assertEqual(out, out2)


class Bench(Base):
    def test_bench_flat_against_itself_and_ground_truth(self):
        rng = random.Random(8)
        base, queries = random_rows(rng, 200, 8), random_rows(rng, 20, 8)
        write_vecs(self.path("b.fvecs"), base, "f")
        write_vecs(self.path("q.fvecs"), queries, "f")
        gt, _ = brute_knn("l2", base, queries, 10)
        write_vecs(self.path("gt.ivecs"), gt, "i")
        write_npy(self.path("gt.npy"), gt, "<i8")
        _, out, _ = run("bench", "--metric", "l2", "--k", "10", self.path("b.fvecs"),
                        self.path("q.fvecs"), self.path("gt.ivecs"))
        self.assertIn("recall@10", out)
        self.assertIn("QPS", out)
        self.assertIn("1.0000", out)
        for truth in (self.path("gt.ivecs"), self.path("gt.npy"), None):
            args = ["bench", "--machine", "--metric", "l2", "--k", "5", self.path("b.fvecs"),
                    self.path("q.fvecs")] + ([truth] if truth else [])
            _, out, _ = run(*args)
            values = dict(line.split("=", 1) for line in out.splitlines())
            self.assertEqual(values["kind"], "flat")
            self.assertEqual(values["count"], "200")
            self.assertEqual(values["queries"], "20")
            self.assertAlmostEqual(float(values["recall"]), 1.0)
            self.assertGreater(float(values["qps"]), 0)
            self.assertGreater(int(values["memory_bytes"]), 200 * 8 * 4 - 1)
            self.assertEqual(values["recall_reference"], "groundtruth" if truth else "flat")

    def test_bench_every_kind(self):
        """Every kind with l2 benchmarks on a small set with recall in [0, 1]."""
        rng = random.Random(9)
        base, queries = random_rows(rng, 500, 8), random_rows(rng, 20, 8)
        write_vecs(self.path("b.fvecs"), base, "f")
        write_vecs(self.path("q.fvecs"), queries, "f")
        bb, qb = random_bytes(rng, 500, 8), random_bytes(rng, 20, 8)
        write_vecs(self.path("b.bvecs"), bb, "B")
        write_vecs(self.path("q.bvecs"), qb, "B")
        for kind in kinds():
            for metric, b, q in (("l2", "b.fvecs", "q.fvecs"), ("hamming", "b.bvecs", "q.bvecs")):
                rc, out, err = run("bench", "--machine", "--kind", kind, "--metric", metric,
                                   self.path(b), self.path(q), check=False)
                if rc != 0:
                    self.assertIn("does not support metric", err)
                    continue
                values = dict(line.split("=", 1) for line in out.splitlines())
                self.assertTrue(0.0 <= float(values["recall"]) <= 1.0)


# ------------------------------------------------------------------------------------------------
# Bad input
# ------------------------------------------------------------------------------------------------


class Errors(Base):
    """Each bad input exits non-zero with exactly one 'nearkit: error:' line, and no crash."""

    def setUp(self):
        super().setUp()
        rng = random.Random(10)
        self.base, self.queries = random_rows(rng, 30, 4), random_rows(rng, 3, 4)
        write_vecs(self.path("b.fvecs"), self.base, "f")
        write_vecs(self.path("q.fvecs"), self.queries, "f")
        self.index = self.path("i.nkx")
        run("build", "--metric", "l2", self.path("b.fvecs"), self.index)

    def test_missing_file(self):
        self.fails("build", "--metric", "l2", self.path("nope.fvecs"), self.path("o.nkx"),
                   contains="cannot open")
        self.fails("search", self.path("nope.nkx"), self.path("q.fvecs"), contains="cannot open the index")
        self.fails("info", self.path("nope.nkx"))
        self.fails("search", self.index, self.path("nope.fvecs"), contains="cannot open")
        self.fails("bench", "--metric", "l2", self.path("b.fvecs"), self.path("q.fvecs"),
                   self.path("nope.ivecs"))
        self.fails("build", "--metric", "l2", self.dir + "/", self.path("o.nkx"))
        self.assertFalse(os.path.exists(self.path("o.nkx")))

    def test_output_is_an_input(self):
        """build refuses to save over its own input, by any name (issue 13, defect 14)."""
        with open(self.path("b.fvecs"), "rb") as f:
            original = f.read()
        os.link(self.path("b.fvecs"), self.path("hard.nkx"))
        os.symlink(self.path("b.fvecs"), self.path("soft.nkx"))
        for out in ("b.fvecs", "hard.nkx", "soft.nkx", "./../%s/b.fvecs" % os.path.basename(self.dir)):
            with self.subTest(out=out):
                self.fails("build", "--metric", "l2", self.path("b.fvecs"), self.path(out),
                           contains="is the input file", code=1)
                with open(self.path("b.fvecs"), "rb") as f:
                    self.assertEqual(f.read(), original)
        run("build", "--metric", "l2", self.path("b.fvecs"), self.path("other.nkx"))

    def test_output_not_a_regular_file(self):
        """The save replaces only regular files: a FIFO or a symbolic link stays (defect 5)."""
        os.mkfifo(self.path("fifo.nkx"))
        self.fails("build", "--metric", "l2", self.path("b.fvecs"), self.path("fifo.nkx"),
                   contains="FIFO", code=1)
        self.assertTrue(stat.S_ISFIFO(os.lstat(self.path("fifo.nkx")).st_mode))
        os.symlink(self.index, self.path("link.nkx"))
        self.fails("build", "--metric", "l2", self.path("b.fvecs"), self.path("link.nkx"),
                   contains="symbolic link", code=1)
        self.assertTrue(os.path.islink(self.path("link.nkx")))

    def test_truncated_and_corrupt_vectors(self):
        with open(self.path("b.fvecs"), "rb") as f:
            data = f.read()
        cases = {
            "trunc.fvecs": data[:-3],
            "short.fvecs": data[:2],
            "empty.fvecs": b"",
            "negdim.fvecs": struct.pack("<i", -4) + data[4:],
            "hugedim.fvecs": struct.pack("<i", 1 << 30) + data[4:],
            "mixed.fvecs": data[:20] + struct.pack("<i", 3) + data[24:],
            "trunc.bvecs": struct.pack("<i", 8) + bytes(8) + struct.pack("<i", 8) + bytes(3),
            "bad.npy": b"\x93NUMPX" + bytes(60),
            "trunc.npy": None,
            "hdr.npy": b"\x93NUMPY\x01\x00" + struct.pack("<H", 5000) + b"{",
            "text.csv": b"1,2,3\n4,five,6\n",
            "ragged.csv": b"1,2,3\n4,5\n",
            "nan.csv": b"1,2,3\nnan,5,6\n",
            "empty.csv": b"x,y\n",
            "nul.csv": b"1,2\x00,3\n",
            "vectors.unknown": b"1,2,3\n",
        }
        write_npy(self.path("good.npy"), self.base, "<f4")
        with open(self.path("good.npy"), "rb") as f:
            cases["trunc.npy"] = f.read()[:-5]
        for name, content in cases.items():
            with self.subTest(file=name):
                with open(self.path(name), "wb") as f:
                    f.write(content)
                self.fails("build", "--metric", "l2", self.path(name), self.path("o.nkx"),
                           contains=name)
                self.fails("search", self.index, self.path(name), contains=name)
        self.assertFalse(os.path.exists(self.path("o.nkx")))

    def test_npy_variants_refused(self):
        write_npy(self.path("f.npy"), self.base, "<f4", fortran=True)
        self.fails("build", "--metric", "l2", self.path("f.npy"), self.path("o.nkx"),
                   contains="Fortran")
        write_npy(self.path("one.npy"), [[1.0, 2.0]], "<f4", shape=(2,))
        self.fails("build", "--metric", "l2", self.path("one.npy"), self.path("o.nkx"),
                   contains="2-d")
        write_npy(self.path("i.npy"), [[1, 2]], "<i4")
        self.fails("build", "--metric", "l2", self.path("i.npy"), self.path("o.nkx"),
                   contains="int32")
        with open(self.path("be.npy"), "wb") as f:
            h = "{'descr': '>f4', 'fortran_order': False, 'shape': (1, 2), }"
            h += " " * (64 - 11 - len(h)) + "\n"
            f.write(b"\x93NUMPY\x01\x00" + struct.pack("<H", len(h)) + h.encode() + bytes(8))
        self.fails("build", "--metric", "l2", self.path("be.npy"), self.path("o.nkx"),
                   contains="big-endian")
        write_npy(self.path("nan.npy"), [[float("nan"), 1.0]], "<f4")
        self.fails("build", "--metric", "l2", self.path("nan.npy"), self.path("o.nkx"))

    def test_corrupted_index(self):
        with open(self.index, "rb") as f:
            data = bytearray(f.read())
        variants = {"truncated": bytes(data[: len(data) // 2]), "empty": b"",
                    "garbage": bytes(range(256)) * 4}
        flipped = bytearray(data)
        flipped[len(flipped) // 2] ^= 0x40
        variants["flipped"] = bytes(flipped)
        header = bytearray(data)
        header[9] ^= 0xFF
        variants["header"] = bytes(header)
        for name, content in variants.items():
            with self.subTest(variant=name):
                with open(self.path("bad.nkx"), "wb") as f:
                    f.write(content)
                self.fails("search", self.path("bad.nkx"), self.path("q.fvecs"),
                           contains="cannot open the index")
                self.fails("info", self.path("bad.nkx"), contains="cannot open the index")

    def test_bad_arguments(self):
        b, q = self.path("b.fvecs"), self.path("q.fvecs")
        self.fails("build", "--kind", "nosuchkind", "--metric", "l2", b, self.path("o.nkx"),
                   contains="unknown index kind", code=2)
        self.fails("build", "--metric", "nosuchmetric", b, self.path("o.nkx"),
                   contains="unknown metric", code=2)
        self.fails("build", b, self.path("o.nkx"), contains="--metric", code=2)
        self.fails("build", "--metric", "l2", b, code=2)
        self.fails("build", "--metric", "l2", "--params", "no_such_param=3", b,
                   self.path("o.nkx"))
        self.fails("build", "--metric", "l2", "--threads", "-1", b, self.path("o.nkx"), code=2)
        self.fails("build", "--metric", "l2", "--bogus", b, self.path("o.nkx"), code=2)
        self.fails("search", "--k", "0", self.index, q, contains="--k", code=2)
        self.fails("search", "--k", "abc", self.index, q, code=2)
        self.fails("search", "--k", "99999999999999999999999", self.index, q, code=2)
        self.fails("search", "--k", "3", "--radius", "1", self.index, q, code=2)
        self.fails("search", "--radius", "nan", self.index, q, code=2)
        self.fails("search", "--k", code=2)
        self.fails("search", self.index, q, "--out", self.path("o.bin"), contains="o.bin")
        self.fails("search", "--radius", "1", "--out", self.path("o.npy"), self.index, q,
                   contains="npy")
        self.fails("search", self.index, q, "--out", self.path("nodir/o.ivecs"))
        self.fails("search", "--params", "no_such_param=1", self.index, q,
                   contains="no_such_param")
        self.fails("search", "--params", "num_threads", self.index, q, contains="name=value")
        self.fails("nosuchcommand", code=2)
        self.fails(code=2)
        self.fails("bench", "--metric", "l2", "--k", "0", b, q, code=2)
        self.fails("demo", "--n", "0", code=2)
        self.fails("demo", "--bits", "12", code=2)
        self.fails("demo", "--kinds", "flat,nosuch", code=2)

    def test_dimension_and_type_mismatch(self):
        write_vecs(self.path("q5.fvecs"), [[0.0] * 5], "f")
        self.fails("search", self.index, self.path("q5.fvecs"), contains="dimension mismatch")
        self.fails("bench", "--metric", "l2", self.path("b.fvecs"), self.path("q5.fvecs"),
                   contains="dimension mismatch")
        write_vecs(self.path("b.bvecs"), [[1, 2], [3, 4]], "B")
        bindex = self.path("bin.nkx")
        run("build", "--metric", "hamming", self.path("b.bvecs"), bindex)
        write_vecs(self.path("q3.bvecs"), [[1, 2, 3]], "B")
        self.fails("search", bindex, self.path("q3.bvecs"), contains="dimension mismatch")
        # float values are no bytes
        self.fails("search", bindex, self.path("q.fvecs"), contains="not a byte")
        self.fails("build", "--metric", "hamming", self.path("b.fvecs"), self.path("o.nkx"),
                   contains="not a byte")
        # ground truth with too few columns or rows
        write_vecs(self.path("gt.ivecs"), [[0, 1]] * 3, "i")
        self.fails("bench", "--metric", "l2", "--k", "5", self.path("b.fvecs"),
                   self.path("q.fvecs"), self.path("gt.ivecs"), contains="fewer than k")
        write_vecs(self.path("gt2.ivecs"), [[0] * 10] * 2, "i")
        self.fails("bench", "--metric", "l2", self.path("b.fvecs"), self.path("q.fvecs"),
                   self.path("gt2.ivecs"), contains="rows")
        # ids are no vectors
        self.fails("build", "--metric", "l2", self.path("gt.ivecs"), self.path("o.nkx"),
                   contains="int32")

    def test_unsupported_kind_metric_pair(self):
        for kind in kinds():
            rc, out, err = run("build", "--kind", kind, "--metric", "hamming",
                               self.path("b.fvecs"), self.path("o.nkx"), check=False)
            if rc != 0:
                self.assertEqual(len(err.splitlines()), 1, err)


class Valgrind(Base):
    """No leaks or memory errors on good and bad paths (skipped without valgrind)."""

    def test_memcheck(self):
        vg = shutil.which("valgrind")
        if not vg:
            self.skipTest("valgrind not installed")
        rng = random.Random(11)
        write_vecs(self.path("b.fvecs"), random_rows(rng, 300, 4), "f")
        write_vecs(self.path("q.fvecs"), random_rows(rng, 300, 4), "f")
        write_csv(self.path("b.csv"), random_rows(rng, 20, 4), header="a,b,c,d")
        write_npy(self.path("b.npy"), random_rows(rng, 20, 4), "<f8")
        with open(self.path("t.fvecs"), "wb") as f:
            f.write(struct.pack("<i", 4) + bytes(10))
        idx = self.path("i.nkx")
        with open(self.path("bad.nkx"), "wb") as f:
            f.write(b"NEARKIT" + bytes(100))
        commands = [
            (["build", "--metric", "l2", self.path("b.fvecs"), idx], 0, None),
            (["search", "--k", "5", "--out", self.path("o.npy"), idx, self.path("q.fvecs")], 0,
             None),
            (["search", "--radius", "0.3", idx, self.path("q.fvecs")], 0, None),
            (["search", "--k", "2", idx, self.path("b.csv")], 0, None),
            (["search", "--k", "2", idx, self.path("b.npy")], 0, {"NEARKIT_PROGRESS": "1"}),
            (["info", idx], 0, None),
            (["bench", "--metric", "l2", self.path("b.fvecs"), self.path("q.fvecs")], 0, None),
            (["demo", "--n", "500", "--queries", "20"], 0, None),
            (["build", "--metric", "l2", self.path("t.fvecs"), self.path("o.nkx")], 1, None),
            (["search", self.path("bad.nkx"), self.path("q.fvecs")], 1, None),
            (["search", "--k", "0", idx, self.path("q.fvecs")], 2, None),
        ]
        for args, expect, env in commands:
            with self.subTest(args=args[0:2]):
                e = dict(os.environ)
                e.pop("NEARKIT_PROGRESS", None)
                e.update(env or {})
                p = subprocess.run([vg, "-q", "--leak-check=full", "--error-exitcode=99",
                                    "--errors-for-leak-kinds=definite,indirect", NEARKIT] + args,
                                   stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=e,
                                   timeout=600)
                self.assertEqual(p.returncode, expect, p.stderr.decode("utf-8", "replace")[-3000:])


# ------------------------------------------------------------------------------------------------
# Demo and golden cases
# ------------------------------------------------------------------------------------------------


class Demo(Base):
    def test_demo_small(self):
        _, out, err = run("demo", "--n", "5000", "--queries", "200")
        lines = out.splitlines()
        self.assertTrue(any(l.startswith("kind ") and "recall@10" in l for l in lines), out)
        self.assertEqual(sum(1 for l in lines if l.startswith("flat ")), 3, out)  # two float sections, one binary
        self.assertIn("binary:", out)
        self.assertIn("planted", out)
        # the low-dimension section leaves the compressed kinds out, and says so
        low = out[out.index("(low dimension)"):out.index("binary:")]
        self.assertIn("compressed kinds left out", low)
        self.assertNotIn("ivf_sq8", low)
        self.assertTrue(lines[-1].startswith("Advice: "), lines[-1])
        for name in kinds():
            self.assertIn(name, out)
        # brute force over codes is left out unless --kinds names it (its build time buys no new
        # trade-off): in the guide, never in a row
        self.assertFalse(any(l.startswith("flat_") for l in lines), out)
        # flat is exact: recall 1 and every planted source found
        for l in lines:
            if l.startswith("flat "):
                self.assertIn("1.0000", l)

    def test_demo_kind_filter(self):
        _, out, _ = run("demo", "--n", "300", "--queries", "10", "--dim", "3", "--bits", "64",
                        "--k", "3", "--kinds", "flat,flat_sq8", "--threads", "1")
        self.assertIn("recall@3", out)
        self.assertTrue(any(l.startswith("flat_sq8 ") for l in out.splitlines()), out)


class Tune(Base):
    """nearkit tune: the cheapest nprobe (and scan budget) reaching the target, name=value lines,
    --save."""

    def clustered(self, rng, n, d, centres):
        return [[c + rng.uniform(-12, 12) for c in rng.choice(centres)] for _ in range(n)]

    def test_tune_ivf_flat(self):
        rng = random.Random(8)
        d = 16
        centres = [[rng.uniform(-10, 10) for _ in range(d)] for _ in range(30)]
        base = self.clustered(rng, 4000, d, centres)
        queries = self.clustered(rng, 100, d, centres)
        write_vecs(self.path("b.fvecs"), base, "f")
        write_vecs(self.path("q.fvecs"), queries, "f")
        index = self.path("ivf.nkx")
        run("build", "--kind", "ivf_flat", "--metric", "l2", "--params", "nlist=60",
            self.path("b.fvecs"), index)
        _, out, _ = run("tune", index, "--queries", self.path("q.fvecs"), "--k", "10",
                        "--target", "0.9")
        got = dict(line.split("=", 1) for line in out.splitlines())
        self.assertEqual(got["kind"], "ivf_flat")
        self.assertEqual(got["param"], "nprobe")
        self.assertEqual(got["reached"], "1")
        self.assertEqual(got["saved"], "0")
        self.assertGreaterEqual(float(got["recall"]), 0.9)
        self.assertGreater(float(got["qps"]), 0)
        # the finer setting: none, or a scan budget of whole rows
        self.assertIn(got["fine_param"], ("none", "max_codes"))
        fine = float(got["fine_value"])
        self.assertTrue(fine == 0 if got["fine_param"] == "none" else fine >= 1 and fine.is_integer())
        # --save writes the value into the file
        _, out, _ = run("tune", index, "--queries", self.path("q.fvecs"), "--target", "0.9",
                        "--save")
        saved = dict(line.split("=", 1) for line in out.splitlines())
        self.assertEqual((saved["saved"], saved["value"], saved["fine_value"]),
                         ("1", got["value"], got["fine_value"]))
        # searching the saved index at its stored nprobe (and max_codes) gives the tuned recall
        _, res, _ = run("search", "--k", "10", index, self.path("q.fvecs"))
        ids, _ = parse_results(res)
        truth, _ = brute_knn("l2", base, queries, 10)
        hits = sum(len(set(a) & set(b)) for a, b in zip(ids, truth))
        self.assertAlmostEqual(hits / (10 * len(queries)), float(got["recall"]), delta=0.02)

    def test_tune_exact_kind_and_errors(self):
        rng = random.Random(9)
        write_vecs(self.path("b.fvecs"), random_rows(rng, 200, 4), "f")
        write_vecs(self.path("q.fvecs"), random_rows(rng, 10, 4), "f")
        write_vecs(self.path("q8.fvecs"), random_rows(rng, 10, 8), "f")
        index = self.path("flat.nkx")
        run("build", "--kind", "flat", "--metric", "l2", self.path("b.fvecs"), index)
        _, out, _ = run("tune", index, "--queries", self.path("q.fvecs"))
        self.assertIn("param=none\n", out)
        self.assertIn("recall=1.0000\n", out)
        for args in (["--target", "0"], ["--target", "1.5"], ["--k", "0"], []):
            extra = args if args else []
            queries = [] if not args else ["--queries", self.path("q.fvecs")]
            rc, _, err = run("tune", index, *queries, *extra, check=False)
            self.assertNotEqual(rc, 0, args)
            self.assertEqual(err.count("nearkit: error:"), 1, err)
        rc, _, err = run("tune", index, "--queries", self.path("q8.fvecs"), check=False)
        self.assertNotEqual(rc, 0)
        self.assertEqual(err.count("nearkit: error:"), 1, err)


class RuleSelfTest(unittest.TestCase):
    """The comparison rule used above accepts what it should and rejects what it should."""

    def test_knn_rule(self):
        self.assertIsNone(compare_knn([1, 2, 3], [0.1, 0.2, 0.3], [1, 2, 3], [0.1, 0.2, 0.3]))
        self.assertIsNone(compare_knn([1, 2, 3], [0.1, 0.3, 0.3], [1, 2, 4], [0.1, 0.3, 0.3]))
        self.assertIsNone(compare_knn([1, -1], [0.1, None], [1, -1], [0.1, None]))
        self.assertIsNotNone(compare_knn([1, 2, 3], [0.1, 0.2, 0.3], [1, 4, 3], [0.1, 0.2, 0.3]))
        self.assertIsNotNone(compare_knn([1, 2, 3], [0.1, 0.2, 0.3], [1, 3, 2], [0.1, 0.3, 0.2]))
        self.assertIsNotNone(compare_knn([1, 2, -1], [0.1, 0.2, None], [1, 2, 5], [0.1, 0.2, 0.3]))
        self.assertIsNotNone(compare_knn([1, 2, 3], [0.1, 0.3, 0.3], [1, 2, 2], [0.1, 0.3, 0.3]))

    def test_range_rule(self):
        self.assertIsNone(compare_range(0.5, [1, 2], [0.1, 0.2], [1, 2], [0.1, 0.2]))
        self.assertIsNone(compare_range(0.5, [1, 2], [0.1, 0.5], [1], [0.1]))
        self.assertIsNotNone(compare_range(0.5, [1, 2], [0.1, 0.2], [1], [0.1]))
        self.assertIsNotNone(compare_range(0.5, [1, 2], [0.1, 0.2], [1, 2, 3], [0.1, 0.2, 0.6]))
        self.assertIsNotNone(compare_range(0.5, [1, 2], [0.1, 0.2], [2, 1], [0.2, 0.1]))


class Golden(Base):
    """Every golden case through build + search for every exact kind with the metric."""

    def test_golden_cases(self):
        manifest_path = os.path.join(GOLDEN, "manifest.json")
        if not os.path.exists(manifest_path):
            self.skipTest("no tests/golden/manifest.json yet")
        with open(manifest_path) as f:
            manifest = json.load(f)
        global RTOL, ATOL
        RTOL = manifest["comparison"]["distance_rtol"]
        ATOL = manifest["comparison"]["distance_atol"]
        info = kind_table()
        checked = 0
        for case in manifest["cases"]:
            ds = manifest["datasets"][case["dataset"]]
            with open(os.path.join(GOLDEN, case["expected"])) as f:
                expected = json.load(f)
            for kind, (is_exact, metrics) in sorted(info.items()):
                if not is_exact or case["metric"] not in metrics:
                    continue
                with self.subTest(case=case["name"], kind=kind):
                    self.golden_case(case, ds, expected, kind)
                    checked += 1
        self.assertGreater(checked, 0)

    def golden_case(self, case, ds, expected, kind):
        base = os.path.join(GOLDEN, ds["base"])
        queries = os.path.join(GOLDEN, ds["queries"])
        index = self.path("g.nkx")
        run("build", "--kind", kind, "--metric", case["metric"], base, index)
        _, out, _ = run("search", "--k", case["k"], index, queries)
        ids, dists = parse_results(out)
        self.assertEqual(len(ids), ds["query_count"])
        shown = min(case["k"], ds["count"])  # the CLI prints no padding beyond the count
        for q in range(len(ids)):
            err = compare_knn(expected["knn_ids"][q][:shown], expected["knn_distances"][q][:shown],
                              ids[q], [None if i == -1 else d for i, d in zip(ids[q], dists[q])])
            self.assertIsNone(err, "%s/%s knn query %d: %s" % (case["name"], kind, q, err))
        radius = case["radius"]
        _, out, _ = run("search", "--radius", repr(radius), index, queries)
        self.assertEqual(out.count("\n"), ds["query_count"])
        ids, dists = parse_results(out)
        for q in range(len(ids)):
            err = compare_range(radius, expected["range_ids"][q], expected["range_distances"][q],
                                ids[q], dists[q])
            self.assertIsNone(err, "%s/%s range query %d: %s" % (case["name"], kind, q, err))


# ------------------------------------------------------------------------------------------------
# Living collections: search --filter-ids, remove
# ------------------------------------------------------------------------------------------------


def subset_knn(metric, base, ids, queries, k):
    """Brute force over the vectors base[i] carrying ids[i], padded with -1 / None to k."""
    out_ids, out_d = [], []
    for q in queries:
        order = sorted(range(len(base)), key=lambda i: (distance(metric, base[i], q), ids[i]))[:k]
        out_ids.append([ids[i] for i in order] + [-1] * (k - len(order)))
        out_d.append([distance(metric, base[i], q) for i in order] + [None] * (k - len(order)))
    return out_ids, out_d


class Living(Base):
    """search --filter-ids and remove, on every kind whose remove is supported, against brute force."""

    def setUp(self):
        super().setUp()
        rng = random.Random(15)
        self.data = {
            "l2": (random_rows(rng, 60, 4), random_rows(rng, 4, 4), "fvecs", "f"),
            "hamming": (random_bytes(rng, 60, 8), random_bytes(rng, 4, 8), "bvecs", "B"),
        }
        for metric, (base, queries, ext, code) in self.data.items():
            write_vecs(self.path("b_%s.%s" % (metric, ext)), base, code)
            write_vecs(self.path("q_%s.%s" % (metric, ext)), queries, code)

    def build(self, kind, metric, name="i.nkx"):
        ext = self.data[metric][2]
        params = ["--params", "nlist=4,nprobe=4"] if kind.startswith("ivf") else []
        if kind in ("ivf_fp16", "ivf_bf16", "ivf_sq8", "ivf_sq4", "ivf_pq", "ivf_rabitq"):  # codes: exact once all re-ranked
            params[1] += ",refine=1000"
        if kind.startswith(("hnsw_", "flat_")):  # codes: exact once all re-ranked (hnsw: ef_search
            params = ["--params", "refine=1000"]  # 64 >= the 60 rows; flat_*: every code scanned)
        if kind == "rpforest":  # every leaf of every tree visited: exact
            params = ["--params", "search_k=1000000000"]
        run("build", "--kind", kind, "--metric", metric, *params, self.path("b_%s.%s" % (metric, ext)),
            self.path(name))
        return self.path(name)

    def write_ids(self, name, text):
        with open(self.path(name), "w") as f:
            f.write(text)
        return self.path(name)

    def each_kind(self):
        """(kind, metric) pairs whose remove works (others still answer UNSUPPORTED: skipped)."""
        absent = self.write_ids("absent.txt", "987654321\n")  # no ids at all would never ask the kind
        pairs = []
        for kind, (_exact, metrics) in sorted(kind_table().items()):
            for metric in ("l2", "hamming"):
                if metric not in metrics:
                    continue
                index = self.build(kind, metric)
                rc, _, err = run("remove", "--ids", absent, index, check=False)
                if rc != 0 and "UNSUPPORTED" in err:
                    print("skip %s %s: remove is UNSUPPORTED" % (kind, metric))
                    continue
                self.assertEqual(rc, 0, err)
                pairs.append((kind, metric))
        self.assertIn(("flat", "l2"), pairs)
        return pairs

    def check_rows(self, metric, exp_ids, exp_d, out, what):
        ids, dists = parse_results(out)
        self.assertEqual(len(ids), len(exp_ids))
        for q in range(len(ids)):
            err = compare_knn(exp_ids[q], exp_d[q], ids[q],
                              [None if i == -1 else d for i, d in zip(ids[q], dists[q])])
            self.assertIsNone(err, "%s, query %d: %s" % (what, q, err))

    def test_filter_ids(self):
        """Ids separated by newlines, spaces and tabs, with repeats and unknown ids; a short list
        pads its rows with -1:inf; range search filters too; an empty list allows nothing."""
        many = self.write_ids("many.txt", "3 5\n7\t11\n\n13 17 19 23 29 31 37\n41 43 47 53 3 999 -5\n")
        allowed = [3, 5, 7, 11, 13, 17, 19, 23, 29, 31, 37, 41, 43, 47, 53]
        two = self.write_ids("two.txt", "8\n9\n")
        nothing = self.write_ids("nothing.txt", "\n")
        for kind, metric in self.each_kind():
            base, queries = self.data[metric][0], self.data[metric][1]
            index = self.build(kind, metric)
            q = self.path("q_%s.%s" % (metric, self.data[metric][2]))
            what = "%s %s" % (kind, metric)
            _, out, _ = run("search", "--k", 5, "--filter-ids", many, index, q)
            exp = subset_knn(metric, [base[i] for i in allowed], allowed, queries, 5)
            self.check_rows(metric, exp[0], exp[1], out, what + " --filter-ids")
            _, out, _ = run("search", "--k", 5, "--filter-ids", two, index, q)
            exp = subset_knn(metric, [base[8], base[9]], [8, 9], queries, 5)
            self.check_rows(metric, exp[0], exp[1], out, what + " two ids")
            _, out, _ = run("search", "--k", 3, "--filter-ids", nothing, index, q)
            self.assertEqual(out, "-1:inf -1:inf -1:inf\n" * len(queries), what)
            radius = 1.0 if metric == "l2" else 28
            _, out, _ = run("search", "--radius", radius, "--filter-ids", many, index, q)
            rids, rdists = parse_results(out)
            eids, edists = brute_range(metric, base, queries, radius)
            for j in range(len(queries)):
                keep = [n for n, i in enumerate(eids[j]) if i in allowed]
                err = compare_range(radius, [eids[j][n] for n in keep], [edists[j][n] for n in keep],
                                    rids[j], rdists[j])
                self.assertIsNone(err, "%s range query %d: %s" % (what, j, err))

    def test_remove(self):
        """remove saves to --out or over the index; what is left answers as brute force over it."""
        gone = self.write_ids("gone.txt", "0\n2 4 6 8\n10\n10\n12345\n")
        removed = {0, 2, 4, 6, 8, 10}
        for kind, metric in self.each_kind():
            base, queries = self.data[metric][0], self.data[metric][1]
            index = self.build(kind, metric)
            q = self.path("q_%s.%s" % (metric, self.data[metric][2]))
            what = "%s %s" % (kind, metric)
            _, out, _ = run("remove", "--ids", gone, "--out", self.path("r.nkx"), index)
            self.assertIn("removed 6 of 60 vectors (8 ids given); 54 left", out, what)
            self.assertIn("saved to %s" % self.path("r.nkx"), out)
            _, info, _ = run("info", index)
            self.assertIn("count       60", info)  # --out leaves the input alone
            _, info, _ = run("info", self.path("r.nkx"))
            self.assertIn("count       54", info)
            left = [i for i in range(len(base)) if i not in removed]
            exp = subset_knn(metric, [base[i] for i in left], left, queries, 5)
            _, out, _ = run("search", "--k", 5, self.path("r.nkx"), q)
            self.check_rows(metric, exp[0], exp[1], out, what + " after remove")
            _, out, _ = run("remove", "--ids", gone, index)  # in place
            self.assertIn("removed 6 of 60", out)
            _, out, _ = run("search", "--k", 5, index, q)
            self.check_rows(metric, exp[0], exp[1], out, what + " after remove in place")
            _, out, _ = run("remove", "--ids", gone, index)  # nothing left to remove
            self.assertIn("removed 0 of 54", out)

    def test_errors(self):
        index = self.build("flat", "l2")
        q = self.path("q_l2.fvecs")
        bad = self.write_ids("bad.txt", "1 2\n3.5\n")
        huge = self.write_ids("huge.txt", "99999999999999999999\n")
        for args, contains, code in [
                (("remove", index), "--ids", 2),
                (("remove", "--ids", bad), "--ids", 2),
                (("remove", "--ids", bad, index), "line 2: '3.5' is not an id", 1),
                (("remove", "--ids", huge, index), "is not an id", 1),
                (("remove", "--ids", self.path("nope.txt"), index), "cannot open", 1),
                (("remove", "--ids", bad, "--bogus", index), None, 2),
                (("remove", "--ids", self.write_ids("ok.txt", "1"), self.path("nope.nkx")),
                 "cannot load", 1),
                (("search", "--filter-ids", bad, index, q), "is not an id", 1),
                (("search", "--load", "--no-verify", index, q), "not both", 2),
                (("search", "--filter-ids", self.dir, index, q), None, 1)]:
            rc, out, err = run(*args, check=False)
            self.assertEqual(rc, code, "%r: %s" % (args, err))
            lines = err.splitlines()
            self.assertEqual(len(lines), 1, "stderr of %r: %r" % (args, err))
            self.assertTrue(lines[0].startswith("nearkit: error: "), lines[0])
            if contains:
                self.assertIn(contains, lines[0])
        _, info, _ = run("info", index)
        self.assertIn("count       60", info)  # no failed remove touched the file

# ------------------------------------------------------------------------------------------------
# ann-benchmarks' HDF5 files
# ------------------------------------------------------------------------------------------------

H5_CODES = {"f32": "f", "f64": "d", "i32": "i", "i64": "q", "u8": "B", "bool": "B"}


def pack_bits(row):
    """0/1 values -> bytes, least significant bit first (the CLI's binary vectors)."""
    out = [0] * ((len(row) + 7) // 8)
    for c, v in enumerate(row):
        out[c // 8] |= v << (c % 8)
    return out


def hdf5_build_info():
    """'yes' or 'no': whether this nearkit reads .hdf5 files (from --version)."""
    _, out, _ = run("--version")
    for line in out.splitlines():
        if line.startswith("hdf5: "):
            return line.split()[1]
    return "no"


class Hdf5Files(Base):
    """Writing ann-benchmarks dataset files for the tests (no tests of its own)."""

    def setUp(self):
        super().setUp()
        self.writer = os.environ.get("NEARKIT_H5_WRITER")
        rng = random.Random(19)
        self.train, self.test = random_rows(rng, 300, 8), random_rows(rng, 20, 8)

    def need_hdf5(self):
        if hdf5_build_info() != "yes":
            self.skipTest("this nearkit has no HDF5 support")
        if not self.writer:
            self.skipTest("NEARKIT_H5_WRITER (tests/cli/h5_writer.c) not given")

    def h5(self, name, distance="euclidean", fixed=False, **datasets):
        """Writes NAME.hdf5; each dataset is (TYPE, shape, rows or flat values)."""
        self.need_hdf5()
        args = [self.writer, self.path(name)]
        if distance is not None:
            args.append(("fixed-distance=" if fixed else "distance=") + distance)
        for dname, (dtype, shape, values) in sorted(datasets.items()):
            flat = [v for r in values for v in r] if values and isinstance(values[0], list) \
                else list(values)
            raw = self.path(name + "." + dname + ".raw")
            with open(raw, "wb") as f:
                f.write(struct.pack("<%d%s" % (len(flat), H5_CODES[dtype]), *flat))
            args.append("%s:%s:%s:%s" % (dname, dtype, "x".join(map(str, shape)), raw))
        subprocess.run(args, check=True)
        return self.path(name)

    def dataset(self, name="d.hdf5", metric="l2", distance="euclidean", k=20, **override):
        """A well-formed float dataset file (datasets replaceable through `override`)."""
        ids, _ = brute_knn(metric, self.train, self.test, k)
        parts = {"train": ("f32", (300, 8), self.train), "test": ("f32", (20, 8), self.test),
                 "neighbors": ("i32", (20, k), ids)}
        parts.update(override)
        return self.h5(name, distance=distance, **{n: v for n, v in parts.items() if v})


class Hdf5(Hdf5Files):
    """ann-benchmarks dataset files: build / search / bench on them, and bad files."""

    def machine(self, *args):
        _, out, _ = run("bench", "--machine", *args)
        return dict(line.split("=", 1) for line in out.splitlines())

    def test_version_reports_hdf5(self):
        info = hdf5_build_info()
        self.assertIn(info, ("yes", "no"))
        if info == "no":  # then every .hdf5 file is refused, clearly
            with open(self.path("x.hdf5"), "wb") as f:
                f.write(b"\x89HDF\r\n\x1a\n")
            rc, _, err = run("build", self.path("x.hdf5"), self.path("o.nkx"), check=False)
            self.assertEqual(rc, 1)
            self.assertIn("this build has no HDF5 support", err)

    def test_build_and_search_every_float_distance(self):
        for distance, metric, fixed in (("euclidean", "l2", False), ("angular", "cosine", True),
                                        ("dot", "ip", False)):
            with self.subTest(distance=distance):
                path = self.dataset("f.hdf5", metric, distance, fixed=False) if not fixed else \
                    self.h5("f.hdf5", distance=distance, fixed=True,
                            train=("f64", (300, 8), self.train), test=("f32", (20, 8), self.test))
                index = self.path("f.nkx")
                _, out, _ = run("build", "--kind", "flat", path, index)
                self.assertIn("metric %s" % metric, out)
                self.assertIn("300 vectors, dimension 8", out)
                _, out, _ = run("search", "--k", 5, index, path)
                ids, dists = parse_results(out)
                self.check_knn(metric, self.train, self.test, 5, ids, dists)

    def test_hamming_bits_are_packed(self):
        rng = random.Random(20)
        bits = [[rng.randrange(2) for _ in range(20)] for _ in range(100)]  # 20: padded to 24
        qbits = [[rng.randrange(2) for _ in range(20)] for _ in range(10)]
        for dtype in ("bool", "u8"):
            with self.subTest(dtype=dtype):
                path = self.h5("h.hdf5", distance="hamming", train=(dtype, (100, 20), bits),
                               test=(dtype, (10, 20), qbits))
                index = self.path("h.nkx")
                _, out, _ = run("build", path, index)
                self.assertIn("metric hamming", out)
                _, out, _ = run("search", "--k", 4, index, path)
                ids, dists = parse_results(out)
                self.check_knn("hamming", [pack_bits(r) for r in bits],
                               [pack_bits(r) for r in qbits], 4, ids, dists)

    def test_bench_exact_kind(self):
        v = self.machine("--k", "10", self.dataset())
        want = {"kind": "flat", "metric": "l2", "count": "300", "queries": "20", "param": "none",
                "points": "1"}
        self.assertEqual({name: v[name] for name in want}, want)
        self.assertAlmostEqual(float(v["point.0.recall"]), 1.0)
        self.assertGreater(float(v["point.0.qps"]), 0)

    def test_bench_sweeps_the_runtime_setting(self):
        path = self.dataset()
        table = kind_table()
        for kind, param, extra in (("ivf_flat", "nprobe", ["--params", "nlist=8"]),
                                   ("hnsw", "ef_search", []), ("rpforest", "search_k", [])):
            if kind not in table:
                continue
            with self.subTest(kind=kind):
                v = self.machine("--kind", kind, *extra, path)
                self.assertEqual(v["param"], param)
                n = int(v["points"])
                self.assertGreaterEqual(n, 1)
                values = [float(v["point.%d.value" % i]) for i in range(n)]
                self.assertEqual(values, sorted(values))
                for i in range(n):
                    self.assertTrue(0 <= float(v["point.%d.recall" % i]) <= 1)
                if kind == "ivf_flat":  # every list scanned at the end: exact
                    self.assertEqual(values, [1, 2, 4, 8])
                    self.assertAlmostEqual(float(v["point.3.recall"]), 1.0)
                _, out, _ = run("bench", "--kind", kind, *extra, path)
                self.assertRegex(out, r"%s\s+recall@10\s+QPS" % param)
        if "hnsw" in table:
            v = self.machine("--kind", "hnsw", "--sweep", "10,30", path)
            self.assertEqual(v["points"], "2")
            self.assertEqual((v["point.0.value"], v["point.1.value"]), ("10", "30"))

    def test_metric_from_the_option_when_the_file_has_none(self):
        path = self.dataset(distance=None)
        v = self.machine("--metric", "l2", path)
        self.assertAlmostEqual(float(v["point.0.recall"]), 1.0)

    def test_bad_files(self):
        ids, _ = brute_knn("l2", self.train, self.test, 20)
        bad_ids = [r[:] for r in ids]
        bad_ids[3][7] = 300
        cases = [
            (dict(test=None), "no dataset 'test'"),
            (dict(neighbors=None), "no dataset 'neighbors'"),
            (dict(train=("f32", (2400,), [0.0] * 2400)), "must be 2-d"),
            (dict(train=("f32", (300, 4, 2), self.train)), "must be 2-d"),
            (dict(test=("f32", (40, 4), self.test)), "'test' has dimension 4, 'train' 8"),
            (dict(neighbors=("i32", (20, 20), bad_ids)), "id 300, outside the 300 rows"),
            (dict(neighbors=("i32", (10, 20), ids[:10])), "10 rows for the 20 queries"),
            (dict(neighbors=("i32", (20, 5), [r[:5] for r in ids])), "fewer than k = 10"),
            (dict(neighbors=("f32", (20, 20), ids)), "must hold integer ids"),
            (dict(train=("bool", (300, 8), [[0] * 8] * 300)), "must hold numbers"),
        ]
        for i, (override, contains) in enumerate(cases):
            with self.subTest(contains=contains):
                path = self.dataset("bad%d.hdf5" % i, **override)
                self.fails("bench", path, contains=contains, code=1)
        for distance, contains in (("chebyshev", "unknown distance 'chebyshev'"),
                                   ("jaccard", "'jaccard' (sets) is not supported")):
            path = self.dataset("dist.hdf5", distance=distance)
            self.fails("build", path, self.path("o.nkx"), contains=contains, code=1)
            self.fails("bench", path, contains=contains, code=1)
        path = self.dataset("nodist.hdf5", distance=None)
        self.fails("build", path, self.path("o.nkx"), contains="no 'distance' attribute", code=1)
        self.fails("bench", "--metric", "cosine", self.dataset(), contains="disagrees", code=1)
        bits = self.h5("b.hdf5", distance="hamming", train=("u8", (2, 8), [0, 1, 2] + [0] * 13))
        self.fails("build", bits, self.path("o.nkx"),
                   contains="holds 2; hamming vectors hold", code=1)
        with open(self.path("junk.hdf5"), "wb") as f:
            f.write(b"not hdf5 at all" * 10)
        self.fails("build", self.path("junk.hdf5"), self.path("o.nkx"),
                   contains="not an HDF5 file", code=1)
        self.fails("bench", "--sweep", "1,x", self.dataset(), contains="--sweep", code=2)
        self.fails("bench", "--sweep", "4", self.dataset(), contains="no runtime setting", code=1)
        self.fails("build", self.path("missing.hdf5"), self.path("o.nkx"),
                   contains="cannot open", code=1)

    def test_damaged_files_never_crash(self):
        """Truncations and flipped bytes of a good file: exit 0 or 1, one error line, no crash."""
        with open(self.dataset(), "rb") as f:
            good = f.read()
        rng = random.Random(21)
        variants = [good[:n] for n in range(0, len(good), max(1, len(good) // 40))]
        for _ in range(120):
            data = bytearray(good)
            for _ in range(rng.choice((1, 2, 8))):
                data[rng.randrange(len(data))] = rng.randrange(256)
            variants.append(bytes(data))
        path = self.path("damaged.hdf5")
        for i, data in enumerate(variants):
            with open(path, "wb") as f:
                f.write(data)
            rc, _, err = run("bench", "--k", "5", path, check=False)
            self.assertIn(rc, (0, 1), "variant %d: exit %d: %s" % (i, rc, err[-2000:]))
            if rc == 1:
                lines = err.splitlines()
                self.assertEqual(len(lines), 1, "variant %d: %r" % (i, err[-2000:]))
                self.assertTrue(lines[0].startswith("nearkit: error: "), lines[0])

class Hdf5Valgrind(Hdf5Files):
    """No leaks or memory errors reading .hdf5 files (skipped without valgrind)."""

    def test_memcheck(self):
        vg = shutil.which("valgrind")
        if not vg:
            self.skipTest("valgrind not installed")
        path = self.dataset()
        bad = self.dataset("bad.hdf5", test=("f32", (40, 4), self.test))
        index = self.path("v.nkx")
        for args, expect in ((["build", path, index], 0), (["search", "--k", "3", index, path], 0),
                             (["bench", "--kind", "ivf_flat", "--params", "nlist=4", path], 0),
                             (["bench", bad], 1)):
            with self.subTest(args=args[0]):
                p = subprocess.run([vg, "-q", "--leak-check=full", "--error-exitcode=99",
                                    "--errors-for-leak-kinds=definite,indirect", NEARKIT] + args,
                                   stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=600)
                self.assertEqual(p.returncode, expect, p.stderr.decode("utf-8", "replace")[-3000:])


if __name__ == "__main__":
    if len(sys.argv) < 2:
        sys.stderr.write(__doc__)
        sys.exit(2)
    NEARKIT = os.path.abspath(sys.argv[1])
    unittest.main(argv=[sys.argv[0], "-v"] + sys.argv[2:])
