"""The exact and inverted-file classes of :mod:`nearkit.pynear` (VP-trees, BK-tree, MIH, IVF),
thin adapters over :class:`nearkit.Index`; the package's docstring describes their conventions."""

import operator

import numpy as np

from .._errors import InvalidArgumentError, StateError
from .._index import Index, from_bytes

_U8 = np.dtype(np.uint8)
_I64 = np.dtype(np.int64)
_INT64_MAX = np.iinfo(np.int64).max
_STATE_FORMAT = 1


def _positive_int(value, what, allow_zero=False):
    try:
        value = operator.index(value)
    except TypeError:
        raise TypeError(f"{what} must be an integer, not {type(value).__name__}") from None
    if value < (0 if allow_zero else 1):
        raise InvalidArgumentError(
            f"{what} must be {'>= 0' if allow_zero else '>= 1'}, got {value}")
    return value


class _Adapter:
    """What every PyNear class shares: an optional nearkit index built by ``set``."""

    _KIND = None          # nearkit kind name
    _METRIC = None        # nearkit metric name
    _BINARY = False       # rows of packed bits (uint8), dimension in bits = 8 * bytes
    _WIDTH = None         # fixed row width in bytes (PyNear's VPTreeBinaryIndex256 & co.)
    _FARTHEST_FIRST = False   # PyNear's list rows are farthest first (VP-trees)
    _EMPTY_RAISES = False     # searching an index without rows raises (else: empty rows)
    _EMPTY_MESSAGE = "index must be first initialized with .set() function and non empty dataset"
    _QUERIES_1D = False   # a 1-d query is one vector (IVF-Flat); else queries must be 2-d
    _EXTRA_STATE = ()     # attribute names pickled besides the index
    _INT_ARRAYS = False   # binary rows may be integer arrays of byte values (PyNear's HNSW)

    def __init__(self, **options):
        self._options = dict(options)
        self._params = {}     # kind parameters fixed by the PyNear constructor
        self._index = None    # nearkit.Index, replaced whole by set()
        self._count = 0

    # -- nearkit options -----------------------------------------------------------------------

    def _create(self, dim):
        kwargs = dict(self._params)
        kwargs.update(self._options)
        return Index(kind=self._KIND, metric=self._METRIC, dim=dim, **kwargs)

    # -- input conversion ------------------------------------------------------------------------

    def _rows(self, x, what, allow_1d=False):
        """x as a 2-d array nearkit takes (float32-convertible, or uint8 for binary indexes)."""
        a = x if isinstance(x, np.ndarray) else np.asarray(x)
        if self._BINARY and a.dtype != _U8:
            refused = isinstance(x, np.ndarray) and not self._INT_ARRAYS
            if refused or a.dtype.kind not in "iu" or (
                    a.size and (a.min() < 0 or a.max() > 255)):
                raise TypeError(f"invalid data type: binary indexes must be uint8 (packed bits); "
                                f"{what} has dtype {a.dtype}")
            a = a.astype(_U8)
        if a.ndim == 1 and allow_1d:
            a = a.reshape(1, -1)
        if a.ndim != 2:
            kind = "binary indexes" if self._BINARY else "this index"
            raise InvalidArgumentError(
                f"invalid data shape: {kind} take a 2-d array of shape (n, d); {what} has shape "
                f"{a.shape}")
        if self._WIDTH is not None and a.shape[1] != self._WIDTH:
            raise InvalidArgumentError(
                f"invalid data dimension: {type(self).__name__} takes rows of {self._WIDTH} bytes; "
                f"{what} has {a.shape[1]}")
        return a

    # -- building ----------------------------------------------------------------------------------

    def set(self, data):
        """Replaces the index's content with the rows of ``data`` (ids are row numbers)."""
        data = self._rows(data, "data")
        n, width = data.shape
        index = self._create(width * 8 if self._BINARY else width)
        if n:
            index.add(data)
            index.build()
        self._install(index, data)

    def _install(self, index, data):
        """Makes ``index`` (None: no rows, never built) the one searched."""
        self._index = index
        self._count = 0 if index is None else index.ntotal

    # -- searching ---------------------------------------------------------------------------------

    def _ready_index(self):
        """The nearkit index to search, or None when empty rows are the answer."""
        if self._index is None or self._count == 0:
            if self._EMPTY_RAISES:
                raise StateError(self._EMPTY_MESSAGE)
            return None
        return self._index

    def _knn(self, queries, k):
        """nearkit's (ids, distances) arrays, nearest first, -1 / inf padded."""
        q = self._rows(queries, "queries", allow_1d=self._QUERIES_1D)
        index = self._ready_index()
        if index is None:
            k = _positive_int(k, "k")
            self._check_width(q)
            return np.full((q.shape[0], k), -1, _I64), np.full((q.shape[0], k), np.inf,
                                                               np.float32)
        return index.search(q, k)

    def _check_width(self, q):
        """The dimension check nearkit makes, for queries answered without it (empty index)."""
        if self._index is not None:
            dim = q.shape[1] * 8 if self._BINARY else q.shape[1]
            if dim != self._index.dim:
                unit = " bits" if self._BINARY else ""
                raise InvalidArgumentError(
                    f"invalid data dimension: the index holds vectors of dimension "
                    f"{self._index.dim}{unit}, the queries have dimension {dim}{unit}")

    def _distances(self, distances):
        """nearkit's distances on PyNear's scale (overridden where they differ)."""
        return distances

    def _lists(self, ids, distances):
        """PyNear's per-query lists: padding dropped, row order and distance type converted."""
        distances = self._distances(distances)
        valid = ids != -1
        full = bool(valid.all())
        if self._BINARY:
            distances = (distances if full else np.where(valid, distances, 0)).astype(_I64)
        if self._FARTHEST_FIRST:
            ids, distances, valid = ids[:, ::-1], distances[:, ::-1], valid[:, ::-1]
        id_rows, dist_rows = ids.tolist(), distances.tolist()
        if full:
            return id_rows, dist_rows
        counts = valid.sum(axis=1).tolist()
        k = ids.shape[1]
        if self._FARTHEST_FIRST:  # padding is at the head of a reversed row
            return ([r[k - c:] for r, c in zip(id_rows, counts)],
                    [r[k - c:] for r, c in zip(dist_rows, counts)])
        return ([r[:c] for r, c in zip(id_rows, counts)],
                [r[:c] for r, c in zip(dist_rows, counts)])

    def _arrays(self, ids, distances):
        """PyNear's searchKNN_arrays: nearest first, int64 ids, -1 padding."""
        distances = self._distances(distances)
        if self._BINARY:
            valid = ids != -1
            out = np.where(valid, distances, 0).astype(_I64)
            out[~valid] = _INT64_MAX
            return ids, out
        return ids, distances

    # -- description and persistence --------------------------------------------------------------

    def to_string(self):
        """A human-readable description of the index (nearkit's ``describe()`` text)."""
        if self._index is None:
            return f"{type(self).__name__}: empty ({self._KIND} index; call set() to fill it)\n"
        return self._index.describe()

    def __getstate__(self):
        state = {"format": _STATE_FORMAT, "options": self._options, "params": self._params,
                 "index": None if self._index is None else self._index.to_bytes()}
        for name in self._EXTRA_STATE:
            state[name] = getattr(self, name)
        return state

    def __setstate__(self, state):
        if not isinstance(state, dict) or state.get("format") != _STATE_FORMAT:
            raise ValueError(f"cannot unpickle {type(self).__name__}: unknown state format")
        self._init_runtime()
        self._options = state["options"]
        self._params = state["params"]
        for name in self._EXTRA_STATE:
            setattr(self, name, state[name])
        blob = state["index"]
        self._index = None if blob is None else from_bytes(blob)
        self._count = 0 if self._index is None else self._index.ntotal

    def _init_runtime(self):
        """Attributes that are not pickled (locks)."""

    def __repr__(self):
        if self._index is None:
            return f"<nearkit.pynear.{type(self).__name__} (empty)>"
        return (f"<nearkit.pynear.{type(self).__name__} n={self._count} "
                f"dim={self._index.dim}{' bits' if self._BINARY else ''}>")


# ---- VP-trees ------------------------------------------------------------------------------------


class _VPTree(_Adapter):
    _KIND = "vptree"
    _FARTHEST_FIRST = True
    _EMPTY_RAISES = True

    def __init__(self, **options):
        """An empty VP-tree; ``options`` go to :class:`nearkit.Index` (e.g. ``leaf_size``)."""
        super().__init__(**options)

    def searchKNN(self, queries, k):
        """``(indices, distances)``: per query, lists of the k nearest rows, farthest first."""
        return self._lists(*self._knn(queries, k))

    def search1NN(self, queries):
        """``(indices, distances)``: flat lists, the nearest row of each query."""
        ids, distances = self._knn(queries, 1)
        distances = self._distances(distances)
        if self._BINARY:
            distances = distances.astype(_I64)
        return ids[:, 0].tolist(), distances[:, 0].tolist()

    def searchKNN_arrays(self, queries, k):
        """``(ids, distances)`` arrays of shape (n, k), nearest first, padded with id -1."""
        return self._arrays(*self._knn(queries, k))


class VPTreeL2Index(_VPTree):
    """Exact k-NN by Euclidean distance (a nearkit vp-tree); distances are not squared."""

    _METRIC = "l2"


class VPTreeL1Index(_VPTree):
    """Exact k-NN by Manhattan (L1) distance (a nearkit vp-tree)."""

    _METRIC = "l1"


class VPTreeChebyshevIndex(_VPTree):
    """Exact k-NN by Chebyshev (L-infinity) distance (a nearkit vp-tree)."""

    _METRIC = "linf"


class VPTreeCosineIndex(_VPTree):
    """Exact k-NN by cosine distance 1 - cos(q, x) in [0, 2] (a nearkit vp-tree)."""

    _METRIC = "cosine"


class VPTreeBinaryIndex(_VPTree):
    """Exact Hamming k-NN over uint8 rows of packed bits (a nearkit vp-tree); int distances."""

    _METRIC = "hamming"
    _BINARY = True


class VPTreeBinaryIndex64(VPTreeBinaryIndex):
    """:class:`VPTreeBinaryIndex` for 64-bit codes (rows of 8 bytes)."""

    _WIDTH = 8


class VPTreeBinaryIndex128(VPTreeBinaryIndex):
    """:class:`VPTreeBinaryIndex` for 128-bit codes (rows of 16 bytes)."""

    _WIDTH = 16


class VPTreeBinaryIndex256(VPTreeBinaryIndex):
    """:class:`VPTreeBinaryIndex` for 256-bit codes (rows of 32 bytes)."""

    _WIDTH = 32


class VPTreeBinaryIndex512(VPTreeBinaryIndex):
    """:class:`VPTreeBinaryIndex` for 512-bit codes (rows of 64 bytes)."""

    _WIDTH = 64


class VPTreeBinaryIndexN(VPTreeBinaryIndex):
    """:class:`VPTreeBinaryIndex` (any row width)."""


def _empty_lists(n):
    return [[] for _ in range(n)]


def _in_row_order(result):
    """A range result's (ids, distances), each query's matches sorted by id (row number)."""
    counts = np.diff(result.offsets)
    query_of = np.repeat(np.arange(counts.shape[0]), counts)
    order = np.lexsort((result.ids, query_of))
    return result.ids[order], result.distances[order]


# ---- BK-tree -------------------------------------------------------------------------------------


class BKTreeBinaryIndex(VPTreeBinaryIndex):
    """Hamming threshold (range) search over uint8 rows of packed bits (a nearkit bk-tree).

    ``find_threshold(queries, threshold)`` returns PyNear's ``(indices, distances, keys)``: per
    query, every row at Hamming distance <= threshold in row order (ascending id: what PyNear's
    tree order is on its own tests' data; nearkit's tree order is not PyNear's), its distance,
    and the row itself as a list of byte values. ``threshold`` is an integer; a negative one
    matches nothing. ``keys`` and ``values()`` read the rows back from the nearkit index
    (``Index.get``): the adapter keeps no copy of them.

    Empty inputs as PyNear's classes: ``set(np.array([], np.uint8))`` (1-d, no rows) empties the
    tree; queries to an empty or never set tree get one empty list per query.
    """

    _KIND = "bktree"

    def set(self, data):
        """Replaces the content with the rows of ``data``; an empty array (any shape) empties."""
        a = data if isinstance(data, np.ndarray) else np.asarray(data)
        if a.size == 0 and a.ndim != 2:  # PyNear's own tests empty a tree with np.array([])
            self._install(None, None)
            return
        super().set(data)

    def find_threshold(self, queries, threshold):
        """``(indices, distances, keys)`` of every row within Hamming distance ``threshold``."""
        q = self._rows(queries, "queries")
        try:
            threshold = operator.index(threshold)
        except TypeError:
            raise TypeError(
                f"threshold must be an integer, not {type(threshold).__name__}") from None
        if self._count == 0 or threshold < 0:  # nothing can match: empty rows, as PyNear's
            self._check_width(q)
            return _empty_lists(q.shape[0]), _empty_lists(q.shape[0]), _empty_lists(q.shape[0])
        result = self._index.range_search(q, threshold)
        ids, distances = _in_row_order(result)
        cuts = result.offsets.tolist()
        keys = self._index.get(ids).tolist()
        ids, distances = ids.tolist(), distances.astype(_I64).tolist()
        spans = list(zip(cuts[:-1], cuts[1:]))
        return ([ids[a:b] for a, b in spans], [distances[a:b] for a, b in spans],
                [keys[a:b] for a, b in spans])

    def empty(self):
        """Whether the index holds no rows."""
        return self._count == 0

    def size(self):
        """Number of rows."""
        return self._count

    def values(self):
        """Every stored row as a list of byte values (row order)."""
        if self._count == 0:
            return []
        return self._index.get(np.arange(self._count, dtype=_I64)).tolist()


class BKTreeBinaryIndex64(BKTreeBinaryIndex):
    """:class:`BKTreeBinaryIndex` for 64-bit codes (rows of 8 bytes)."""

    _WIDTH = 8


class BKTreeBinaryIndex128(BKTreeBinaryIndex):
    """:class:`BKTreeBinaryIndex` for 128-bit codes (rows of 16 bytes)."""

    _WIDTH = 16


class BKTreeBinaryIndex256(BKTreeBinaryIndex):
    """:class:`BKTreeBinaryIndex` for 256-bit codes (rows of 32 bytes)."""

    _WIDTH = 32


class BKTreeBinaryIndex512(BKTreeBinaryIndex):
    """:class:`BKTreeBinaryIndex` for 512-bit codes (rows of 64 bytes)."""

    _WIDTH = 64


class BKTreeBinaryIndexN(BKTreeBinaryIndex):
    """:class:`BKTreeBinaryIndex` (any row width)."""


# ---- Multi-index hashing -------------------------------------------------------------------------


class MIHBinaryIndex(_Adapter):
    """Multi-index hashing over uint8 rows of packed bits (nearkit kind ``mih``).

    ``MIHBinaryIndex(m=8)``: ``m`` substrings (tables); each holds at most 64 bits, so m must be at
    least bits / 64; ``m=0`` lets nearkit choose. ``searchKNN(queries, k, radius=8)`` returns, per
    query, the k nearest rows within Hamming distance ``radius`` (nearest first; fewer when fewer
    lie within it): every row within the radius is found (the pigeonhole principle).
    """

    _KIND = "mih"
    _METRIC = "hamming"
    _BINARY = True
    _EXTRA_STATE = ("_m",)

    def __init__(self, m=8, **options):
        super().__init__(**options)
        self._m = _positive_int(m, "m", allow_zero=True)
        self._params = {"m": self._m}

    def _search_radius(self, index, q, k, radius):
        # The radius is nearkit's max_radius parameter, given for this call only: calls with
        # different radii run concurrently.
        radius = _positive_int(radius, "radius", allow_zero=True)
        radius = min(radius, index.dim)  # no Hamming distance exceeds the bit count
        return index.search(q, k, max_radius=radius)

    def _knn_radius(self, queries, k, radius):
        q = self._rows(queries, "queries")
        index = self._ready_index()
        if index is None:
            _positive_int(radius, "radius", allow_zero=True)
            return _Adapter._knn(self, q, k)
        return self._search_radius(index, q, k, radius)

    def searchKNN(self, queries, k, radius=8):
        """``(indices, distances)``: per query, lists of the k nearest rows within ``radius``."""
        return self._lists(*self._knn_radius(queries, k, radius))

    def searchKNN_arrays(self, queries, k, radius=8):
        """``(ids, distances)`` arrays of shape (n, k), nearest first, padded with id -1."""
        return self._arrays(*self._knn_radius(queries, k, radius))

    def m(self):
        """Number of substrings (tables): the built index's, else the requested one."""
        if self._index is not None and self._index.get_param("substrings"):
            return self._index.get_param("substrings")
        return self._m

    def n(self):
        """Number of rows."""
        return self._count

    def nbytes(self):
        """Bytes per row (0 before ``set``)."""
        return 0 if self._index is None else self._index.dim // 8


# ---- Inverted files ------------------------------------------------------------------------------


class IVFFlatBinaryIndex(_Adapter):
    """Inverted file over uint8 rows of packed bits (binary k-means; nearkit kind ``ivf_binary``).

    ``IVFFlatBinaryIndex(nlist=256, nprobe=8, max_iter=20, seed=42)``: ``nlist`` lists (at most one
    per row), ``nprobe`` of them scanned per query (``nprobe = nlist`` is exact), ``max_iter``
    k-means iterations. ``set_nprobe`` changes nprobe at any time.
    """

    _KIND = "ivf_binary"
    _METRIC = "hamming"
    _BINARY = True
    _EXTRA_STATE = ("_nlist", "_nprobe")

    def __init__(self, nlist=256, nprobe=8, max_iter=20, seed=42, **options):
        super().__init__(seed=_positive_int(seed, "seed", allow_zero=True), **options)
        self._nlist = _positive_int(nlist, "nlist")
        self._nprobe = _positive_int(nprobe, "nprobe")
        self._params = {"nlist": self._nlist, "nprobe": self._nprobe,
                        "iterations": _positive_int(max_iter, "max_iter")}

    def searchKNN(self, queries, k):
        """``(indices, distances)``: per query, lists of the k nearest rows found, nearest first."""
        return self._lists(*self._knn(queries, k))

    def searchKNN_arrays(self, queries, k):
        """``(ids, distances)`` arrays of shape (n, k), nearest first, padded with id -1."""
        return self._arrays(*self._knn(queries, k))

    def set_nprobe(self, nprobe):
        """Number of lists scanned per query, from now on."""
        nprobe = _positive_int(nprobe, "nprobe")
        if self._index is not None:
            self._index.set_param("nprobe", nprobe)
        self._nprobe = nprobe
        self._params["nprobe"] = nprobe

    def nlist(self):
        """The requested number of lists."""
        return self._nlist

    def nprobe(self):
        """Number of lists scanned per query."""
        return self._nprobe


class _IVFFlat(_Adapter):
    _KIND = "ivf_flat"
    _EMPTY_RAISES = True
    _EMPTY_MESSAGE = "Index is empty — call set() first"
    _QUERIES_1D = True
    _EXTRA_STATE = ("_n_clusters", "_n_probe")

    def __init__(self, n_clusters=100, n_probe=10, **options):
        """``n_clusters`` k-means cells (at most one per row), ``n_probe`` searched per query.

        ``options`` are nearkit's (e.g. ``train_sample``, ``train_iterations``, ``num_threads``).
        """
        for name in ("nlist", "nprobe"):
            if name in options:
                raise TypeError(f"{type(self).__name__}() takes n_clusters and n_probe, not {name}")
        super().__init__(**options)
        self._n_clusters = _positive_int(n_clusters, "n_clusters")
        self._n_probe = min(_positive_int(n_probe, "n_probe"), self._n_clusters)
        self._params = {"nlist": self._n_clusters, "nprobe": self._n_probe}

    def set(self, data):
        """Trains the cells on ``data`` and replaces the index's content with its rows."""
        data = self._rows(data, "data")
        if data.shape[0] == 0:
            raise InvalidArgumentError("data must hold at least one row to train the cells on")
        super().set(data)

    def searchKNN(self, queries, k):
        """``(indices, distances)``: per query, lists of the k nearest rows found, nearest first."""
        return self._lists(*self._knn(queries, k))

    def search1NN(self, queries):
        """``searchKNN(queries, 1)``: nested lists, one entry per query."""
        return self.searchKNN(queries, 1)

    @property
    def n_clusters(self):
        """Number of non-empty cells built (0 before ``set``)."""
        if self._index is None or not self._index.is_ready:
            return 0
        return self._index.get_param("nlist") - self._index.get_param("empty_lists")

    @property
    def n_probe(self):
        """Cells searched per query."""
        return self._n_probe

    @n_probe.setter
    def n_probe(self, value):
        value = min(_positive_int(value, "n_probe"), self._n_clusters)
        if self._index is not None:
            self._index.set_param("nprobe", value)
        self._n_probe = value
        self._params["nprobe"] = value


class IVFFlatL2Index(_IVFFlat):
    """Inverted file for L2 (nearkit kind ``ivf_flat``); **squared** L2 distances, as PyNear's."""

    _METRIC = "l2"

    def _distances(self, distances):
        return np.square(distances)


class IVFFlatCosineIndex(_IVFFlat):
    """Inverted file for cosine distance 1 - cos(q, x) in [0, 2] (nearkit kind ``ivf_flat``)."""

    _METRIC = "cosine"

    def _distances(self, distances):
        return np.maximum(distances, np.float32(0))
