"""The Pythonic layer over the SWIG module ``nearkit.lowlevel``.

It converts Python and numpy values to what the C library takes and back; every search, every check
of values (k, NaN, parameter ranges, ...) and all file handling happen in the C library.

Input arrays
------------
Float indexes take float32 vectors: a C-contiguous ``float32`` array of shape ``(n, dim)`` is read in
place with no copy. A ``float16`` array is passed as it is (half the bytes across the call) and the
library widens it to float32 once, exactly. Any other real dtype (float64, integers, bool) or layout
(Fortran order, strided views, lists) is converted once to a C-contiguous copy; complex, object or
string arrays are refused. Values outside float32's range become infinity, which the library
refuses.

Binary indexes (metric ``"hamming"``, ``dim`` in bits) take packed bytes: a ``uint8`` array of shape
``(n, dim // 8)``, bit ``j`` of a vector being bit ``j % 8`` (least significant first) of byte
``j // 8``. A ``bool`` array of shape ``(n, dim)`` (one value per bit) is packed with
``numpy.packbits(..., bitorder="little")``. Other integer arrays of shape ``(n, dim // 8)`` whose
values are all in 0..255 are cast to uint8.

A 1-d array is one vector: ``search`` then returns arrays of shape ``(1, k)``.

Ids and filters
---------------
Ids (``add``, ``remove``, ``get``, an id filter) are int64: any integer array or sequence is
converted; float, bool or object arrays are refused (:class:`InvalidArgumentError`). A search's
``filter`` is one of

* an array (or sequence, set, range) of allowed ids: any order, repeats and unknown ids are fine;
* a boolean mask: ``mask[i]`` allows id ``i``, ids ``>= len(mask)`` are not allowed; it is packed
  into a bitmap (one bit per id) for the C library;
* a callable ``f(id) -> bool``, called from the search's threads with the GIL held, at most once
  per stored vector and call: the slow path (every vector costs a Python call), for rules an id
  list cannot express. It must not use the index it filters. An exception it raises is the
  search's exception (the search stops asking it and returns the exception unchanged).

Ids and masks are the fast path: the whole search runs in C with the GIL released.
"""

from __future__ import annotations

import numbers
import operator
import os
import re
from collections.abc import Iterator, MutableMapping
from typing import (TYPE_CHECKING, AbstractSet, Any, Callable, Literal, NamedTuple, Optional,
                    Sequence, SupportsIndex, Tuple, Union, cast, overload)

import numpy as np
from numpy.typing import ArrayLike, NDArray

if TYPE_CHECKING:
    from typing_extensions import Self

#: What a path argument may be (as ``open`` takes it).
PathArg = Union[str, bytes, "os.PathLike[str]", "os.PathLike[bytes]"]
#: A search's ``filter``: allowed ids (an integer array, sequence, set or range), a boolean mask
#: over ids, or a callable ``id -> bool``.
Filter = Union[ArrayLike, AbstractSet[int], Callable[[int], bool]]

from . import lowlevel as _ll
from ._errors import InvalidArgumentError, NearkitError, OutOfMemoryError

__all__ = ["Index", "SearchResult", "RangeResult", "TuneResult", "KindInfo", "ParamInfo", "load",
           "from_bytes", "kinds", "kind_info", "metrics"]

_F32 = np.dtype(np.float32)
_F16 = np.dtype(np.float16)
_U8 = np.dtype(np.uint8)
_I64 = np.dtype(np.int64)
_BOOL = np.dtype(np.bool_)

_FLOAT = _ll.NEARKIT_VECTOR_FLOAT32
_BINARY = _ll.NEARKIT_VECTOR_BINARY
_HALF = _ll.NEARKIT_VECTOR_FLOAT16
_VECTOR_TYPE_NAMES = {_FLOAT: "float32", _BINARY: "binary"}

_PARAM_READ_ONLY = _ll.NEARKIT_PARAM_FLAG_READ_ONLY
_PARAM_BUILD = _ll.NEARKIT_PARAM_FLAG_BUILD
_PARAM_INTEGER = _ll.NEARKIT_PARAM_FLAG_INTEGER
_PARAM_RECALL = _ll.NEARKIT_PARAM_FLAG_RECALL
_PARAM_RECALL_FINE = _ll.NEARKIT_PARAM_FLAG_RECALL_FINE

_U32_MAX = 2**32 - 1
_U64_MAX = 2**64 - 1
_NAME_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")

_search = _ll.nkpy_search
_search_with = _ll.nkpy_search_with
_FILTER_IDS = _ll.NEARKIT_FILTER_IDS
_FILTER_BITMAP = _ll.NEARKIT_FILTER_BITMAP
_FILTER_PREDICATE = _ll.NEARKIT_FILTER_PREDICATE
_I64_MIN = np.iinfo(np.int64).min
_I64_MAX = np.iinfo(np.int64).max
_empty = np.empty
# Most entries a result array may have: numpy indexes bytes with intp, and ids take 8 bytes each.
_MAX_RESULT_ENTRIES = np.iinfo(np.intp).max // 8
# Results up to this many entries are allocated in search without the checks of _result_arrays
# (a function call and a test that cannot fail: a measurable share of a single-query search).
_SMALL_RESULT_ENTRIES = 4096
_ndarray = np.ndarray
_stat = _ll.nkpy_stat


# ---- Kinds and metrics, enumerated from the C library ---------------------------------------------


class KindInfo(NamedTuple):
    """What the C library reports about one index kind (``nearkit_kind_get_info``)."""

    name: str
    kind: int
    exact: bool
    needs_training: bool
    needs_build: bool
    metrics: Tuple[str, ...]
    description: str
    #: Searches codes of a codec smaller than the vectors (fp16, bf16, sq8, sq4, pq).
    compressed: bool = False

    def supports(self, metric: str) -> bool:
        """Whether this kind supports ``metric`` (a name, aliases accepted)."""
        return metric_name(metric) in self.metrics


def _all_kind_infos() -> list[KindInfo]:
    infos = []
    for i in range(_ll.nearkit_kind_count()):
        kind, name, flags, mask, description = _ll.nearkit_kind_get_info(i)
        metric_names = tuple(_ll.nearkit_metric_name(m) for m in range(32)
                             if mask & (1 << m) and _ll.nearkit_metric_name(m) is not None)
        infos.append(KindInfo(name, kind, bool(flags & _ll.NEARKIT_KIND_FLAG_EXACT),
                              bool(flags & _ll.NEARKIT_KIND_FLAG_NEEDS_TRAINING),
                              bool(flags & _ll.NEARKIT_KIND_FLAG_NEEDS_BUILD), metric_names,
                              description, bool(flags & _ll.NEARKIT_KIND_FLAG_COMPRESSED)))
    return infos


def kinds() -> list[str]:
    """Names of the index kinds compiled into the C library, e.g. ``['flat', 'vptree', ...]``."""
    return [info.name for info in _all_kind_infos()]


@overload
def kind_info(kind: None = None) -> list[KindInfo]: ...
@overload
def kind_info(kind: str) -> KindInfo: ...
def kind_info(kind: Optional[str] = None) -> Union[KindInfo, list[KindInfo]]:
    """:class:`KindInfo` of one kind (by name, any case), or a list of all kinds when ``None``."""
    infos = _all_kind_infos()
    if kind is None:
        return infos
    value = _ll.nearkit_kind_from_name(_name_arg(kind, "kind"))
    for info in infos:
        if info.kind == value:
            return info
    raise NearkitError(f"kind {kind!r} is not listed by the library")  # pragma: no cover


def metrics() -> list[str]:
    """Names of the metrics the C library knows: ``['l2', 'l1', 'linf', 'cosine', 'ip', ...]``."""
    return [_ll.nearkit_metric_name(m) for m in range(32) if _ll.nearkit_metric_name(m) is not None]


def merge_knn(ids: Union[ArrayLike, Sequence[ArrayLike]],
              distances: Union[ArrayLike, Sequence[ArrayLike]], k: int, *,
              unique: bool = False) -> SearchResult:
    """The k nearest per row of answers computed apart (shards, or two indexes over one set).

    ``ids`` (int64) and ``distances`` (float32) are (n, m) arrays, or sequences of (n, m_i) arrays
    placed side by side, as ``search`` returns them (-1 / inf padding is skipped). Returns a
    :class:`SearchResult` ``(ids, distances)`` of shape (n, k) ordered as one search over the
    union would: nearest first, equal distances by smaller id, padded. ``unique=True`` counts an
    id found in several answers once, at its least distance. A NaN distance is an
    InvalidArgumentError.
    """
    ids = np.ascontiguousarray(_side_by_side(ids), dtype=np.int64)
    distances = np.ascontiguousarray(_side_by_side(distances), dtype=np.float32)
    if ids.ndim != 2 or ids.shape != distances.shape:
        raise InvalidArgumentError(
            f"merge_knn: ids {ids.shape} and distances {distances.shape} must be (n, m) alike")
    k = _int_arg(k, "k", 1, _U64_MAX)
    out_ids, out_distances = _result_arrays(ids.shape[0], k)
    _ll.nkpy_merge_knn(out_ids, out_distances, ids, distances, ids.shape[0], k,
                       _ll.NEARKIT_MERGE_UNIQUE if unique else 0)
    return SearchResult(out_ids, out_distances)


def _side_by_side(parts: Union[ArrayLike, Sequence[ArrayLike]]) -> ArrayLike:
    """An array as it is; a sequence of (n, m_i) arrays concatenated along the rows."""
    if isinstance(parts, np.ndarray):
        return parts
    return np.concatenate([np.asarray(a) for a in cast(Sequence[ArrayLike], parts)], axis=1)


def metric_name(metric: str) -> str:
    """The canonical name of a metric given by any name the library accepts (e.g. "euclidean")."""
    return _ll.nearkit_metric_name(_ll.nearkit_metric_from_name(_name_arg(metric, "metric")))


# ---- Argument conversion -------------------------------------------------------------------------


def _name_arg(value, what):
    if not isinstance(value, str):
        raise TypeError(f"{what} must be a str, not {type(value).__name__}")
    return value


def _int_arg(value, what, low, high):
    try:
        value = operator.index(value)
    except TypeError:
        raise TypeError(f"{what} must be an integer, not {type(value).__name__}") from None
    if value < low or value > high:
        if low == 0 and value < 0:
            raise InvalidArgumentError(f"{what} must not be negative, got {value}")
        raise InvalidArgumentError(f"{what} must be in [{low}, {high}], got {value}")
    return value


def _ids_array(ids, what):
    """ids as a C-contiguous 1-d int64 array (a scalar is one id); refuses non-integer dtypes."""
    if isinstance(ids, (set, frozenset)):
        ids = list(ids)
    a = ids if type(ids) is np.ndarray else np.asarray(ids)
    if a.ndim == 0:
        a = a.reshape(1)
    elif a.ndim != 1:
        raise InvalidArgumentError(f"{what} must be a 1-d array of ids; got shape {a.shape}")
    dt = a.dtype
    if dt is not _I64:
        if a.size == 0:
            return np.empty(0, _I64)  # [] is float64 for numpy: an empty list of ids all the same
        if dt.kind not in "iu":
            raise InvalidArgumentError(f"{what} must be integers (int64); got dtype {dt}")
        if dt.kind == "u" and a.max() > _I64_MAX:
            raise InvalidArgumentError(f"{what} must fit in int64")
        a = a.astype(_I64)
    return np.ascontiguousarray(a)


def _filter_arg(allowed):
    """A search's filter as the low-level tuple (type, buffer, first, bits, callable), or None.

    Arrays of ids go as they are, boolean masks packed into a bitmap (bit i of the mask = id i),
    callables as the slow predicate path.
    """
    if allowed is None:
        return None
    if callable(allowed):
        return (_FILTER_PREDICATE, None, 0, 0, allowed)
    if not isinstance(allowed, (set, frozenset)):
        a = allowed if type(allowed) is np.ndarray else np.asarray(allowed)
        if a.dtype == _BOOL:
            if a.ndim != 1:
                raise InvalidArgumentError(
                    f"a boolean filter mask must be 1-d (mask[i] allows id i); got shape "
                    f"{a.shape}")
            return (_FILTER_BITMAP, np.packbits(a, bitorder="little"), 0, a.shape[0], None)
        if a.size and a.dtype.kind not in "iufc":
            raise TypeError(
                f"filter must be ids (an integer array), a boolean mask or a callable id -> bool; "
                f"got {type(allowed).__name__} (as an array: dtype {a.dtype})")
        allowed = a  # numbers that are not integers: _ids_array's InvalidArgumentError
    return (_FILTER_IDS, _ids_array(allowed, "filter ids"), 0, 0, None)


def _call_params(nprobe, ef_search, params):
    """Per-call parameters as the low-level tuple of (name, value) pairs, or None when none.

    Names are checked by the C library (an unknown one is a NotFoundError, a build parameter an
    InvalidArgumentError); values must be numbers.
    """
    if not params and (nprobe is None or ef_search is None):  # none or one: the common calls
        if nprobe is not None:
            return (("nprobe", _param_value(nprobe, "nprobe")),)
        if ef_search is not None:
            return (("ef_search", _param_value(ef_search, "ef_search")),)
        return None
    pairs = []
    if nprobe is not None:
        pairs.append(("nprobe", _param_value(nprobe, "nprobe")))
    if ef_search is not None:
        pairs.append(("ef_search", _param_value(ef_search, "ef_search")))
    for name, value in params.items():
        pairs.append((name, _param_value(value, name)))
    return tuple(pairs)


def _result_arrays(n, k):
    """Uninitialised (n, k) int64 ids and float32 distances for a k-NN search.

    k may exceed the index's count (the library searches for min(k, count) and pads), but every
    row is k wide: a k whose result numpy cannot index is an InvalidArgumentError (a ValueError),
    one the machine cannot allocate an OutOfMemoryError (a MemoryError), both naming k, before
    the library is called.
    """
    if n * k > _MAX_RESULT_ENTRIES:
        raise InvalidArgumentError(
            f"k = {k} for {n} queries asks for {n * k} results, more than an array can hold; "
            f"search fewer queries at a time or with a smaller k")
    try:
        return _empty((n, k), _I64), _empty((n, k), _F32)
    except MemoryError:
        raise OutOfMemoryError(
            f"cannot allocate the results of {n} queries with k = {k} ({n * k * 12} bytes); "
            f"search fewer queries at a time or with a smaller k") from None


def _format_params(params):
    """{"nlist": 16, "ef": 0.5} -> "nlist=16,ef=0.5" (the C library parses and checks the values)."""
    parts = []
    for name, value in params.items():
        if not _NAME_RE.match(name):
            raise InvalidArgumentError(f"invalid parameter name {name!r}")
        if isinstance(value, (bool, np.bool_)):
            text = "1" if value else "0"
        elif isinstance(value, numbers.Integral):
            text = str(int(value))
        elif isinstance(value, numbers.Real):
            text = repr(float(value))
        else:
            raise TypeError(f"parameter {name!r} must be a number, not {type(value).__name__}")
        parts.append(f"{name}={text}")
    return ",".join(parts) if parts else None


def _param_value(value, name):
    t = type(value)
    if t is int or t is float:  # before the ABC checks below, which cost a microsecond per call
        return float(value)
    if isinstance(value, (bool, np.bool_)):
        return 1.0 if value else 0.0
    if isinstance(value, numbers.Real):
        return float(value)
    raise TypeError(f"parameter {name!r} must be a number, not {type(value).__name__}")


# ---- Results -------------------------------------------------------------------------------------


class SearchResult(NamedTuple):
    """A k-NN search result: ``ids`` (int64) and ``distances`` (float32), both of shape (n, k).

    A named tuple whose order is **ids first**, so ``ids, distances = index.search(q, k)`` unpacks
    it, as do ``result[0]`` / ``result[1]``, and ``result.ids`` / ``result.distances`` name the
    arrays. Faiss returns the other order (``D, I = index.search(q, k)``): written that way here,
    ``D`` would hold the ids. Reading the fields by name avoids the mix-up.
    """

    ids: NDArray[np.int64]
    distances: NDArray[np.float32]


# Builds a SearchResult from a 2-tuple without NamedTuple.__new__'s argument handling (search
# returns one per call; this is the cheapest way).
_tuple_new = tuple.__new__


class RangeResult(NamedTuple):
    """A range search result in compressed sparse row (CSR) form.

    Query ``i``'s matches are ``ids[offsets[i]:offsets[i + 1]]`` with their distances at the same
    positions, nearest first. ``offsets`` (int64) has ``query_count + 1`` entries; ``ids`` (int64) and
    ``distances`` (float32) hold all matches of all queries. Being a tuple it unpacks as
    ``offsets, ids, distances = index.range_search(q, r)``; ``scipy.sparse.csr_matrix((distances,
    ids, offsets))`` builds a sparse matrix from it when ids are row numbers.
    """

    offsets: NDArray[np.int64]
    ids: NDArray[np.int64]
    distances: NDArray[np.float32]

    @property
    def query_count(self) -> int:
        """Number of queries."""
        return len(self.offsets) - 1

    @property
    def lengths(self) -> NDArray[np.int64]:
        """Number of matches of each query (int64 array)."""
        return np.diff(self.offsets)

    def query(self, i: int) -> Tuple[NDArray[np.int64], NDArray[np.float32]]:
        """``(ids, distances)`` of query ``i`` (views into this result)."""
        n = self.query_count
        i = operator.index(i)
        if i < 0:
            i += n
        if not 0 <= i < n:
            raise IndexError(f"query {i} out of range for {n} queries")
        lo, hi = int(self.offsets[i]), int(self.offsets[i + 1])
        return self.ids[lo:hi], self.distances[lo:hi]

    def split(self) -> Tuple[list[NDArray[np.int64]], list[NDArray[np.float32]]]:
        """``(ids_per_query, distances_per_query)``: two lists of arrays, one per query."""
        cuts = self.offsets[1:-1]
        return np.split(self.ids, cuts), np.split(self.distances, cuts)


class TuneResult(NamedTuple):
    """What :meth:`Index.tune` measured and chose.

    ``param`` is the runtime parameter tuned (``"nprobe"``, ``"ef_search"``; ``None`` for an exact
    kind, which has nothing to tune) and ``value`` the value set on the index; ``recall`` is the
    recall@k measured on the sample at that value, ``qps`` the queries per second of that
    measurement; ``reached`` is False when no value tried reached the target (the value with the
    best recall is then set); ``measurements`` counts the values tried. ``fine_param`` is the
    finer setting chosen with ``value`` (``"max_codes"``, the IVF kinds' scan budget, set on the
    index too; ``recall`` and ``qps`` are measured with both) where one more step of ``param``
    would jump past the target, else ``None`` with ``fine_value`` 0.
    """

    param: Optional[str]
    value: Optional[float]
    recall: float
    qps: float
    reached: bool
    measurements: int
    fine_param: Optional[str] = None
    fine_value: float = 0


# ---- Parameters ----------------------------------------------------------------------------------


class ParamInfo(NamedTuple):
    """One named parameter as the C library describes it (``nearkit_index_param_describe``).

    ``minimum`` and ``maximum`` bound what a set accepts; ``default`` is the value of a new index
    (``None`` for read-only statistics). Values of integer parameters are ints where finite.
    """

    name: str
    read_only: bool
    build_only: bool
    integer: bool
    minimum: float
    maximum: float
    default: Optional[float]
    description: str
    #: the runtime setting trading speed for recall (nprobe, ef_search, search_k): what
    #: ``Index.tune`` and ``nearkit bench --sweep`` vary
    recall: bool = False
    #: a finer setting under the ``recall`` one (the IVF kinds' ``max_codes``, 0: no limit) that
    #: ``Index.tune`` sets where one step of that jumps past the target
    recall_fine: bool = False


def _param_number(value, integer):
    """A parameter value as Python shows it: an int for integer parameters (where finite)."""
    if integer and value == value and abs(value) != float("inf") and value.is_integer():
        return int(value)
    return value


def _param_info(name, flags, minimum, maximum, default, description):
    integer = bool(flags & _PARAM_INTEGER)
    read_only = bool(flags & _PARAM_READ_ONLY)
    return ParamInfo(name, read_only, bool(flags & _PARAM_BUILD), integer,
                     _param_number(minimum, integer), _param_number(maximum, integer),
                     None if read_only else _param_number(default, integer), description,
                     bool(flags & _PARAM_RECALL), bool(flags & _PARAM_RECALL_FINE))


class Params(MutableMapping[str, float]):
    """A live view of an index's named parameters (``nearkit_index_param_*``).

    ``index.params["nprobe"] = 8`` sets, ``index.params["nprobe"]`` reads, ``dict(index.params)``
    snapshots every parameter (read-only statistics included). Parameters cannot be deleted.
    """

    __slots__ = ("_index",)

    def __init__(self, index: Index) -> None:
        self._index = index

    def _infos(self):
        h = self._index._h
        return [_ll.nkpy_param_info(h, i) for i in range(_ll.nkpy_param_count(h))]

    def __getitem__(self, name: str) -> float:
        if not isinstance(name, str) or name not in self.names():
            raise KeyError(name)
        return self._index.get_param(name)

    def __setitem__(self, name: str, value: float) -> None:
        if not isinstance(name, str) or name not in self.names():
            raise KeyError(name)
        self._index.set_param(name, value)

    def __delitem__(self, name: str) -> None:
        raise TypeError("index parameters cannot be deleted")

    def __iter__(self) -> Iterator[str]:
        return iter(self.names())

    def __len__(self) -> int:
        return _ll.nkpy_param_count(self._index._h)

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and name in self.names()

    def names(self) -> list[str]:
        """Every parameter name, in the library's order."""
        return [name for name, _ in self._infos()]

    def flags(self) -> dict[str, dict[str, bool]]:
        """{name: {"read_only", "build", "integer", "recall": bool}} for every parameter."""
        return {name: {"read_only": bool(f & _PARAM_READ_ONLY), "build": bool(f & _PARAM_BUILD),
                       "integer": bool(f & _PARAM_INTEGER), "recall": bool(f & _PARAM_RECALL)}
                for name, f in self._infos()}

    @overload
    def describe(self, name: None = None) -> list[ParamInfo]: ...
    @overload
    def describe(self, name: str) -> ParamInfo: ...
    def describe(self, name: Optional[str] = None) -> Union[ParamInfo, list[ParamInfo]]:
        """:class:`ParamInfo` of every parameter, in the library's order; of one when ``name`` is
        given (``KeyError`` if the index has no such parameter)."""
        h = self._index._h
        infos = [_param_info(*_ll.nkpy_param_describe(h, i))
                 for i in range(_ll.nkpy_param_count(h))]
        if name is None:
            return infos
        for info in infos:
            if info.name == name:
                return info
        raise KeyError(name)

    def __repr__(self) -> str:
        return f"Params({dict(self)!r})"


# ---- The index -----------------------------------------------------------------------------------


class Index:
    """A nearest-neighbour index of the C library.

    ``Index(kind="flat", metric="l2", dim=128, num_threads=0, seed=42, **params)`` creates an empty
    index. ``kind`` is any name of :func:`kinds`, ``metric`` any name the library accepts ("l2",
    "l1", "linf", "cosine", "ip", "hamming" and the aliases "euclidean", "manhattan", "chebyshev",
    "inner_product"); ``dim`` is the number of floats, or of bits for binary vectors (metric
    "hamming", a multiple of 8). ``num_threads`` = 0 uses every core for batch work. ``params`` are
    the kind's build parameters (e.g. ``nlist=64``), passed to the library as ``"name=value,..."``.

    Runtime parameters are also attributes (``index.nprobe = 8``) and items of :attr:`params`.

    Thread safety: every method may be called from several Python threads at once (the GIL is
    released during C calls: searches, ``add``, ``remove``, ``get``, ...). Searches run in
    parallel; a write (``add``, ``remove``, ``compact``, ``train``, ``build``, ``set_param``) runs
    alone in the C library, so each search sees the collection before or after it, never half of
    it. ``close`` waits for the calls under way; after it every call raises
    :class:`~nearkit.ClosedIndexError`.

    A living collection: :meth:`remove` drops vectors by id, :meth:`get` and :meth:`contains`
    (``id in index``) read them back, and searches take a ``filter`` and per-call parameters
    (``nprobe=``, ``ef_search=``, ...).
    """

    __slots__ = ("_h", "_kind", "_metric", "_dim", "_vtype", "_width", "_dtype_in", "_search_key",
                 "_reopen", "_view_buffer", "__weakref__")
    # _view_buffer: the export of a buffer view's bytes (view_buffer). CPython clears slots in
    # name order, so a dying Index drops its handle (_h, _search_key) and with it the C view
    # before the bytes; either way nothing reads them once the Index itself is unreachable.
    _h: Any  # the low-level handle
    _kind: str
    _metric: str
    _dim: int
    _vtype: int
    _width: int
    _dtype_in: np.dtype[Any]
    _search_key: Tuple[Any, np.dtype[Any], int, int]

    def __init__(self, kind: str = "flat", metric: str = "l2", dim: Optional[int] = None,
                 num_threads: int = 0, seed: int = 42, **params: float) -> None:
        if dim is None:
            raise TypeError("Index() needs dim, the vector dimension (bits for binary vectors)")
        kind = _name_arg(kind, "kind")
        metric = _name_arg(metric, "metric")
        dim = _int_arg(dim, "dim", 0, _U32_MAX)
        num_threads = _int_arg(num_threads, "num_threads", 0, _U32_MAX)
        seed = _int_arg(seed, "seed", 0, _U64_MAX)
        handle = _ll.nkpy_create(kind, metric, dim, num_threads, seed, _format_params(params))
        self._attach(handle)

    @classmethod
    def _from_handle(cls, handle: Any) -> Self:
        self = cls.__new__(cls)
        self._attach(handle)
        return self

    def _attach(self, handle):
        object.__setattr__(self, "_h", handle)
        object.__setattr__(self, "_kind", _ll.nearkit_kind_name(_stat(handle, _ll.NKPY_STAT_KIND)))
        object.__setattr__(self, "_metric",
                           _ll.nearkit_metric_name(_stat(handle, _ll.NKPY_STAT_METRIC)))
        object.__setattr__(self, "_dim", _stat(handle, _ll.NKPY_STAT_DIMENSION))
        vtype = _stat(handle, _ll.NKPY_STAT_VECTOR_TYPE)
        object.__setattr__(self, "_vtype", vtype)
        object.__setattr__(self, "_width", _stat(handle, _ll.NKPY_STAT_VECTOR_BYTES)
                           // (4 if vtype == _FLOAT else 1))
        object.__setattr__(self, "_dtype_in", _F32 if vtype == _FLOAT else _U8)
        # What search reads on every call, in one attribute: each attribute read of an Index goes
        # through __getattr__'s hook, a measurable share of a single-query search.
        object.__setattr__(self, "_search_key", (handle, self._dtype_in, self._width, vtype))

    # -- conversion of inputs --

    def _vectors(self, x, what):
        """x as a C-contiguous 2-d array of the index's input dtype (no copy when already so)."""
        a = x if type(x) is np.ndarray else np.asarray(x)
        dt = a.dtype
        if self._vtype == _FLOAT:
            if dt is not _F32 and dt != _F16:
                if dt.kind not in "fiub":
                    raise InvalidArgumentError(
                        f"{what} must hold real numbers (converted to float32); got dtype {dt}")
                with np.errstate(over="ignore", invalid="ignore"):
                    a = a.astype(_F32)  # values beyond float32 become inf: refused by C
        elif self._vtype == _BINARY:
            if dt is not _U8:
                a = self._binary(a, what)
        else:  # pragma: no cover - a vector type this binding does not know
            raise NearkitError(f"unsupported vector type {self._vtype}")
        if a.ndim == 2:
            if a.shape[1] != self._width:
                raise InvalidArgumentError(self._width_message(what, a.shape))
        elif a.ndim == 1:
            if a.shape[0] != self._width:
                raise InvalidArgumentError(self._width_message(what, a.shape))
            a = a.reshape(1, self._width)
        else:
            raise InvalidArgumentError(
                f"{what} must be a 1-d vector or a 2-d array of vectors; got shape {a.shape}")
        if not a.flags.c_contiguous:
            a = np.ascontiguousarray(a)
        return a

    def _type_of(self, a):
        """The vector type of a converted input array: float16 arrays go to C as they are."""
        return _HALF if a.dtype == _F16 else self._vtype

    def _width_message(self, what, shape):
        if self._vtype == _BINARY:
            return (f"{what} must have {self._width} bytes per vector (dim {self._dim} bits, packed "
                    f"as uint8) or {self._dim} bool values; got shape {shape}")
        return f"{what} must have dimension {self._dim}; got shape {shape}"

    def _binary(self, a, what):
        dt = a.dtype
        if dt is _BOOL or dt == _BOOL:
            if a.ndim not in (1, 2) or a.shape[-1] != self._dim:
                raise InvalidArgumentError(
                    f"bool {what} must have {self._dim} values (bits) per vector; got shape "
                    f"{a.shape}")
            return np.packbits(a, axis=-1, bitorder="little")
        if dt.kind in "iu":
            if a.size and (a.min() < 0 or a.max() > 255):
                raise InvalidArgumentError(
                    f"{what} of a binary index must be bytes (0..255, packed bits) or bool bits")
            return a.astype(_U8)
        raise InvalidArgumentError(
            f"{what} of a binary index must be uint8 (packed bits, shape (n, {self._width})) or "
            f"bool (shape (n, {self._dim})); got dtype {dt}")

    # -- building --

    def add(self, x: ArrayLike, ids: Optional[ArrayLike] = None) -> None:
        """Adds vectors (shape (n, dim), or one 1-d vector), copied by the library.

        ``ids`` is None (ids continue the insertion order: the i-th vector ever added gets id i) or
        n integer ids (any int64 value but -1; duplicates allowed).
        """
        vectors = self._vectors(x, "vectors")
        id_array = None
        if ids is not None:
            id_array = np.asarray(ids)
            if id_array.dtype is not _I64:
                if id_array.size and id_array.dtype.kind not in "iu":
                    raise InvalidArgumentError(f"ids must be integers; got dtype {id_array.dtype}")
                if (id_array.dtype.kind == "u" and id_array.size
                        and id_array.max() > np.iinfo(np.int64).max):
                    raise InvalidArgumentError("ids must fit in int64")
                id_array = id_array.astype(_I64)
            if id_array.shape != (vectors.shape[0],):
                raise InvalidArgumentError(f"ids must be a 1-d array of {vectors.shape[0]} ids; "
                                           f"got shape {id_array.shape}")
            id_array = np.ascontiguousarray(id_array)
        _ll.nkpy_add(self._h, self._type_of(vectors), vectors, id_array)

    def train(self, x: ArrayLike) -> None:
        """Trains kinds that learn from data (e.g. IVF centroids); a no-op for the others."""
        x = self._vectors(x, "training vectors")
        _ll.nkpy_train(self._h, self._type_of(x), x)

    def build(self) -> None:
        """Makes everything added searchable (builds trees; trains first where needed)."""
        _ll.nkpy_build(self._h)

    # -- removing and reading back --

    def remove(self, ids: ArrayLike) -> int:
        """Removes every stored vector carrying one of ``ids``; returns how many were removed.

        ``ids``: one id or a 1-d integer array / sequence; ids not stored and repeats are ignored.
        Searches running meanwhile see the collection before or after the removal, never half of
        it. A removed id may be added again. Space is reclaimed by the index as it goes (see
        :meth:`compact`). Kinds that cannot remove raise :class:`~nearkit.UnsupportedError`.
        """
        return _ll.nkpy_remove(self._h, _ids_array(ids, "ids"))

    @overload
    def get(self, ids: ArrayLike, *, return_found: Literal[False] = False) -> NDArray[Any]: ...
    @overload
    def get(self, ids: ArrayLike, *,
            return_found: Literal[True]) -> Tuple[NDArray[Any], NDArray[np.bool_]]: ...
    def get(self, ids: ArrayLike, *, return_found: bool = False
            ) -> Union[NDArray[Any], Tuple[NDArray[Any], NDArray[np.bool_]]]:
        """The stored vectors of ``ids``: an array of shape (n, dim) (float32; packed uint8 rows
        for binary indexes), row i for ``ids[i]``; one id gives one 1-d vector.

        Vectors are returned as stored (cosine: normalised to length 1); where several vectors
        carry one id, one of them. An id not stored raises ``KeyError`` naming it, unless
        ``return_found=True``: then ``(vectors, found)`` is returned, ``found`` a bool array and
        the rows of ids not found zeros.
        """
        one = np.ndim(ids) == 0
        id_array = _ids_array(ids, "ids")
        n = id_array.shape[0]
        vectors = np.empty((n, self._width), self._dtype_in)
        found = np.empty(n, _BOOL)
        _ll.nkpy_get(self._h, id_array, vectors, found.view(_U8))
        if not return_found and not found.all():
            missing = id_array[~found]
            shown = ", ".join(str(i) for i in missing[:10]) + (", ..." if missing.size > 10 else "")
            raise KeyError(f"{missing.size} id(s) not stored in the index: {shown}")
        if one:
            vectors, found = vectors[0], found[0]
        return (vectors, found) if return_found else vectors

    def contains(self, id: int) -> bool:
        """Whether some stored vector carries ``id`` (an integer). Also ``id in index``."""
        id = operator.index(id)
        if not _I64_MIN <= id <= _I64_MAX:
            return False
        return bool(_ll.nkpy_contains(self._h, id))

    def __contains__(self, id: object) -> bool:
        try:
            value = operator.index(cast(SupportsIndex, id))
        except TypeError:
            return False
        return self.contains(value)

    def compact(self) -> None:
        """Reclaims the space of removed vectors and finishes work the kind defers (trees rebuild
        over what was added or removed since their build). Never needed for correct results."""
        _ll.nkpy_compact(self._h)

    # -- searching --

    def search(self, queries: ArrayLike, k: int, *, num_threads: int = 0,
               filter: Optional[Filter] = None, nprobe: Optional[float] = None,
               ef_search: Optional[float] = None, **params: float) -> SearchResult:
        """k-nearest-neighbour search.

        ``queries`` has shape (n, dim), or is one 1-d vector (results then have shape (1, k)).
        Returns a :class:`SearchResult` ``(ids, distances)``: int64 and float32 arrays of shape
        (n, k), nearest first, ties by smaller id; where fewer than k vectors exist the rest is
        id -1, distance inf. **Ids come first**, the reverse of faiss's ``D, I = index.search(q,
        k)``: unpack as ``ids, distances = index.search(q, k)``, or read ``result.ids`` and
        ``result.distances``.
        A k above the count costs only the (n, k) arrays; k < 1 is an InvalidArgumentError, and
        a k whose result cannot be held or allocated an InvalidArgumentError (ValueError) or
        OutOfMemoryError (MemoryError) naming k, raised before the search runs.
        ``num_threads`` overrides the index's setting for this call (0 = the index's).

        ``filter`` restricts the search to the ids it allows: an id array, a boolean mask over
        ids 0..len(mask)-1, or a callable id -> bool (the slow path; see the module's "Ids and
        filters"). Exact kinds return exactly the filtered k nearest; approximate kinds keep their
        recall on that truth; rows have min(k, allowed) neighbours, then the padding.

        ``nprobe``, ``ef_search`` and any other runtime parameter given by name (e.g. mih's
        ``max_radius=4``) apply to this call only, leaving the index's settings alone: threads
        may search one index with different values at once. A name the kind does not have is a
        :class:`~nearkit.NotFoundError`, a build parameter an InvalidArgumentError.
        """
        h, dtype_in, width, qtype = self._search_key
        q = queries
        # Fast path: an array of the input dtype, C-contiguous, of the right width (no copy).
        if type(q) is _ndarray and q.dtype is dtype_in and q.flags.c_contiguous:
            shape = q.shape
            if len(shape) == 2 and shape[1] == width:
                n = shape[0]
            elif len(shape) == 1 and shape[0] == width:
                n = 1
            else:
                q = self._vectors(q, "queries")  # raises the shape error
                n = q.shape[0]
        else:
            q = self._vectors(q, "queries")
            n = q.shape[0]
            qtype = self._type_of(q)
        if type(k) is not int or k < 0 or k > _U64_MAX:
            k = _int_arg(k, "k", 0, _U64_MAX)
        if num_threads:
            num_threads = _int_arg(num_threads, "num_threads", 0, _U32_MAX)
        if filter is None and nprobe is None and ef_search is None and not params:
            allowed = call_params = None
        else:
            allowed, call_params = _filter_arg(filter), _call_params(nprobe, ef_search, params)
        if n * k <= _SMALL_RESULT_ENTRIES:  # where the checks of _result_arrays cannot fail
            ids, distances = _empty((n, k), _I64), _empty((n, k), _F32)
        else:
            ids, distances = _result_arrays(n, k)
        if allowed is None and call_params is None:
            _search(h, qtype, q, k, num_threads, ids, distances)
        else:
            _search_with(h, qtype, q, k, num_threads, allowed, call_params, ids, distances)
        return _tuple_new(SearchResult, (ids, distances))

    def range_search(self, queries: ArrayLike, radius: float, *, num_threads: int = 0,
                     filter: Optional[Filter] = None, nprobe: Optional[float] = None,
                     ef_search: Optional[float] = None, **params: float) -> RangeResult:
        """Every stored vector within ``radius`` (distance <= radius) of each query.

        Returns a :class:`RangeResult` ``(offsets, ids, distances)`` in CSR form, nearest first
        per query; ``result.split()`` gives per-query lists. ``filter``, ``nprobe``,
        ``ef_search`` and other runtime parameters as for :meth:`search`.
        """
        q = self._vectors(queries, "queries")
        if not isinstance(radius, numbers.Real):
            raise TypeError(f"radius must be a number, not {type(radius).__name__}")
        if num_threads:
            num_threads = _int_arg(num_threads, "num_threads", 0, _U32_MAX)
        r = _ll.nkpy_range_search_with(self._h, self._type_of(q), q, float(radius), num_threads,
                                       _filter_arg(filter),
                                       _call_params(nprobe, ef_search, params))
        nq = _ll.nkpy_range_size(r, 0)
        total = _ll.nkpy_range_size(r, 1)
        offsets = np.empty(nq + 1, _I64)
        ids = np.empty(total, _I64)
        distances = np.empty(total, _F32)
        _ll.nkpy_range_copy(r, offsets, ids, distances)
        return RangeResult(offsets, ids, distances)

    def tune(self, queries: ArrayLike, k: int = 10, target_recall: float = 0.95, *,
             num_threads: int = 0, max_value: float = 0, max_seconds: float = 0) -> TuneResult:
        """Sets the cheapest runtime setting reaching ``target_recall`` (recall@k) on ``queries``.

        The truth is exact: the index's own vectors searched by brute force (a compressed kind
        without its originals, ``refine=0``, is measured against its decoded codes, so recall
        against the vectors added can be lower by the codes' own loss). Values of the kind's
        runtime parameter (``nprobe`` for ivf_flat and ivf_binary, ``ef_search`` for hnsw,
        ``search_k`` for rpforest) are
        tried per call, doubling then bisecting, up to ``max_value`` (0: the parameter's bound)
        and for at most ``max_seconds`` (0: no limit); the cheapest that reaches the target is
        set on the index. Where that value jumps past the target and the kind has a finer
        setting (the IVF kinds' ``max_codes``), the cheapest budget still reaching it is set too
        (``TuneResult.fine_param``). Returns a :class:`TuneResult`. Exact kinds return at once (``param``
        None, recall 1). Pass queries like those the index will serve, not stored vectors.
        An empty or untrained index is a :class:`~nearkit.StateError`, a target outside (0, 1]
        an InvalidArgumentError.
        """
        q = self._vectors(queries, "queries")
        k = _int_arg(k, "k", 0, _U64_MAX)
        if num_threads:
            num_threads = _int_arg(num_threads, "num_threads", 0, _U32_MAX)
        for name, value in (("target_recall", target_recall), ("max_value", max_value),
                            ("max_seconds", max_seconds)):
            if not isinstance(value, numbers.Real) or isinstance(value, bool):
                raise TypeError(f"{name} must be a number, not {type(value).__name__}")
        param, value, recall, qps, reached, measurements, fine_param, fine_value = _ll.nkpy_tune(
            self._h, self._type_of(q), q, k, float(target_recall), num_threads, float(max_value),
            float(max_seconds))
        if param is not None:
            value = _param_number(value, True)
        fine_value = _param_number(fine_value, True)
        return TuneResult(param, value, recall, qps, bool(reached), measurements, fine_param,
                          fine_value)

    # -- properties --

    @property
    def kind(self) -> str:
        """The index kind's name, e.g. ``"flat"``."""
        return self._kind

    @property
    def metric(self) -> str:
        """The metric's name, e.g. ``"l2"``."""
        return self._metric

    @property
    def dim(self) -> int:
        """The dimension: floats per vector, or bits for binary vectors."""
        return self._dim

    @property
    def vector_type(self) -> str:
        """``"float32"`` or ``"binary"``."""
        return _VECTOR_TYPE_NAMES.get(self._vtype, str(self._vtype))

    @property
    def dtype(self) -> np.dtype[Any]:
        """The numpy dtype input arrays are passed to C as (float32, or uint8 for binary)."""
        return _F32 if self._vtype == _FLOAT else _U8

    @property
    def ntotal(self) -> int:
        """Number of vectors stored."""
        return _stat(self._h, _ll.NKPY_STAT_COUNT)

    def __len__(self) -> int:
        return _stat(self._h, _ll.NKPY_STAT_COUNT)

    @property
    def memory_bytes(self) -> int:
        """Heap memory the C index holds, in bytes."""
        return _stat(self._h, _ll.NKPY_STAT_MEMORY_BYTES)

    @property
    def is_ready(self) -> bool:
        """Whether the index can be searched (trained and built as its kind needs)."""
        return bool(_stat(self._h, _ll.NKPY_STAT_IS_READY))

    @property
    def is_view(self) -> bool:
        """Whether this is a read-only view of a file (:meth:`view`)."""
        return bool(_stat(self._h, _ll.NKPY_STAT_IS_VIEW))

    @property
    def closed(self) -> bool:
        """Whether :meth:`close` was called."""
        return bool(_ll.nkpy_is_closed(self._h))

    def describe(self) -> str:
        """The C library's human-readable description of the index."""
        return _ll.nkpy_describe(self._h)

    # -- parameters --

    @property
    def params(self) -> Params:
        """A live mapping of every named parameter (see :class:`Params`)."""
        return Params(self)

    def get_param(self, name: str) -> float:
        """Value of a named parameter (an int for integer parameters)."""
        value = _ll.nkpy_get_param(self._h, _name_arg(name, "parameter name"))
        for pname, flags in self.params._infos():
            if pname == name and flags & _PARAM_INTEGER and value.is_integer():
                return int(value)
        return value

    def set_param(self, name: str, value: float) -> None:
        """Sets a named parameter (build parameters only before training or adding)."""
        _ll.nkpy_set_param(self._h, _name_arg(name, "parameter name"), _param_value(value, name))

    def __getattr__(self, name: str) -> float:
        # Only called when normal lookup fails: expose parameters as attributes.
        if name.startswith("_"):
            raise AttributeError(name)
        try:
            h = object.__getattribute__(self, "_h")
            names = [n for n, _ in (_ll.nkpy_param_info(h, i)
                                    for i in range(_ll.nkpy_param_count(h)))]
        except (AttributeError, NearkitError):
            names = []
        if name in names:
            return self.get_param(name)
        raise AttributeError(f"'Index' object has no attribute or parameter {name!r}")

    def __setattr__(self, name: str, value: Any) -> None:
        if not name.startswith("_"):
            try:
                is_param = name in self.params
            except NearkitError:  # closed
                is_param = False
            if is_param:
                self.set_param(name, value)
                return
        # read-only properties and unknown names raise AttributeError (the class has __slots__)
        object.__setattr__(self, name, value)

    def __dir__(self) -> list[str]:
        names = set(super().__dir__())
        try:
            names.update(self.params.names())
        except NearkitError:
            pass
        return sorted(names)

    # -- persistence --

    def save(self, path: PathArg) -> None:
        """Writes the index to ``path`` (str, bytes or os.PathLike; replaced if it exists)."""
        _ll.nkpy_save(self._h, os.fsencode(path))

    def to_bytes(self) -> bytes:
        """The index serialised as bytes (the same format as :meth:`save` writes)."""
        return _ll.nkpy_save_buffer(self._h)

    @classmethod
    def load(cls, path: PathArg) -> Self:
        """Reads an index from a file written by any nearkit binding or the CLI."""
        return cls._from_handle(_ll.nkpy_load(os.fsencode(path)))

    @classmethod
    def view(cls, path: PathArg, verify: bool = False, load_if_unviewable: bool = False) -> Self:
        """Opens a saved index read-only without reading it into memory.

        The file is memory-mapped, and its stored vectors (and, per kind, more of its bulk) are
        used in place, so every process viewing one file shares one copy of it through the page
        cache, and opening costs the same for a large file as for a small one. The view searches
        like :meth:`load`'s index; adding, removing, training, building, compacting and setting a
        build parameter raise :class:`StateError`, while runtime settings (``nprobe``,
        ``ef_search``, ``search_k``, ``num_threads``) can be changed. :meth:`copy` gives a writable
        index. ``verify=True`` also checks the file's checksum and every stored value, as a load
        does (this reads the whole file). Keep the file in place while the view is open: saving a
        new index to the same path is safe (the view keeps the old file), rewriting it in place is
        not. Pickling a view pickles its path, and unpickling opens a view of that path again.

        A file whose layout cannot be used in place (format version 1, saved before views) raises
        :class:`UnsupportedError` ("re-save"); ``load_if_unviewable=True`` loads it instead, as
        :meth:`load` would: the index is then not a view (``is_view`` is False, it is writable
        and pickles its contents). Only that case falls back: a damaged file still raises
        :class:`CorruptIndexError`, a missing one :class:`NearkitIOError`.
        """
        path = os.path.abspath(os.fspath(path))
        self = cls._from_handle(_ll.nkpy_view(os.fsencode(path), 1 if verify else 0,
                                              1 if load_if_unviewable else 0))
        if self.is_view:
            self._reopen_with(view, path)
        return self

    @classmethod
    def view_buffer(cls, data: Any, verify: bool = False, load_if_unviewable: bool = False) -> Self:
        """Opens a read-only view of a saved index already in memory (as :meth:`to_bytes` gives).

        ``data`` is any read-only, C-contiguous buffer: ``bytes``, an ``mmap.mmap`` opened with
        ``ACCESS_READ``, a read-only ``memoryview``, a numpy array with ``writeable=False``. A
        writable buffer (``bytearray``, a writable array) raises ``ValueError``: its bytes could
        change under the view, whose reads are bounded by what it checked on opening. The index
        holds an export of the buffer until it is closed or collected, so the object stays alive
        and an ``mmap`` cannot be closed (nor a buffer resized) meanwhile.

        The bytes must start at a 64-byte boundary to be used in place (an ``mmap`` always does;
        a ``bytes`` object almost never): otherwise :class:`UnsupportedError`, or with
        ``load_if_unviewable=True`` a load of the bytes (not a view; the buffer is not kept).
        ``verify`` as in :meth:`view`.
        """
        if isinstance(data, str):
            raise TypeError("view_buffer needs a bytes-like object, not str")
        try:
            buffer = memoryview(data)
        except TypeError:
            raise TypeError(f"view_buffer needs a bytes-like object, not {type(data).__name__}") \
                from None
        if not buffer.readonly:
            buffer.release()
            raise ValueError("view_buffer needs a read-only buffer (bytes, an mmap opened with "
                             "ACCESS_READ, an array with writeable=False): the bytes of a writable "
                             f"{type(data).__name__} could change under the view; use from_bytes "
                             "to load a copy")
        if not buffer.c_contiguous:
            buffer.release()
            raise ValueError("view_buffer needs a C-contiguous buffer")
        if buffer.ndim != 1 or buffer.format != "B":
            buffer = buffer.cast("B")  # same memory, same export
        self = cls._from_handle(_ll.nkpy_view_buffer(buffer, 1 if verify else 0,
                                                     1 if load_if_unviewable else 0))
        if self.is_view:
            object.__setattr__(self, "_view_buffer", buffer)
        else:
            buffer.release()  # a load owns its copy
        return self

    def _reopen_with(self, opener: Callable[..., Index], *args: Any) -> None:
        """Makes pickling this view pickle how to open it again (``opener(*args)``) instead of its
        contents: the receiver maps the same file."""
        object.__setattr__(self, "_reopen", (opener, args))

    def copy(self) -> "Index":
        """A new, writable in-memory index equal to this one (of a view: its contents, loaded)."""
        return Index._from_handle(_ll.nkpy_copy(self._h))

    @classmethod
    def from_bytes(cls, data: Union[bytes, bytearray, memoryview]) -> Self:
        """Reads an index from a bytes-like object (as :meth:`to_bytes` returns)."""
        if isinstance(data, str):
            raise TypeError("from_bytes needs a bytes-like object, not str")
        return cls._from_handle(_ll.nkpy_load_buffer(data))

    def __reduce__(self) -> Tuple[Callable[..., Index], Tuple[Any, ...]]:
        reopen = getattr(self, "_reopen", None)
        if reopen is not None and not self.closed:
            return reopen  # cheap: the receiver maps the same file
        return (from_bytes, (self.to_bytes(),))

    # -- lifetime --

    def close(self) -> None:
        """Frees the C index (after any running call finishes). Idempotent."""
        _ll.nkpy_close(self._h)
        if getattr(self, "_view_buffer", None) is not None:  # no call reads it any more
            object.__setattr__(self, "_view_buffer", None)

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def __repr__(self) -> str:
        head = f"<nearkit.Index kind={self._kind!r} metric={self._metric!r} dim={self._dim}"
        try:
            return f"{head} ntotal={self.ntotal} ready={self.is_ready}>"
        except NearkitError:
            return f"{head} (closed)>"


def load(path: PathArg) -> Index:
    """Reads an index from a file (see :meth:`Index.load`)."""
    return Index.load(path)


def view(path: PathArg, verify: bool = False, load_if_unviewable: bool = False) -> Index:
    """Opens a read-only view of a saved index (see :meth:`Index.view`)."""
    return Index.view(path, verify, load_if_unviewable)


def view_buffer(data: Any, verify: bool = False, load_if_unviewable: bool = False) -> Index:
    """Opens a read-only view of a saved index in memory (see :meth:`Index.view_buffer`)."""
    return Index.view_buffer(data, verify, load_if_unviewable)


def from_bytes(data: Union[bytes, bytearray, memoryview]) -> Index:
    """Reads an index from bytes (see :meth:`Index.from_bytes`); also used by pickle."""
    return Index.from_bytes(data)
