"""Saving, loading, bytes and pickling."""

import copy
import pathlib
import pickle

import numpy as np
import pytest

import nearkit


def same_results(a, b, queries, k=5):
    ia, da = a.search(queries, k)
    ib, db = b.search(queries, k)
    np.testing.assert_array_equal(ia, ib)
    np.testing.assert_array_equal(da, db)


@pytest.mark.parametrize("as_path", [str, pathlib.Path, lambda p: str(p).encode()])
def test_save_and_load(small_index, tmp_path, as_path):
    index, base = small_index
    path = tmp_path / "index.nkx"
    index.save(as_path(path))
    assert path.stat().st_size > 0
    loaded = nearkit.load(as_path(path))
    assert (loaded.kind, loaded.metric, loaded.dim, len(loaded)) == ("flat", "l2", 8, 200)
    same_results(index, loaded, base[:20])
    loaded2 = nearkit.Index.load(path)
    same_results(index, loaded2, base[:20])


def test_save_replaces_existing_file(small_index, tmp_path):
    index, base = small_index
    path = tmp_path / "index.nkx"
    path.write_bytes(b"old contents")
    index.save(path)
    assert len(nearkit.load(path)) == 200


def test_unicode_path(small_index, tmp_path):
    index, base = small_index
    path = tmp_path / "índice ✓.nkx"
    index.save(path)
    assert len(nearkit.load(path)) == 200


def test_bytes_round_trip(small_index):
    index, base = small_index
    data = index.to_bytes()
    assert isinstance(data, bytes) and len(data) > 200 * 8 * 4
    loaded = nearkit.from_bytes(data)
    same_results(index, loaded, base[:20])
    assert loaded.to_bytes() == data


def test_file_and_bytes_are_the_same_format(small_index, tmp_path):
    index, _ = small_index
    path = tmp_path / "index.nkx"
    index.save(path)
    assert path.read_bytes() == index.to_bytes()


@pytest.mark.parametrize("protocol", range(2, pickle.HIGHEST_PROTOCOL + 1))
def test_pickle_round_trip(small_index, protocol):
    index, base = small_index
    index.num_threads = 2
    clone = pickle.loads(pickle.dumps(index, protocol=protocol))
    assert isinstance(clone, nearkit.Index) and clone is not index
    assert (clone.kind, clone.metric, clone.dim, len(clone)) == ("flat", "l2", 8, 200)
    same_results(index, clone, base[:30])
    # the clone is independent
    clone.add(base[:5])
    assert len(clone) == 205 and len(index) == 200


def test_copy_and_deepcopy(small_index):
    index, base = small_index
    for clone in (copy.copy(index), copy.deepcopy(index)):
        same_results(index, clone, base[:10])
        clone.close()
        assert not index.closed


def test_pickle_binary_index(rng):
    bits = rng.integers(0, 256, (100, 16), dtype=np.uint8)
    index = nearkit.Index(metric="hamming", dim=128)
    index.add(bits, ids=np.arange(100) * 3)
    clone = pickle.loads(pickle.dumps(index))
    assert clone.vector_type == "binary"
    same_results(index, clone, bits[:10])


def test_every_kind_round_trips(rng):
    data = rng.random((1000, 8), dtype=np.float32)
    bits = rng.integers(0, 256, (1000, 8), dtype=np.uint8)
    for info in nearkit.kind_info():
        metric = "l2" if "l2" in info.metrics else info.metrics[0]
        x = bits if metric == "hamming" else data
        index = nearkit.Index(kind=info.name, metric=metric, dim=64 if metric == "hamming" else 8,
                              num_threads=1)
        index.add(x)
        index.build()
        clone = nearkit.from_bytes(index.to_bytes())
        assert clone.kind == info.name
        assert dict(clone.params).keys() == dict(index.params).keys()
        same_results(index, clone, x[:10])
