"""search and merge_knn return a SearchResult: a named tuple (ids, distances), ids first."""

import copy
import pickle

import numpy as np
import pytest

import nearkit


@pytest.fixture(scope="module")
def index():
    x = np.random.default_rng(7).random((50, 8), dtype=np.float32)
    index = nearkit.Index(kind="flat", metric="l2", dim=8)
    index.add(x)
    return index


@pytest.fixture(scope="module")
def queries():
    return np.random.default_rng(8).random((3, 8), dtype=np.float32)


def test_fields_by_name(index, queries):
    result = index.search(queries, 4)
    assert type(result) is nearkit.SearchResult
    assert isinstance(result, tuple) and len(result) == 2
    assert nearkit.SearchResult._fields == ("ids", "distances")
    assert result.ids.dtype == np.int64 and result.ids.shape == (3, 4)
    assert result.distances.dtype == np.float32 and result.distances.shape == (3, 4)
    # ids are row numbers here: the distance at [i, j] is that of row ids[i, j]
    assert (np.diff(result.distances, axis=1) >= 0).all()


def test_unpacking_and_indexing_put_ids_first(index, queries):
    result = index.search(queries, 4)
    ids, distances = result
    assert ids is result.ids and distances is result.distances
    assert result[0] is result.ids and result[1] is result.distances
    assert result[-1] is result.distances
    first, *rest = result
    assert first is result.ids and rest == [result.distances]
    # faiss's order (D, I = index.search(q, k)) gets the ids into D: the dtype gives it away
    D, I = result  # noqa: N806 (as a faiss user would write it)
    assert D.dtype == np.int64 and I.dtype == np.float32


def test_single_query_and_filter_paths_return_it(index, queries):
    for result in (index.search(queries[0], 2), index.search(queries, 2, filter=[1, 2, 3]),
                   index.search(queries.astype(np.float64), 2), index.search(queries, 500)):
        assert type(result) is nearkit.SearchResult
        assert result.ids.shape[0] == result.distances.shape[0]


def test_pickle_and_copy(index, queries):
    result = index.search(queries, 3)
    for protocol in range(pickle.HIGHEST_PROTOCOL + 1):
        clone = pickle.loads(pickle.dumps(result, protocol))
        assert type(clone) is nearkit.SearchResult
        np.testing.assert_array_equal(clone.ids, result.ids)
        np.testing.assert_array_equal(clone.distances, result.distances)
    clone = copy.deepcopy(result)
    assert type(clone) is nearkit.SearchResult and clone.ids is not result.ids
    np.testing.assert_array_equal(clone.ids, result.ids)


def test_tuple_behaviour(index, queries):
    result = index.search(queries, 2)
    assert result._asdict().keys() == {"ids", "distances"}
    swapped = result._replace(ids=result.ids + 1)
    assert type(swapped) is nearkit.SearchResult
    np.testing.assert_array_equal(swapped.ids, result.ids + 1)
    assert repr(result).startswith("SearchResult(ids=array(")
    with pytest.raises(AttributeError):
        result.ids = None
    made = nearkit.SearchResult(ids=result.ids, distances=result.distances)
    assert made.ids is result.ids


def test_merge_knn_returns_it(index, queries):
    a = index.search(queries, 3)
    b = index.search(queries, 3, filter=range(25, 50))
    merged = nearkit.merge_knn([a.ids, b.ids], [a.distances, b.distances], 3, unique=True)
    assert type(merged) is nearkit.SearchResult
    np.testing.assert_array_equal(merged.ids, a.ids)


def test_bad_input_still_raises(index):
    with pytest.raises(nearkit.InvalidArgumentError):
        index.search(np.zeros((2, 7), np.float32), 1)
    with pytest.raises(TypeError):
        index.search(np.zeros(8, np.float32), "3")
