"""A sharded collection: several indexes (shards) of any kind searched as one, merged exactly.

The C library does the work (``nearkit_sharded_*`` in ``nearkit.h``): it searches every shard and
merges their top k with ``nearkit_merge_knn`` (ties by id), and saves the collection as a
directory of ordinary index files with a ``manifest.json``. This module only translates.
"""

from __future__ import annotations

import os
from typing import Any, Iterable, Optional, Sequence


from . import lowlevel as _ll
from ._index import (
    _F32,
    _FLOAT,
    _U8,
    _U32_MAX,
    _U64_MAX,
    Filter,
    Index,
    PathArg,
    SearchResult,
    _call_params,
    _filter_arg,
    _int_arg,
    _result_arrays,
)

__all__ = ["ShardedIndex", "write_manifest", "manifest_shard_count", "open_shard"]

_INFO_SHARDS, _INFO_COUNT, _INFO_DIMENSION, _INFO_METRIC, _INFO_VECTOR_TYPE, _INFO_MEMORY = range(6)


class ShardedIndex:
    """Shards searched as one collection: every search runs on each shard and the per-shard top
    k are merged exactly (nearest first, equal distances by smaller id), so flat shards answer as
    one flat index over the union. Ids are global: each vector keeps the id it has in its shard.

    Make one with ``ShardedIndex(shards)`` (a copy of each :class:`~nearkit.Index` is taken;
    with ``copy=False`` each is handed over instead, without a copy, and is closed afterwards:
    its later use raises :class:`~nearkit.ClosedIndexError`; a shard refused stays open and yours) or
    :meth:`open` (a directory :meth:`save` or :func:`write_manifest` wrote), and add shards
    with :meth:`add_shard`. It may be searched from many threads at once, also while a shard is
    added.
    """

    __slots__ = ("_s", "_vtype", "_dim", "_width", "_metric", "_dtype_in")

    def __init__(self, shards: Iterable[Index] = (), *, num_threads: int = 0,
                 copy: bool = True) -> None:
        self._attach(_ll.nkpy_sharded_new(_int_arg(num_threads, "num_threads", 0, _U32_MAX)))
        for shard in shards:
            self.add_shard(shard, copy=copy)

    def add_shard(self, index: Index, *, copy: bool = True) -> None:
        """Appends ``index`` as the next shard: a copy of it, or with ``copy=False`` the index
        itself, handed over (closed afterwards; refused, it stays open and yours). The first
        shard fixes the vector type, metric and dimension; the others must match
        (:class:`~nearkit.InvalidArgumentError`). Safe while other threads search."""
        if not isinstance(index, Index):
            raise TypeError(f"a shard must be a nearkit.Index, not {type(index).__name__}")
        (_ll.nkpy_sharded_add_copy if copy else _ll.nkpy_sharded_add_move)(self._s, index._h)
        self._attach(self._s)  # the first shard sets the collection's type and dimension

    def _attach(self, handle: Any) -> None:
        self._s = handle
        self._vtype = _ll.nkpy_sharded_info(handle, _INFO_VECTOR_TYPE)
        self._dim = _ll.nkpy_sharded_info(handle, _INFO_DIMENSION)
        self._width = self._dim if self._vtype == _FLOAT else self._dim // 8
        metric = _ll.nkpy_sharded_info(handle, _INFO_METRIC)
        self._metric = _ll.nearkit_metric_name(metric) if metric else None
        self._dtype_in = _F32 if self._vtype == _FLOAT else _U8

    # The input conversion of Index, shared (it reads _vtype, _width and _dim only).
    _vectors = Index._vectors
    _binary = Index._binary
    _type_of = Index._type_of
    _width_message = Index._width_message

    @classmethod
    def open(cls, path: PathArg, *, num_threads: int = 0, view: bool = False) -> ShardedIndex:
        """Opens the collection saved in the directory ``path``: every shard its manifest lists,
        each checked against its entry (a missing shard file is a NearkitIOError, a manifest
        that is not one a CorruptIndexError). ``view=True`` maps every shard file read-only
        (:meth:`Index.view`) instead of reading it: processes serving the same directory share
        its pages, and opening costs little whatever its size."""
        self = cls.__new__(cls)
        self._attach(_ll.nkpy_sharded_open(os.fsencode(path),
                                           _int_arg(num_threads, "num_threads", 0, _U32_MAX),
                                           1 if view else 0))
        return self

    def save(self, path: PathArg) -> None:
        """Writes the collection to the directory ``path`` (created if missing): each shard as
        ``shard-NNNNN.nkx``, then ``manifest.json``."""
        _ll.nkpy_sharded_save(self._s, os.fsencode(path))

    def search(self, queries: Any, k: int, *, num_threads: int = 0,
               filter: Optional[Filter] = None, **params: float) -> SearchResult:
        """The k nearest of every shard's vectors for each query, as :meth:`Index.search`
        returns them: ``(ids, distances)`` of shape (n, k), padded with -1 / inf. ``filter``
        (ids, a boolean mask over ids or a callable, as :meth:`Index.search` takes it; ids are
        the collection's, global) and ``params`` (``nprobe=``, ``ef_search=``, ...) apply to
        every shard for this call."""
        k = _int_arg(k, "k", 0, _U64_MAX)
        if not self._vtype:  # no shard: the library's StateError
            _ll.nkpy_sharded_search(self._s, _FLOAT, b"", k, 0, None, None, bytearray(), bytearray())
        q = self._vectors(queries, "queries")
        ids, distances = _result_arrays(q.shape[0], k)
        _ll.nkpy_sharded_search(self._s, self._type_of(q), q, k,
                                _int_arg(num_threads, "num_threads", 0, _U32_MAX),
                                _filter_arg(filter), _call_params(None, None, params), ids, distances)
        return SearchResult(ids, distances)

    @property
    def shard_count(self) -> int:
        """The number of shards."""
        return int(_ll.nkpy_sharded_info(self._s, _INFO_SHARDS))

    @property
    def ntotal(self) -> int:
        """The vectors of every shard together."""
        return int(_ll.nkpy_sharded_info(self._s, _INFO_COUNT))

    def __len__(self) -> int:
        return self.ntotal

    @property
    def dim(self) -> int:
        return int(self._dim)

    @property
    def metric(self) -> str | None:
        return self._metric

    @property
    def memory_bytes(self) -> int:
        """Bytes every shard holds together."""
        return int(_ll.nkpy_sharded_info(self._s, _INFO_MEMORY))

    def __repr__(self) -> str:
        return (f"<nearkit.ShardedIndex shards={self.shard_count} metric={self._metric!r} "
                f"dim={self._dim} ntotal={self.ntotal}>")


def write_manifest(path: PathArg, files: Sequence[str]) -> None:
    """Writes ``manifest.json`` in the directory ``path`` for shard files saved there already
    (e.g. by cluster workers with :meth:`Index.save`), given by plain file name in shard order.
    Each file is opened once to check the shards agree and to count them."""
    names = tuple(os.fsdecode(f) for f in files)
    _ll.nkpy_sharded_write_manifest(os.fsencode(path), names)


def manifest_shard_count(path: PathArg) -> int:
    """The number of shards the manifest of the directory ``path`` lists (no shard is opened)."""
    return int(_ll.nkpy_sharded_manifest_shard_count(os.fsencode(path)))


def _view_shard(path: str, i: int) -> Index:
    return open_shard(path, i, view=True)


def open_shard(path: PathArg, i: int, *, view: bool = False) -> Index:
    """Shard ``i`` of the collection saved in the directory ``path``, alone, as an
    :class:`~nearkit.Index` (what a cluster worker serving that shard opens), checked against its
    manifest entry (vector type, metric, dimension, count: a mismatch is a CorruptIndexError).
    ``view=True`` opens the shard file as a read-only view (:meth:`Index.view`) instead of
    loading it: the processes serving one directory share its pages. A shard file saved before
    views (format 1, not viewable in place) is loaded instead, as :meth:`ShardedIndex.open` does."""
    i = _int_arg(i, "i", 0, _U64_MAX)
    if view:
        path = os.path.abspath(os.fspath(path))
        index = Index._from_handle(_ll.nkpy_sharded_view_shard(os.fsencode(path), i, 0, 1))
        if index.is_view:
            index._reopen_with(_view_shard, path, i)  # pickles as (directory, shard number)
        return index
    return Index._from_handle(_ll.nkpy_sharded_open_shard(os.fsencode(path), i))



