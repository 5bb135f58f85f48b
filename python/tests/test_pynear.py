"""nearkit.pynear: PyNear's API over nearkit's indexes.

Programs are written the way PyNear's documentation shows (set, searchKNN, search1NN,
find_threshold, MIH's radius, IVF's nprobe, pickle, to_string) and run against nearkit.pynear, whose
results are checked against exact numpy answers and, when the real ``pynear`` package is installed,
against it: same neighbours up to ties, same distances within tolerance, same row order and the
same Python types. Classes whose nearkit kind is not compiled into the library are skipped.
"""

import pickle
import threading
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

import nearkit
import nearkit.pynear as nkp

KIND_OF = {
    "VPTreeL2Index": "vptree", "VPTreeL1Index": "vptree", "VPTreeChebyshevIndex": "vptree",
    "VPTreeCosineIndex": "vptree", "VPTreeBinaryIndex": "vptree", "VPTreeBinaryIndex256": "vptree",
    "BKTreeBinaryIndex": "bktree", "BKTreeBinaryIndex64": "bktree", "MIHBinaryIndex": "mih",
    "IVFFlatBinaryIndex": "ivf_binary", "IVFFlatL2Index": "ivf_flat",
    "IVFFlatCosineIndex": "ivf_flat",
}
FLOAT_VPTREES = ["VPTreeL2Index", "VPTreeL1Index", "VPTreeChebyshevIndex", "VPTreeCosineIndex"]
ATOL = RTOL = 2e-5


def need(name):
    """The nearkit.pynear class, or a skip when its kind is not in the C library."""
    kind = KIND_OF[name]
    if kind not in nearkit.kinds():
        pytest.skip(f"nearkit kind {kind!r} (for {name}) is not in this build: {nearkit.kinds()}")
    return getattr(nkp, name)


def real_pynear():
    """The real PyNear package, or a skip when it is not installed (or does not load)."""
    try:
        import pynear
    except ImportError as e:
        pytest.skip(f"the real pynear package is not available: {e}")
    return pynear


@pytest.fixture(scope="module")
def rng():
    return np.random.default_rng(20240607)


# ---- exact references ----------------------------------------------------------------------------


def pairwise(metric, queries, data):
    q = queries.astype(np.float64)
    x = data.astype(np.float64)
    if metric == "hamming":
        xor = np.bitwise_xor(queries[:, None, :], data[None, :, :])
        return np.unpackbits(xor, axis=-1).sum(axis=-1).astype(np.float64)
    if metric == "cosine":
        qn = q / np.maximum(np.linalg.norm(q, axis=1, keepdims=True), 1e-300)
        xn = x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-300)
        return 1.0 - qn @ xn.T
    diff = q[:, None, :] - x[None, :, :]
    if metric == "l2":
        return np.sqrt((diff ** 2).sum(-1))
    if metric == "l2sq":
        return (diff ** 2).sum(-1)
    if metric == "l1":
        return np.abs(diff).sum(-1)
    if metric == "linf":
        return np.abs(diff).max(-1)
    raise AssertionError(metric)


METRIC_OF = {"VPTreeL2Index": "l2", "VPTreeL1Index": "l1", "VPTreeChebyshevIndex": "linf",
             "VPTreeCosineIndex": "cosine"}


def tol(d, atol=ATOL):
    return atol + RTOL * abs(d)


def check_row(ids, dists, ref_row, k, where=""):
    """One nearest-first row against the exact distances of every row (ties allowed at the end)."""
    n = len(ref_row)
    assert len(ids) == len(dists) == min(k, n), f"{where}: {len(ids)} results"
    assert len(set(ids)) == len(ids), f"{where}: repeated ids {ids}"
    expected = np.sort(ref_row)[:min(k, n)]
    for j, (i, d) in enumerate(zip(ids, dists)):
        assert abs(d - ref_row[i]) <= tol(ref_row[i]), f"{where}: id {i} at {d}, is {ref_row[i]}"
        assert abs(d - expected[j]) <= tol(expected[j]), \
            f"{where}: position {j}: {d} vs {expected[j]}"
    if len(ids):
        bound = expected[-1] - tol(expected[-1])
        for i in np.nonzero(ref_row < bound)[0]:
            assert int(i) in ids, f"{where}: id {i} at {ref_row[i]} missing"


def assert_same_rows(ours, theirs, where="", atol=ATOL):
    """Two (indices, distances) list pairs of the same order convention: same shapes and types,
    distances within tolerance, ids equal except where distances tie."""
    (oi, od), (ti, td) = ours, theirs
    assert type(oi) is type(ti) is list and type(od) is type(td) is list
    assert len(oi) == len(ti)
    for q, (a_ids, a_d, b_ids, b_d) in enumerate(zip(oi, od, ti, td)):
        assert type(a_ids) is type(b_ids), f"{where} q{q}: {type(a_ids)} vs {type(b_ids)}"
        if not isinstance(a_ids, list):  # search1NN: scalars
            a_ids, a_d, b_ids, b_d = [a_ids], [a_d], [b_ids], [b_d]
        assert len(a_ids) == len(b_ids), f"{where} q{q}: {a_ids} vs {b_ids}"
        assert all(type(x) is int for x in a_ids + b_ids)
        assert [type(x) for x in a_d] == [type(x) for x in b_d], f"{where} q{q}: distance types"
        for j, (x, y) in enumerate(zip(a_d, b_d)):
            assert abs(x - y) <= tol(y, atol), f"{where} q{q} position {j}: {x} vs {y}"
        # ids match except among equal distances: swapped within the row, or tied at its boundary
        far = max(a_d, default=0.0)
        for i, (x, da) in enumerate(zip(a_ids, a_d)):
            if x != b_ids[i]:
                swapped = any(y == x and abs(da - b_d[j]) <= tol(da, atol)
                              for j, y in enumerate(b_ids))
                assert swapped or abs(da - far) <= tol(far, atol), \
                    f"{where} q{q}: id {x} at {da} vs {b_ids[i]} at {b_d[i]}"


def nearest_first(rows):
    return [list(reversed(r)) for r in rows]


# ---- VP-trees: the quick-start program -----------------------------------------------------------


def quick_start(pynear, cls_name, data, queries):
    """The shape of PyNear's README quick start."""
    index = getattr(pynear, cls_name)()
    index.set(data)
    indices, distances = index.searchKNN(queries, k=5)
    nn_indices, nn_distances = index.search1NN(queries)
    return (indices, distances), (nn_indices, nn_distances)


@pytest.mark.parametrize("cls_name", FLOAT_VPTREES)
def test_vptree_quick_start_exact(cls_name, rng):
    need(cls_name)
    data = rng.random((3000, 8), dtype=np.float32)
    queries = rng.random((20, 8), dtype=np.float32)
    (ids, dists), (nn_ids, nn_dists) = quick_start(nkp, cls_name, data, queries)
    ref = pairwise(METRIC_OF[cls_name], queries, data)
    assert len(ids) == len(dists) == 20
    for q in range(20):
        # PyNear's convention: each row farthest first
        assert dists[q] == sorted(dists[q], reverse=True)
        check_row(ids[q][::-1], dists[q][::-1], ref[q], 5, f"{cls_name} q{q}")
        assert type(ids[q][0]) is int and type(dists[q][0]) is float
    assert nn_ids == [r[-1] for r in ids]
    assert nn_dists == [r[-1] for r in dists]


@pytest.mark.parametrize("cls_name", FLOAT_VPTREES)
def test_vptree_quick_start_same_as_pynear(cls_name, rng):
    need(cls_name)
    pynear = real_pynear()
    data = rng.random((3000, 8), dtype=np.float32)
    queries = rng.random((20, 8), dtype=np.float32)
    ours = quick_start(nkp, cls_name, data, queries)
    theirs = quick_start(pynear, cls_name, data, queries)
    assert_same_rows(ours[0], theirs[0], cls_name)
    assert_same_rows(ours[1], theirs[1], cls_name + " 1nn")


def test_vptree_cosine_scale_same_as_pynear():
    """Cosine distance is 1 - cos: 0 same direction, 1 orthogonal, 2 opposite."""
    need("VPTreeCosineIndex")
    db = np.array([[1, 0, 0, 0], [-1, 0, 0, 0], [0, 1, 0, 0]], np.float32)
    q = np.array([[2, 0, 0, 0]], np.float32)
    index = nkp.VPTreeCosineIndex()
    index.set(db)
    ids, dists = index.searchKNN(q, k=3)
    assert ids == [[1, 2, 0]]
    np.testing.assert_allclose(dists, [[2, 1, 0]], atol=1e-6)
    # a zero row is orthogonal to everything (PyNear's IVFFlatCosineIndex's rule; its VP-tree
    # reports 0.5 there)
    index.set(np.vstack([db, np.zeros((1, 4), np.float32)]))
    assert index.searchKNN(q, k=4)[1][0][1:3] == [1.0, 1.0]
    try:
        pynear = real_pynear()
    except pytest.skip.Exception:
        return
    theirs = pynear.VPTreeCosineIndex()
    theirs.set(db)
    assert_same_rows((ids, dists), theirs.searchKNN(q, k=3), "cosine scale", atol=1e-6)


@pytest.mark.parametrize("cls_name", FLOAT_VPTREES + ["VPTreeBinaryIndex"])
def test_k_larger_than_n_same_as_pynear(cls_name, rng):
    """Fewer rows than k: every row lists all n rows (no padding), farthest first."""
    cls = need(cls_name)
    if cls_name == "VPTreeBinaryIndex":
        data = rng.integers(0, 256, (4, 16), dtype=np.uint8)
        queries = rng.integers(0, 256, (3, 16), dtype=np.uint8)
    else:
        data = rng.random((4, 6), dtype=np.float32)
        queries = rng.random((3, 6), dtype=np.float32)
    index = cls()
    index.set(data)
    ids, dists = index.searchKNN(queries, 9)
    assert [sorted(r) for r in ids] == [[0, 1, 2, 3]] * 3
    arr_ids, arr_dists = index.searchKNN_arrays(queries, 9)
    assert arr_ids.shape == arr_dists.shape == (3, 9) and arr_ids.dtype == np.int64
    assert (arr_ids[:, 4:] == -1).all() and arr_ids[:, :4].tolist() == nearest_first(ids)
    if cls_name == "VPTreeBinaryIndex":
        assert arr_dists.dtype == np.int64 and (arr_dists[:, 4:] == np.iinfo(np.int64).max).all()
    else:
        assert arr_dists.dtype == np.float32 and np.isinf(arr_dists[:, 4:]).all()
    try:
        pynear = real_pynear()
    except pytest.skip.Exception:
        return
    theirs = getattr(pynear, cls_name)()
    theirs.set(data)
    assert_same_rows((ids, dists), theirs.searchKNN(queries, 9), cls_name)
    if hasattr(theirs, "searchKNN_arrays"):
        t_ids, t_dists = theirs.searchKNN_arrays(queries, 9)
        assert t_ids.dtype == arr_ids.dtype and t_dists.dtype == arr_dists.dtype
        assert (t_ids == arr_ids).all()
        np.testing.assert_allclose(t_dists, arr_dists, rtol=RTOL)


def test_vptree_arrays_same_as_pynear(rng):
    need("VPTreeL2Index")
    pynear = real_pynear()
    data = rng.random((500, 5), dtype=np.float32)
    queries = rng.random((7, 5), dtype=np.float32)
    ours, theirs = nkp.VPTreeL2Index(), pynear.VPTreeL2Index()
    ours.set(data)
    theirs.set(data)
    o_ids, o_d = ours.searchKNN_arrays(queries, 6)
    t_ids, t_d = theirs.searchKNN_arrays(queries, 6)
    assert (o_ids == t_ids).all() and o_d.dtype == t_d.dtype == np.float32
    np.testing.assert_allclose(o_d, t_d, rtol=RTOL)


# ---- VP-tree over binary codes -------------------------------------------------------------------


def binary_program(pynear, cls_name, data, queries, k):
    index = getattr(pynear, cls_name)()
    index.set(data)
    return index.searchKNN(queries, k), index.search1NN(queries)


@pytest.mark.parametrize("cls_name", ["VPTreeBinaryIndex", "VPTreeBinaryIndex256"])
def test_vptree_binary(cls_name, rng):
    need(cls_name)
    data = rng.integers(0, 256, (2000, 32), dtype=np.uint8)
    queries = data[:10].copy()
    queries[:, 3] ^= 0x11  # near duplicates: 2 bits from a stored row
    queries = np.vstack([queries, rng.integers(0, 256, (5, 32), dtype=np.uint8)])
    (ids, dists), (nn_ids, nn_dists) = binary_program(nkp, cls_name, data, queries, 3)
    ref = pairwise("hamming", queries, data)
    for q in range(len(queries)):
        assert all(type(d) is int for d in dists[q]) and dists[q] == sorted(dists[q], reverse=True)
        check_row(ids[q][::-1], [float(d) for d in dists[q][::-1]], ref[q], 3, f"q{q}")
    assert nn_ids[:10] == list(range(10)) and nn_dists[:10] == [2] * 10
    try:
        pynear = real_pynear()
    except pytest.skip.Exception:
        return
    theirs = binary_program(pynear, cls_name, data, queries, 3)
    assert_same_rows((ids, dists), theirs[0], cls_name)
    assert nn_dists == theirs[1][1] and nn_ids[:10] == theirs[1][0][:10]


def test_vptree_binary_duplicates():
    cls = need("VPTreeBinaryIndex")
    data = np.zeros((2, 32), np.uint8)
    index = cls()
    index.set(data)
    indices, distances = index.searchKNN(data, 2)
    assert [sorted(i) for i in indices] == [[0, 1], [0, 1]]
    assert distances == [[0, 0], [0, 0]]


# ---- BK-tree -------------------------------------------------------------------------------------


def bk_program(pynear, data, queries, threshold):
    tree = pynear.BKTreeBinaryIndex()
    tree.set(data)
    return tree.find_threshold(queries, threshold), tree.empty(), tree.values()


def test_bktree_find_threshold(rng):
    need("BKTreeBinaryIndex")
    data = rng.integers(0, 256, (1500, 8), dtype=np.uint8)
    data[100] = data[7]  # a duplicate
    queries = np.vstack([data[:20], rng.integers(0, 256, (5, 8), dtype=np.uint8)])
    (indices, distances, keys), empty, values = bk_program(nkp, data, queries, 20)
    ref = pairwise("hamming", queries, data)
    assert not empty and values == data.tolist()
    assert len(indices) == len(distances) == len(keys) == len(queries)
    for q in range(len(queries)):
        assert indices[q] == np.nonzero(ref[q] <= 20)[0].tolist()  # row order
        assert distances[q] == [int(ref[q][i]) for i in indices[q]]
        assert all(type(d) is int for d in distances[q])
        assert keys[q] == [data[i].tolist() for i in indices[q]]
    assert 7 in indices[7] and 100 in indices[7]
    try:
        pynear = real_pynear()
    except pytest.skip.Exception:
        return
    (t_ind, t_dist, t_keys), t_empty, t_values = bk_program(pynear, data, queries, 20)
    assert empty == t_empty and sorted(values) == sorted(t_values)
    for q in range(len(queries)):  # PyNear lists matches in tree order: compare as sets
        ours = sorted(zip(indices[q], distances[q], keys[q]))
        theirs = sorted(zip(t_ind[q], t_dist[q], t_keys[q]))
        assert ours == theirs


BK_CLASSES = [("BKTreeBinaryIndex64", 8), ("BKTreeBinaryIndex128", 16),
              ("BKTreeBinaryIndex256", 32), ("BKTreeBinaryIndex512", 64), ("BKTreeBinaryIndexN", 1),
              ("BKTreeBinaryIndexN", 5)]


def distinct_rows(n, width):
    rng = np.random.default_rng(42)
    while True:
        data = rng.integers(0, 256, size=(n, width), dtype=np.uint8)
        if len({tuple(r) for r in data.tolist()}) == n:
            return data


def bk_empty_program(pynear, cls_name, data):
    """PyNear's own empty-tree test: never set, then set from a 1-d empty array."""
    tree = getattr(pynear, cls_name)()
    out = [tree.find_threshold(data, 1)[:2], tree.empty(), tree.values()]
    tree.set(np.array([], dtype=np.uint8))
    out += [tree.find_threshold(data, 1)[:2], tree.empty(), tree.values()]
    return out


def bk_all_program(pynear, cls_name, data):
    """PyNear's own tests on two rows: every row (threshold = all bits), self only, zeros."""
    tree = getattr(pynear, cls_name)()
    tree.set(data)
    everything = tree.find_threshold(data, data.shape[1] * 8)
    itself = tree.find_threshold(data, 0)
    zeros = getattr(pynear, cls_name)()
    zeros.set(np.zeros_like(data))
    return everything, itself, zeros.find_threshold(np.zeros_like(data), 255), tree.size()


@pytest.mark.parametrize("cls_name, width", BK_CLASSES)
def test_bktree_pynear_own_cases(cls_name, width):
    """Empty inputs and the result order of PyNear's own BK-tree tests, same as pynear's."""
    need("BKTreeBinaryIndex")
    data = distinct_rows(2, width)
    empty = bk_empty_program(nkp, cls_name, data)
    assert empty == [([[], []], [[], []]), True, []] * 2
    everything, itself, zeros, size = bk_all_program(nkp, cls_name, data)
    assert everything[0] == [[0, 1], [0, 1]] and size == 2
    assert everything[1] == pairwise("hamming", data, data).astype(int).tolist()
    assert everything[2] == np.broadcast_to(data, (2, 2, width)).tolist()
    assert itself == ([[0], [1]], [[0], [0]], data[:, None, :].tolist())
    assert zeros[:2] == ([[0, 1], [0, 1]], [[0, 0], [0, 0]])
    try:
        pynear = real_pynear()
    except pytest.skip.Exception:
        return
    assert bk_empty_program(pynear, cls_name, data) == empty
    assert bk_all_program(pynear, cls_name, data) == (everything, itself, zeros, size)


def test_bktree_threshold_rules(rng):
    cls = need("BKTreeBinaryIndex")
    data = rng.integers(0, 256, (50, 8), dtype=np.uint8)
    tree = cls()
    tree.set(data)
    assert tree.find_threshold(data[:2], -1) == ([[], []], [[], []], [[], []])  # as PyNear
    with pytest.raises(TypeError):
        tree.find_threshold(data[:2], 3.5)  # PyNear: an integer only
    assert tree.find_threshold(np.zeros((0, 8), np.uint8), 3) == ([], [], [])


def test_bktree_empty_and_fixed_width(rng):
    need("BKTreeBinaryIndex64")
    tree = nkp.BKTreeBinaryIndex64()
    queries = rng.integers(0, 256, (2, 8), dtype=np.uint8)
    assert tree.find_threshold(queries, 1) == ([[], []], [[], []], [[], []])
    assert tree.empty() and tree.values() == [] and tree.size() == 0
    tree.set(np.zeros((0, 8), np.uint8))
    assert tree.find_threshold(queries, 1) == ([[], []], [[], []], [[], []])
    tree.set(queries)
    assert tree.find_threshold(queries, 0)[0] == [[0], [1]] and tree.size() == 2
    with pytest.raises(ValueError, match="8 bytes"):
        tree.set(np.zeros((3, 16), np.uint8))


# ---- Multi-index hashing -------------------------------------------------------------------------


def flip_bits(rows, n_flips, rng):
    out = rows.copy()
    for r in out:
        for b in rng.choice(r.size * 8, size=n_flips, replace=False):
            r[b // 8] ^= np.uint8(1 << (b % 8))
    return out


def mih_program(pynear, db, queries, radius):
    """The shape of PyNear's README MIH example."""
    mih = pynear.MIHBinaryIndex(m=8)
    mih.set(db)
    indices, distances = mih.searchKNN(queries, k=10, radius=radius)
    return (indices, distances), (mih.m(), mih.n(), mih.nbytes())


@pytest.mark.parametrize("radius", [0, 8, 30])
def test_mih_readme_program(radius, rng):
    need("MIHBinaryIndex")
    db = rng.integers(0, 256, size=(3000, 64), dtype=np.uint8)
    planted = np.arange(0, 300, 15)
    queries = flip_bits(db[planted], 5, rng)
    queries[0] = db[0]
    (indices, distances), props = mih_program(nkp, db, queries, radius)
    assert props == (8, 3000, 64)
    ref = pairwise("hamming", queries, db)
    for q in range(len(queries)):
        within = np.nonzero(ref[q] <= radius)[0]
        # exactly the k nearest rows within the radius, nearest first
        assert sorted(indices[q]) == sorted(within.tolist())[:10] or len(within) > 10
        assert distances[q] == sorted(distances[q]) and all(d <= radius for d in distances[q])
        assert distances[q] == [int(ref[q][i]) for i in indices[q]]
        if radius >= 5:
            assert planted[q] in indices[q]
    assert indices[0][:1] == [0] and distances[0][:1] == [0]
    try:
        pynear = real_pynear()
    except pytest.skip.Exception:
        return
    (t_ind, t_dist), t_props = mih_program(pynear, db, queries, radius)
    assert t_props == props
    for q in range(len(queries)):
        # PyNear may add rows beyond the radius; within it both find the same rows
        theirs = [(d, i) for i, d in zip(t_ind[q], t_dist[q]) if d <= radius]
        assert sorted(zip(distances[q], indices[q])) == sorted(theirs)
        assert all(type(d) is int for d in distances[q] + t_dist[q])


def test_mih_arrays_default_radius_and_unset(rng):
    cls = need("MIHBinaryIndex")
    db = rng.integers(0, 256, size=(64, 16), dtype=np.uint8)
    unset = cls(m=8)
    assert unset.searchKNN(db[:2], 3) == ([[], []], [[], []])
    assert unset.n() == 0
    index = cls(m=8)
    index.set(db)
    q = np.vstack([db[0], db[1] ^ np.uint8(0xFF)])
    ids, dists = index.searchKNN_arrays(q, 3, radius=0)
    assert ids.shape == dists.shape == (2, 3) and dists.dtype == np.int64
    assert ids[0, 0] == 0 and dists[0, 0] == 0 and (ids[1] == -1).all()
    assert (dists[ids == -1] == np.iinfo(np.int64).max).all()
    assert index.searchKNN(q, 3) == index.searchKNN(q, 3, radius=8)  # PyNear's default radius
    # a radius beyond the bit count is the exact k-NN
    ids, dists = index.searchKNN(q, 3, radius=10_000)
    ref = pairwise("hamming", q, db)
    for r in range(2):
        check_row(ids[r], [float(d) for d in dists[r]], ref[r], 3)


def test_mih_concurrent_radii(rng):
    """Searches with different radii from several threads each get their own radius."""
    cls = need("MIHBinaryIndex")
    db = rng.integers(0, 256, size=(2000, 16), dtype=np.uint8)
    queries = flip_bits(db[:50], 6, rng)
    index = cls(m=4)
    index.set(db)
    ref = pairwise("hamming", queries, db)
    expected = {r: [sorted(np.nonzero(row <= r)[0].tolist())[:5] for row in ref]
                for r in (4, 6, 40)}

    def run(i):
        r = (4, 6, 40)[i % 3]
        ids, dists = index.searchKNN(queries, 5, radius=r)
        assert all(d <= r for row in dists for d in row)
        if r < 40:  # few rows lie within small radii: the whole set is the answer
            assert [sorted(x) for x in ids] == expected[r]
        return True

    with ThreadPoolExecutor(4) as pool:
        assert all(pool.map(run, range(24)))


# ---- Binary IVF ----------------------------------------------------------------------------------


def ivf_binary_program(pynear, db, queries, nlist, nprobe):
    """The shape of PyNear's README binary IVF example."""
    ivf = pynear.IVFFlatBinaryIndex(nlist=nlist, nprobe=nprobe)
    ivf.set(db)
    first = ivf.searchKNN(queries, k=10)
    ivf.set_nprobe(nlist)  # all lists: exact
    exact = ivf.searchKNN(queries, k=10)
    return first, exact, (ivf.nlist(), ivf.nprobe())


def test_ivf_binary_program(rng):
    need("IVFFlatBinaryIndex")
    db = rng.integers(0, 256, size=(2000, 32), dtype=np.uint8)
    planted = np.arange(0, 100, 10)
    queries = flip_bits(db[planted], 3, rng)
    first, (ids, dists), props = ivf_binary_program(nkp, db, queries, 16, 2)
    assert props == (16, 16)
    ref = pairwise("hamming", queries, db)
    for q in range(len(queries)):
        assert first[1][q] == sorted(first[1][q]) and len(first[0][q]) == 10
        assert dists[q] == sorted(dists[q]) and all(type(d) is int for d in dists[q])
        check_row(ids[q], [float(d) for d in dists[q]], ref[q], 10, f"q{q}")
        assert ids[q][0] == planted[q] and dists[q][0] == 3
    try:
        pynear = real_pynear()
    except pytest.skip.Exception:
        return
    t_first, t_exact, t_props = ivf_binary_program(pynear, db, queries, 16, 2)
    assert t_props == props
    assert_same_rows((ids, dists), t_exact, "ivf_binary exact")


def test_ivf_binary_small(rng):
    """Fewer rows than lists and than k (PyNear: rows of every row, nlist() as requested)."""
    cls = need("IVFFlatBinaryIndex")
    db = rng.integers(0, 256, size=(5, 16), dtype=np.uint8)
    ivf = cls(nlist=8, nprobe=8)
    ivf.set(db)
    ids, dists = ivf.searchKNN(db[:2], 10)
    assert [sorted(r) for r in ids] == [[0, 1, 2, 3, 4]] * 2 and ivf.nlist() == 8
    assert ids[0][0] == 0 and dists[0][0] == 0
    assert cls().searchKNN(db[:2], 3) == ([[], []], [[], []])


# ---- Float IVF -----------------------------------------------------------------------------------


@pytest.mark.parametrize("cls_name, metric", [("IVFFlatL2Index", "l2sq"),
                                              ("IVFFlatCosineIndex", "cosine")])
def test_ivf_flat_program(cls_name, metric, rng):
    need(cls_name)
    data = rng.standard_normal((2000, 16)).astype(np.float32)
    queries = rng.standard_normal((15, 16)).astype(np.float32)

    def program(pynear):
        index = getattr(pynear, cls_name)(n_clusters=20, n_probe=20)  # all cells: exact
        index.set(data)
        return (index.searchKNN(queries, 5), index.search1NN(queries),
                index.searchKNN(queries[0], 3), (index.n_clusters, index.n_probe))

    (ids, dists), nn, single, props = program(nkp)
    assert props == (20, 20)
    ref = pairwise(metric, queries, data)
    for q in range(len(queries)):
        assert dists[q] == sorted(dists[q])  # nearest first
        assert all(type(i) is int for i in ids[q]) and all(type(d) is float for d in dists[q])
        check_row(ids[q], dists[q], ref[q], 5, f"{cls_name} q{q}")
    assert nn == ([r[:1] for r in ids], [r[:1] for r in dists])  # nested, as PyNear's
    assert single == ([ids[0][:3]], [dists[0][:3]])
    try:
        pynear = real_pynear()
    except pytest.skip.Exception:
        return
    theirs = program(pynear)
    assert theirs[3] == props
    for ours_part, theirs_part in zip((ids, dists), theirs[0]):
        assert len(ours_part) == len(theirs_part)
    # PyNear computes ||q||^2 + ||x||^2 - 2 q.x in float32: a little less precise
    assert_same_rows((ids, dists), theirs[0], cls_name, atol=2e-4)
    assert_same_rows(nn, theirs[1], cls_name + " 1nn", atol=2e-4)
    assert_same_rows(single, theirs[2], cls_name + " 1-d", atol=2e-4)


def test_ivf_flat_approximate_and_small(rng):
    cls = need("IVFFlatL2Index")
    data = rng.random((50, 4), dtype=np.float32)
    index = cls(n_clusters=100, n_probe=100)  # more cells than rows: capped at the row count
    index.set(data)
    assert 1 <= index.n_clusters <= 50 and index.n_probe == 100
    ids, dists = index.searchKNN(data[:2], k=60)
    assert [sorted(r) for r in ids] == [list(range(50))] * 2
    assert ids[0][0] == 0 and dists[0][0] == 0.0
    approx = cls(n_clusters=8, n_probe=1)
    approx.set(rng.random((400, 4), dtype=np.float32))
    ids, dists = approx.searchKNN(data[:3], 5)
    assert all(d == sorted(d) for d in dists) and approx.n_probe == 1
    approx.n_probe = 8
    assert approx.n_probe == 8


# ---- set() replaces, pickle, to_string -----------------------------------------------------------


def make(cls_name, rng, n=300):
    cls = need(cls_name)
    if cls_name.startswith("IVFFlat") and "Binary" not in cls_name:
        index, data = cls(n_clusters=8, n_probe=8), rng.random((n, 6), dtype=np.float32)
    elif "Binary" in cls_name:
        index = cls(m=4) if cls_name == "MIHBinaryIndex" else \
            cls(nlist=8, nprobe=8) if cls_name == "IVFFlatBinaryIndex" else cls()
        data = rng.integers(0, 256, (n, 32 if cls_name.endswith("256") else 8), dtype=np.uint8)
    else:
        index, data = cls(), rng.random((n, 6), dtype=np.float32)
    return index, data


ALL = ["VPTreeL2Index", "VPTreeL1Index", "VPTreeChebyshevIndex", "VPTreeCosineIndex",
       "VPTreeBinaryIndex", "VPTreeBinaryIndex256", "BKTreeBinaryIndex", "MIHBinaryIndex",
       "IVFFlatBinaryIndex", "IVFFlatL2Index", "IVFFlatCosineIndex"]


def search(index, queries):
    if isinstance(index, nkp.BKTreeBinaryIndex):
        return index.find_threshold(queries, 12)
    return index.searchKNN(queries, 4)


@pytest.mark.parametrize("cls_name", ALL)
def test_pickle_and_to_string(cls_name, rng):
    index, data = make(cls_name, rng)
    blank = pickle.loads(pickle.dumps(index))  # never set: pickles too
    assert type(blank) is type(index) and "empty" in blank.to_string()
    index.set(data)
    before = search(index, data[:5])
    blob = pickle.dumps(index)
    restored = pickle.loads(blob)
    assert pickle.dumps(restored) == blob
    assert search(restored, data[:5]) == before
    assert restored.to_string() == index.to_string()
    text = index.to_string()
    assert isinstance(text, str) and KIND_OF[cls_name] in text and str(len(data)) in text


@pytest.mark.parametrize("cls_name", ALL)
def test_set_replaces_content(cls_name, rng):
    index, data = make(cls_name, rng)
    index.set(data)
    index.set(data[100:110])
    if isinstance(index, nkp.BKTreeBinaryIndex):
        found = index.find_threshold(data[100:102], 0)[0]
        assert found == [[0], [1]] and index.size() == 10
        return
    if isinstance(index, nkp.MIHBinaryIndex):
        ids, _ = index.searchKNN(data[100:102], 20, radius=64)
    else:
        ids, _ = index.searchKNN(data[100:102], 20)
    assert [sorted(r) for r in ids] == [list(range(10))] * 2


def test_pickle_mih_keeps_radius_semantics(rng):
    cls = need("MIHBinaryIndex")
    db = rng.integers(0, 256, (200, 16), dtype=np.uint8)
    index = cls(m=4)
    index.set(db)
    index.searchKNN(db[:3], 2, radius=0)
    restored = pickle.loads(pickle.dumps(index))
    assert restored.searchKNN(db[:3] ^ np.uint8(1), 2, radius=0) == ([[], [], []], [[], [], []])
    assert restored.searchKNN(db[:3], 2, radius=128) == index.searchKNN(db[:3], 2, radius=128)


# ---- bad input -----------------------------------------------------------------------------------


@pytest.mark.parametrize("cls_name", FLOAT_VPTREES)
def test_bad_input_float(cls_name, rng):
    cls = need(cls_name)
    index = cls()
    q = rng.random((2, 4), dtype=np.float32)
    with pytest.raises(RuntimeError, match="set"):  # never set, as PyNear
        index.searchKNN(q, 1)
    index.set(np.zeros((0, 4), np.float32))
    with pytest.raises(RuntimeError, match="set"):
        index.search1NN(q)
    index.set(rng.random((20, 4), dtype=np.float32))
    with pytest.raises(ValueError, match="dimension"):
        index.searchKNN(rng.random((2, 3), dtype=np.float32), 1)
    with pytest.raises(ValueError, match="2-d"):
        index.searchKNN(q[0], 1)
    with pytest.raises(ValueError, match="2-d"):
        index.set(q[0])
    with pytest.raises(ValueError):
        index.searchKNN(np.full((1, 4), np.nan, np.float32), 1)
    with pytest.raises(ValueError):
        index.set(np.full((3, 4), np.inf))
    with pytest.raises(ValueError, match="k"):
        index.searchKNN(q, 0)
    with pytest.raises(ValueError):
        index.searchKNN(q, -1)
    with pytest.raises(TypeError):
        index.searchKNN(q, "3")
    with pytest.raises(ValueError):
        index.searchKNN(np.array([["a", "b", "c", "d"]]), 1)
    assert len(index.searchKNN(q.astype(np.float64), 2)[0]) == 2  # converted, as PyNear


def test_bad_input_binary(rng):
    cls = need("VPTreeBinaryIndex")
    index = cls()
    with pytest.raises(TypeError, match="uint8"):
        index.set(rng.random((5, 8)))
    with pytest.raises(TypeError, match="uint8"):
        index.set(np.zeros((5, 64), bool))
    index.set(rng.integers(0, 256, (20, 8), dtype=np.uint8))
    with pytest.raises(TypeError, match="uint8"):
        index.searchKNN(np.zeros((1, 8), np.int64), 1)
    with pytest.raises(ValueError, match="8 bytes"):
        index.searchKNN(np.zeros((1, 4), np.uint8), 1)
    assert index.search1NN([[0] * 8])[0] == index.search1NN(np.zeros((1, 8), np.uint8))[0]
    with pytest.raises(TypeError):
        index.searchKNN([[0, 1, 2, 3, 4, 5, 6, 999]], 1)
    with pytest.raises(ValueError, match="32 bytes"):
        nkp.VPTreeBinaryIndex256().set(np.zeros((3, 8), np.uint8))


def test_bad_input_mih_ivf(rng):
    need("MIHBinaryIndex")
    need("IVFFlatBinaryIndex")
    need("IVFFlatL2Index")
    db = rng.integers(0, 256, (100, 64), dtype=np.uint8)
    with pytest.raises(ValueError, match="m"):
        nkp.MIHBinaryIndex(m=4).set(db)  # 128-bit substrings: more than 64 bits
    with pytest.raises(ValueError):
        nkp.MIHBinaryIndex(m=-1)
    mih = nkp.MIHBinaryIndex(m=8)
    mih.set(db)
    with pytest.raises(ValueError, match="radius"):
        mih.searchKNN(db[:1], 3, radius=-1)
    with pytest.raises(TypeError):
        mih.searchKNN(db[:1], 3, radius=1.5)
    with pytest.raises(ValueError, match="k"):
        mih.searchKNN(db[:1], 0)
    with pytest.raises(ValueError):
        nkp.IVFFlatBinaryIndex(nlist=0)
    ivf = nkp.IVFFlatBinaryIndex(nlist=4, nprobe=2)
    ivf.set(db)
    with pytest.raises(ValueError):
        ivf.set_nprobe(0)
    assert ivf.nprobe() == 2
    with pytest.raises(RuntimeError, match="set"):
        nkp.IVFFlatL2Index().searchKNN(np.zeros((1, 4), np.float32), 1)
    with pytest.raises(ValueError):
        nkp.IVFFlatL2Index(n_clusters=0)
    with pytest.raises(TypeError, match="n_clusters"):
        nkp.IVFFlatL2Index(nlist=8)
    with pytest.raises(ValueError, match="row"):
        nkp.IVFFlatCosineIndex().set(np.zeros((0, 4), np.float32))
    with pytest.raises(ValueError, match="2-d"):
        nkp.IVFFlatL2Index().set(np.zeros(4, np.float32))


def test_extra_options_reach_nearkit(rng):
    cls = need("VPTreeL2Index")
    index = cls(leaf_size=4, num_threads=1)
    index.set(rng.random((200, 3), dtype=np.float32))
    assert "leaf_size=4" in index.to_string()
    with pytest.raises(LookupError):
        cls(no_such_parameter=1).set(rng.random((10, 3), dtype=np.float32))


def test_names_without_counterpart():
    with pytest.raises(AttributeError, match="SQ8"):
        nkp.HNSWL2IndexSQ8  # noqa: B018
    with pytest.raises(AttributeError):
        nkp.no_such_name  # noqa: B018
    assert set(nkp.__all__) <= set(dir(nkp))


def test_public_names_same_as_pynear():
    """Every public name of pynear 2.6 but HNSWL2IndexSQ8 (and its typing imports) is here."""
    pynear = real_pynear()
    theirs = {n for n in dir(pynear) if not n.startswith("_")} - {
        "List", "Tuple", "np", "HNSWL2IndexSQ8", "logging", "benchmark", "tests"}
    assert theirs <= set(dir(nkp)), theirs - set(dir(nkp))
    for module in ("sharded", "forest", "sklearn_adapter"):
        ours, real = getattr(nkp, module), getattr(pynear, module)
        public = {n for n in dir(real) if n[0].isupper() and getattr(real, n).__module__ ==
                  real.__name__}
        assert public <= set(dir(ours)), (module, public - set(dir(ours)))


def test_concurrent_searches_while_reading(rng):
    """Searches on one VP-tree from several threads (as PyNear allows) agree with a serial run."""
    cls = need("VPTreeL2Index")
    data = rng.random((2000, 8), dtype=np.float32)
    queries = rng.random((100, 8), dtype=np.float32)
    index = cls()
    index.set(data)
    expected = index.searchKNN(queries, 5)
    barrier = threading.Barrier(4)

    def run(_):
        barrier.wait()
        return index.searchKNN(queries, 5) == expected

    with ThreadPoolExecutor(4) as pool:
        assert all(pool.map(run, range(4)))
