"""nearkit on Dask: one shard per partition, built and searched on the workers, merged exactly.

    import dask.array as da, nearkit.dask
    from distributed import Client
    client = Client("scheduler:8786")                       # or a LocalCluster
    x = da.from_zarr("vectors.zarr")                       # (n, d) float32, chunked by rows
    index = nearkit.dask.build(x, kind="hnsw", metric="l2", M=16)   # a shard per row chunk
    ids, distances = index.search(queries, k=10)           # Dask arrays (n_queries, k)
    ids, distances = dask.compute(ids, distances)           # compute both together: one merge
    graph_ids, graph_distances = index.knn_graph(k=10)     # every row's 10 nearest other rows
    index.save("/shared/vectors-index")                    # shard files + manifest.json
    index = nearkit.dask.open("/shared/vectors-index")     # the workers view the shard files

How it runs (docs/distributed.md):

- ``build`` turns each row partition of a Dask array (or each partition of a Dask DataFrame) into
  one :class:`nearkit.Index` on the worker that holds it and keeps it there (a Future). Ids
  are global: the row number by default, or the given ids (an ``id_column`` of a DataFrame, or
  a Dask array of int64 ids chunked like the rows).
- ``search`` runs, for each block of queries, one task per shard (the scheduler places it on the
  worker holding the shard) and one merge task, :func:`nearkit.merge_knn` (nearest first, equal
  distances by smaller id). With flat shards the answer equals one flat index's over all rows.
- Each task's native search uses ``num_threads`` threads (default 1: Dask's parallelism is one
  task per worker thread; more would oversubscribe the cores).
- ``save`` has every worker write its shard into a directory all workers and the client see (a
  shared file system), then writes ``manifest.json``; ``open`` has the workers open them, as
  read-only views of the files by default (workers on one host share the pages).

Needs ``dask[distributed]`` (``pip install "nearkit[dask]"``).
"""

from __future__ import annotations

import operator
import os
from typing import Any, Mapping, Optional, Sequence, Tuple

import numpy as np

from ._index import Index, PathArg, merge_knn
from ._sharded import manifest_shard_count, open_shard, write_manifest

try:
    import dask
    import dask.array as da
    from dask.delayed import delayed
    from dask.sizeof import sizeof
except ImportError as error:  # pragma: no cover - depends on the environment
    raise ImportError("nearkit.dask needs dask[distributed]: pip install 'nearkit[dask]'") from error

__all__ = ["DaskIndex", "build", "open"]

_I64 = np.dtype(np.int64)
_F32 = np.dtype(np.float32)


@sizeof.register(Index)
def _sizeof_index(index: Index) -> int:
    """A shard's real size for the scheduler, which otherwise sees a small Python object and
    moves shards to the queries instead of the queries to the shards. A view's is the heap it
    owns (its bulk stays in the mapped file): small, as is what moving it costs (its path is
    what pickles)."""
    return int(index.memory_bytes)


# ---- what runs on the workers ----------------------------------------------------------------------


def _build_shard(vectors: Any, ids: Any, kind: str, metric: str, dim: int, num_threads: int,
                 params: Mapping[str, float]) -> Index:
    """One shard over one partition's rows (ids: their global ids)."""
    index = Index(kind=kind, metric=metric, dim=dim, num_threads=num_threads, **params)
    index.add(np.asarray(vectors), np.asarray(ids, dtype=_I64))
    index.build()
    return index


def _row_ids(first: int, n: int) -> np.ndarray:
    return np.arange(first, first + n, dtype=_I64)


def _search_shard(shard: Index, queries: Any, k: int, num_threads: int,
                  params: Mapping[str, float]) -> Tuple[np.ndarray, np.ndarray]:
    ids, distances = shard.search(np.asarray(queries), k, num_threads=num_threads, **params)
    return ids, distances


def _merge(parts: Sequence[Tuple[np.ndarray, np.ndarray]], k: int) -> Tuple[np.ndarray, np.ndarray]:
    ids, distances = merge_knn([p[0] for p in parts], [p[1] for p in parts], k)
    return ids, distances


def _without_self(result: Tuple[np.ndarray, np.ndarray], self_ids: Any,
                  k: int) -> Tuple[np.ndarray, np.ndarray]:
    """Rows of k + 1 neighbours made the k nearest others: each row drops its own id where it
    appears (once), else its last entry. Exact: the k nearest others are the k + 1 nearest
    without self when self is among them, else the first k."""
    ids, distances = result
    self_ids = np.asarray(self_ids, dtype=_I64).reshape(-1, 1)
    is_self = ids == self_ids
    first_self = np.where(is_self.any(axis=1), is_self.argmax(axis=1), k)
    keep = np.arange(k + 1)[None, :] != first_self[:, None]
    n = ids.shape[0]
    return ids[keep].reshape(n, k), distances[keep].reshape(n, k)


def _shape_of(shard: Index) -> Tuple[int, str]:
    return shard.dim, shard.metric


def _save_shard(shard: Index, path: str, name: str) -> str:
    shard.save(os.path.join(path, name))
    return name


# ---- the client side ---------------------------------------------------------------------------------


def _vectors_and_ids(data: Any, ids: Any, id_column: Optional[str],
                     columns: Optional[Sequence[str]]) -> Tuple[da.Array, Optional[da.Array]]:
    """A Dask array of vectors (rows chunked as the partitions, one column chunk) and a Dask
    array of ids chunked alike, or None for the row numbers."""
    if isinstance(data, da.Array):
        vectors = data
        if ids is not None and not isinstance(ids, da.Array):
            ids = da.from_array(np.asarray(ids, dtype=_I64), chunks=(data.chunks[0],))
    else:  # a Dask DataFrame: the id column and the vector columns
        frame = data
        if id_column is not None:
            ids = frame[id_column].to_dask_array(lengths=True).astype(_I64)
            frame = frame.drop(columns=[id_column])
        if columns is not None:
            frame = frame[list(columns)]
        vectors = frame.to_dask_array(lengths=True)
    if vectors.ndim != 2:
        raise ValueError(f"the vectors must be a 2-d array (rows, dimension); got {vectors.ndim}-d")
    vectors = vectors.rechunk({1: -1})
    if ids is not None:
        if ids.ndim != 1 or ids.shape[0] != vectors.shape[0]:
            raise ValueError(f"ids {ids.shape} must be one per row of the vectors {vectors.shape}")
        ids = ids.rechunk((vectors.chunks[0],))
    return vectors, ids


def _dimension(vectors: da.Array, metric: str) -> int:
    """The index dimension: the columns, or bits (8 per uint8 column) for binary vectors."""
    binary = vectors.dtype == np.uint8 and metric == "hamming"
    return int(vectors.shape[1]) * (8 if binary else 1)


def _current_client() -> Any:
    """The distributed Client in use, or None (dask's local schedulers)."""
    try:
        from distributed import get_client
        return get_client()
    except (ImportError, ValueError):
        return None


def _persisted(objects: list, client: Any) -> list:
    """The delayed objects computed and kept on the workers: Futures under a distributed Client
    (a task graph naming a Future holds it, so every result built from the shards keeps them
    alive for as long as it lives, whatever becomes of its DaskIndex; persisted collections did
    not, and a search computed after the index was dropped lost its dependencies), else the
    values held by dask's local scheduler."""
    client = client if client is not None else _current_client()
    if client is not None:
        return list(client.compute(objects))
    return list(dask.persist(*objects))


class DaskIndex:
    """Shards held by Dask workers, searched as one collection (see the module's docstring)."""

    def __init__(self, shards: Sequence[Any], *, dim: int, metric: str, client: Any = None,
                 vectors: Optional[da.Array] = None, ids: Optional[da.Array] = None) -> None:
        self.shards = list(shards)
        self.dim = dim
        self.metric = metric
        self._client = client
        self._vectors = vectors  # what knn_graph searches; None for an opened index
        self._ids = ids

    @property
    def shard_count(self) -> int:
        return len(self.shards)

    def _query_blocks(self, queries: Any) -> da.Array:
        q = queries if isinstance(queries, da.Array) else da.from_array(np.asarray(queries))
        if q.ndim == 1:
            q = q.reshape(1, -1)
        return q.rechunk({1: -1})

    def _merged_blocks(self, q: da.Array, k: int, num_threads: int,
                       params: Mapping[str, float]) -> list:
        merged = []
        for block in q.to_delayed().ravel():
            parts = [delayed(_search_shard, pure=True)(s, block, k, num_threads, dict(params))
                     for s in self.shards]
            merged.append(delayed(_merge, pure=True)(parts, k))
        return merged

    @staticmethod
    def _as_arrays(results: list, rows: Sequence[int], k: int) -> Tuple[da.Array, da.Array]:
        ids = [da.from_delayed(delayed(operator.getitem)(r, 0), (n, k), _I64)
               for r, n in zip(results, rows)]
        distances = [da.from_delayed(delayed(operator.getitem)(r, 1), (n, k), _F32)
                     for r, n in zip(results, rows)]
        return da.concatenate(ids, axis=0), da.concatenate(distances, axis=0)

    def search(self, queries: Any, k: int, *, num_threads: int = 1,
               **params: float) -> Tuple[da.Array, da.Array]:
        """The k nearest of every shard's vectors for each query (a Dask or numpy array (n, d)):
        ``(ids, distances)``, Dask arrays (n, k) int64 / float32 chunked like the queries' rows,
        ordered as one search over all the rows (padded with -1 / inf). ``params`` are runtime
        parameters for every shard (``nprobe=``, ``ef_search=``). Lazy: compute both arrays
        together (``dask.compute(ids, distances)``) so each block is searched once."""
        if k < 1:
            raise ValueError("k must be at least 1")
        q = self._query_blocks(queries)
        merged = self._merged_blocks(q, k, num_threads, params)
        return self._as_arrays(merged, q.chunks[0], k)

    def knn_graph(self, k: int, *, include_self: bool = False, num_threads: int = 1,
                  **params: float) -> Tuple[da.Array, da.Array]:
        """The k-nearest-neighbour graph of the rows the index was built from: row i holds the
        ids and distances of its k nearest rows. ``include_self=False`` (default) leaves each row
        itself out (by id: the k nearest *other* rows, exactly, even among duplicates);
        ``include_self=True`` is a plain search of every row (a row usually finds itself first,
        but equal vectors of smaller id come before it)."""
        if self._vectors is None:
            raise ValueError("knn_graph needs the index built here by build(), not opened")
        if k < 1:
            raise ValueError("k must be at least 1")
        q = self._vectors
        if include_self:
            return self.search(q, k, num_threads=num_threads, **params)
        merged = self._merged_blocks(q, k + 1, num_threads, params)
        if self._ids is not None:
            self_ids = list(self._ids.to_delayed().ravel())
        else:
            starts = np.cumsum((0,) + q.chunks[0][:-1])
            self_ids = [delayed(_row_ids)(int(s), int(n)) for s, n in zip(starts, q.chunks[0])]
        trimmed = [delayed(_without_self, pure=True)(m, i, k) for m, i in zip(merged, self_ids)]
        return self._as_arrays(trimmed, q.chunks[0], k)

    def save(self, path: PathArg) -> None:
        """Every worker writes its shard into the directory ``path`` (``shard-NNNNN.nkx``; the
        directory must be one the workers and this process share), then this process writes
        ``manifest.json`` (opening each shard once to check and count it)."""
        path = os.fsdecode(path)
        os.makedirs(path, exist_ok=True)
        names = [delayed(_save_shard)(s, path, f"shard-{i:05d}.nkx") for i, s in enumerate(self.shards)]
        written = dask.compute(*names)
        write_manifest(path, written)


def build(data: Any, *, kind: str = "flat", metric: str = "l2", ids: Any = None,
          id_column: Optional[str] = None, columns: Optional[Sequence[str]] = None,
          client: Any = None, num_threads: int = 1, **params: float) -> DaskIndex:
    """One shard per partition of ``data``, built on the workers and kept there.

    ``data`` is a Dask array (n, d) chunked by rows (float32, or uint8 packed bits with metric
    "hamming"), or a Dask DataFrame whose columns (``columns``, default all but ``id_column``)
    are the vector's values. Ids: the row numbers, or ``ids`` (a Dask or numpy int64 array, one
    per row) or the DataFrame's ``id_column``. ``kind``, ``metric`` and ``params`` (build
    parameters such as ``nlist=``, ``M=``) are those of :class:`nearkit.Index`; every shard gets
    the same. ``client``: the distributed Client (default: the current one)."""
    vectors, ids_array = _vectors_and_ids(data, ids, id_column, columns)
    dim = _dimension(vectors, metric)
    blocks = vectors.to_delayed().ravel()
    if ids_array is not None:
        id_blocks = list(ids_array.to_delayed().ravel())
    else:
        starts = np.cumsum((0,) + vectors.chunks[0][:-1])
        id_blocks = [delayed(_row_ids)(int(s), int(n)) for s, n in zip(starts, vectors.chunks[0])]
    shards = [delayed(_build_shard)(b, i, kind, metric, dim, num_threads, dict(params))
              for b, i in zip(blocks, id_blocks)]
    return DaskIndex(_persisted(shards, client), dim=dim, metric=metric, client=client,
                     vectors=vectors, ids=ids_array)


def open(path: PathArg, *, view: bool = True, client: Any = None) -> DaskIndex:  # noqa: A001
    """The collection saved in the directory ``path`` (by :meth:`DaskIndex.save` or
    :meth:`nearkit.ShardedIndex.save`), each shard opened by a worker and kept there, checked
    against its manifest entry. ``view=True`` (default): each worker opens its shard file as a
    read-only view (:meth:`nearkit.Index.view`): mapped, not read, so the workers of one host
    share its pages through the page cache, and a shard moved to another worker travels as its
    path. ``view=False`` loads each shard into its worker's memory (for a directory that may
    change or vanish while the index is in use)."""
    path = os.fsdecode(path)
    n = manifest_shard_count(path)
    shards = _persisted([delayed(open_shard)(path, i, view=view) for i in range(n)], client)
    dim, metric = delayed(_shape_of)(shards[0]).compute()  # asked of the worker holding it
    return DaskIndex(shards, dim=dim, metric=metric, client=client)
