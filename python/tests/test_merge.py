"""nearkit.merge_knn: answers computed apart merged as one search over the union would answer."""
import numpy as np
import pytest

import nearkit


def test_shards_merge_to_the_union_answer():
    rng = np.random.default_rng(7)
    base = rng.integers(0, 4, size=(900, 6)).astype(np.float32)  # many tied distances
    queries = rng.integers(0, 4, size=(30, 6)).astype(np.float32)
    ids = rng.permutation(100_000)[:900].astype(np.int64)
    whole = nearkit.Index(kind="flat", metric="l2", dim=6)
    whole.add(base, ids=ids)
    want = whole.search(queries, k=10)
    answers = []
    for part in np.array_split(np.arange(900), 3):
        shard = nearkit.Index(kind="flat", metric="l2", dim=6)
        shard.add(base[part], ids=ids[part])
        answers.append(shard.search(queries, k=10))
    got = nearkit.merge_knn([a[0] for a in answers], [a[1] for a in answers], 10)
    np.testing.assert_array_equal(got[0], want[0])
    np.testing.assert_array_equal(got[1], want[1])


def test_unique_counts_an_id_once_and_pads():
    ids = np.array([[5, 9, -1]], np.int64)
    dist = np.array([[1.0, 2.0, np.inf]], np.float32)
    got_ids, got_dist = nearkit.merge_knn((ids, np.array([[9, 2]])), (dist, np.array([[0.5, 2.0]])), 5,
                                          unique=True)
    assert got_ids.tolist() == [[9, 5, 2, -1, -1]]
    assert got_dist[0, :3].tolist() == [0.5, 1.0, 2.0] and np.isinf(got_dist[0, 3:]).all()


def test_bad_input_is_an_invalid_argument():
    ids = np.array([[1, 2]], np.int64)
    with pytest.raises(nearkit.InvalidArgumentError):
        nearkit.merge_knn(ids, np.array([[1.0, np.nan]], np.float32), 2)
    with pytest.raises(nearkit.InvalidArgumentError):
        nearkit.merge_knn(ids, np.array([[1.0]], np.float32), 2)
    with pytest.raises(nearkit.InvalidArgumentError):
        nearkit.merge_knn(ids, np.array([[1.0, 2.0]], np.float32), 0)
