"""Read-only views of saved files: nearkit.view(path)."""

import pickle

import numpy as np
import pytest

import nearkit


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
