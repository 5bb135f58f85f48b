"""Shared helpers of nearkit's Python tests.

Environment (set by python/ctest.cmake; defaults suit a checkout with a build in build/):
  NEARKIT_SOURCE_DIR  repository root (default: two levels above this file)
  NEARKIT_GOLDEN_DIR  golden datasets (default: $NEARKIT_SOURCE_DIR/tests/golden)
  NEARKIT_CLI         the nearkit command-line program (default: $NEARKIT_SOURCE_DIR/build/nearkit);
                      the cross-language tests are skipped when it does not exist
"""

import json
import os
import pathlib

import numpy as np
import pytest

import nearkit

HERE = pathlib.Path(__file__).resolve().parent
SOURCE_DIR = pathlib.Path(os.environ.get("NEARKIT_SOURCE_DIR", HERE.parent.parent))
GOLDEN_DIR = pathlib.Path(os.environ.get("NEARKIT_GOLDEN_DIR", SOURCE_DIR / "tests" / "golden"))
CLI = pathlib.Path(os.environ.get("NEARKIT_CLI", SOURCE_DIR / "build" / "nearkit"))


# ---- TEXMEX files ------------------------------------------------------------------------------


def read_vecs(path, dtype):
    """Rows of a .fvecs (dtype float32) or .bvecs (uint8) file as a 2-d array."""
    raw = pathlib.Path(path).read_bytes()
    itemsize = np.dtype(dtype).itemsize
    if not raw:
        return np.zeros((0, 0), dtype)
    dim = int(np.frombuffer(raw[:4], "<i4")[0])
    row = 4 + dim * itemsize
    assert len(raw) % row == 0, f"{path}: not a whole number of rows"
    n = len(raw) // row
    rows = np.frombuffer(raw, np.uint8).reshape(n, row)
    assert (rows[:, :4].copy().view("<i4") == dim).all(), f"{path}: rows of different sizes"
    return np.ascontiguousarray(rows[:, 4:]).view(np.dtype(dtype).newbyteorder("<")).astype(dtype)


def write_fvecs(path, x):
    x = np.ascontiguousarray(x, dtype="<f4")
    n, d = x.shape
    out = np.empty((n, 4 + 4 * d), np.uint8)
    out[:, :4] = np.frombuffer(np.int32(d).astype("<i4").tobytes(), np.uint8)
    out[:, 4:] = x.view(np.uint8).reshape(n, 4 * d)
    pathlib.Path(path).write_bytes(out.tobytes())


# ---- The golden manifest -------------------------------------------------------------------------


def load_manifest():
    path = GOLDEN_DIR / "manifest.json"
    if not path.exists():
        return None
    return json.loads(path.read_text())


MANIFEST = load_manifest()
_DATASETS = {}


def golden_dataset(name):
    """(base, queries, spec) of a golden dataset, cached."""
    if name not in _DATASETS:
        spec = MANIFEST["datasets"][name]
        dtype = np.float32 if spec["vector_type"] == "float32" else np.uint8
        base = read_vecs(GOLDEN_DIR / spec["base"], dtype)
        queries = read_vecs(GOLDEN_DIR / spec["queries"], dtype)
        assert base.shape[0] == spec["count"] and queries.shape[0] == spec["query_count"]
        _DATASETS[name] = (base, queries, spec)
    return _DATASETS[name]


def golden_expected(case):
    return json.loads((GOLDEN_DIR / case["expected"]).read_text())


def tolerance(d):
    c = MANIFEST["comparison"] if MANIFEST else {"distance_rtol": 1e-4, "distance_atol": 1e-4}
    return c["distance_atol"] + c["distance_rtol"] * abs(d)


def _distance(value):
    return np.inf if value is None else float(value)


def check_knn_row(actual_ids, actual_dist, expected_ids, expected_dist, where=""):
    """The manifest's k-NN comparison rule for one query; raises AssertionError on a mismatch."""
    actual_ids = [int(i) for i in actual_ids]
    actual_dist = [float(d) for d in actual_dist]
    expected_dist = [_distance(d) for d in expected_dist]
    assert len(actual_ids) == len(expected_ids), f"{where}: {len(actual_ids)} ids, expected " \
                                                 f"{len(expected_ids)}"
    for j, (a, e) in enumerate(zip(actual_ids, expected_ids)):
        assert (a == -1) == (e == -1), f"{where}: position {j}: id {a}, expected {e}"
        if e != -1:
            assert abs(actual_dist[j] - expected_dist[j]) <= tolerance(expected_dist[j]), \
                f"{where}: position {j}: distance {actual_dist[j]}, expected {expected_dist[j]}"
    present = [i for i in actual_ids if i != -1]
    assert len(set(present)) == len(present), f"{where}: repeated ids {actual_ids}"
    finite = [d for d, e in zip(expected_dist, expected_ids) if e != -1]
    if not finite:
        return
    dk = max(finite)
    bound = dk - tolerance(dk)
    actual_set = set(present)
    for e, d in zip(expected_ids, expected_dist):
        if e != -1 and d < bound:
            assert e in actual_set, f"{where}: expected id {e} (distance {d}) missing"
    expected_set = set(e for e in expected_ids if e != -1)
    for a, d in zip(actual_ids, actual_dist):
        if a != -1 and a not in expected_set:
            assert d >= bound, f"{where}: unexpected id {a} at distance {d} < {bound}"


def check_range_row(actual_ids, actual_dist, expected_ids, expected_dist, radius, where=""):
    """The manifest's range comparison rule for one query."""
    actual = {int(i): float(d) for i, d in zip(actual_ids, actual_dist)}
    assert len(actual) == len(actual_ids), f"{where}: repeated ids"
    expected = {int(i): _distance(d) for i, d in zip(expected_ids, expected_dist)}
    tol_r = tolerance(radius)
    for i, d in expected.items():
        if d < radius - tol_r:
            assert i in actual, f"{where}: expected id {i} (distance {d}) missing"
    for i, d in actual.items():
        if i not in expected:
            assert radius - tol_r <= d <= radius + tol_r, \
                f"{where}: unexpected id {i} at distance {d} (radius {radius})"
        else:
            assert abs(d - expected[i]) <= tolerance(expected[i]), \
                f"{where}: id {i}: distance {d}, expected {expected[i]}"
    dists = [float(d) for d in actual_dist]
    assert all(a <= b for a, b in zip(dists, dists[1:])), f"{where}: distances not sorted"


def check_knn(ids, distances, expected, where=""):
    assert len(ids) == len(expected["knn_ids"])
    for q, (ei, ed) in enumerate(zip(expected["knn_ids"], expected["knn_distances"])):
        check_knn_row(ids[q], distances[q], ei, ed, f"{where} query {q}")


def check_range(result, expected, radius, where=""):
    assert result.query_count == len(expected["range_ids"])
    for q, (ei, ed) in enumerate(zip(expected["range_ids"], expected["range_distances"])):
        ids, dists = result.query(q)
        check_range_row(ids, dists, ei, ed, radius, f"{where} query {q}")


def exact_kinds_for(metric):
    """Every exact kind of the library that supports the metric."""
    return [info.name for info in nearkit.kind_info() if info.exact and metric in info.metrics]


# ---- Fixtures ------------------------------------------------------------------------------------


@pytest.fixture
def rng():
    return np.random.default_rng(12345)


@pytest.fixture
def small_index(rng):
    base = rng.standard_normal((200, 8)).astype(np.float32)
    index = nearkit.Index(kind="flat", metric="l2", dim=8, num_threads=1)
    index.add(base)
    index.build()
    yield index, base
    index.close()


def cli_path():
    if not CLI.exists():
        pytest.skip(f"the nearkit CLI is not built ({CLI}); set NEARKIT_CLI")
    return CLI
