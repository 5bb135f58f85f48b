"""nearkit.sklearn: scikit-learn's own estimator checks, and agreement with scikit-learn's
estimators on the golden datasets (same neighbours up to ties)."""

import numpy as np
import pytest

sklearn = pytest.importorskip("sklearn")
pytest.importorskip("scipy")

from sklearn import neighbors as skn  # noqa: E402
from sklearn.utils.estimator_checks import parametrize_with_checks  # noqa: E402

from nearkit.sklearn import (KNeighborsClassifier, KNeighborsRegressor,  # noqa: E402
                             NearestNeighbors)

from conftest import MANIFEST, check_knn_row, check_range_row, golden_dataset  # noqa: E402

# Checks expected to fail, with the reason: none; every check scikit-learn runs passes.
# scikit-learn itself skips some checks that do not apply:
#   check_array_api_input          runs only with SCIPY_ARRAY_API=1; the estimators declare no
#                                  array API support (inputs are converted to numpy)
#   ..._output_format_decision_function   the classifier has no decision_function (like
#                                  scikit-learn's KNeighborsClassifier)
#   check_*_data_not_an_array (pandas)    skipped only when pandas is not installed
EXPECTED_FAILED_CHECKS = {}


def expected_failed_checks(estimator):
    return EXPECTED_FAILED_CHECKS.get(type(estimator).__name__, {})


@parametrize_with_checks(
    [NearestNeighbors(), KNeighborsClassifier(), KNeighborsRegressor(),
     KNeighborsClassifier(n_neighbors=3, weights="distance", metric="manhattan"),
     KNeighborsRegressor(n_neighbors=4, weights="distance", metric="chebyshev"),
     NearestNeighbors(n_neighbors=2, metric="cosine")],
    expected_failed_checks=expected_failed_checks)
def test_sklearn_estimator_checks(estimator, check):
    check(estimator)


# ---- behaviour -----------------------------------------------------------------------------------


def test_kneighbors_excludes_self_and_handles_duplicates():
    X = np.array([[0.0], [0.0], [1.0], [3.0], [3.5]])  # no ties at the k-th distance
    ours = NearestNeighbors(n_neighbors=2).fit(X)
    theirs = skn.NearestNeighbors(n_neighbors=2, algorithm="brute").fit(X)
    d1, i1 = ours.kneighbors()
    d2, i2 = theirs.kneighbors()
    np.testing.assert_allclose(d1, d2)
    assert [set(r) for r in i1] == [set(r) for r in i2]
    for row, ids in enumerate(i1):
        assert row not in ids


def test_kneighbors_errors():
    X = np.random.default_rng(0).random((10, 3))
    nn = NearestNeighbors(n_neighbors=3).fit(X)
    with pytest.raises(ValueError, match="n_neighbors"):
        nn.kneighbors(X, n_neighbors=11)
    with pytest.raises(ValueError, match="n_neighbors"):
        nn.kneighbors(n_neighbors=10)  # the query is the training set
    with pytest.raises(ValueError):
        nn.kneighbors(X, n_neighbors=0)
    with pytest.raises(TypeError):
        nn.kneighbors(X, n_neighbors=2.5)
    with pytest.raises(ValueError):
        nn.kneighbors(X[:, :2])
    with pytest.raises(ValueError):
        NearestNeighbors(metric="minkowski").fit(X)
    with pytest.raises(ValueError):
        NearestNeighbors(algorithm="no-such-kind").fit(X)
    with pytest.raises(ValueError):
        KNeighborsClassifier(weights="bogus").fit(X, np.arange(10) % 2)
    with pytest.raises(ValueError):
        nn.kneighbors_graph(X, mode="bogus")
    with pytest.raises(ValueError):
        nn.radius_neighbors(X, return_distance=False, sort_results=True)


def test_graphs_match_sklearn():
    rng = np.random.default_rng(1)
    X = rng.random((60, 4))
    Y = rng.random((15, 4))
    ours = NearestNeighbors(n_neighbors=4, radius=0.4).fit(X)
    theirs = skn.NearestNeighbors(n_neighbors=4, radius=0.4, algorithm="brute").fit(X)
    for args in ((Y,), ()):
        for mode in ("connectivity", "distance"):
            a = ours.kneighbors_graph(*args, mode=mode).toarray()
            b = theirs.kneighbors_graph(*args, mode=mode).toarray()
            np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
            a = ours.radius_neighbors_graph(*args, mode=mode).toarray()
            b = theirs.radius_neighbors_graph(*args, mode=mode).toarray()
            np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)


def test_classifier_and_regressor_match_sklearn():
    rng = np.random.default_rng(2)
    X = rng.random((300, 5))
    T = rng.random((80, 5))
    y = rng.integers(0, 4, 300)
    yr = rng.random((300, 2))
    weight_fn = lambda d: np.exp(-d)  # noqa: E731
    for weights in ("uniform", "distance", weight_fn):
        for metric in ("euclidean", "manhattan", "chebyshev", "cosine"):
            a = KNeighborsClassifier(7, weights=weights, metric=metric).fit(X, y)
            b = skn.KNeighborsClassifier(7, weights=weights, metric=metric,
                                         algorithm="brute").fit(X, y)
            np.testing.assert_allclose(a.predict_proba(T), b.predict_proba(T), rtol=1e-5,
                                       atol=1e-6)
            np.testing.assert_array_equal(a.predict(T), b.predict(T))
            assert a.score(T, b.predict(T)) == 1.0
            a = KNeighborsRegressor(7, weights=weights, metric=metric).fit(X, yr)
            b = skn.KNeighborsRegressor(7, weights=weights, metric=metric,
                                        algorithm="brute").fit(X, yr)
            np.testing.assert_allclose(a.predict(T), b.predict(T), rtol=1e-5, atol=1e-6)


def test_multi_output_classifier_matches_sklearn():
    rng = np.random.default_rng(4)
    X = rng.random((100, 3))
    Y = np.stack([rng.integers(0, 3, 100), rng.choice(["a", "b"], 100)], axis=1)
    a = KNeighborsClassifier(5).fit(X, Y)
    b = skn.KNeighborsClassifier(5, algorithm="brute").fit(X, Y)
    np.testing.assert_array_equal(a.predict(X[:20]), b.predict(X[:20]))
    for pa, pb in zip(a.predict_proba(X[:20]), b.predict_proba(X[:20])):
        np.testing.assert_allclose(pa, pb)


def test_hamming_is_the_fraction_of_differing_features():
    rng = np.random.default_rng(5)
    X = rng.integers(0, 2, (120, 21))  # 21 features: not a multiple of 8
    T = rng.integers(0, 2, (30, 21))
    ours = NearestNeighbors(n_neighbors=6, radius=0.3, metric="hamming").fit(X)
    theirs = skn.NearestNeighbors(n_neighbors=6, radius=0.3, metric="hamming",
                                  algorithm="brute").fit(X)
    d1, i1 = ours.kneighbors(T)
    d2, i2 = theirs.kneighbors(T)
    np.testing.assert_allclose(d1, d2, rtol=1e-12)
    for q in range(len(T)):
        check_knn_row(i1[q], d1[q], i2[q].tolist(), d2[q].tolist(), f"query {q}")
    rd1, ri1 = ours.radius_neighbors(T)
    rd2, ri2 = theirs.radius_neighbors(T)
    for q in range(len(T)):
        assert set(ri1[q].tolist()) == set(ri2[q].tolist())
    # bool input gives the same
    ours_b = NearestNeighbors(n_neighbors=6, metric="hamming").fit(X.astype(bool))
    np.testing.assert_array_equal(ours_b.kneighbors(T.astype(bool))[1], i1)
    with pytest.raises(ValueError, match="binary"):
        NearestNeighbors(metric="hamming").fit(X * 2)


def test_n_jobs_and_index_params():
    X = np.random.default_rng(6).random((50, 3))
    nn = NearestNeighbors(n_jobs=-1).fit(X)
    assert nn.index_.kind == "flat"
    nn = NearestNeighbors(n_jobs=2, index_params={"num_threads": 2}, algorithm="auto").fit(X)
    assert nn.index_.num_threads == 2
    with pytest.raises(ValueError):
        NearestNeighbors(index_params={"no_such_param": 1}).fit(X)


def test_pickled_estimator_predicts_the_same():
    import pickle

    rng = np.random.default_rng(8)
    X, y = rng.random((80, 4)), rng.integers(0, 3, 80)
    clf = KNeighborsClassifier(3).fit(X, y)
    clone = pickle.loads(pickle.dumps(clf))
    np.testing.assert_array_equal(clone.predict(X), clf.predict(X))
    assert clone.index_ is not clf.index_


# ---- the golden datasets -------------------------------------------------------------------------

SKLEARN_METRICS = {"l2": "euclidean", "l1": "manhattan", "linf": "chebyshev", "cosine": "cosine",
                   "hamming": "hamming"}


def _golden_params():
    if MANIFEST is None:
        return [pytest.param(None, marks=pytest.mark.skip(reason="no golden manifest"))]
    return [pytest.param(case, id=case["name"]) for case in MANIFEST["cases"]
            if case["metric"] in SKLEARN_METRICS]


@pytest.mark.parametrize("case", _golden_params())
def test_agrees_with_sklearn_on_golden_data(case):
    base, queries, spec = golden_dataset(case["dataset"])
    metric = SKLEARN_METRICS[case["metric"]]
    if spec["vector_type"] == "binary":
        # scikit-learn's hamming works on one feature per bit; its distance is a fraction.
        base = np.unpackbits(base, axis=1, bitorder="little").astype(bool)
        queries = np.unpackbits(queries, axis=1, bitorder="little").astype(bool)
        scale = base.shape[1]
    else:
        scale = 1.0
    k = min(case["k"], len(base))
    radius = case["radius"] / scale
    ours = NearestNeighbors(n_neighbors=k, radius=radius, metric=metric).fit(base)
    theirs = skn.NearestNeighbors(n_neighbors=k, radius=radius, metric=metric,
                                  algorithm="brute").fit(base)
    d1, i1 = ours.kneighbors(queries)
    d2, i2 = theirs.kneighbors(queries)
    rd1, ri1 = ours.radius_neighbors(queries, sort_results=True)
    rd2, ri2 = theirs.radius_neighbors(queries, sort_results=True)
    for q in range(len(queries)):
        # compare in nearkit's units (bit counts for hamming), with the manifest's rule
        check_knn_row(i1[q], d1[q] * scale, i2[q].tolist(), (d2[q] * scale).tolist(),
                      f"{case['name']} knn query {q}")
        check_range_row(ri1[q], rd1[q] * scale, ri2[q].tolist(), (rd2[q] * scale).tolist(),
                        case["radius"], f"{case['name']} range query {q}")


def _l2_cases():
    if MANIFEST is None:
        return [pytest.param(None, marks=pytest.mark.skip(reason="no golden manifest"))]
    return [pytest.param(c, id=c["name"]) for c in MANIFEST["cases"] if c["metric"] == "l2"]


@pytest.mark.parametrize("case", _l2_cases())
def test_classifier_agrees_with_sklearn_on_golden_data(case):
    base, queries, spec = golden_dataset(case["dataset"])
    labels = np.arange(len(base)) % 3
    k = min(5, len(base))
    ours = KNeighborsClassifier(k).fit(base, labels)
    theirs = skn.KNeighborsClassifier(k, algorithm="brute").fit(base, labels)
    i1 = ours.kneighbors(queries, return_distance=False)
    d2, i2 = theirs.kneighbors(queries, n_neighbors=min(k + 1, len(base)))
    if d2.shape[1] > k:  # rows whose k-th and (k+1)-th distances tie may differ
        tie = np.abs(d2[:, k - 1] - d2[:, k]) <= 1e-4 + 1e-4 * np.abs(d2[:, k - 1])
    else:
        tie = np.zeros(len(queries), bool)
    for q in np.nonzero(~tie)[0]:
        assert set(i1[q]) == set(i2[q, :k]), f"query {q}"
    np.testing.assert_array_equal(ours.predict(queries)[~tie], theirs.predict(queries)[~tie])
