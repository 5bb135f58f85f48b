"""PyNear's ``ShardedHNSWIndex`` over :mod:`nearkit.pynear`'s graph classes.

Rows are split into shards by a key per row (a tenant, a category: any str or int); each shard is
one index of the wrapped class (``HNSWL2Index``, ``HNSWCosineIndex``, ``HNSWBinaryIndex``, ...),
all built with the same constructor arguments::

    shards = ShardedHNSWIndex(index_cls=pynear.HNSWCosineIndex, M=16, ef_construction=200)
    shards.set(vectors, shard_keys=tenant_ids)
    hits, dists = shards.searchKNN(queries, k=10)                 # every shard, top k merged
    hits, dists = shards.searchKNN(queries, k=10, shard="t42")    # one shard
    shards.save("tenants/")                                       # manifest.json + shard_*.pkl
    shards = ShardedHNSWIndex.load("tenants/")

Results are PyNear's: per query a list of ``(shard_key, shard_local_id)`` tuples and a list of
float distances, farthest first. Shards build, add and search in parallel on a thread pool
(nearkit releases the GIL). Across shards the per-shard top k are merged by the core
(``nearkit.merge_knn``). Ties keep shard order, then each shard's order.
"""

import json
import os
import pickle
import threading
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from .._index import merge_knn

_MANIFEST = "manifest.json"
_FORMAT = 1

__all__ = ["ShardedHNSWIndex"]


class ShardedHNSWIndex:
    """Shards of one index class, keyed by str or int, saved as a directory.

    ``add`` / ``remove`` / ``rebuild`` change one shard at a time; searches may run from several
    threads at once while nothing changes.
    """

    def __init__(self, index_cls, **index_ctor_kwargs):
        """``index_cls``: the class of every shard; ``index_ctor_kwargs`` its constructor's
        arguments (M, ef_construction, ef_search, seed, n_threads, ...)."""
        if not (hasattr(index_cls, "set") and hasattr(index_cls, "searchKNN")):
            raise TypeError(f"index_cls={index_cls!r} is not an index class (no set / searchKNN)")
        self._index_cls = index_cls
        self._ctor_kwargs = dict(index_ctor_kwargs)
        self._shards = {}  # key -> index, in order of first appearance
        self._pool = None
        self._pool_size = 0

    # -- building and changing -----------------------------------------------------------------

    def set(self, vectors, shard_keys):
        """Replaces every shard: row i of ``vectors`` goes to shard ``shard_keys[i]``."""
        if len(shard_keys) != len(vectors):
            raise ValueError(
                f"shard_keys length {len(shard_keys)} != vectors length {len(vectors)}")
        groups = list(_rows_by_key(shard_keys).items())

        def build(item):
            key, rows = item
            index = self._index_cls(**self._ctor_kwargs)
            index.set(vectors[rows])
            return key, index

        built = self._map(build, groups, self._build_width(len(groups)))
        self._shards = dict(built)

    def add(self, vectors, shard_keys=None, shard=None):
        """Adds rows to one shard (``shard=key``) or by a key per row (``shard_keys``), creating
        shards as needed; returns {key: the new rows' shard-local ids}."""
        if (shard is None) == (shard_keys is None):
            raise ValueError("provide exactly one of `shard` or `shard_keys`")
        if shard is not None:
            return {shard: list(self._shard_or_new(shard).add(vectors))}
        if len(shard_keys) != len(vectors):
            raise ValueError("shard_keys length must match vectors length")
        # shards are created here, in key order, so that the shard order does not depend on
        # which thread finishes first
        work = [(key, self._shard_or_new(key), rows)
                for key, rows in _rows_by_key(shard_keys).items()]

        def add_rows(item):
            key, index, rows = item
            return key, list(index.add(vectors[rows]))

        return dict(self._map(add_rows, work, self._build_width(len(work))))

    def remove(self, node_id, shard):
        """Marks row ``node_id`` (shard-local) of ``shard`` removed."""
        self._shard(shard).remove(node_id)

    def rebuild(self, shard=None):
        """Drops removed rows of one shard (or all): {key: old-to-new id map, -1 if removed}."""
        keys = list(self._shards) if shard is None else [shard]
        return {key: list(self._shard(key).rebuild()) for key in keys}

    # -- searching -----------------------------------------------------------------------------

    def searchKNN(self, queries, k, shard=None, n_workers=None):
        """Per query, the k nearest rows of one shard or of all: ``(indices, distances)``, lists
        of ``(shard_key, local_id)`` tuples and of floats, farthest first.

        ``n_workers``: shards searched at once (default: the number of shards, at most the
        number of cores)."""
        n = len(queries)
        if not self._shards:
            return [[] for _ in range(n)], [[] for _ in range(n)]
        if shard is not None:
            ids, distances = self._shard(shard).searchKNN(queries, k)
            return ([[(shard, int(i)) for i in row] for row in ids],
                    [[float(d) for d in row] for row in distances])
        items = list(self._shards.items())
        width = n_workers or min(len(items), os.cpu_count() or 4)
        answers = self._map(lambda item: _nearest_first(item[1], queries, k), items, width)
        return _merged(list(self._shards), answers, n, k)

    def search1NN(self, queries, shard=None):
        """The nearest row per query: flat lists of ``(shard_key, local_id)`` and distances;
        ``(None, -1)`` at ``inf`` where no row is found."""
        ids, distances = self.searchKNN(queries, 1, shard=shard)
        return ([row[0] if row else (None, -1) for row in ids],
                [row[0] if row else float("inf") for row in distances])

    # -- properties ----------------------------------------------------------------------------

    @property
    def shard_keys(self):
        return list(self._shards)

    @property
    def n_shards(self):
        return len(self._shards)

    @property
    def size(self):
        """Live rows of every shard (removed ones not counted)."""
        return sum(self.shard_sizes().values())

    def shard_sizes(self):
        """{key: live rows of the shard}."""
        return {key: index.size - getattr(index, "num_deleted", 0)
                for key, index in self._shards.items()}

    def get_shard(self, shard):
        """The index of one shard."""
        return self._shard(shard)

    # -- persistence ---------------------------------------------------------------------------

    def save(self, directory):
        """Writes ``directory/shard_<key>.pkl`` per shard and ``manifest.json`` (replaced);
        files of shards not in this index are left alone."""
        os.makedirs(directory, exist_ok=True)
        listed = []
        for key, index in self._shards.items():
            name = _file_name(key)
            with open(os.path.join(directory, name), "wb") as f:
                pickle.dump(index, f)
            listed.append({"key": key, "file": name})
        manifest = {"format_version": _FORMAT, "index_class": self._index_cls.__name__,
                    "ctor_kwargs": self._ctor_kwargs, "shards": listed}
        with open(os.path.join(directory, _MANIFEST), "w") as f:
            json.dump(manifest, f, indent=2)

    @classmethod
    def load(cls, directory, index_cls=None):
        """Reads a directory written by ``save``; the shards' class is the one of
        :mod:`nearkit.pynear` named in the manifest, or ``index_cls``."""
        with open(os.path.join(directory, _MANIFEST)) as f:
            manifest = json.load(f)
        if manifest.get("format_version") != _FORMAT:
            raise ValueError(
                f"Unsupported sharded-index format_version: {manifest.get('format_version')}")
        if index_cls is None:
            from nearkit import pynear
            index_cls = getattr(pynear, manifest["index_class"], None)
            if index_cls is None:
                raise ValueError(f"Could not resolve index_class={manifest['index_class']!r}; "
                                 f"pass it as index_cls")
        loaded = cls(index_cls, **manifest["ctor_kwargs"])
        for entry in manifest["shards"]:
            with open(os.path.join(directory, entry["file"]), "rb") as f:
                loaded._shards[entry["key"]] = pickle.load(f)
        return loaded

    def __getstate__(self):
        state = dict(self.__dict__)
        state["_pool"], state["_pool_size"] = None, 0  # a thread pool does not pickle
        return state

    def __setstate__(self, state):
        self.__dict__.update(state)

    # -- internals -----------------------------------------------------------------------------

    def _shard(self, key):
        if key not in self._shards:
            raise KeyError(f"no shard with key {key!r}; known shards: {list(self._shards)}")
        return self._shards[key]

    def _shard_or_new(self, key):
        if key not in self._shards:
            self._shards[key] = self._index_cls(**self._ctor_kwargs)
        return self._shards[key]

    def _build_width(self, tasks):
        """Shards built at once: each may use n_threads cores, so at most cores / n_threads."""
        cores = os.cpu_count() or 4
        try:
            per_index = int(self._ctor_kwargs.get("n_threads", 1))
        except (TypeError, ValueError):
            per_index = 1
        cap = max(1, cores // per_index) if per_index > 1 else cores
        return max(1, min(tasks, cap))

    def _map(self, fn, items, width):
        """[fn(item) for item in items], at most ``width`` at once on the instance's pool."""
        if width <= 1 or len(items) <= 1:
            return [fn(item) for item in items]
        pool = self._pool_of(min(width, len(items)))
        if width < min(self._pool_size, len(items)):
            gate = threading.Semaphore(width)

            def gated(item):
                with gate:
                    return fn(item)

            return list(pool.map(gated, items))
        return list(pool.map(fn, items))

    def _pool_of(self, workers):
        """The instance's thread pool, made (or replaced by a wider one) on demand."""
        if self._pool is None or self._pool_size < workers:
            if self._pool is not None:
                self._pool.shutdown(wait=False)
            self._pool_size = max(min(32, os.cpu_count() or 4), workers)
            self._pool = ThreadPoolExecutor(self._pool_size, thread_name_prefix="nearkit-shard")
        return self._pool


def _rows_by_key(shard_keys):
    """{key: row numbers}, keys in order of first appearance."""
    groups = {}
    for row, key in enumerate(shard_keys):
        groups.setdefault(key, []).append(row)
    return groups


def _file_name(key):
    """shard_<key>.pkl, the key's characters other than letters, digits, _-. replaced by _."""
    return "shard_" + "".join(c if c.isalnum() or c in "_-." else "_" for c in str(key)) + ".pkl"


def _nearest_first(index, queries, k):
    """One shard's answer as (n, k) id and float64 distance arrays, nearest first, padding at
    id -1 and distance inf."""
    if hasattr(index, "searchKNN_arrays"):
        ids, distances = index.searchKNN_arrays(queries, k)
        ids = np.asarray(ids, np.int64)
        return ids, np.where(ids == -1, np.inf, np.asarray(distances, np.float64))
    rows_ids, rows_dist = index.searchKNN(queries, k)  # lists, farthest first
    ids = np.full((len(queries), k), -1, np.int64)
    distances = np.full((len(queries), k), np.inf)
    for q, (row_ids, row_dist) in enumerate(zip(rows_ids, rows_dist)):
        ids[q, :len(row_ids)] = row_ids[::-1]
        distances[q, :len(row_dist)] = row_dist[::-1]
    return ids, distances


# A shard's number and a row's shard-local id packed into one id for the core's merge: its ties
# by smaller id then keep shard order, then each shard's own order (its ids).
_LOCAL_BITS = 40


def _merged(keys, answers, n, k):
    """The k nearest of every shard's answer per query (nearkit.merge_knn), as PyNear's
    farthest-first lists."""
    packed = [np.where(ids == -1, -1, (s << _LOCAL_BITS) | ids) for s, (ids, _) in enumerate(answers)]
    top_ids, top_dist = merge_knn(packed, [distances for _, distances in answers], k)
    found = (top_ids != -1).sum(axis=1)
    local_mask = (1 << _LOCAL_BITS) - 1
    out_ids, out_dist = [], []
    for q in range(n):
        m = int(found[q])
        row = top_ids[q, :m][::-1].tolist()
        out_ids.append([(keys[i >> _LOCAL_BITS], i & local_mask) for i in row])
        out_dist.append(top_dist[q, :m][::-1].astype(np.float64).tolist())
    return out_ids, out_dist
