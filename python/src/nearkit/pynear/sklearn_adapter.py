"""PyNear's scikit-learn adapters over :mod:`nearkit.pynear`'s VP-trees (needs scikit-learn).

``PyNearNearestNeighbors``, ``PyNearKNeighborsClassifier`` and ``PyNearKNeighborsRegressor``
behave as PyNear's: ``metric`` is "euclidean"/"l2", "manhattan"/"l1", "chebyshev"/"linf",
"cosine" (float32 rows) or "hamming" (uint8 rows of packed bits); neighbours come nearest first
as ``(distances, indices)``; ``kneighbors()`` without X asks for one more neighbour per training
row and drops the nearest (the row itself, or a duplicate of it at distance 0);
``weights="distance"`` weights by 1 / distance, and a query with a neighbour at distance 0 gets
weight 1 for its neighbours at 0 and 0 for the others.

For estimators that follow scikit-learn's own conventions exactly (and pass its estimator
checks), use :mod:`nearkit.sklearn`.
"""

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin, RegressorMixin
from sklearn.utils.multiclass import unique_labels
from sklearn.utils.validation import check_array, check_is_fitted

__all__ = ["PyNearNearestNeighbors", "PyNearKNeighborsClassifier", "PyNearKNeighborsRegressor"]

_INDEX_OF_METRIC = {
    "euclidean": "VPTreeL2Index", "l2": "VPTreeL2Index",
    "manhattan": "VPTreeL1Index", "l1": "VPTreeL1Index",
    "chebyshev": "VPTreeChebyshevIndex", "linf": "VPTreeChebyshevIndex",
    "cosine": "VPTreeCosineIndex",
    "hamming": "VPTreeBinaryIndex",
}


def _new_index(metric):
    """An empty VP-tree of nearkit.pynear for ``metric`` (ValueError for other metrics)."""
    from nearkit import pynear
    name = _INDEX_OF_METRIC.get(metric.lower())
    if name is None:
        raise ValueError(f"Unsupported metric '{metric}'. "
                         f"Supported values: {sorted(_INDEX_OF_METRIC)}")
    return getattr(pynear, name)()


def _dtype(metric):
    return "uint8" if metric.lower() == "hamming" else "float32"


def _sorted_arrays(indices, distances):
    """PyNear's farthest-first lists as (distances, indices) arrays, nearest first."""
    ind = np.array(indices, dtype=np.intp)
    dist = np.array(distances, dtype=np.float64)
    order = np.argsort(dist, axis=1)
    return np.take_along_axis(dist, order, axis=1), np.take_along_axis(ind, order, axis=1)


def _weights(distances, weights):
    """Each neighbour's vote: 1 ("uniform"), or 1 / distance ("distance"; in a row holding a
    distance of 0, 1 for the neighbours at 0 and 0 for the others)."""
    if weights == "uniform":
        return np.ones_like(distances)
    if weights != "distance":
        raise ValueError(f"weights must be 'uniform' or 'distance', got '{weights}'")
    exact = distances == 0.0
    with np.errstate(divide="ignore"):
        w = 1.0 / distances
    has_exact = exact.any(axis=1)
    w[has_exact] = exact[has_exact].astype(np.float64)
    return w


class _VPTreeEstimator(BaseEstimator):
    """The fit and search every adapter shares."""

    def _fit_index(self, X):
        X = check_array(X, dtype=_dtype(self.metric))
        index = _new_index(self.metric)
        index.set(X)
        self._index = index
        return X

    def _neighbours(self, X, k):
        """(distances, indices) arrays of X's k nearest training rows, nearest first."""
        return _sorted_arrays(*self._index.searchKNN(X, k))

    def _queries(self, X):
        check_is_fitted(self)
        return check_array(X, dtype=_dtype(self.metric))


class PyNearNearestNeighbors(_VPTreeEstimator):
    """Unsupervised neighbour search (as ``sklearn.neighbors.NearestNeighbors``) on a VP-tree."""

    def __init__(self, n_neighbors=5, metric="euclidean"):
        self.n_neighbors = n_neighbors
        self.metric = metric

    def fit(self, X, y=None):
        """Builds the VP-tree over X; y is ignored."""
        self._fit_X = self._fit_index(X)
        self.n_samples_fit_ = self._fit_X.shape[0]
        return self

    def kneighbors(self, X=None, n_neighbors=None, return_distance=True):
        """``(distances, indices)`` (or ``indices``) of the n_neighbors nearest training rows,
        nearest first; X=None: of every training row, itself left out."""
        check_is_fitted(self)
        k = self.n_neighbors if n_neighbors is None else n_neighbors
        leave_self_out = X is None
        X = self._fit_X if leave_self_out else self._queries(X)
        distances, indices = self._neighbours(X, k + 1 if leave_self_out else k)
        if leave_self_out:
            distances, indices = distances[:, 1:], indices[:, 1:]
        return (distances, indices) if return_distance else indices

    def kneighbors_graph(self, X=None, n_neighbors=None, mode="connectivity"):
        """A CSR matrix (queries x training rows): 1 ("connectivity") or the distance
        ("distance") for each query's n_neighbors nearest rows."""
        from scipy.sparse import csr_matrix
        k = self.n_neighbors if n_neighbors is None else n_neighbors
        distances, indices = self.kneighbors(X, n_neighbors=k)
        n = indices.shape[0]
        values = np.ones(indices.size) if mode == "connectivity" else distances.ravel()
        return csr_matrix((values, (np.repeat(np.arange(n), k), indices.ravel())),
                          shape=(n, self.n_samples_fit_))


class PyNearKNeighborsClassifier(ClassifierMixin, _VPTreeEstimator):
    """k-NN classification (as ``sklearn.neighbors.KNeighborsClassifier``) on a VP-tree."""

    def __init__(self, n_neighbors=5, metric="euclidean", weights="uniform"):
        self.n_neighbors = n_neighbors
        self.metric = metric
        self.weights = weights

    def fit(self, X, y):
        """Builds the VP-tree over X and keeps the labels y."""
        self._fit_index(X)
        self._y = np.asarray(y)
        self.classes_ = unique_labels(y)
        return self

    def predict(self, X):
        """The class of highest probability per query."""
        return self.classes_[np.argmax(self.predict_proba(X), axis=1)]

    def predict_proba(self, X):
        """Per query, each class's share of the neighbours' weights (columns: ``classes_``)."""
        X = self._queries(X)
        distances, indices = self._neighbours(X, self.n_neighbors)
        w = _weights(distances, self.weights)
        columns = np.searchsorted(self.classes_, self._y[indices])  # classes_ is sorted
        proba = np.zeros((X.shape[0], len(self.classes_)))
        np.add.at(proba, (np.arange(X.shape[0])[:, None], columns), w)
        totals = proba.sum(axis=1, keepdims=True)
        return proba / np.where(totals == 0, 1.0, totals)


class PyNearKNeighborsRegressor(RegressorMixin, _VPTreeEstimator):
    """k-NN regression (as ``sklearn.neighbors.KNeighborsRegressor``) on a VP-tree."""

    def __init__(self, n_neighbors=5, metric="euclidean", weights="uniform"):
        self.n_neighbors = n_neighbors
        self.metric = metric
        self.weights = weights

    def fit(self, X, y):
        """Builds the VP-tree over X and keeps the targets y (one or several outputs)."""
        self.n_samples_fit_ = self._fit_index(X).shape[0]
        self._y = np.asarray(y, dtype=np.float64)
        return self

    def predict(self, X):
        """The neighbours' weighted mean target per query."""
        X = self._queries(X)
        distances, indices = self._neighbours(X, self.n_neighbors)
        w = _weights(distances, self.weights)
        targets = self._y[indices]
        if targets.ndim == 2:
            return (w * targets).sum(axis=1) / w.sum(axis=1)
        return (w[:, :, None] * targets).sum(axis=1) / w.sum(axis=1)[:, None]
