"""Read-only views of saved files: nearkit.view(path)."""

import gc
import mmap
import pickle

import numpy as np
import pytest

import nearkit
from conftest import SOURCE_DIR

# A format version 1 file (saved before views): its vectors are not aligned for use in place.
VERSION_1_FILE = SOURCE_DIR / "tests" / "fuzz" / "corpus" / "format1-flat-l2-d8-added.nkx1"


@pytest.fixture(params=["flat", "hnsw", "ivf_flat", "rpforest"])
def saved(request, tmp_path):
    rng = np.random.default_rng(3)
    centres = rng.normal(size=(8, 16)).astype(np.float32) * 4
    x = (centres[rng.integers(0, 8, 600)] + rng.normal(size=(600, 16))).astype(np.float32)
    index = nearkit.Index(request.param, "l2", 16)
    if request.param == "ivf_flat":
        index.nlist = 8
    index.add(x)
    if not index.is_ready:
        index.build()
    path = tmp_path / f"{request.param}.nkx"
    index.save(path)
    return path, x


def test_view_answers_as_the_load(saved):
    path, x = saved
    loaded = nearkit.load(path)
    view = nearkit.view(path)
    assert view.is_view and not loaded.is_view
    assert (view.kind, view.metric, view.dim, len(view)) == (loaded.kind, loaded.metric, 16, 600)
    for queries in (x[:1], x[:40]):
        ids_v, d_v = view.search(queries, 7)
        ids_l, d_l = loaded.search(queries, 7)
        np.testing.assert_array_equal(ids_v, ids_l)
        np.testing.assert_array_equal(d_v, d_l)
    verified = nearkit.Index.view(str(path), verify=True)
    np.testing.assert_array_equal(verified.search(x[:5], 3).ids, loaded.search(x[:5], 3).ids)
    assert "view" in view.describe()


def test_view_refuses_writes_and_copies(saved):
    path, x = saved
    view = nearkit.view(path)
    with pytest.raises(nearkit.StateError, match="view"):
        view.add(x[:2])
    with pytest.raises(nearkit.StateError):
        view.remove([0, 1])
    assert len(view) == 600
    view.num_threads = 1  # runtime settings stay settable
    copy = view.copy()
    assert not copy.is_view
    copy.add(x[:2])
    assert len(copy) == 602 and len(view) == 600


def test_pickling_a_view_pickles_its_path(saved):
    path, x = saved
    view = nearkit.view(path)
    data = pickle.dumps(view)
    assert len(data) < 1000 < path.stat().st_size
    again = pickle.loads(data)
    assert again.is_view
    np.testing.assert_array_equal(again.search(x[:5], 3).ids, view.search(x[:5], 3).ids)
    # a copy pickles its contents
    assert not pickle.loads(pickle.dumps(view.copy())).is_view


def test_view_errors(tmp_path, saved):
    path, _ = saved
    with pytest.raises(nearkit.NearkitIOError):
        nearkit.view(tmp_path / "missing.nkx")
    with pytest.raises(nearkit.NearkitIOError):
        nearkit.view(tmp_path)
    cut = tmp_path / "cut.nkx"
    cut.write_bytes(path.read_bytes()[:-100])
    with pytest.raises(nearkit.CorruptIndexError):
        nearkit.view(cut)
    view = nearkit.view(path)
    view.close()
    with pytest.raises(nearkit.ClosedIndexError):
        view.search(np.zeros((1, 16), np.float32), 1)
    with pytest.raises(nearkit.ClosedIndexError):
        view.copy()


# ---- load_if_unviewable ---------------------------------------------------------------------------

def test_unviewable_file_raises_or_loads_with_the_option(tmp_path):
    with pytest.raises(nearkit.UnsupportedError, match="re-save"):
        nearkit.view(VERSION_1_FILE)
    loaded = nearkit.load(VERSION_1_FILE)
    index = nearkit.view(VERSION_1_FILE, load_if_unviewable=True)
    assert not index.is_view
    q = np.random.default_rng(1).normal(size=(6, 8)).astype(np.float32)
    np.testing.assert_array_equal(index.search(q, 4).ids, loaded.search(q, 4).ids)
    index.add(q[:1])  # a load: writable
    assert len(index) == len(loaded) + 1
    again = pickle.loads(pickle.dumps(index))  # not a view: pickles its contents
    assert not again.is_view and len(again) == len(index)
    # a viewable file is still viewed with the option
    path = tmp_path / "v2.nkx"
    loaded.save(path)
    assert nearkit.Index.view(path, load_if_unviewable=True).is_view


def test_unviewable_but_damaged_file_stays_corrupt(tmp_path):
    data = bytearray(VERSION_1_FILE.read_bytes())
    data[-1] ^= 0x5A  # the stored checksum, which an unverified view does not read
    bad = tmp_path / "bad.nkx"
    bad.write_bytes(bytes(data))
    with pytest.raises(nearkit.CorruptIndexError, match="checksum"):
        nearkit.view(bad, load_if_unviewable=True)
    with pytest.raises(nearkit.NearkitIOError):
        nearkit.view(tmp_path / "missing.nkx", load_if_unviewable=True)


def test_annoy_load_reads_a_version_1_file_through_the_option(tmp_path):
    from nearkit.annoy import AnnoyIndex

    source = nearkit.Index("rpforest", "l2", 8)
    source.add(np.random.default_rng(2).normal(size=(50, 8)).astype(np.float32))
    source.build()
    path = tmp_path / "forest.nkx"
    source.save(path)
    a = AnnoyIndex(8, "euclidean")
    assert a.load(str(path)) and a.get_n_items() == 50


# ---- view_buffer ------------------------------------------------------------------------------------

def _read_only_at(data, misalign):
    """``data`` copied into a numpy array at an address `misalign` bytes past a 64-byte boundary,
    made read-only."""
    room = np.zeros(len(data) + 128, np.uint8)
    start = (-room.ctypes.data) % 64 + misalign
    arr = room[start:start + len(data)]
    arr[:] = np.frombuffer(data, np.uint8)
    arr.flags.writeable = False
    return arr


def test_view_buffer_of_an_mmap_is_a_view_holding_the_buffer(saved):
    path, x = saved
    loaded = nearkit.load(path)
    with open(path, "rb") as f:
        m = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ)
    view = nearkit.view_buffer(m)
    assert view.is_view and len(view) == 600
    np.testing.assert_array_equal(view.search(x[:20], 5).ids, loaded.search(x[:20], 5).ids)
    with pytest.raises(nearkit.StateError):
        view.add(x[:1])
    with pytest.raises(BufferError):  # the view holds an export: the mapping stays
        m.close()
    view.close()
    m.close()  # released with the index


def test_view_buffer_keeps_its_bytes_alive(saved):
    path, x = saved
    expected = nearkit.load(path).search(x[:10], 5).ids
    view = nearkit.Index.view_buffer(_read_only_at(path.read_bytes(), 0), verify=True)
    assert view.is_view
    gc.collect()  # the caller's last reference is gone; the index holds the array
    np.testing.assert_array_equal(view.search(x[:10], 5).ids, expected)
    # pickling a buffer view pickles its contents
    np.testing.assert_array_equal(pickle.loads(pickle.dumps(view)).search(x[:10], 5).ids, expected)


def test_view_buffer_unaligned_raises_or_loads(saved):
    path, x = saved
    data = path.read_bytes()
    unaligned = _read_only_at(data, 8)
    with pytest.raises(nearkit.UnsupportedError, match="aligned"):
        nearkit.view_buffer(unaligned)
    index = nearkit.view_buffer(unaligned, load_if_unviewable=True)
    assert not index.is_view
    del unaligned
    gc.collect()
    np.testing.assert_array_equal(index.search(x[:10], 5).ids,
                                  nearkit.load(path).search(x[:10], 5).ids)
    # bytes: a view where the object happens to sit on a 64-byte boundary, a load otherwise
    assert len(nearkit.view_buffer(data, load_if_unviewable=True)) == 600


def test_view_buffer_refuses_writable_and_foreign_input(saved):
    path, _ = saved
    data = path.read_bytes()
    with pytest.raises(ValueError, match="read-only"):
        nearkit.view_buffer(bytearray(data))
    with pytest.raises(ValueError, match="read-only"):
        nearkit.view_buffer(np.frombuffer(data, np.uint8).copy())
    with pytest.raises(TypeError):
        nearkit.view_buffer("not bytes")
    with pytest.raises(TypeError):
        nearkit.view_buffer(42)
    with pytest.raises(nearkit.CorruptIndexError):
        nearkit.view_buffer(_read_only_at(data[:-100], 0))
    strided = np.frombuffer(data * 2, np.uint8)[::2]
    with pytest.raises(ValueError, match="contiguous"):
        nearkit.view_buffer(strided)
