"""nearkit.dask on a distributed.LocalCluster of two worker processes (one thread each).

Run by ctest as python_dask (``python test_dask.py``: exits 77, which ctest reports as a skip,
when dask[distributed] cannot be imported; else runs pytest on this file). Checks:
- exactness: flat shards built from a Dask array answer every golden k-NN case (float and binary)
  as one flat index over the same rows: ids, distances and tie order, bit for bit;
- hnsw and ivf_flat shards reach recall@10 within 0.01 of one index with the same settings;
- a Dask DataFrame with an id column, the k-NN graph with and without self, and a save by the
  workers reopened by the workers (and by nearkit.ShardedIndex) answer as the flat index does;
- open() has the workers view the shard files (default): answers equal to loaded shards, each
  shard a view on its worker, sized small for the scheduler, moved between workers as a view,
  and checked against the manifest;
- a search computed after its index was dropped still finds the shards, released after it.
"""

import json
import os
import sys

import numpy as np
import pytest

if __name__ == "__main__":
    try:
        import dask.dataframe  # noqa: F401
        import distributed  # noqa: F401
    except ImportError as error:
        print(f"SKIP: dask[distributed] is not installed ({error}); ci/deps-python.sh installs it")
        sys.exit(77)
    sys.exit(pytest.main([__file__, "-q", "-p", "no:cacheprovider", "-rfEsx", *sys.argv[1:]]))

dask = pytest.importorskip("dask")
da = pytest.importorskip("dask.array")
dd = pytest.importorskip("dask.dataframe")
distributed = pytest.importorskip("distributed")

import nearkit  # noqa: E402
import nearkit.dask as nkd  # noqa: E402
from conftest import MANIFEST, golden_dataset  # noqa: E402


@pytest.fixture(scope="module")
def client():
    with distributed.LocalCluster(n_workers=2, processes=True, threads_per_worker=1,
                                  dashboard_address=None) as cluster, \
            distributed.Client(cluster) as c:
        yield c


def _flat(base, metric, dim, ids=None):
    index = nearkit.Index("flat", metric, dim)
    index.add(base, ids)
    return index


def _dim(base, spec):
    return spec["dimension"]


def test_golden_cases_equal_one_flat_index(client):
    """Every golden k-NN case, all searched in one compute: 3 shards, 2 query blocks."""
    cases = MANIFEST["cases"]
    pending, wanted, indexes = [], [], []  # the indexes kept: their shards live on the workers
    for case in cases:
        base, queries, spec = golden_dataset(case["dataset"])
        rows = max(1, -(-base.shape[0] // 3))
        index = nkd.build(da.from_array(base, chunks=(rows, -1)), kind="flat",
                          metric=case["metric"], client=client)
        assert index.shard_count == -(-base.shape[0] // rows)
        indexes.append(index)
        q = da.from_array(queries, chunks=(max(1, -(-queries.shape[0] // 2)), -1))
        pending.append(index.search(q, case["k"]))
        wanted.append(_flat(base, case["metric"], _dim(base, spec)).search(queries, case["k"]))
    got = dask.compute(*pending)
    for case, (ids, distances), (want_ids, want_distances) in zip(cases, got, wanted):
        assert ids.dtype == np.int64 and distances.dtype == np.float32
        np.testing.assert_array_equal(ids, want_ids, err_msg=case["name"])
        np.testing.assert_array_equal(distances, want_distances, err_msg=case["name"])


def _clustered(n, d, seed):
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(64, d)).astype(np.float32) * 4
    return (centres[rng.integers(0, 64, n)] + rng.normal(size=(n, d))).astype(np.float32)


def _recall(ids, truth):
    return np.mean([len(set(a) & set(b)) / len(b) for a, b in zip(ids, truth)])


@pytest.mark.parametrize("kind, build, runtime", [
    ("hnsw", {"M": 8, "ef_construction": 40}, {"ef_search": 16}),
    ("ivf_flat", {"nlist": 32}, {"nprobe": 2}),
])
def test_approximate_shards_keep_the_recall(client, kind, build, runtime):
    base, queries = _clustered(8000, 32, 1), _clustered(300, 32, 2)
    truth = _flat(base, "l2", 32).search(queries, 10).ids
    one = nearkit.Index(kind, "l2", 32, **build)
    one.add(base)
    one.build()
    single = _recall(one.search(queries, 10, **runtime).ids, truth)
    index = nkd.build(da.from_array(base, chunks=(4000, -1)), kind=kind, client=client, **build)
    ids, _ = dask.compute(*index.search(queries, 10, **runtime))
    sharded = _recall(ids, truth)
    print(f"{kind}: recall@10 one index {single:.4f}, two shards {sharded:.4f}")
    assert sharded >= single - 0.01


def test_dataframe_with_an_id_column(client):
    import pandas as pd

    base, queries = _clustered(900, 8, 3), _clustered(40, 8, 4)
    ids = np.random.default_rng(5).permutation(10**6)[:900].astype(np.int64)
    frame = pd.DataFrame(base, columns=[f"v{i}" for i in range(8)])
    frame.insert(0, "id", ids)
    index = nkd.build(dd.from_pandas(frame, npartitions=3), id_column="id", metric="cosine",
                      client=client)
    assert index.shard_count == 3 and index.dim == 8
    got = dask.compute(*index.search(queries, 7))
    flat = _flat(base, "cosine", 8, ids)
    want = flat.search(queries, 7)
    # the scheduler sees a shard's native memory, so it moves queries to shards, not the reverse
    assert dask.sizeof.sizeof(flat) == flat.memory_bytes > 900 * 8 * 4
    np.testing.assert_array_equal(got[0], want.ids)
    np.testing.assert_array_equal(got[1], want.distances)


def test_knn_graph_with_and_without_self(client):
    base = _clustered(300, 4, 6)
    base[100:110] = base[100]  # duplicates: several rows at distance 0 of each other
    index = nkd.build(da.from_array(base, chunks=(100, -1)), client=client)
    flat = _flat(base, "l2", 4)
    ids, distances = dask.compute(*index.knn_graph(5))
    everyone = np.arange(300)
    for i in range(300):  # the k nearest others, by definition: a filtered exact search
        want = flat.search(base[i], 5, filter=everyone[everyone != i])
        np.testing.assert_array_equal(ids[i], want.ids[0])
        np.testing.assert_array_equal(distances[i], want.distances[0])
    ids, distances = dask.compute(*index.knn_graph(5, include_self=True))
    want = flat.search(base, 5)
    np.testing.assert_array_equal(ids, want.ids)
    np.testing.assert_array_equal(distances, want.distances)


def test_saved_by_the_workers_and_reopened(client, tmp_path):
    base, queries = _clustered(1200, 16, 7), _clustered(50, 16, 8)
    index = nkd.build(da.from_array(base, chunks=(500, -1)), kind="vptree", client=client)
    path = tmp_path / "collection"
    index.save(path)
    assert sorted(os.listdir(path)) == ["manifest.json", "shard-00000.nkx", "shard-00001.nkx",
                                        "shard-00002.nkx"]
    want = _flat(base, "l2", 16).search(queries, 10)
    reopened = nkd.open(path, client=client)
    assert reopened.shard_count == 3 and reopened.dim == 16 and reopened.metric == "l2"
    got = dask.compute(*reopened.search(da.from_array(queries, chunks=(20, -1)), 10))
    np.testing.assert_array_equal(got[0], want.ids)
    np.testing.assert_array_equal(got[1], want.distances)
    local = nearkit.ShardedIndex.open(path)
    assert local.shard_count == 3 and len(local) == 1200
    np.testing.assert_array_equal(local.search(queries, 10).ids, want.ids)
    with pytest.raises(ValueError):
        reopened.knn_graph(3)


def test_reopened_as_views_by_the_workers(client, tmp_path):
    """open() has the workers view the shard files by default: answers equal to loaded shards,
    every shard a view on its worker, reported small to the scheduler, moved as a view."""
    from operator import attrgetter

    base, queries = _clustered(1500, 16, 11), _clustered(40, 16, 12)
    built = nkd.build(da.from_array(base, chunks=(500, -1)), kind="flat", client=client)
    path = tmp_path / "collection"
    built.save(path)
    loaded = nkd.open(path, view=False, client=client)
    viewed = nkd.open(path, client=client)
    q = da.from_array(queries, chunks=(15, -1))
    want = dask.compute(*loaded.search(q, 10))
    got = dask.compute(*viewed.search(q, 10))
    np.testing.assert_array_equal(got[0], want[0])
    np.testing.assert_array_equal(got[1], want[1])
    flat = _flat(base, "l2", 16).search(queries, 10)
    np.testing.assert_array_equal(got[0], flat.ids)
    is_view = attrgetter("is_view")
    assert dask.compute(*[dask.delayed(is_view)(s) for s in viewed.shards]) == (True,) * 3
    assert dask.compute(*[dask.delayed(is_view)(s) for s in loaded.shards]) == (False,) * 3
    # what the scheduler counts per shard (_sizeof_index): a view's own heap, not its vectors
    sizes = client.nbytes([s.key for s in viewed.shards + loaded.shards], summary=False)
    shard_bytes = 500 * 16 * 4
    assert all(sizes[s.key] < shard_bytes // 10 for s in viewed.shards), sizes
    assert all(sizes[s.key] >= shard_bytes for s in loaded.shards), sizes
    # a view sent to the other worker arrives as a view of the same file (its path pickles)
    shard = viewed.shards[0]
    (holders,) = client.who_has([shard]).values()
    holder = next(iter(holders))
    other = next(w for w in client.scheduler_info()["workers"] if w != holder)
    moved = client.submit(lambda s: (s.is_view, len(s)), shard, workers=[other], pure=False)
    assert moved.result() == (True, 500)
    # each viewed file is checked against its manifest entry, as a loaded one is
    manifest = json.loads((path / "manifest.json").read_text())
    manifest["shards"][0]["count"] += 1
    manifest["shards"][1]["count"] -= 1
    (path / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(nearkit.CorruptIndexError, match="shard 0"):
        nkd.open(path, client=client)


def test_results_keep_their_shards_alive(client):
    """A search's lazy arrays hold the shards: dropping the index before computing them loses
    nothing (the shards were persisted collections once, and such a compute lost its
    dependencies). The shards go when the last result does."""
    import gc
    import time

    base, queries = _clustered(800, 8, 9), _clustered(20, 8, 10)
    index = nkd.build(da.from_array(base, chunks=(200, -1)), client=client)
    keys = [shard.key for shard in index.shards]
    ids, distances = index.search(queries, 5)
    del index
    gc.collect()
    time.sleep(0.5)  # the scheduler would release what nothing holds by now
    want = _flat(base, "l2", 8).search(queries, 5)
    got = dask.compute(ids, distances)
    np.testing.assert_array_equal(got[0], want.ids)
    np.testing.assert_array_equal(got[1], want.distances)
    del ids, distances, got
    gc.collect()
    deadline = time.time() + 10
    while time.time() < deadline and any(client.who_has(keys).values()):
        time.sleep(0.1)
    assert not any(client.who_has(keys).values()), "the shards outlived every reference"
