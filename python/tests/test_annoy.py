"""nearkit.annoy.AnnoyIndex: Annoy's API over the rpforest kind, and side by side with the real
``annoy`` package where it is installed (those tests skip cleanly without it)."""

import numpy as np
import pytest

from nearkit.annoy import AnnoyIndex

METRICS = ["angular", "euclidean", "manhattan", "dot", "hamming"]


def data(n, f, metric, seed=0):
    rng = np.random.default_rng(seed)
    if metric == "hamming":
        return (rng.random((n, f)) < 0.5).astype(np.float32)
    centres = rng.normal(size=(20, f)) * 4
    return (centres[rng.integers(0, 20, n)] + rng.normal(size=(n, f))).astype(np.float32)


def exact(x, q, metric, k):
    if metric == "angular":
        xn = x / np.linalg.norm(x, axis=1, keepdims=True)
        d = 1 - xn @ (q / np.linalg.norm(q))
    elif metric == "euclidean":
        d = ((x - q) ** 2).sum(1)
    elif metric == "manhattan":
        d = np.abs(x - q).sum(1)
    elif metric == "dot":
        d = -(x @ q)
    else:
        d = (x != q).sum(1)
    return np.argsort(d, kind="stable")[:k]


def filled(cls, x, metric, trees=10):
    index = cls(x.shape[1], metric)
    for i, v in enumerate(x):
        index.add_item(i, v)
    index.build(trees)
    return index


def recall(index, x, queries, metric, k=10, search_k=-1):
    hits = 0
    for q in queries:
        truth = set(exact(x, q, metric, k).tolist())
        hits += len(truth & set(index.get_nns_by_vector(q, k, search_k=search_k)))
    return hits / (k * len(queries))


@pytest.mark.parametrize("metric", METRICS)
def test_api_and_distances(metric, tmp_path):
    x = data(500, 24, metric)
    index = filled(AnnoyIndex, x, metric, trees=5)
    assert index.get_n_items() == 500 and index.get_n_trees() == 5
    ids, dist = index.get_nns_by_item(3, 5, include_distances=True)
    assert (ids[0] == 3 or metric == "dot") and len(ids) == len(dist) == 5  # dot: larger rows win
    assert dist == sorted(dist, reverse=metric == "dot")
    # the reported distance of a neighbour is get_distance's
    assert dist[1] == pytest.approx(index.get_distance(3, ids[1]), rel=1e-4, abs=1e-4)
    if metric == "angular":
        a, b = x[3], x[ids[1]]
        cos = a @ b / np.linalg.norm(a) / np.linalg.norm(b)
        assert dist[1] == pytest.approx(np.sqrt(2 - 2 * cos), rel=1e-3, abs=1e-3)
    elif metric == "euclidean":
        assert dist[1] == pytest.approx(np.linalg.norm(x[3] - x[ids[1]]), rel=1e-4)
    elif metric == "dot":
        assert dist[0] == pytest.approx(float(x[3] @ x[ids[0]]), rel=1e-4)
    elif metric == "hamming":
        assert dist[1] == float((x[3] != x[ids[1]]).sum())
    vec = index.get_item_vector(7)
    assert len(vec) == 24
    if metric != "angular":
        assert np.allclose(vec, x[7])
    # full search_k: exact
    q = x[11] + 0.01 if metric != "hamming" else x[11]
    assert index.get_nns_by_vector(q, 10, search_k=5 * 500) == exact(x, q, metric, 10).tolist() or \
        metric in ("hamming",)  # ties among equal Hamming distances may order differently
    path = str(tmp_path / "x.ann")
    index.save(path)
    other = AnnoyIndex(24, metric)
    assert other.load(path)
    assert other._index.is_view  # mapped, as Annoy maps its files
    assert other.get_n_items() == 500 and other.get_n_trees() == 5
    assert other.get_nns_by_item(3, 5) == index.get_nns_by_item(3, 5)
    prefaulted = AnnoyIndex(24, metric)
    assert prefaulted.load(path, prefault=True)
    assert prefaulted.get_nns_by_item(3, 5) == index.get_nns_by_item(3, 5)
    other.unload()
    assert other.get_n_items() == 0


def test_misuse_raises_annoys_errors(tmp_path):
    index = AnnoyIndex(4, "euclidean")
    with pytest.raises(IndexError):
        index.add_item(0, [1, 2, 3])
    with pytest.raises(IndexError):
        index.add_item(-1, [1, 2, 3, 4])
    index.add_item(0, [1, 2, 3, 4])
    index.add_item(2, [0, 0, 0, 1])
    index.add_item(2, [0, 0, 0, 2])  # replaces
    assert index.get_n_items() == 3
    assert index.get_item_vector(2) == [0, 0, 0, 2]
    with pytest.raises(IndexError):
        index.get_item_vector(1)  # never added
    with pytest.raises(IndexError):
        index.get_item_vector(3)
    index.build(2)
    index.add_item(5, [9, 9, 9, 9])  # accepted after build, as Annoy does; nearkit also finds it
    assert index.get_nns_by_vector([9, 9, 9, 9], 1) == [5] and index.get_n_items() == 6
    with pytest.raises(Exception, match="build a built index"):
        index.build(2)
    index.save(str(tmp_path / "a.ann"))
    with pytest.raises(Exception, match="loaded index"):
        index.add_item(5, [1, 1, 1, 1])
    with pytest.raises(ValueError):
        AnnoyIndex(4, "chebyshev")
    with pytest.warns(FutureWarning):
        AnnoyIndex(4)
    with pytest.raises(OSError):
        AnnoyIndex(4, "euclidean").load(str(tmp_path / "missing.ann"))
    with pytest.raises(OSError):
        AnnoyIndex(5, "euclidean").load(str(tmp_path / "a.ann"))  # another dimension


def test_on_disk_build_and_seed(tmp_path):
    x = data(300, 8, "euclidean")
    path = str(tmp_path / "disk.ann")
    a = AnnoyIndex(8, "euclidean")
    a.set_seed(7)
    a.on_disk_build(path)
    for i, v in enumerate(x):
        a.add_item(i, v)
    a.build(4, n_jobs=2)
    b = AnnoyIndex(8, "euclidean")
    b.load(path)
    assert b.get_nns_by_vector(x[0], 10) == a.get_nns_by_vector(x[0], 10)
    c = filled(AnnoyIndex, x, "euclidean", trees=4)
    c2 = AnnoyIndex(8, "euclidean")
    for i, v in enumerate(x):
        c2.add_item(i, v)
    c2.build(4, n_jobs=1)
    assert [c.get_nns_by_item(i, 10, search_k=40) for i in range(20)] == \
        [c2.get_nns_by_item(i, 10, search_k=40) for i in range(20)]  # threads do not change it


def test_recall_rises_with_search_k():
    x = data(4000, 32, "euclidean")
    q = data(50, 32, "euclidean", seed=1)
    index = filled(AnnoyIndex, x, "euclidean", trees=10)
    low, high = recall(index, x, q, "euclidean", search_k=100), recall(index, x, q, "euclidean", search_k=3000)
    assert low <= high and high >= 0.9


@pytest.mark.parametrize("metric", ["angular", "euclidean", "manhattan", "dot"])
def test_side_by_side_with_annoy(metric, tmp_path):
    real = pytest.importorskip("annoy")
    x = data(5000, 32, metric)
    q = data(60, 32, metric, seed=3)
    ours, theirs = filled(AnnoyIndex, x, metric), filled(real.AnnoyIndex, x, metric)
    for search_k in (500, 2000):
        r_ours = recall(ours, x, q, metric, search_k=search_k)
        r_theirs = recall(theirs, x, q, metric, search_k=search_k)
        assert r_ours >= r_theirs - 0.1, (search_k, r_ours, r_theirs)
    # the same answers at a full search_k, and the same reported distances
    for v in q[:5]:
        a = ours.get_nns_by_vector(v, 10, search_k=10 * 5000, include_distances=True)
        b = theirs.get_nns_by_vector(v, 10, search_k=10 * 5000, include_distances=True)
        assert a[0] == b[0]
        assert np.allclose(a[1], b[1], rtol=1e-3, atol=1e-3)
    assert ours.get_distance(1, 2) == pytest.approx(theirs.get_distance(1, 2), rel=1e-3, abs=1e-3)
    assert ours.get_n_items() == theirs.get_n_items() and ours.get_n_trees() == theirs.get_n_trees()
    for index in (ours, theirs):  # the same misuse errors
        with pytest.raises(Exception, match="You can't build a built index"):
            index.build(3)
        with pytest.raises(IndexError, match="Item index can not be negative"):
            index.get_item_vector(-1)
        with pytest.raises(IndexError, match="larger than the largest"):
            index.get_nns_by_item(5000, 3)
        with pytest.raises(IndexError, match="wrong length"):
            index.get_nns_by_vector(x[0][:5], 3)
        path = str(tmp_path / f"{type(index).__module__}.ann")
        index.save(path)
        with pytest.raises(Exception, match="You can't add an item to a loaded index"):
            index.add_item(5001, x[0])
        with pytest.raises(OSError):
            type(index)(32, metric).load(str(tmp_path / "missing.ann"))
