"""scikit-learn estimators backed by nearkit indexes.

:class:`NearestNeighbors`, :class:`KNeighborsClassifier` and :class:`KNeighborsRegressor` follow
the interface of the scikit-learn classes of the same names (``fit``, ``kneighbors``,
``kneighbors_graph``, ``predict``, ``predict_proba``, ``score``; ``NearestNeighbors`` also has
``radius_neighbors`` and ``radius_neighbors_graph``) and can replace them in pipelines, grid searches
and cross-validation. The neighbours come from a :class:`nearkit.Index`; the voting and averaging
follow scikit-learn's definitions.

Parameters shared by the three estimators:

``n_neighbors`` (int, default 5), ``radius`` (float, default 1.0, NearestNeighbors only)
    Defaults of the query methods.
``weights`` ("uniform", "distance" or a callable; classifier and regressor)
    As in scikit-learn: "distance" weighs by 1 / distance, and a query with neighbours at distance 0
    uses only those.
``algorithm`` (str, default "flat")
    The nearkit index kind (any name of :func:`nearkit.kinds`); "auto" and "brute" mean "flat".
``metric`` (str, default "euclidean")
    "euclidean" (or "l2"), "manhattan" ("cityblock", "l1"), "chebyshev" ("infinity", "linf"),
    "cosine", or "hamming". "hamming" needs binary data (0/1 or bool features); as in
    scikit-learn, its distance is the *fraction* of differing features, so nearkit's bit counts
    are divided by ``n_features_in_`` (and a radius multiplied by it).
``index_params`` (dict or None)
    Parameters of the nearkit index kind (e.g. ``{"nlist": 64, "nprobe": 8}``).
``n_jobs`` (int or None)
    Threads of the C library for fitting and queries, as joblib counts them (None = 1 unless in a
    joblib context, -1 = every core).

Differences from scikit-learn: sparse input is refused; features are converted to float32
(binary features are packed into bits); distances are computed in float32 and returned as float64;
equal distances are ordered by smaller training index; radius results are always sorted.
"""

import numbers
import warnings

import numpy as np
from scipy.sparse import csr_matrix
from sklearn.base import BaseEstimator, ClassifierMixin, RegressorMixin
from sklearn.exceptions import DataConversionWarning
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import check_is_fitted

try:  # scikit-learn >= 1.6
    from sklearn.utils.validation import validate_data as _validate_data
except ImportError:  # pragma: no cover - older scikit-learn

    def _validate_data(estimator, *args, **kwargs):
        return estimator._validate_data(*args, **kwargs)


try:
    from joblib import effective_n_jobs as _effective_n_jobs
except ImportError:  # pragma: no cover - joblib comes with scikit-learn

    def _effective_n_jobs(n_jobs):
        return 1 if n_jobs is None else n_jobs


from ._index import Index

__all__ = ["NearestNeighbors", "KNeighborsClassifier", "KNeighborsRegressor"]

# scikit-learn metric names -> nearkit metric names.
_METRICS = {
    "euclidean": "l2",
    "l2": "l2",
    "manhattan": "l1",
    "cityblock": "l1",
    "l1": "l1",
    "chebyshev": "linf",
    "infinity": "linf",
    "linf": "linf",
    "cosine": "cosine",
    "hamming": "hamming",
}
_ALGORITHM_ALIASES = {"auto": "flat", "brute": "flat"}


def _object_array(items):
    out = np.empty(len(items), dtype=object)
    for i, item in enumerate(items):
        out[i] = item
    return out


def _neighbor_weights(distances, weights):
    """Weights of the neighbours (an array shaped like distances), or None for uniform."""
    if weights is None or (isinstance(weights, str) and weights == "uniform"):
        return None
    if isinstance(weights, str) and weights == "distance":
        with np.errstate(divide="ignore"):
            w = 1.0 / distances
        exact = np.isinf(w)
        rows = exact.any(axis=1)
        w[rows] = exact[rows]  # a query with neighbours at distance 0 uses only those
        return w
    if callable(weights):
        return weights(distances)
    raise ValueError(
        f"weights must be 'uniform', 'distance' or a callable; got {weights!r}")


class _NeighborsBase(BaseEstimator):
    """Shared fitting and k-NN queries (not part of the public API)."""

    # -- parameters --

    def _nearkit_metric(self):
        metric = self.metric
        if not isinstance(metric, str) or metric.lower() not in _METRICS:
            raise ValueError(
                f"metric {metric!r} is not supported by nearkit; use one of {sorted(_METRICS)}")
        return _METRICS[metric.lower()]

    def _nearkit_kind(self):
        algorithm = self.algorithm
        if not isinstance(algorithm, str):
            raise ValueError(f"algorithm must be a nearkit index kind name; got {algorithm!r}")
        return _ALGORITHM_ALIASES.get(algorithm.lower(), algorithm)

    def _num_threads(self):
        n = _effective_n_jobs(self.n_jobs)
        return max(int(n), 1)

    def _query_threads(self):
        # index_params["num_threads"] wins over n_jobs; 0 = the index's own setting
        if "num_threads" in self._index_params():
            return 0
        return self._num_threads()

    def _index_params(self):
        params = self.index_params
        if params is None:
            return {}
        if not isinstance(params, dict):
            raise ValueError(f"index_params must be a dict or None; got {params!r}")
        return params

    # -- data conversion --

    def _prepare(self, X, reset, y=None, fit_y=False):
        """Validated X as nearkit takes it (float32, or packed bits for hamming) [, y]."""
        binary = self._nearkit_metric() == "hamming"
        dtype = None if binary else np.float32
        if fit_y:
            X, y = _validate_data(self, X, y, dtype=dtype, multi_output=True, order="C")
        else:
            X = _validate_data(self, X, dtype=dtype, order="C", reset=reset)
        if binary:
            X = self._pack_bits(X)
        return (X, y) if fit_y else X

    @staticmethod
    def _pack_bits(X):
        if X.dtype != np.bool_:
            try:
                values = X.astype(np.float64)
            except (TypeError, ValueError):
                raise ValueError("metric='hamming' needs binary data (0/1 or bool features)")
            if not np.isin(values, (0.0, 1.0)).all():
                raise ValueError(
                    "metric='hamming' with nearkit needs binary data (0/1 or bool features)")
            X = values != 0.0
        return np.packbits(X, axis=1, bitorder="little")

    def _fit_index(self, X):
        metric = self._nearkit_metric()
        kind = self._nearkit_kind()
        dim = X.shape[1] * 8 if metric == "hamming" else X.shape[1]
        params = {"num_threads": self._num_threads(), **self._index_params()}
        index = Index(kind=kind, metric=metric, dim=dim, **params)
        index.add(X)
        index.build()
        self.index_ = index
        self.effective_metric_ = self.metric.lower()
        self.n_samples_fit_ = X.shape[0]
        self._fit_X = X

    def _distances_out(self, distances):
        """nearkit float32 distances -> scikit-learn's float64 (hamming: fraction of features)."""
        d = distances.astype(np.float64)
        if self._nearkit_metric() == "hamming":
            d /= self.n_features_in_
        return d

    def _radius_in(self, radius):
        if not isinstance(radius, numbers.Real) or isinstance(radius, bool):
            raise TypeError(f"radius must be a number; got {radius!r}")
        radius = float(radius)
        if self._nearkit_metric() == "hamming":
            # Bit counts c qualify when c / n_features <= radius.
            return float(np.floor(radius * self.n_features_in_ * (1 + 1e-12) + 1e-9))
        return radius

    # -- queries --

    def kneighbors(self, X=None, n_neighbors=None, return_distance=True):
        """The n_neighbors nearest training samples of each query.

        With X None, the queries are the training samples, each excluded from its own neighbours.
        Returns ``(distances, indices)`` (float64, int64; shape (n_queries, n_neighbors)), or
        only indices when ``return_distance`` is False.
        """
        check_is_fitted(self)
        if n_neighbors is None:
            n_neighbors = self.n_neighbors
        if not isinstance(n_neighbors, numbers.Integral) or isinstance(n_neighbors, bool):
            raise TypeError(f"n_neighbors must be an integer; got {type(n_neighbors).__name__}")
        if n_neighbors <= 0:
            raise ValueError(f"Expected n_neighbors > 0. Got {n_neighbors}")
        n_neighbors = int(n_neighbors)

        query_is_train = X is None
        if query_is_train:
            Xq = self._fit_X
            k = n_neighbors + 1
        else:
            Xq = self._prepare(X, reset=False)
            k = n_neighbors
        if k > self.n_samples_fit_:
            relation = "n_neighbors < n_samples_fit" if query_is_train else \
                "n_neighbors <= n_samples_fit"
            raise ValueError(
                f"Expected {relation}, but n_neighbors = {n_neighbors}, n_samples_fit = "
                f"{self.n_samples_fit_}, n_samples = {Xq.shape[0]}")

        ids, distances = self.index_.search(Xq, k, num_threads=self._query_threads())
        if query_is_train:
            # Drop each sample from its own row; where duplicates push it out of the row, drop
            # the first entry (one of its duplicates) instead.
            n = ids.shape[0]
            keep = ids != np.arange(n)[:, None]
            no_self = keep.all(axis=1)
            keep[no_self, 0] = False
            ids = ids[keep].reshape(n, n_neighbors)
            distances = distances[keep].reshape(n, n_neighbors)
        if return_distance:
            return self._distances_out(distances), ids
        return ids

    def kneighbors_graph(self, X=None, n_neighbors=None, mode="connectivity"):
        """Sparse (n_queries, n_samples_fit) graph of the k-neighbours (CSR).

        ``mode`` "connectivity" stores ones, "distance" the distances.
        """
        if n_neighbors is None:
            n_neighbors = self.n_neighbors
        if mode == "connectivity":
            ids = self.kneighbors(X, n_neighbors, return_distance=False)
            data = np.ones(ids.size)
        elif mode == "distance":
            distances, ids = self.kneighbors(X, n_neighbors, return_distance=True)
            data = distances.ravel()
        else:
            raise ValueError(
                f'Unsupported mode, must be one of "connectivity", or "distance" but got "{mode}" '
                "instead")
        n_queries, k = ids.shape
        indptr = np.arange(0, n_queries * k + 1, k)
        return csr_matrix((data, ids.ravel(), indptr), shape=(n_queries, self.n_samples_fit_))

    # -- tags --

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.target_tags.multi_output = True
        return tags

    def _more_tags(self):  # pragma: no cover - scikit-learn < 1.6
        return {"multioutput": True}


class NearestNeighbors(_NeighborsBase):
    """Unsupervised nearest-neighbour queries, like ``sklearn.neighbors.NearestNeighbors``.

    Fitted attributes: ``index_`` (the :class:`nearkit.Index`), ``n_features_in_``,
    ``n_samples_fit_``, ``effective_metric_`` (and ``feature_names_in_`` for named features).
    """

    def __init__(self, *, n_neighbors=5, radius=1.0, algorithm="flat", metric="euclidean",
                 index_params=None, n_jobs=None):
        self.n_neighbors = n_neighbors
        self.radius = radius
        self.algorithm = algorithm
        self.metric = metric
        self.index_params = index_params
        self.n_jobs = n_jobs

    def fit(self, X, y=None):
        """Indexes X (shape (n_samples, n_features)); y is ignored."""
        X = self._prepare(X, reset=True)
        self._fit_index(X)
        return self

    def radius_neighbors(self, X=None, radius=None, return_distance=True, sort_results=False):
        """Every training sample within ``radius`` (distance <= radius) of each query.

        Returns ``(distances, indices)``, two object arrays holding one array per query (or only
        indices when ``return_distance`` is False). Results are sorted nearest first whatever
        ``sort_results`` says. With X None, the queries are the training samples, each excluded
        from its own neighbours.
        """
        check_is_fitted(self)
        if sort_results and not return_distance:
            raise ValueError("return_distance must be True if sort_results is True.")
        if radius is None:
            radius = self.radius
        query_is_train = X is None
        Xq = self._fit_X if query_is_train else self._prepare(X, reset=False)
        result = self.index_.range_search(Xq, self._radius_in(radius),
                                          num_threads=self._query_threads())
        ids_list, dist_list = result.split()
        if query_is_train:
            for i, row in enumerate(ids_list):
                keep = row != i
                ids_list[i] = row[keep]
                dist_list[i] = dist_list[i][keep]
        neigh_ind = _object_array(ids_list)
        if not return_distance:
            return neigh_ind
        return _object_array([self._distances_out(d) for d in dist_list]), neigh_ind

    def radius_neighbors_graph(self, X=None, radius=None, mode="connectivity",
                               sort_results=False):
        """Sparse (n_queries, n_samples_fit) graph of the neighbours within ``radius`` (CSR)."""
        if radius is None:
            radius = self.radius
        if mode == "connectivity":
            ids = self.radius_neighbors(X, radius, return_distance=False)
            data = None
        elif mode == "distance":
            distances, ids = self.radius_neighbors(X, radius, return_distance=True,
                                                   sort_results=sort_results)
            data = np.concatenate(list(distances)) if len(distances) else np.zeros(0)
        else:
            raise ValueError(
                f'Unsupported mode, must be one of "connectivity", or "distance" but got "{mode}" '
                "instead")
        lengths = np.array([len(row) for row in ids], dtype=np.int64)
        indices = np.concatenate(list(ids)) if len(ids) else np.zeros(0, np.int64)
        if data is None:
            data = np.ones(len(indices))
        indptr = np.concatenate(([0], np.cumsum(lengths)))
        return csr_matrix((data, indices, indptr), shape=(len(ids), self.n_samples_fit_))


class _SupervisedMixin:
    def _check_weights(self):
        w = self.weights
        if not (callable(w) or (isinstance(w, str) and w in ("uniform", "distance"))):
            raise ValueError(
                f"weights must be 'uniform', 'distance' or a callable; got {w!r}")

    def _neighbors_and_weights(self, X):
        if isinstance(self.weights, str) and self.weights == "uniform":
            return self.kneighbors(X, return_distance=False), None
        distances, ids = self.kneighbors(X)
        return ids, _neighbor_weights(distances, self.weights)


class KNeighborsClassifier(ClassifierMixin, _SupervisedMixin, _NeighborsBase):
    """k-nearest-neighbour vote, like ``sklearn.neighbors.KNeighborsClassifier``.

    Supports multi-output targets (y of shape (n_samples, n_outputs)). Ties between classes go to
    the class that sorts first. Fitted attributes: ``classes_``, ``outputs_2d_``, ``index_``,
    ``n_features_in_``, ``n_samples_fit_``, ``effective_metric_``.
    """

    def __init__(self, n_neighbors=5, *, weights="uniform", algorithm="flat",
                 metric="euclidean", index_params=None, n_jobs=None):
        self.n_neighbors = n_neighbors
        self.weights = weights
        self.algorithm = algorithm
        self.metric = metric
        self.index_params = index_params
        self.n_jobs = n_jobs

    def fit(self, X, y):
        """Indexes X and stores the class labels y (shape (n_samples,) or (n_samples, n_outputs))."""
        self._check_weights()
        X, y = self._prepare(X, reset=True, y=y, fit_y=True)
        y = np.asarray(y)
        if y.ndim == 1 or (y.ndim == 2 and y.shape[1] == 1):
            if y.ndim != 1:
                warnings.warn(
                    "A column-vector y was passed when a 1d array was expected. Please change the "
                    "shape of y to (n_samples,), for example using ravel().",
                    DataConversionWarning, stacklevel=2)
            outputs_2d = False
            y = y.reshape(-1, 1)
        else:
            outputs_2d = True
        check_classification_targets(y)
        classes = []
        encoded = np.empty(y.shape, dtype=np.intp)
        for j in range(y.shape[1]):
            classes_j, encoded[:, j] = np.unique(y[:, j], return_inverse=True)
            classes.append(classes_j)
        self._fit_index(X)
        self.outputs_2d_ = outputs_2d
        self.classes_ = classes if outputs_2d else classes[0]
        self._y = encoded if outputs_2d else encoded.ravel()
        return self

    def predict_proba(self, X):
        """Class probabilities: the (weighted) share of each class among the neighbours.

        An array (n_queries, n_classes), or a list of them for multi-output targets.
        """
        check_is_fitted(self)
        ids, weights = self._neighbors_and_weights(X)
        if weights is None:
            weights = np.ones(ids.shape)
        y = self._y.reshape(-1, 1) if not self.outputs_2d_ else self._y
        classes = self.classes_ if self.outputs_2d_ else [self.classes_]
        rows = np.arange(ids.shape[0])
        probabilities = []
        for j, classes_j in enumerate(classes):
            labels = y[:, j][ids]
            proba = np.zeros((ids.shape[0], len(classes_j)))
            for col in range(ids.shape[1]):
                np.add.at(proba, (rows, labels[:, col]), weights[:, col])
            total = proba.sum(axis=1, keepdims=True)
            total[total == 0.0] = 1.0
            probabilities.append(proba / total)
        return probabilities if self.outputs_2d_ else probabilities[0]

    def predict(self, X):
        """The class with the most (weighted) votes among the neighbours."""
        check_is_fitted(self)
        proba = self.predict_proba(X)
        if not self.outputs_2d_:
            return self.classes_[np.argmax(proba, axis=1)]
        out = np.empty((proba[0].shape[0], len(self.classes_)), dtype=self.classes_[0].dtype)
        for j, (classes_j, proba_j) in enumerate(zip(self.classes_, proba)):
            out[:, j] = classes_j[np.argmax(proba_j, axis=1)]
        return out

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.classifier_tags.multi_label = True
        return tags


class KNeighborsRegressor(RegressorMixin, _SupervisedMixin, _NeighborsBase):
    """k-nearest-neighbour average, like ``sklearn.neighbors.KNeighborsRegressor``.

    Supports multi-output targets. Fitted attributes: ``index_``, ``n_features_in_``,
    ``n_samples_fit_``, ``effective_metric_``.
    """

    def __init__(self, n_neighbors=5, *, weights="uniform", algorithm="flat",
                 metric="euclidean", index_params=None, n_jobs=None):
        self.n_neighbors = n_neighbors
        self.weights = weights
        self.algorithm = algorithm
        self.metric = metric
        self.index_params = index_params
        self.n_jobs = n_jobs

    def fit(self, X, y):
        """Indexes X and stores the targets y (shape (n_samples,) or (n_samples, n_outputs))."""
        self._check_weights()
        X, y = self._prepare(X, reset=True, y=y, fit_y=True)
        self._fit_index(X)
        self._y = np.asarray(y)
        return self

    def predict(self, X):
        """The (weighted) mean target of the neighbours."""
        check_is_fitted(self)
        ids, weights = self._neighbors_and_weights(X)
        y = self._y
        if weights is None:
            return np.mean(y[ids], axis=1)
        y2 = y.reshape(-1, 1) if y.ndim == 1 else y
        total = weights.sum(axis=1)
        out = np.empty((ids.shape[0], y2.shape[1]), dtype=np.float64)
        for j in range(y2.shape[1]):
            out[:, j] = (y2[ids, j] * weights).sum(axis=1) / total
        return out.ravel() if y.ndim == 1 else out
