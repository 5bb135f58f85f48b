"""nearkit: nearest-neighbour search (exact and approximate) over a C library, for numpy.

    >>> import numpy as np, nearkit
    >>> index = nearkit.Index(kind="flat", metric="l2", dim=4)
    >>> index.add(np.eye(4, dtype=np.float32))
    >>> ids, distances = index.search(np.ones(4), k=2)   # ids first (faiss: D, I = ...)
    >>> result = index.search(np.ones(4), k=2)            # a SearchResult named tuple
    >>> nearest = result.ids[0, 0]

See :class:`Index`, :func:`load`, :func:`kinds`, and :mod:`nearkit.sklearn` for scikit-learn
estimators. The package is typed (PEP 561: it carries ``py.typed``); ``mypy --strict`` checks
programs using the API above.
"""

from . import lowlevel as _ll
from ._errors import (
    BY_STATUS as _BY_STATUS,
    ClosedIndexError,
    CorruptIndexError,
    InternalError,
    InvalidArgumentError,
    NearkitError,
    NearkitIOError,
    NotFoundError,
    OutOfMemoryError,
    StateError,
    UnsupportedError,
)

_ll.nkpy_register_errors(NearkitError, _BY_STATUS, ClosedIndexError)

if _ll.nearkit_abi_version() != _ll.NEARKIT_ABI_VERSION:  # pragma: no cover
    raise ImportError(
        f"nearkit: the C library has ABI version {_ll.nearkit_abi_version()} but this binding was "
        f"built for ABI version {_ll.NEARKIT_ABI_VERSION}; reinstall the nearkit package")

from ._index import (  # noqa: E402
    Index,
    KindInfo,
    ParamInfo,
    Params,
    RangeResult,
    SearchResult,
    TuneResult,
    from_bytes,
    kind_info,
    kinds,
    load,
    merge_knn,
    view,
    view_buffer,
    metric_name,
    metrics,
)
from ._sharded import ShardedIndex  # noqa: E402

#: The C library's version ("MAJOR.MINOR.PATCH"), which is also the package's version.
__version__: str = _ll.nearkit_version_string()
#: The ABI version of the C library.
abi_version: int = _ll.nearkit_abi_version()

__all__ = [
    "Index",
    "KindInfo",
    "ParamInfo",
    "Params",
    "RangeResult",
    "SearchResult",
    "TuneResult",
    "load",
    "view",
    "view_buffer",
    "from_bytes",
    "kinds",
    "kind_info",
    "metrics",
    "metric_name",
    "merge_knn",
    "ShardedIndex",
    "NearkitError",
    "InvalidArgumentError",
    "OutOfMemoryError",
    "NearkitIOError",
    "CorruptIndexError",
    "UnsupportedError",
    "StateError",
    "NotFoundError",
    "InternalError",
    "ClosedIndexError",
    "__version__",
]
