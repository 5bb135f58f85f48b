"""Bad input of every kind gives a clear Python exception, never a crash."""

import os

import numpy as np
import pytest

import nearkit


@pytest.fixture
def index(rng):
    ix = nearkit.Index(kind="flat", metric="l2", dim=4, num_threads=1)
    ix.add(rng.random((50, 4), dtype=np.float32))
    yield ix
    ix.close()


@pytest.fixture
def binary_index(rng):
    ix = nearkit.Index(kind="flat", metric="hamming", dim=32, num_threads=1)
    ix.add(rng.integers(0, 256, (50, 4), dtype=np.uint8))
    return ix


def test_exception_hierarchy():
    assert issubclass(nearkit.InvalidArgumentError, (nearkit.NearkitError, ValueError))
    assert issubclass(nearkit.OutOfMemoryError, MemoryError)
    assert issubclass(nearkit.NearkitIOError, OSError)
    assert issubclass(nearkit.CorruptIndexError, nearkit.NearkitError)
    assert issubclass(nearkit.ClosedIndexError, ValueError)
    for cls in (nearkit.UnsupportedError, nearkit.StateError, nearkit.NotFoundError,
                nearkit.InternalError):
        assert issubclass(cls, nearkit.NearkitError)


def test_error_carries_c_message_and_status(index):
    with pytest.raises(nearkit.InvalidArgumentError) as info:
        index.search(np.ones(4), 0)
    e = info.value
    assert e.status == 1 and e.status_name == "INVALID_ARGUMENT"
    assert str(e)  # the C library's message
    assert "k" in str(e)


# ---- creation ------------------------------------------------------------------------------------


@pytest.mark.parametrize("kwargs, error", [
    (dict(kind="no-such-kind", dim=4), nearkit.NotFoundError),
    (dict(metric="no-such-metric", dim=4), nearkit.NotFoundError),
    (dict(dim=0), nearkit.InvalidArgumentError),
    (dict(dim=-3), nearkit.InvalidArgumentError),
    (dict(dim=2**32), nearkit.InvalidArgumentError),
    (dict(metric="hamming", dim=12), nearkit.InvalidArgumentError),  # not a multiple of 8
    (dict(dim=4, num_threads=-1), nearkit.InvalidArgumentError),
    (dict(dim=4, seed=-1), nearkit.InvalidArgumentError),
    (dict(dim=4, no_such_param=3), nearkit.NotFoundError),
    (dict(dim=4, num_threads_typo=1.5), nearkit.NotFoundError),
])
def test_bad_creation_arguments(kwargs, error):
    with pytest.raises(error):
        nearkit.Index(**kwargs)


@pytest.mark.parametrize("kwargs", [
    dict(kind=1, dim=4), dict(metric=None, dim=4), dict(dim="4"), dict(dim=4.0),
    dict(dim=4, seed=1.5), dict(dim=4, nlist="many"), dict(dim=4, nlist=None),
])
def test_wrong_types_at_creation(kwargs):
    with pytest.raises(TypeError):
        nearkit.Index(**kwargs)


def test_missing_dim():
    with pytest.raises(TypeError, match="dim"):
        nearkit.Index(kind="flat")


def test_nul_in_names():
    with pytest.raises(ValueError):
        nearkit.Index(kind="fl\0at", dim=4)


def test_unsupported_pairs_raise_unsupported():
    for info in nearkit.kind_info():
        for metric in set(nearkit.metrics()) - set(info.metrics):
            with pytest.raises((nearkit.UnsupportedError, nearkit.InvalidArgumentError)):
                nearkit.Index(kind=info.name, metric=metric, dim=64)


# ---- vectors -------------------------------------------------------------------------------------


@pytest.mark.parametrize("bad", [
    np.array([["a", "b", "c", "d"]]),
    np.ones((2, 4), dtype=np.complex64),
    np.array([[object(), 1, 2, 3]], dtype=object),
    np.array([["1", "2", "3", "4"]], dtype=object),
])
def test_dtype_that_cannot_be_cast(index, bad):
    with pytest.raises(ValueError):
        index.add(bad)
    with pytest.raises(ValueError):
        index.search(bad, 1)
    assert len(index) == 50


@pytest.mark.parametrize("shape", [(3, 5), (3, 3), (5,), (3,), (2, 2, 4), (), (4, 0)])
def test_wrong_dimension(index, shape):
    bad = np.ones(shape, dtype=np.float32)
    with pytest.raises(nearkit.InvalidArgumentError):
        index.add(bad)
    with pytest.raises(nearkit.InvalidArgumentError):
        index.search(bad, 1)
    with pytest.raises(nearkit.InvalidArgumentError):
        index.range_search(bad, 1.0)
    assert len(index) == 50


@pytest.mark.parametrize("value", [np.nan, np.inf, -np.inf, 1e39])
def test_nan_and_infinity(index, value):
    bad = np.ones((3, 4), dtype=np.float64)
    bad[1, 2] = value
    with pytest.raises(nearkit.InvalidArgumentError):
        index.add(bad)
    assert len(index) == 50  # nothing added
    with pytest.raises(nearkit.InvalidArgumentError):
        index.search(bad, 2)
    with pytest.raises(nearkit.InvalidArgumentError):
        index.range_search(bad, 1.0)


def test_ragged_lists(index):
    with pytest.raises(ValueError):
        index.add([[1, 2, 3, 4], [1, 2]])


@pytest.mark.parametrize("k, error", [
    (0, nearkit.InvalidArgumentError),
    (-1, nearkit.InvalidArgumentError),
    (-(2**70), nearkit.InvalidArgumentError),
    (2**64, nearkit.InvalidArgumentError),
    (1.0, TypeError),
    ("3", TypeError),
    (None, TypeError),
])
def test_bad_k(index, k, error):
    with pytest.raises(error):
        index.search(np.ones(4), k)


def test_absurd_k_fails_cleanly(index):
    # Too large to allocate: numpy refuses the result arrays before C is called.
    with pytest.raises((MemoryError, ValueError)):
        index.search(np.ones((4, 4)), 2**61)


def test_k_above_the_count_is_padded_and_a_huge_k_fails_cleanly_naming_k(index):
    """k may exceed the count (rows k wide, padded); a k whose result cannot exist raises before
    anything is allocated or searched, and the message names k (search(q, 10**9)-style calls used
    to try n * k allocations and fill them)."""
    q = np.ones((2, 4), np.float32)
    ids, dist = index.search(q, 60)
    assert ids.shape == dist.shape == (2, 60)
    assert (ids[:, :50] >= 0).all() and (ids[:, 50:] == -1).all()
    assert np.isinf(dist[:, 50:]).all()
    with pytest.raises(nearkit.InvalidArgumentError, match=r"k = 2305843009213693952"):
        index.search(q, 2**61)  # more entries than numpy can index
    with pytest.raises(nearkit.OutOfMemoryError, match=r"k = 1125899906842624"):
        index.search(q, 2**50)  # 2**50 x 2 x 12 bytes: beyond any address space
    assert issubclass(nearkit.OutOfMemoryError, MemoryError)
    assert index.search(q, 3)[0].shape == (2, 3)


def test_k_as_numpy_integer(index):
    ids, _ = index.search(np.ones(4), np.int32(3))
    assert ids.shape == (1, 3)


@pytest.mark.parametrize("radius, error", [
    (float("nan"), nearkit.InvalidArgumentError),
    ("1", TypeError),
    (None, TypeError),
    (1 + 2j, TypeError),
])
def test_bad_radius(index, radius, error):
    with pytest.raises(error):
        index.range_search(np.ones(4), radius)


def test_bad_ids(index):
    x = np.ones((3, 4), np.float32)
    with pytest.raises(nearkit.InvalidArgumentError):
        index.add(x, ids=[1, 2])  # wrong length
    with pytest.raises(nearkit.InvalidArgumentError):
        index.add(x, ids=[[1, 2, 3]])  # wrong shape
    with pytest.raises(nearkit.InvalidArgumentError):
        index.add(x, ids=[1.5, 2, 3])  # not integers
    with pytest.raises(nearkit.InvalidArgumentError):
        index.add(x, ids=["a", "b", "c"])
    with pytest.raises(nearkit.InvalidArgumentError):
        index.add(x, ids=[1, -1, 3])  # -1 is reserved (refused by C)
    with pytest.raises(nearkit.InvalidArgumentError):
        index.add(x, ids=np.array([1, 2, 2**63], dtype=np.uint64))
    assert len(index) == 50


def test_binary_bad_input(binary_index):
    ix = binary_index
    with pytest.raises(nearkit.InvalidArgumentError):
        ix.search(np.zeros((2, 5), np.uint8), 1)  # wrong byte width
    with pytest.raises(nearkit.InvalidArgumentError):
        ix.search(np.zeros((2, 31), bool), 1)  # wrong bit count
    with pytest.raises(nearkit.InvalidArgumentError):
        ix.search(np.full((2, 4), 256), 1)  # not bytes
    with pytest.raises(nearkit.InvalidArgumentError):
        ix.search(np.full((2, 4), -1), 1)
    with pytest.raises(nearkit.InvalidArgumentError):
        ix.search(np.zeros((2, 4), np.float32), 1)  # floats for a binary index
    with pytest.raises(nearkit.InvalidArgumentError):
        ix.add(np.zeros((2, 4, 1), np.uint8))


# ---- parameters ----------------------------------------------------------------------------------


def test_bad_parameters(index):
    with pytest.raises(nearkit.NotFoundError):
        index.get_param("no_such_parameter")
    with pytest.raises(nearkit.NotFoundError):
        index.set_param("no_such_parameter", 1)
    with pytest.raises(nearkit.InvalidArgumentError):
        index.set_param("num_threads", float("nan"))
    with pytest.raises(nearkit.InvalidArgumentError):
        index.set_param("num_threads", -2)
    with pytest.raises(nearkit.InvalidArgumentError):
        index.set_param("num_threads", 1.5)
    with pytest.raises(TypeError):
        index.set_param("num_threads", "2")
    with pytest.raises(TypeError):
        index.get_param(3)


def test_read_only_parameters_refuse_a_set(rng):
    for info in nearkit.kind_info():
        metric = info.metrics[0]
        dim = 64
        index = nearkit.Index(kind=info.name, metric=metric, dim=dim)
        for name, flags in index.params.flags().items():
            if flags["read_only"]:
                with pytest.raises(nearkit.NearkitError):
                    index.set_param(name, 1)


# ---- files and bytes -----------------------------------------------------------------------------


def test_missing_file(tmp_path):
    with pytest.raises(nearkit.NearkitIOError) as info:
        nearkit.load(tmp_path / "missing.nkx")
    assert isinstance(info.value, OSError)
    assert info.value.status_name == "IO"


def test_directory_is_not_an_index(tmp_path):
    with pytest.raises((nearkit.NearkitIOError, nearkit.CorruptIndexError)):
        nearkit.load(tmp_path)


def test_save_to_unwritable_place(index, tmp_path):
    with pytest.raises(nearkit.NearkitIOError):
        index.save(tmp_path / "no" / "such" / "dir" / "x.nkx")


def test_path_with_nul(index):
    with pytest.raises(ValueError):
        index.save("bad\0path")
    with pytest.raises(ValueError):
        nearkit.load(b"bad\0path")


def test_path_of_wrong_type(index):
    with pytest.raises(TypeError):
        index.save(12)
    with pytest.raises(TypeError):
        nearkit.load(None)


def test_empty_and_foreign_files(tmp_path):
    empty = tmp_path / "empty.nkx"
    empty.write_bytes(b"")
    with pytest.raises(nearkit.CorruptIndexError):
        nearkit.load(empty)
    foreign = tmp_path / "foreign.nkx"
    foreign.write_bytes(os.urandom(4096))
    with pytest.raises(nearkit.CorruptIndexError):
        nearkit.load(foreign)
    text = tmp_path / "text.nkx"
    text.write_text("this is not an index\n" * 20)
    with pytest.raises(nearkit.CorruptIndexError):
        nearkit.load(text)


def test_truncated_bytes_and_files(index, tmp_path):
    data = index.to_bytes()
    cuts = sorted({0, 1, 4, 8, 16, 31, 64, len(data) // 3, len(data) // 2, len(data) - 8,
                   len(data) - 1})
    for n in cuts:
        with pytest.raises(nearkit.CorruptIndexError):
            nearkit.from_bytes(data[:n])
        path = tmp_path / f"cut{n}.nkx"
        path.write_bytes(data[:n])
        with pytest.raises(nearkit.CorruptIndexError):
            nearkit.load(path)


def test_corrupted_bytes(index, tmp_path):
    data = bytearray(index.to_bytes())
    rng = np.random.default_rng(7)
    positions = sorted(set(rng.integers(0, len(data), 40).tolist()) | {0, 5, len(data) - 1})
    for pos in positions:
        bad = bytearray(data)
        bad[pos] ^= 0x5A
        with pytest.raises((nearkit.CorruptIndexError, nearkit.UnsupportedError)):
            nearkit.from_bytes(bytes(bad))
    path = tmp_path / "flipped.nkx"
    bad = bytearray(data)
    bad[len(bad) // 2] ^= 0xFF
    path.write_bytes(bytes(bad))
    with pytest.raises(nearkit.CorruptIndexError):
        nearkit.load(path)


def test_extra_trailing_bytes(index):
    data = index.to_bytes()
    with pytest.raises((nearkit.CorruptIndexError, nearkit.UnsupportedError)):
        nearkit.from_bytes(data + b"\0" * 16)


def test_from_bytes_wrong_types():
    with pytest.raises(TypeError):
        nearkit.from_bytes("text")
    with pytest.raises(TypeError):
        nearkit.from_bytes(12345)
    with pytest.raises(TypeError):
        nearkit.from_bytes(None)


def test_from_bytes_accepts_buffers(index):
    data = index.to_bytes()
    for buf in (bytearray(data), memoryview(data), np.frombuffer(data, np.uint8)):
        assert len(nearkit.from_bytes(buf)) == 50


def test_unpickling_corrupt_data(index):
    import pickle

    blob = pickle.dumps(index)
    data = index.to_bytes()
    broken = blob.replace(data, data[: len(data) // 2] + bytes(len(data) - len(data) // 2))
    with pytest.raises(nearkit.CorruptIndexError):
        pickle.loads(broken)


# ---- closed index --------------------------------------------------------------------------------


def test_every_call_on_a_closed_index(index, tmp_path):
    index.close()
    index.close()  # idempotent
    calls = [
        lambda: index.add(np.ones((1, 4))),
        lambda: index.train(np.ones((1, 4))),
        lambda: index.build(),
        lambda: index.search(np.ones(4), 1),
        lambda: index.range_search(np.ones(4), 1.0),
        lambda: index.ntotal,
        lambda: len(index),
        lambda: index.memory_bytes,
        lambda: index.is_ready,
        lambda: index.describe(),
        lambda: index.get_param("num_threads"),
        lambda: index.set_param("num_threads", 1),
        lambda: dict(index.params),
        lambda: index.save(tmp_path / "x.nkx"),
        lambda: index.to_bytes(),
        lambda: __import__("pickle").dumps(index),
    ]
    for call in calls:
        with pytest.raises(nearkit.ClosedIndexError, match="closed"):
            call()
    # still describable
    assert index.kind == "flat" and index.dim == 4 and index.closed
    assert "closed" in repr(index)
    assert not (tmp_path / "x.nkx").exists()


def test_lowlevel_buffer_checks(index):
    """The SWIG layer checks buffer sizes itself, whatever Python passes."""
    from nearkit import lowlevel as ll

    h = index._h
    vt = ll.NEARKIT_VECTOR_FLOAT32
    ids = np.empty((1, 3), np.int64)
    dist = np.empty((1, 3), np.float32)
    with pytest.raises(nearkit.InvalidArgumentError):  # 15 bytes: not whole vectors
        ll.nkpy_search(h, vt, b"\0" * 15, 3, 0, ids, dist)
    with pytest.raises(nearkit.InvalidArgumentError):  # outputs too small
        ll.nkpy_search(h, vt, np.ones(8, np.float32), 3, 0, ids, dist)
    with pytest.raises(nearkit.InvalidArgumentError):  # n * k overflows
        ll.nkpy_search(h, vt, np.ones(4, np.float32), 2**62, 0, ids, dist)
    with pytest.raises((TypeError, BufferError)):  # read-only output
        ll.nkpy_search(h, vt, np.ones(4, np.float32), 3, 0, b"\0" * 24, dist)
    with pytest.raises((TypeError, BufferError, ValueError)):  # non-contiguous input
        ll.nkpy_search(h, vt, np.ones((4, 8), np.float32)[:, ::2], 1, 0, ids[:, :1],
                       dist[:, :1])
    with pytest.raises(TypeError):
        ll.nkpy_search(h, vt, "text", 3, 0, ids, dist)
    with pytest.raises(nearkit.InvalidArgumentError):  # ids for the wrong count
        ll.nkpy_add(h, vt, np.ones((2, 4), np.float32), np.zeros(3, np.int64))
    with pytest.raises(nearkit.InvalidArgumentError):  # wrong vector type: C checks it
        ll.nkpy_add(h, ll.NEARKIT_VECTOR_BINARY, np.ones((2, 4), np.float32), None)
    with pytest.raises(TypeError):
        ll.nkpy_search(None, vt, np.ones(4, np.float32), 3, 0, ids, dist)
    assert len(index) == 50
