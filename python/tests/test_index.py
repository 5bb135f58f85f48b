"""The Index API: creation, adding, searching, properties, parameters, conversions."""

import numpy as np
import pytest

import nearkit
from nearkit import lowlevel


def brute_force(base, queries, k, metric="l2"):
    diff = queries[:, None, :].astype(np.float64) - base[None, :, :].astype(np.float64)
    if metric == "l2":
        d = np.sqrt((diff ** 2).sum(-1))
    elif metric == "l1":
        d = np.abs(diff).sum(-1)
    else:
        d = np.abs(diff).max(-1)
    order = np.lexsort((np.broadcast_to(np.arange(base.shape[0]), d.shape), d), axis=-1)[:, :k]
    return order, np.take_along_axis(d, order, axis=1)


def test_version_and_abi():
    assert nearkit.__version__ == lowlevel.nearkit_version_string()
    major, minor, patch = (int(p) for p in nearkit.__version__.split("."))
    assert lowlevel.nearkit_version_number() == major * 10000 + minor * 100 + patch
    assert nearkit.abi_version == lowlevel.NEARKIT_ABI_VERSION


def test_kinds_and_metrics_come_from_the_library():
    names = nearkit.kinds()
    assert "flat" in names
    assert names == [info.name for info in nearkit.kind_info()]
    assert len(names) == lowlevel.nearkit_kind_count()
    flat = nearkit.kind_info("FLAT")
    assert flat.exact and set(nearkit.metrics()) <= set(flat.metrics)
    assert not flat.compressed and nearkit.kind_info("ivf_sq8").compressed
    assert {"l2", "l1", "linf", "cosine", "ip", "hamming"} <= set(nearkit.metrics())
    assert nearkit.metric_name("euclidean") == "l2"
    assert flat.supports("manhattan")
    with pytest.raises(nearkit.NotFoundError):
        nearkit.kind_info("no-such-kind")


@pytest.mark.parametrize("metric", ["l2", "l1", "linf"])
def test_search_matches_brute_force(rng, metric):
    base = rng.standard_normal((300, 12)).astype(np.float32)
    queries = rng.standard_normal((25, 12)).astype(np.float32)
    index = nearkit.Index(kind="flat", metric=metric, dim=12)
    index.add(base)
    index.build()
    ids, dist = index.search(queries, 7)
    assert ids.dtype == np.int64 and dist.dtype == np.float32
    assert ids.shape == dist.shape == (25, 7)
    want_ids, want_dist = brute_force(base, queries, 7, metric)
    np.testing.assert_allclose(dist, want_dist, rtol=1e-4, atol=1e-4)
    assert (ids == want_ids).mean() > 0.99  # equal up to float ties


def test_one_dimensional_query_gives_one_row(small_index):
    index, base = small_index
    ids, dist = index.search(base[3], 4)
    assert ids.shape == (1, 4) and dist.shape == (1, 4)
    assert ids[0, 0] == 3 and dist[0, 0] == 0.0
    ids2, dist2 = index.search(base[3:4], 4)
    np.testing.assert_array_equal(ids, ids2)
    np.testing.assert_array_equal(dist, dist2)


def test_k_larger_than_index_pads_with_minus_one():
    index = nearkit.Index(dim=2)
    index.add(np.array([[0, 0], [1, 0], [3, 0]], np.float32))
    ids, dist = index.search(np.zeros(2), 5)
    assert ids.tolist() == [[0, 1, 2, -1, -1]]
    assert dist[0, :3].tolist() == [0.0, 1.0, 3.0]
    assert np.isinf(dist[0, 3:]).all()


def test_empty_index_and_empty_queries():
    index = nearkit.Index(dim=3)
    ids, dist = index.search(np.ones(3), 2)
    assert ids.tolist() == [[-1, -1]] and np.isinf(dist).all()
    ids, dist = index.search(np.zeros((0, 3)), 2)
    assert ids.shape == (0, 2) and dist.shape == (0, 2)
    result = index.range_search(np.zeros((0, 3)), 1.0)
    assert result.query_count == 0 and result.offsets.tolist() == [0]


def test_custom_ids(rng):
    base = rng.random((50, 4), dtype=np.float32)
    ids_in = np.arange(1000, 1050, dtype=np.int64)[::-1].copy()
    index = nearkit.Index(dim=4)
    index.add(base[:25], ids=ids_in[:25])
    index.add(base[25:], ids=list(ids_in[25:]))  # any integer sequence
    ids, dist = index.search(base[[0, 30]], 1)
    assert ids[:, 0].tolist() == [ids_in[0], ids_in[30]]
    index.add(base[:2], ids=np.array([7, 8], dtype=np.uint16))
    assert len(index) == 52


def test_default_ids_continue_insertion_order(rng):
    index = nearkit.Index(dim=3)
    a = rng.random((5, 3), dtype=np.float32)
    b = rng.random((4, 3), dtype=np.float32)
    index.add(a)
    index.add(b)
    ids, _ = index.search(b, 1)
    assert ids[:, 0].tolist() == [5, 6, 7, 8]


def test_range_search_csr_form(rng):
    base = rng.random((400, 3), dtype=np.float32)
    queries = rng.random((12, 3), dtype=np.float32)
    index = nearkit.Index(dim=3)
    index.add(base)
    result = index.range_search(queries, 0.2)
    offsets, ids, dists = result  # unpacks as a tuple
    assert offsets.dtype == np.int64 and ids.dtype == np.int64 and dists.dtype == np.float32
    assert offsets.shape == (13,) and offsets[0] == 0 and offsets[-1] == len(ids) == len(dists)
    d_all = np.sqrt(((queries[:, None, :].astype(np.float64) - base[None]) ** 2).sum(-1))
    ids_list, dist_list = result.split()
    assert len(ids_list) == 12
    for q in range(12):
        qi, qd = result.query(q)
        np.testing.assert_array_equal(qi, ids_list[q])
        np.testing.assert_array_equal(qd, dist_list[q])
        assert (np.diff(qd) >= 0).all()
        want = set(np.nonzero(d_all[q] <= 0.2 - 1e-5)[0])
        assert want <= set(qi.tolist())
        assert (qd <= 0.2 + 1e-5).all()
    assert result.lengths.tolist() == [len(x) for x in ids_list]
    assert result.query(-1)[0].tolist() == ids_list[-1].tolist()
    with pytest.raises(IndexError):
        result.query(12)


def test_range_search_radius_edge_values(small_index):
    index, base = small_index
    r = index.range_search(base[:2], float("inf"))
    assert r.lengths.tolist() == [200, 200]
    r = index.range_search(base[:2], 0)
    assert r.lengths.tolist() == [1, 1]
    r = index.range_search(base[0], np.float32(0.0))
    assert r.query_count == 1


def test_properties_and_repr(small_index):
    index, _ = small_index
    assert index.kind == "flat" and index.metric == "l2" and index.dim == 8
    assert index.vector_type == "float32" and index.dtype == np.float32
    assert index.ntotal == len(index) == 200
    assert index.memory_bytes >= 200 * 8 * 4
    assert index.is_ready and not index.closed
    text = repr(index)
    assert "flat" in text and "l2" in text and "dim=8" in text and "ntotal=200" in text
    assert "flat" in index.describe()
    index.close()
    assert index.closed
    assert "closed" in repr(index)


def test_metric_aliases():
    index = nearkit.Index(metric="Euclidean", dim=2)
    assert index.metric == "l2"
    assert nearkit.Index(metric="manhattan", dim=2).metric == "l1"
    assert nearkit.Index(metric="chebyshev", dim=2).metric == "linf"
    assert nearkit.Index(metric="inner_product", dim=2).metric == "ip"


def test_params_mapping_and_attributes():
    index = nearkit.Index(dim=4, num_threads=3)
    params = index.params
    assert "num_threads" in params and "nope" not in params
    assert params["num_threads"] == 3 and isinstance(params["num_threads"], int)
    assert index.num_threads == 3
    assert index.get_param("num_threads") == 3
    index.num_threads = 1
    assert index.get_param("num_threads") == 1
    params["num_threads"] = 2
    assert dict(index.params)["num_threads"] == 2
    index.set_param("num_threads", np.int64(1))
    assert index.num_threads == 1
    assert set(params.names()) == set(params) and len(params) == len(params.names())
    flags = params.flags()["num_threads"]
    assert flags["integer"] and not flags["read_only"]
    assert "num_threads" in dir(index)
    assert "num_threads" in repr(params)
    with pytest.raises(KeyError):
        params["nope"]
    with pytest.raises(KeyError):
        params["nope"] = 1
    assert params.get("nope", 5) == 5
    with pytest.raises(TypeError):
        del params["num_threads"]
    with pytest.raises(AttributeError):
        index.nope
    assert not hasattr(index, "nope")
    with pytest.raises(AttributeError):
        index.nope = 3
    with pytest.raises(AttributeError):
        index.kind = "vptree"


def _float_or_binary_dim(metric):
    return 64 if metric == "hamming" else 16


def test_params_describe_lists_every_parameter_of_every_kind():
    for kind in nearkit.kind_info():
        for metric in kind.metrics:
            index = nearkit.Index(kind=kind.name, metric=metric, dim=_float_or_binary_dim(metric))
            infos = index.params.describe()
            assert [info.name for info in infos] == index.params.names()
            assert infos[0].name == "num_threads" and infos[0].description  # the generic one
            flags = index.params.flags()
            for info in infos:
                assert isinstance(info, nearkit.ParamInfo)
                assert isinstance(info.description, str)
                assert flags[info.name] == {"read_only": info.read_only, "build": info.build_only,
                                            "integer": info.integer, "recall": info.recall}
                assert info.minimum <= info.maximum, (kind.name, info.name)
                if info.read_only:
                    assert info.default is None
                    continue
                assert info.description, (kind.name, info.name)
                # The default is what a new index holds, typed as get_param returns it.
                value = index.get_param(info.name)
                assert info.default == value and type(info.default) is type(value), \
                    (kind.name, metric, info.name, info.default, value)
                assert info.minimum <= info.default <= info.maximum
            # the recall setting: one per kind that searches a subset of its candidates
            recall = [info.name for info in infos if info.recall]
            expected = {"hnsw": ["ef_search"], "rpforest": ["search_k"]}.get(
                kind.name.split("_")[0], ["nprobe"] if kind.name.startswith("ivf") else [])
            assert recall == expected, (kind.name, recall)
            index.close()


def test_params_describe_one_and_errors():
    index = nearkit.Index(dim=4)
    info = index.params.describe("num_threads")
    assert info.name == "num_threads" and info.integer and not info.read_only
    assert isinstance(info.minimum, int) and isinstance(info.maximum, int)
    with pytest.raises(AttributeError):
        info.name = "x"  # a NamedTuple: immutable
    with pytest.raises(KeyError):
        index.params.describe("nope")
    index.close()
    with pytest.raises(nearkit.ClosedIndexError):
        index.params.describe()


def test_every_kind_is_reachable_with_its_parameters(rng):
    """Each kind the library lists can be created, filled, built and searched from Python."""
    base = rng.random((1000, 16), dtype=np.float32)
    bits = rng.integers(0, 256, (1000, 8), dtype=np.uint8)
    for info in nearkit.kind_info():
        for metric in info.metrics:
            binary = metric == "hamming"
            data = bits if binary else base
            dim = 64 if binary else 16
            index = nearkit.Index(kind=info.name, metric=metric, dim=dim, num_threads=1)
            assert index.kind == info.name
            for name, value in dict(index.params).items():  # every parameter reads
                assert isinstance(value, (int, float)), (info.name, name)
            index.add(data)
            index.build()
            assert index.is_ready
            ids, dist = index.search(data[:5], 3)
            assert ids.shape == (5, 3)
            if info.exact:
                assert ids[:, 0].tolist() == list(range(5)) or metric in ("ip",)
            index.close()


# ---- conversions ---------------------------------------------------------------------------------


def test_float32_c_contiguous_input_is_not_copied(small_index):
    index, base = small_index
    assert index._vectors(base, "x") is base
    row = base[5]
    assert np.shares_memory(index._vectors(row, "x"), base)
    assert index._vectors(base[10:20], "x").base is base


@pytest.mark.parametrize("convert", [
    lambda a: a.astype(np.float64),
    lambda a: a.astype(np.float16).astype(np.float32),  # exact in float16 below
    lambda a: np.asfortranarray(a),
    lambda a: a.tolist(),
    lambda a: a.astype(">f4"),
])
def test_other_layouts_and_dtypes_are_converted(convert):
    base = (np.arange(60, dtype=np.float32).reshape(20, 3) % 7)
    index = nearkit.Index(dim=3)
    index.add(convert(base))
    ids, dist = index.search(convert(base[:4]), 1)
    assert dist[:, 0].tolist() == [0.0] * 4


@pytest.mark.parametrize("metric", ["l2", "cosine", "ip"])
def test_float16_input_goes_to_the_library_as_halves(rng, metric):
    """float16 arrays are not converted in Python: the library widens them, exactly."""
    base = rng.standard_normal((300, 12)).astype(np.float16)
    half, full = nearkit.Index(metric=metric, dim=12), nearkit.Index(metric=metric, dim=12)
    assert half._vectors(base, "x") is base
    half.add(base)
    full.add(base.astype(np.float32))
    for a, b in zip(half.search(base[:20], 5), full.search(base[:20].astype(np.float32), 5)):
        np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(half.search(base[:3], 4, filter=np.arange(100))[0],
                                  full.search(base[:3].astype(np.float32), 4, filter=np.arange(100))[0])
    assert half.dtype == np.float32  # stored and read back as float32
    ivf = nearkit.Index(kind="ivf_flat", dim=12, nlist=4)
    ivf.train(base)
    ivf.add(base)
    assert len(ivf) == 300
    bad = base[:1].copy()
    bad[0, 3] = np.float16("nan")
    with pytest.raises(nearkit.InvalidArgumentError, match="NaN"):
        half.add(bad)
    with pytest.raises(nearkit.InvalidArgumentError, match="dimension 12"):
        half.search(base[:, :6], 1)
    assert len(half) == 300


def test_strided_and_integer_queries(small_index):
    index, base = small_index
    wide = np.zeros((200, 16), np.float32)
    wide[:, ::2] = base
    ids, _ = index.search(wide[:10, ::2], 1)  # a strided view
    assert ids[:, 0].tolist() == list(range(10))
    ints = np.array([[1, 2, 3, 4, 5, 6, 7, 8]], dtype=np.int32)
    a, b = index.search(ints, 3), index.search(ints.astype(np.float32), 3)
    np.testing.assert_array_equal(a[0], b[0])
    bools = np.ones((1, 8), dtype=bool)
    np.testing.assert_array_equal(index.search(bools, 2)[0], index.search(np.ones(8), 2)[0])


def test_binary_vectors_uint8_and_bool(rng):
    bits = rng.integers(0, 2, (100, 40)).astype(bool)
    packed = np.packbits(bits, axis=1, bitorder="little")
    index = nearkit.Index(kind="flat", metric="hamming", dim=40)
    assert index.vector_type == "binary" and index.dtype == np.uint8
    index.add(packed)
    ids_u8, dist_u8 = index.search(packed[:10], 5)
    ids_b, dist_b = index.search(bits[:10], 5)
    np.testing.assert_array_equal(ids_u8, ids_b)
    np.testing.assert_array_equal(dist_u8, dist_b)
    want = (bits[:10, None, :] != bits[None, :, :]).sum(-1)
    np.testing.assert_array_equal(dist_u8, np.sort(want, axis=1)[:, :5])
    assert ids_u8[:, 0].tolist() == list(range(10)) or (dist_u8[:, 0] == 0).all()
    # a 1-d bool vector, and integer bytes
    ids1, _ = index.search(bits[3], 1)
    assert ids1.shape == (1, 1)
    ids2, _ = index.search(packed[:3].astype(np.int64), 1)
    np.testing.assert_array_equal(ids2, index.search(packed[:3], 1)[0])
    # bit order: bit j of the vector is bit j % 8 of byte j // 8
    one = nearkit.Index(metric="hamming", dim=8)
    one.add(np.array([[0b00000001]], np.uint8))
    v = np.zeros(8, bool)
    v[0] = True
    assert one.search(v, 1)[1][0, 0] == 0.0
    assert one.range_search(bits[:2, :8], 8).query_count == 2


def test_context_manager_closes():
    with nearkit.Index(dim=2) as index:
        index.add(np.zeros((3, 2)))
        assert len(index) == 3
    assert index.closed
    with pytest.raises(nearkit.ClosedIndexError):
        len(index)


def test_train_and_build_are_accepted_by_every_kind(rng):
    data = rng.random((1000, 8), dtype=np.float32)
    for name in nearkit.kinds():
        info = nearkit.kind_info(name)
        if "l2" not in info.metrics:
            continue
        index = nearkit.Index(kind=name, metric="l2", dim=8, num_threads=1)
        index.train(data)
        index.add(data)
        index.build()
        index.build()  # idempotent
        assert index.search(data[:2], 2)[0].shape == (2, 2)


def test_subclasses_can_have_attributes():
    class Tagged(nearkit.Index):
        pass

    index = Tagged(dim=2)
    index.tag = "mine"
    index.num_threads = 1  # still a parameter
    assert index.tag == "mine" and index.get_param("num_threads") == 1
    assert type(nearkit.from_bytes(index.to_bytes())) is nearkit.Index
