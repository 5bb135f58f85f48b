"""PyNear's graph classes (``HNSWL2Index``, ``HNSWCosineIndex``, ``HNSWBinaryIndex``,
``MIHSeededHNSWBinaryIndex``) over nearkit's kind ``hnsw``; the package's docstring describes their
conventions."""

import operator

import numpy as np

from .._errors import InvalidArgumentError
from .._index import Index, from_bytes, merge_knn
from ._adapters import _I64, _Adapter, _positive_int

# nearkit's names of the hnsw kind's parameters (build: M, ef_construction; runtime: ef_search)
_M = "M"
_EF_CONSTRUCTION = "ef_construction"
_EF_SEARCH = "ef_search"


def _int(value, what):
    try:
        return operator.index(value)
    except TypeError:
        raise TypeError(f"{what} must be an integer, not {type(value).__name__}") from None


def _at_least(value, low, what):
    value = _int(value, what)
    if value < low:
        raise InvalidArgumentError(f"{what} must be >= {low}, got {value}")
    return value


class _GraphSettings:
    """What both graph classes keep of the hnsw settings: M and ef_construction for the next
    graph built, ef_search for searches from now on."""

    def _init_graph(self, M, ef_construction, ef_search):
        self._params = {_M: _at_least(M, 2, "M"),
                        _EF_CONSTRUCTION: _at_least(ef_construction, 1, "ef_construction")}
        self._ef_search = 0
        self.set_ef(ef_search)

    def set_ef(self, ef_search):
        """Candidate list length of graph searches, from now on (nearkit takes at least 1)."""
        ef_search = _at_least(ef_search, 0, "ef_search")
        self._params[_EF_SEARCH] = max(ef_search, 1)
        if self._index is not None:
            self._index.set_param(_EF_SEARCH, max(ef_search, 1))
        self._ef_search = ef_search

    @property
    def ef_search(self):
        return self._ef_search


class _Graph(_GraphSettings, _Adapter):
    """An HNSW graph (nearkit kind ``hnsw``) with PyNear's HNSW interface.

    Ids are slots: ``set`` numbers the rows 0..n-1, ``add`` continues at ``size``; ``remove``
    marks a slot (``size`` still counts it, ``num_deleted`` does), ``rebuild`` renumbers the live
    rows 0..m-1 and returns the old-to-new map (-1 for removed slots).
    """

    _KIND = "hnsw"
    _FARTHEST_FIRST = True
    _EXTRA_STATE = ("_ef_search", "_size")

    def __init__(self, M=16, ef_construction=200, ef_search=50, seed=42, n_threads=1,
                 **options):
        """``M`` links per node (>= 2), ``ef_construction`` and ``ef_search`` candidate lists of
        the build and of searches, ``seed`` the level draws, ``n_threads`` nearkit's threads (0
        or less: every core). ``options`` go to :class:`nearkit.Index`."""
        n_threads = _int(n_threads, "n_threads")
        super().__init__(seed=_at_least(seed, 0, "seed"), num_threads=max(n_threads, 0),
                         **options)
        self._size = 0
        self._init_graph(M, ef_construction, ef_search)

    # -- building and changing -----------------------------------------------------------------

    def set(self, vectors):
        """Replaces the content with the rows of ``vectors`` (ids 0..n-1)."""
        super().set(vectors)
        self._size = self._count

    def add(self, vectors):
        """Adds rows after the existing ones; returns their ids (``size`` onwards)."""
        data = self._rows(vectors, "vectors")
        n = data.shape[0]
        if n == 0:
            return []
        if self._index is None:
            self._index = self._create(data.shape[1] * 8 if self._BINARY else data.shape[1])
        first = self._size
        self._index.add(data, ids=np.arange(first, first + n, dtype=_I64))
        self._index.build()  # searchable at once; a no-op for hnsw, kept for the contract
        self._size += n
        self._count = self._index.ntotal
        return list(range(first, first + n))

    def remove(self, node_id):
        """Marks slot ``node_id`` removed (searches skip it); unknown or removed ids are ignored."""
        node_id = _int(node_id, "node_id")
        if self._index is not None and 0 <= node_id < self._size:
            self._index.remove(node_id)
            self._count = self._index.ntotal

    def rebuild(self):
        """Drops removed slots: the live rows get ids 0..m-1 in slot order (a new graph).

        Returns the map of old ids to new ones, -1 for removed slots (``size`` entries)."""
        if self._index is None or self._size == 0:
            return []
        rows, live = self._index.get(np.arange(self._size, dtype=_I64), return_found=True)
        mapping = np.where(live, np.cumsum(live) - 1, -1)
        index = self._create(self._index.dim)
        if live.any():
            index.add(rows[live])
            index.build()
        self._install(index, None)
        self._size = self._count
        return mapping.tolist()

    # -- properties ----------------------------------------------------------------------------

    @property
    def size(self):
        """Slots: rows set or added, removed ones included (until ``rebuild``)."""
        return self._size

    @property
    def num_deleted(self):
        """Removed slots not yet dropped by ``rebuild``."""
        return self._size - self._count

    @property
    def dim(self):
        """Vector dimension (bits for binary rows; 0 before any row)."""
        return 0 if self._index is None else self._index.dim

    # -- searching -----------------------------------------------------------------------------

    def _mask(self, filter):
        """PyNear's filter (a bool or uint8 array, one entry per slot) as a bool mask, or None."""
        if filter is None:
            return None
        mask = np.asarray(filter)
        if mask.dtype not in (np.bool_, np.uint8):
            raise InvalidArgumentError(
                f"filter must be a bool or uint8 array (one entry per id); got dtype {mask.dtype}")
        if mask.ndim != 1 or mask.shape[0] != self._size:
            raise InvalidArgumentError(
                f"filter length must match index size ({self._size}); got shape {mask.shape}")
        return mask.astype(bool, copy=False)

    def _knn_filtered(self, vectors, k, filter):
        mask = self._mask(filter)
        if mask is None:
            return self._knn(vectors, k)
        q = self._rows(vectors, "queries")
        index = self._ready_index()
        if index is None:
            return _Adapter._knn(self, q, k)
        return index.search(q, k, filter=mask)

    def searchKNN(self, vectors, k, filter=None):
        """``(indices, distances)``: per query, lists of the k nearest rows found, farthest first.

        ``filter``: a bool / uint8 array of ``size`` entries; only ids whose entry is set are
        returned."""
        return self._lists(*self._knn_filtered(vectors, k, filter))

    def search1NN(self, vectors, filter=None):
        """``(indices, distances)``: flat lists, the nearest row found per query (-1 and 0 where
        none is)."""
        ids, distances = self._knn_filtered(vectors, 1, filter)
        return _first_column(ids, self._distances(distances), self._BINARY)

    def searchKNN_arrays(self, vectors, k, filter=None):
        """``(ids, distances)`` arrays of shape (n, k), nearest first, padded with id -1."""
        return self._arrays(*self._knn_filtered(vectors, k, filter))


def _first_column(ids, distances, binary):
    """search1NN's flat lists: PyNear answers id -1 at distance 0 where no row was found."""
    ids, distances = ids[:, 0], distances[:, 0]
    distances = np.where(ids == -1, 0, distances)
    if binary:
        distances = distances.astype(_I64)
    return ids.tolist(), distances.tolist()


class HNSWL2Index(_Graph):
    """Approximate k-NN by Euclidean distance on an HNSW graph; distances are not squared."""

    _METRIC = "l2"


class HNSWCosineIndex(_Graph):
    """Approximate k-NN by cosine distance 1 - cos(q, x) in [0, 2] on an HNSW graph."""

    _METRIC = "cosine"


class HNSWBinaryIndex(_Graph):
    """Approximate Hamming k-NN over rows of packed bits (uint8) on an HNSW graph; int
    distances."""

    _METRIC = "hamming"
    _BINARY = True
    _INT_ARRAYS = True


# ---- MIH-seeded graph ----------------------------------------------------------------------------


class MIHSeededHNSWBinaryIndex(_GraphSettings, _Adapter):
    """PyNear's HNSW over Hamming distance whose answers also hold every row within
    ``mih_radius`` of the query that belongs in the top k.

    nearkit has no seeded graph search: this class keeps two nearkit indexes over the same rows,
    an ``hnsw`` graph and a multi-index hash (``mih``, ``mih_m`` substrings, exact within a
    radius), searches both and merges their top k (each row once, nearest first, ties by id).
    The rows are stored twice.
    """

    _KIND = "hnsw"
    _METRIC = "hamming"
    _BINARY = True
    _INT_ARRAYS = True
    _FARTHEST_FIRST = True
    _EXTRA_STATE = ("_ef_search", "_mih_radius", "_mih_params")

    def __init__(self, M=16, ef_construction=200, ef_search=50, seed=42, mih_m=8, mih_radius=8,
                 n_threads=1, **options):
        n_threads = _int(n_threads, "n_threads")
        super().__init__(seed=_at_least(seed, 0, "seed"), num_threads=max(n_threads, 0),
                         **options)
        self._mih_params = {"m": _positive_int(mih_m, "mih_m", allow_zero=True)}
        self._mih = None
        self._mih_radius = 0
        self._init_graph(M, ef_construction, ef_search)
        self.set_mih_radius(mih_radius)

    def set(self, vectors):
        """Replaces the content with the rows of ``vectors`` (ids 0..n-1)."""
        data = self._rows(vectors, "vectors")
        super().set(data)
        mih = Index(kind="mih", metric="hamming", dim=data.shape[1] * 8,
                    **{**self._options, **self._mih_params})
        if data.shape[0]:
            mih.add(data)
            mih.build()
        self._mih = mih

    def set_mih_radius(self, radius):
        """Hamming radius within which every row is found, from now on."""
        self._mih_radius = _positive_int(radius, "mih_radius", allow_zero=True)

    @property
    def mih_radius(self):
        return self._mih_radius

    @property
    def size(self):
        return self._count

    def _knn(self, queries, k):
        ids, distances = super()._knn(queries, k)
        if self._ready_index() is None:
            return ids, distances
        q = self._rows(queries, "queries")
        radius = min(self._mih_radius, self._mih.dim)  # no distance exceeds the bit count
        near_ids, near_distances = self._mih.search(q, k, max_radius=radius)
        return merge_knn((ids, near_ids), (distances, near_distances), ids.shape[1], unique=True)

    def searchKNN(self, vectors, k):
        """``(indices, distances)``: per query, lists of the k nearest rows found, farthest
        first."""
        return self._lists(*self._knn(vectors, k))

    def search1NN(self, vectors):
        """``(indices, distances)``: flat lists, the nearest row found per query."""
        ids, distances = self._knn(vectors, 1)
        return _first_column(ids, distances, True)

    def searchKNN_arrays(self, vectors, k):
        """``(ids, distances)`` arrays of shape (n, k), nearest first, padded with id -1."""
        return self._arrays(*self._knn(vectors, k))

    def __getstate__(self):
        state = super().__getstate__()
        state["mih"] = None if self._mih is None else self._mih.to_bytes()
        return state

    def __setstate__(self, state):
        super().__setstate__(state)
        self._mih = None if state["mih"] is None else from_bytes(state["mih"])

