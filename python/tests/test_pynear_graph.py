"""nearkit.pynear: PyNear 2.6's graph classes, distance functions, sharded index and scikit-learn
adapters, side by side with the real ``pynear`` package where it is installed.

Exact parts (distances, empty and small inputs, id bookkeeping of add / remove / rebuild, the
adapters over VP-trees) must give the same output as pynear; approximate graph searches are
checked for recall against exact numpy answers and against pynear's recall on the same data.
Graph tests are skipped when nearkit's kind ``hnsw`` is not in the C library.
"""

import pickle

import numpy as np
import pytest

import nearkit
import nearkit.pynear as nkp

from test_pynear import assert_same_rows, pairwise, real_pynear

GRAPHS = ["HNSWL2Index", "HNSWCosineIndex", "HNSWBinaryIndex"]
METRIC = {"HNSWL2Index": "l2", "HNSWCosineIndex": "cosine", "HNSWBinaryIndex": "hamming",
          "MIHSeededHNSWBinaryIndex": "hamming"}


def need_hnsw():
    if "hnsw" not in nearkit.kinds():
        pytest.skip(f"nearkit kind 'hnsw' is not in this build: {nearkit.kinds()}")


def maybe_pynear():
    try:
        return real_pynear()
    except pytest.skip.Exception:
        return None


def dataset(cls_name, n, nq, seed, d=24):
    rng = np.random.default_rng(seed)
    if METRIC[cls_name] == "hamming":
        return (rng.integers(0, 256, (n, d), dtype=np.uint8),
                rng.integers(0, 256, (nq, d), dtype=np.uint8))
    return (rng.standard_normal((n, d)).astype(np.float32),
            rng.standard_normal((nq, d)).astype(np.float32))


def recall(ids, data, queries, metric, k):
    """recall@k of nearest-first id rows, counting ties at the k-th distance as hits."""
    ref = pairwise(metric, queries, data)
    hits = 0
    for q, row in enumerate(ids):
        kth = np.sort(ref[q])[k - 1]
        hits += sum(1 for i in row[:k] if i != -1 and ref[q][i] <= kth + 1e-5)
    return hits / (len(ids) * k)


def graph_program(pynear, cls_name, data, queries, k, **kwargs):
    index = getattr(pynear, cls_name)(**kwargs)
    index.set(data)
    return index.searchKNN(queries, k), index.searchKNN_arrays(queries, k), index


# ---- approximate search: recall, conventions -----------------------------------------------------


@pytest.mark.parametrize("cls_name", GRAPHS)
def test_graph_recall_and_conventions(cls_name):
    need_hnsw()
    data, queries = dataset(cls_name, 3000, 50, 1)
    metric, k = METRIC[cls_name], 10
    (ids, dists), (arr_ids, arr_d), index = graph_program(
        nkp, cls_name, data, queries, k, M=16, ef_construction=200, ef_search=100)
    ref = pairwise(metric, queries, data)
    for q in range(len(queries)):
        assert dists[q] == sorted(dists[q], reverse=True)  # farthest first
        assert all(type(i) is int for i in ids[q])
        assert all(type(d) is (int if metric == "hamming" else float) for d in dists[q])
        np.testing.assert_allclose(dists[q], ref[q][ids[q]], atol=2e-5, rtol=2e-5)
    assert arr_ids.tolist() == [r[::-1] for r in ids] and arr_ids.dtype == np.int64
    assert arr_d.dtype == (np.int64 if metric == "hamming" else np.float32)
    # random 192-bit codes have many ties and no structure: a lower floor for Hamming
    floor, margin = (0.9, 0.05) if metric == "hamming" else (0.95, 0.02)
    ours = recall(arr_ids, data, queries, metric, k)
    assert ours >= floor, ours
    assert index.size == 3000 and index.num_deleted == 0 and index.ef_search == 100
    pynear = maybe_pynear()
    if pynear is None:
        return
    _, (t_ids, t_d), _ = graph_program(pynear, cls_name, data, queries, k, M=16,
                                       ef_construction=200, ef_search=100)
    assert t_ids.dtype == arr_ids.dtype and t_d.dtype == arr_d.dtype
    theirs = recall(t_ids, data, queries, metric, k)
    assert ours >= theirs - margin, (ours, theirs)


@pytest.mark.parametrize("cls_name", GRAPHS)
def test_graph_exhaustive_same_as_pynear(cls_name):
    """Few rows and ef_search above their count: both answer exactly, so the same."""
    need_hnsw()
    data, queries = dataset(cls_name, 60, 8, 2, d=8)
    ours = graph_program(nkp, cls_name, data, queries, 70, M=8, ef_search=200)
    ref = pairwise(METRIC[cls_name], queries, data)
    assert all(sorted(r) == list(range(60)) for r in ours[0][0])  # k > n: every row
    nn_ids, nn_d = ours[2].search1NN(queries)
    assert nn_d == [r[-1] for r in ours[0][1]]
    np.testing.assert_allclose(nn_d, ref.min(axis=1), atol=2e-5)
    pynear = maybe_pynear()
    if pynear is None:
        return
    theirs = graph_program(pynear, cls_name, data, queries, 70, M=8, ef_search=200)
    assert_same_rows(ours[0], theirs[0], cls_name, atol=1e-4)
    theirs_nn = theirs[2].search1NN(queries)
    assert_same_rows(([[i] for i in nn_ids], [[d] for d in nn_d]),
                     ([[i] for i in theirs_nn[0]], [[d] for d in theirs_nn[1]]), cls_name,
                     atol=1e-4)


def small_cases_program(pynear):
    """PyNear's own small cases: L2 not squared, cosine scale, Hamming counts, duplicates."""
    out = []
    l2 = pynear.HNSWL2Index(M=4, ef_construction=10, ef_search=10)
    l2.set(np.array([[0, 0], [3, 4]], np.float32))
    out.append(l2.searchKNN(np.zeros((1, 2), np.float32), 2))
    cos = pynear.HNSWCosineIndex(M=4, ef_construction=10, ef_search=10)
    cos.set(np.array([[1, 0, 0, 0], [-1, 0, 0, 0], [0, 1, 0, 0]], np.float32))
    out.append(cos.searchKNN(np.array([[2, 0, 0, 0]], np.float32), 3))
    binary = pynear.HNSWBinaryIndex(M=4, ef_construction=10, ef_search=10)
    binary.set(np.array([[0xFF, 0x00], [0x00, 0xFF], [0xFF, 0xFF]], np.uint8))
    out.append(binary.searchKNN(np.array([[0xFF, 0x00]], np.uint8), 3))
    same = pynear.HNSWL2Index(M=8, ef_construction=50, ef_search=50)
    same.set(np.tile(np.arange(5, dtype=np.float32), (50, 1)))
    out.append(same.searchKNN(np.arange(5, dtype=np.float32)[None], 5)[1])
    return out


def test_graph_small_cases_same_as_pynear():
    need_hnsw()
    l2, cos, binary, same = small_cases_program(nkp)
    assert l2[0] == [[1, 0]]
    np.testing.assert_allclose(l2[1], [[5, 0]], atol=1e-5)
    assert cos[0] == [[1, 2, 0]]
    np.testing.assert_allclose(cos[1], [[2, 1, 0]], atol=1e-5)
    assert binary == ([[1, 2, 0]], [[16, 8, 0]])
    np.testing.assert_allclose(same, [[0] * 5], atol=1e-5)
    pynear = maybe_pynear()
    if pynear is None:
        return
    t_l2, t_cos, t_binary, t_same = small_cases_program(pynear)
    assert_same_rows(l2, t_l2, "l2", atol=1e-5)
    assert_same_rows(cos, t_cos, "cosine", atol=1e-5)
    assert binary == t_binary
    np.testing.assert_allclose(same, t_same, atol=1e-5)


def empty_program(pynear, cls_name, queries):
    index = getattr(pynear, cls_name)(M=4, ef_construction=10, ef_search=10)
    out = [index.searchKNN(queries, 5), index.search1NN(queries), index.size]
    ids, dists = index.searchKNN_arrays(queries, 3)
    return out + [ids.tolist(), dists.tolist(), str(dists.dtype)]


@pytest.mark.parametrize("cls_name", GRAPHS + ["MIHSeededHNSWBinaryIndex"])
def test_graph_never_set_same_as_pynear(cls_name):
    need_hnsw()
    _, queries = dataset(cls_name, 1, 3, 3, d=16)
    ours = empty_program(nkp, cls_name, queries)
    assert ours[0] == ([[], [], []], [[], [], []]) and ours[1][0] == [-1, -1, -1]
    pynear = maybe_pynear()
    if pynear is not None:
        assert ours == empty_program(pynear, cls_name, queries)


def test_graph_parameter_checks_as_pynear():
    need_hnsw()
    pynear = maybe_pynear()
    for name in GRAPHS + ["MIHSeededHNSWBinaryIndex"]:
        for bad in (dict(M=1), dict(ef_construction=0)):
            with pytest.raises(ValueError):
                getattr(nkp, name)(**bad)
            if pynear is not None:
                with pytest.raises(ValueError):
                    getattr(pynear, name)(**bad)
        getattr(nkp, name)(M=2, ef_search=0, n_threads=0)  # accepted, as by PyNear


# ---- add, remove, rebuild, filters, pickle ------------------------------------------------------


def living_program(pynear, cls_name, data, extra):
    """Ids and counts through set, add, remove and rebuild (deterministic in both)."""
    index = getattr(pynear, cls_name)(M=8, ef_construction=100, ef_search=200)
    out = [index.add(data[:0]), index.size]
    index.set(data)
    out += [index.add(extra), index.size]
    for i in (0, 7, 7, 10_000, -1, 201, 201):  # repeats and unknown ids are ignored
        index.remove(i)
    out += [index.size, index.num_deleted]
    mask = np.ones(index.size, bool)
    mask[1::2] = False
    ids, _ = index.searchKNN_arrays(extra, 3, filter=mask)
    out.append(all(i == -1 or (i % 2 == 0 and i not in (0, 7)) for i in ids.ravel().tolist()))
    out.append(index.search1NN(extra, filter=np.zeros(index.size, np.uint8)))
    mapping = index.rebuild()
    out += [mapping, index.size, index.num_deleted]
    restored = pickle.loads(pickle.dumps(index))
    out += [restored.size, restored.num_deleted]
    return out, index


@pytest.mark.parametrize("cls_name", GRAPHS)
def test_graph_living_same_as_pynear(cls_name):
    need_hnsw()
    data, extra = dataset(cls_name, 200, 10, 4, d=16)
    ours, index = living_program(nkp, cls_name, data, extra)
    assert ours[:4] == [[], 0, list(range(200, 210)), 210]
    assert ours[4:7] == [210, 3, True]
    assert ours[7][0] == [-1] * 10
    mapping = ours[8]
    assert mapping[0] == mapping[7] == mapping[201] == -1
    assert sorted(m for m in mapping if m >= 0) == list(range(207))
    assert ours[9:] == [207, 0, 207, 0]
    # every row is found under its new id (its own nearest row)
    rows = np.vstack([data, extra])
    keep = [i for i in range(210) if mapping[i] >= 0]
    ids, _ = index.search1NN(rows[keep])
    dup_free = recall([[i] for i in ids], rows[keep], rows[keep], METRIC[cls_name], 1)
    assert dup_free >= 0.99
    pynear = maybe_pynear()
    if pynear is not None:
        assert ours == living_program(pynear, cls_name, data, extra)[0]


def test_graph_filter_rules():
    need_hnsw()
    data, queries = dataset("HNSWL2Index", 300, 5, 5, d=8)
    index = nkp.HNSWL2Index(M=8, ef_search=300)
    index.set(data)
    even = np.arange(300) % 2 == 0
    ids, _ = index.searchKNN(queries, 10, filter=even)
    assert all(i % 2 == 0 for row in ids for i in row) and all(len(r) == 10 for r in ids)
    exact = pairwise("l2", queries, data[even])
    assert [sorted(r) for r in ids] == [sorted((np.argsort(e)[:10] * 2).tolist()) for e in exact]
    for bad in (np.ones(299, bool), np.ones(301, bool), np.ones(300, np.int64), [0, 1, 2]):
        with pytest.raises(ValueError, match="filter"):
            index.searchKNN(queries, 3, filter=bad)
    assert index.searchKNN(queries, 3, filter=np.zeros(300, bool)) == ([[]] * 5, [[]] * 5)


@pytest.mark.parametrize("cls_name", GRAPHS + ["MIHSeededHNSWBinaryIndex"])
def test_graph_pickle_and_set_ef(cls_name):
    need_hnsw()
    data, queries = dataset(cls_name, 400, 10, 6, d=16)
    index = getattr(nkp, cls_name)(M=16, ef_construction=100, ef_search=100)
    index.set(data)
    before = index.searchKNN(queries, 5)
    restored = pickle.loads(pickle.dumps(index))
    assert restored.searchKNN(queries, 5) == before
    assert restored.ef_search == 100 and restored.size == 400
    restored.set_ef(7)
    assert restored.ef_search == 7 and index.ef_search == 100
    restored.set(data[:50])  # set keeps ef_search, as PyNear
    assert restored.ef_search == 7 and restored.size == 50
    assert "hnsw" in index.to_string()


def test_graph_binary_accepts_integer_rows():
    """PyNear's HNSWBinaryIndex takes any integer rows of byte values."""
    need_hnsw()
    data, queries = dataset("HNSWBinaryIndex", 100, 3, 7, d=8)
    index = nkp.HNSWBinaryIndex(M=8, ef_search=100)
    index.set(data.astype(np.int64))
    assert index.searchKNN(queries.astype(np.int64), 3) == index.searchKNN(queries, 3)
    with pytest.raises(TypeError):
        index.searchKNN(queries.astype(np.float32), 3)


# ---- MIH-seeded graph ----------------------------------------------------------------------------


def mih_seeded_program(pynear, db, queries, radius):
    index = pynear.MIHSeededHNSWBinaryIndex(M=16, ef_construction=200, ef_search=10, mih_m=8,
                                            mih_radius=radius)
    index.set(db)
    return index.search1NN(queries), index.searchKNN_arrays(queries, 10), index


def test_mih_seeded_finds_planted_rows():
    need_hnsw()
    rng = np.random.default_rng(7)
    db = rng.integers(0, 256, (2000, 16), dtype=np.uint8)
    queries = rng.integers(0, 256, (20, 16), dtype=np.uint8)
    db[::100] = queries
    (nn_ids, nn_d), (ids, dists), index = mih_seeded_program(nkp, db, queries, 4)
    assert nn_ids == list(range(0, 2000, 100)) and nn_d == [0] * 20
    assert index.mih_radius == 4 and index.ef_search == 10 and index.size == 2000
    ref = pairwise("hamming", queries, db)
    # every row within the radius that belongs in the top 10 is there
    for q in range(20):
        within = [i for i in np.argsort(ref[q], kind="stable")[:10] if ref[q][i] <= 4]
        assert set(within) <= set(ids[q].tolist())
        assert (dists[q] == ref[q][ids[q]]).all() and (np.diff(dists[q]) >= 0).all()
        assert len(set(ids[q].tolist())) == 10
    index.set_mih_radius(200)  # beyond the bit count: the exact k nearest
    ids, _ = index.searchKNN_arrays(queries, 10)
    assert recall(ids, db, queries, "hamming", 10) == 1.0
    pynear = maybe_pynear()
    if pynear is not None:
        theirs = mih_seeded_program(pynear, db, queries, 4)
        assert theirs[0] == (nn_ids, nn_d)
        assert recall(theirs[1][0], db, queries, "hamming", 10) <= \
            recall(mih_seeded_program(nkp, db, queries, 4)[1][0], db, queries, "hamming",
                   10) + 0.05


# ---- distance functions --------------------------------------------------------------------------


def distance_program(pynear, rng):
    a, b = rng.standard_normal((2, 37)).astype(np.float32)
    out = [pynear.dist_l2(a, b), pynear.dist_l1(a, b), pynear.dist_chebyshev(a, b),
           pynear.dist_l2([1, 2, 3], [4, 6, 3]), pynear.dist_l2([], [])]
    for width in (8, 16, 32, 64):
        x, y = rng.integers(0, 256, (2, width), dtype=np.uint8)
        out.append(pynear.dist_hamming(x, y))
        out.append(getattr(pynear, f"dist_hamming_{width * 8}")(x, y))
        out.append(pynear.dist_hamming(list(x), list(y)))
    return out


def test_distance_functions_same_as_pynear():
    ours = distance_program(nkp, np.random.default_rng(8))
    assert ours[3] == 5.0 and ours[4] == 0.0
    assert all(type(v) is float for v in ours[:5]) and all(type(v) is int for v in ours[5:])
    with pytest.raises(ValueError):
        nkp.dist_l2([1, 2], [1, 2, 3])
    with pytest.raises(ValueError, match="64, 32, 16 or 8"):
        nkp.dist_hamming(np.zeros(4, np.uint8), np.zeros(4, np.uint8))
    with pytest.raises(ValueError, match="agree"):
        nkp.dist_hamming(np.zeros(8, np.uint8), np.zeros(16, np.uint8))
    with pytest.raises(ValueError):
        nkp.dist_hamming_64(np.zeros(16, np.uint8), np.zeros(16, np.uint8))
    with pytest.raises(TypeError):
        nkp.dist_hamming_64([300] * 8, [0] * 8)
    pynear = maybe_pynear()
    if pynear is not None:
        theirs = distance_program(pynear, np.random.default_rng(8))
        np.testing.assert_allclose(ours[:5], theirs[:5], rtol=1e-5)
        assert ours[5:] == theirs[5:]


# ---- sharded index -------------------------------------------------------------------------------


def sharded_program(pynear, cls_name, data, keys, queries, k, **kwargs):
    shards = pynear.ShardedHNSWIndex(index_cls=getattr(pynear, cls_name), **kwargs)
    empty = shards.searchKNN(queries, k)
    shards.set(data, shard_keys=keys)
    return empty, shards.searchKNN(queries, k), shards.search1NN(queries), shards


def global_ids(rows, keys):
    """(key, local id) -> row number of the whole data set."""
    local = {}
    for row, key in enumerate(keys):
        local[(key, sum(1 for k in keys[:row] if k == key))] = row
    return [[local[pair] for pair in r] for r in rows]


def test_sharded_merge_exact_over_vptrees():
    """Shards of exact indexes: the merged top k is the exact top k of all rows."""
    rng = np.random.default_rng(9)
    data = rng.random((600, 6), dtype=np.float32)
    keys = [["a", "b", 3][i % 3] for i in range(600)]
    queries = rng.random((12, 6), dtype=np.float32)
    empty, (ids, dists), (nn, nn_d), shards = sharded_program(nkp, "VPTreeL2Index", data, keys,
                                                             queries, 7)
    assert empty == ([[]] * 12, [[]] * 12)
    assert shards.n_shards == 3 and shards.shard_keys == ["a", "b", 3]
    ref = pairwise("l2", queries, data)
    rows = global_ids(ids, keys)
    for q in range(12):
        assert dists[q] == sorted(dists[q], reverse=True)
        assert all(type(d) is float for d in dists[q])
        assert rows[q][::-1] == np.argsort(ref[q], kind="stable")[:7].tolist()
        np.testing.assert_allclose(dists[q], ref[q][rows[q]], rtol=2e-5)
    assert nn == [r[-1] for r in ids] and nn_d == [r[-1] for r in dists]
    pynear = maybe_pynear()
    if pynear is not None:
        theirs = sharded_program(pynear, "VPTreeL2Index", data, keys, queries, 7)
        assert theirs[1][0] == ids
        np.testing.assert_allclose(theirs[1][1], dists, rtol=2e-5)
        assert theirs[2][0] == nn


def test_sharded_graphs_save_load_and_change(tmp_path):
    need_hnsw()
    rng = np.random.default_rng(10)
    data = rng.standard_normal((1500, 16)).astype(np.float32)
    keys = rng.integers(0, 4, 1500).tolist()
    queries = rng.standard_normal((20, 16)).astype(np.float32)
    _, (ids, dists), _, shards = sharded_program(nkp, "HNSWL2Index", data, keys, queries, 10,
                                                 M=16, ef_construction=200, ef_search=100)
    rows = global_ids(ids, keys)
    assert recall([r[::-1] for r in rows], data, queries, "l2", 10) >= 0.95
    assert shards.size == 1500 and sum(shards.shard_sizes().values()) == 1500
    one, one_d = shards.searchKNN(queries, 5, shard=2)
    assert all(key == 2 for row in one for key, _ in row)
    shards.save(tmp_path / "shards")
    manifest = (tmp_path / "shards" / "manifest.json").read_text()
    assert '"index_class": "HNSWL2Index"' in manifest
    loaded = nkp.ShardedHNSWIndex.load(tmp_path / "shards")
    assert loaded.searchKNN(queries, 10) == (ids, dists)
    assert loaded.shard_keys == shards.shard_keys
    added = loaded.add(queries[:3], shard_keys=[9, 0, 9])
    assert list(added) == [9, 0] and added[9] == [0, 1]
    assert loaded.add(queries[3:4], shard=0) == {0: [added[0][0] + 1]}
    hit, hit_d = loaded.search1NN(queries[:1])
    assert hit == [(9, 0)] and hit_d[0] < 1e-3
    loaded.remove(0, shard=9)
    assert loaded.search1NN(queries[:1])[0] != [(9, 0)] and loaded.shard_sizes()[9] == 1
    assert loaded.rebuild(shard=9) == {9: [-1, 0]}
    with pytest.raises(KeyError):
        loaded.searchKNN(queries, 3, shard="nope")
    with pytest.raises(ValueError):
        loaded.add(queries, shard_keys=[1], shard=1)
    assert pickle.loads(pickle.dumps(loaded)).searchKNN(queries, 3) == loaded.searchKNN(queries, 3)


# ---- scikit-learn adapters and forest ------------------------------------------------------------


def sklearn_program(adapter, X, y, Xq, metric, weights):
    nn = adapter.PyNearNearestNeighbors(n_neighbors=4, metric=metric).fit(X)
    clf = adapter.PyNearKNeighborsClassifier(n_neighbors=5, metric=metric, weights=weights)
    reg = adapter.PyNearKNeighborsRegressor(n_neighbors=5, metric=metric, weights=weights)
    clf.fit(X, y % 3)
    reg.fit(X, y.astype(float))
    graph = nn.kneighbors_graph(Xq, mode="distance").toarray()
    return (nn.kneighbors(Xq), nn.kneighbors()[1], graph, clf.predict_proba(Xq),
            clf.predict(Xq), clf.score(Xq, y[:len(Xq)] % 3), reg.predict(Xq))


@pytest.mark.parametrize("metric, weights", [("euclidean", "uniform"), ("l1", "distance"),
                                             ("chebyshev", "uniform"), ("cosine", "distance"),
                                             ("hamming", "distance")])
def test_sklearn_adapters_same_as_pynear(metric, weights):
    pytest.importorskip("sklearn")
    rng = np.random.default_rng(11)
    if metric == "hamming":
        X = rng.integers(0, 256, (300, 8), dtype=np.uint8)
        Xq = np.vstack([X[:5], rng.integers(0, 256, (10, 8), dtype=np.uint8)])
    else:
        X = rng.random((300, 5), dtype=np.float32)
        Xq = np.vstack([X[:5], rng.random((10, 5), dtype=np.float32)])
    y = rng.integers(0, 10, 300)
    ours = sklearn_program(nkp.sklearn_adapter, X, y, Xq, metric, weights)
    (dist, ind) = ours[0]
    assert dist.shape == ind.shape == (15, 4) and (np.diff(dist, axis=1) >= 0).all()
    assert ours[1].shape == (300, 4)
    assert ours[3].shape == (15, 3) and np.allclose(ours[3].sum(axis=1), 1)
    pynear = maybe_pynear()
    if pynear is None:
        return
    theirs = sklearn_program(pynear.sklearn_adapter, X, y, Xq, metric, weights)
    np.testing.assert_allclose(theirs[0][0], dist, rtol=2e-5, atol=2e-6)
    # ids equal except between neighbours at tied distances (VP-tree order of ties)
    assert ((theirs[0][1] == ind) | np.isclose(theirs[0][0], dist, rtol=0)).all()
    if metric == "hamming":  # ties: the two trees may keep different rows among equals
        return
    np.testing.assert_allclose(theirs[2], ours[2], rtol=2e-5, atol=2e-6)
    assert (theirs[1] == ours[1]).all()
    # weights="distance" turns PyNear's cosine self-distances (~1e-5, float32 rounding; nearkit:
    # 0) into different votes: compare the queries that are not training rows there
    rows = slice(5, None) if metric == "cosine" else slice(None)
    np.testing.assert_allclose(theirs[3][rows], ours[3][rows], rtol=1e-5)
    assert (theirs[4][rows] == ours[4][rows]).all()
    np.testing.assert_allclose(theirs[6][rows], ours[6][rows], rtol=1e-5)
    if metric != "cosine":
        assert theirs[5] == ours[5]


def test_sklearn_adapter_errors():
    pytest.importorskip("sklearn")
    with pytest.raises(ValueError, match="Unsupported metric"):
        nkp.PyNearNearestNeighbors(metric="mahalanobis").fit(np.zeros((3, 2)))
    with pytest.raises(ValueError, match="weights"):
        nkp.PyNearKNeighborsRegressor(weights="x").fit(np.eye(3), [1, 2, 3]).predict(np.eye(3))


def test_forest_module():
    assert nkp.forest.IVFFlatL2Index is nkp.IVFFlatL2Index
    assert nkp.forest.IVFFlatCosineIndex is nkp.IVFFlatCosineIndex
    from nearkit.pynear.forest import IVFFlatL2Index  # noqa: F401
    from nearkit.pynear.sharded import ShardedHNSWIndex
    assert ShardedHNSWIndex is nkp.ShardedHNSWIndex
