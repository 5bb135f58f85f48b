"""Cross-language files: indexes written by the nearkit CLI load in Python with identical results,
and indexes Python saves load in the CLI with identical results."""

import subprocess

import numpy as np
import pytest

import nearkit

from conftest import GOLDEN_DIR, MANIFEST, cli_path, golden_dataset

pytestmark = pytest.mark.skipif(MANIFEST is None, reason="no golden manifest")

# (dataset, metric) pairs: float and binary, several metrics
PAIRS = [("clustered_d16", "l2"), ("uniform_d16", "cosine"), ("clustered_d2", "l1"),
         ("grid_2d", "linf"), ("uniform_d128", "ip"), ("binary256", "hamming"),
         ("binary_duplicates128", "hamming")]


def run(*args):
    proc = subprocess.run([str(a) for a in args], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, f"{args}: exit {proc.returncode}\n{proc.stderr}"
    return proc.stdout


def cli_knn(index_path, queries_path, k, tmp_path):
    ids_path = tmp_path / "cli_ids.npy"
    dist_path = tmp_path / "cli_dist.npy"
    run(cli_path(), "search", "--k", k, "--out", ids_path, "--distances", dist_path, index_path,
        queries_path)
    return np.load(ids_path), np.load(dist_path)


def cli_range(index_path, queries_path, radius, tmp_path):
    out = tmp_path / "cli_range.txt"
    run(cli_path(), "search", "--radius", repr(float(radius)), "--out", out, index_path,
        queries_path)
    rows = []
    for line in out.read_text().splitlines():
        pairs = [p.split(":") for p in line.split()]
        rows.append(([int(i) for i, _ in pairs], [float(d) for _, d in pairs]))
    return rows


def available(dataset, metric):
    if dataset not in MANIFEST["datasets"]:
        pytest.skip(f"golden dataset {dataset} missing")
    if "flat" not in nearkit.kinds():
        pytest.skip("no flat kind")


@pytest.mark.parametrize("dataset, metric", PAIRS)
def test_cli_index_loads_in_python(dataset, metric, tmp_path):
    available(dataset, metric)
    base, queries, spec = golden_dataset(dataset)
    index_path = tmp_path / "cli.nkx"
    run(cli_path(), "build", "--kind", "flat", "--metric", metric, GOLDEN_DIR / spec["base"],
        index_path)
    index = nearkit.load(index_path)
    assert (index.kind, index.metric, index.dim, len(index)) == (
        "flat", metric, spec["dimension"], spec["count"])
    cli_ids, cli_dist = cli_knn(index_path, GOLDEN_DIR / spec["queries"], 10, tmp_path)
    ids, dist = index.search(queries, 10)
    np.testing.assert_array_equal(ids, cli_ids)
    np.testing.assert_array_equal(dist, cli_dist)


@pytest.mark.parametrize("dataset, metric", PAIRS)
def test_python_index_loads_in_cli(dataset, metric, tmp_path):
    available(dataset, metric)
    base, queries, spec = golden_dataset(dataset)
    index = nearkit.Index(kind="flat", metric=metric, dim=spec["dimension"])
    index.add(base)
    index.build()
    index_path = tmp_path / "py.nkx"
    index.save(index_path)
    ids, dist = index.search(queries, 10)
    cli_ids, cli_dist = cli_knn(index_path, GOLDEN_DIR / spec["queries"], 10, tmp_path)
    np.testing.assert_array_equal(cli_ids, ids)
    np.testing.assert_array_equal(cli_dist, dist)

    # range search: the same ids, in the same order, with the same distances (as printed)
    radius = float(np.median(dist[:, 4]))
    result = index.range_search(queries, radius)
    rows = cli_range(index_path, GOLDEN_DIR / spec["queries"], radius, tmp_path)
    assert len(rows) == result.query_count
    for q, (cli_row_ids, cli_row_dist) in enumerate(rows):
        row_ids, row_dist = result.query(q)
        assert row_ids.tolist() == cli_row_ids
        np.testing.assert_allclose(row_dist, cli_row_dist, rtol=1e-5, atol=1e-6)


def test_custom_ids_survive_the_cli(tmp_path):
    if "flat" not in nearkit.kinds():
        pytest.skip("no flat kind")
    rng = np.random.default_rng(3)
    base = rng.random((100, 5), dtype=np.float32)
    index = nearkit.Index(dim=5)
    index.add(base, ids=np.arange(100, dtype=np.int64) * 1_000_003 + 7)
    index_path = tmp_path / "ids.nkx"
    index.save(index_path)
    queries_path = tmp_path / "q.fvecs"
    from conftest import write_fvecs

    write_fvecs(queries_path, base[:10])
    cli_ids, cli_dist = cli_knn(index_path, queries_path, 3, tmp_path)
    ids, dist = index.search(base[:10], 3)
    np.testing.assert_array_equal(cli_ids, ids)
    np.testing.assert_array_equal(cli_dist, dist)
