"""Index.tune (issue 16, part 4): the cheapest runtime setting reaching a recall@k target on a sample,
set on the index; exact kinds have nothing to tune; bad input raises the library's errors."""

import numpy as np
import pytest

import nearkit


def clustered(n, dim, rng, clusters=30, spread=12.0):
    """Points around random centres, overlapping so that a query's neighbours spread over lists."""
    centres = rng.uniform(-10, 10, (clusters, dim))
    picks = rng.integers(0, clusters, n)
    return (centres[picks] + rng.uniform(-spread, spread, (n, dim))).astype(np.float32)


def recall(ix, flat, queries, k):
    got, _ = ix.search(queries, k)
    want, _ = flat.search(queries, k)
    return np.mean([len(set(g) & set(w)) / k for g, w in zip(got, want)])


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(5)
    x = clustered(6400, 24, rng)
    return x[:6000], x[6000:6200], x[6200:]


@pytest.mark.parametrize("kind", ["ivf_flat", "hnsw"])
def test_tune_reaches_the_target(data, kind):
    if kind not in nearkit.kinds():
        pytest.skip(f"{kind} is not in this library")
    base, sample, held_out = data
    params = {"nlist": 80} if kind == "ivf_flat" else {"M": 8, "ef_construction": 40}
    ix = nearkit.Index(kind, "l2", dim=24, num_threads=1, **params)
    ix.add(base)
    ix.build()
    flat = nearkit.Index("flat", "l2", dim=24)
    flat.add(base)
    r = ix.tune(sample, k=10, target_recall=0.95)
    assert isinstance(r, nearkit.TuneResult)
    assert r.param == ("nprobe" if kind == "ivf_flat" else "ef_search")
    assert r.reached and r.recall >= 0.95 and r.qps > 0 and r.measurements >= 1
    assert isinstance(r.value, int) and ix.get_param(r.param) == r.value
    assert abs(recall(ix, flat, held_out, 10) - r.recall) < 0.03


def test_exact_kind_has_nothing_to_tune(data):
    base, sample, _ = data
    ix = nearkit.Index("flat", "l2", dim=24)
    ix.add(base[:100])
    r = ix.tune(sample)
    assert r.param is None and r.recall == 1.0 and r.reached


def test_bad_input(data):
    base, sample, _ = data
    ix = nearkit.Index("ivf_flat", "l2", dim=24, nlist=8)
    with pytest.raises(nearkit.StateError):
        ix.tune(sample)  # empty
    ix.add(base[:500])
    with pytest.raises(nearkit.StateError):
        ix.tune(sample)  # not trained
    ix.build()
    for target in (0, 1.5, float("nan")):
        with pytest.raises(nearkit.InvalidArgumentError):
            ix.tune(sample, target_recall=target)
    with pytest.raises(nearkit.InvalidArgumentError):
        ix.tune(sample, k=0)
    with pytest.raises(nearkit.InvalidArgumentError):
        ix.tune(sample[:, :10])
    with pytest.raises(TypeError):
        ix.tune(sample, target_recall="high")
    r = ix.tune(sample, target_recall=1.0, max_value=2)
    assert not r.reached and r.value == 2 and ix.get_param("nprobe") == 2


def test_finer_setting_cuts_the_last_list():
    """A few large lists: one more list jumps far past the target, so the tuner keeps nprobe and
    sets a scan budget (max_codes), reported with the result and set on the index."""
    rng = np.random.default_rng(11)
    x = clustered(6300, 16, rng, clusters=12, spread=9.0)
    base, sample = x[:6000], x[6000:]
    ix = nearkit.Index("ivf_flat", "l2", dim=16, nlist=12, num_threads=1)
    ix.add(base)
    ix.build()
    budget = ix.params.describe("max_codes")
    assert budget.recall_fine and not budget.recall and budget.default == 0 and budget.integer
    chosen = 0
    for target in (0.6, 0.8, 0.9):
        r = ix.tune(sample, k=10, target_recall=target)
        assert r.reached and r.recall >= target
        assert ix.get_param("max_codes") == r.fine_value
        if r.fine_param is None:
            assert r.fine_value == 0
            continue
        chosen += 1
        assert r.fine_param == "max_codes" and isinstance(r.fine_value, int) and r.fine_value >= 1
    assert chosen >= 1
