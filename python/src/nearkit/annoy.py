"""Annoy's API over nearkit's ``rpforest`` kind: ``from nearkit.annoy import AnnoyIndex``.

A program written for Annoy (the ``annoy`` package) runs with this class in its place::

    from nearkit.annoy import AnnoyIndex

    index = AnnoyIndex(40, "angular")
    for i, v in enumerate(vectors):
        index.add_item(i, v)
    index.build(10)
    index.save("items.ann")
    neighbours = index.get_nns_by_vector(v, 10)

The class is a thin adapter over :class:`nearkit.Index` (kind ``rpforest``: Annoy's two-means
random-projection trees, searched best first across all trees with one priority queue, the search
itself in nearkit's C library). It converts arguments and results to Annoy's conventions:

=============  ===========  =====================================================
Annoy metric   nearkit      distance reported
=============  ===========  =====================================================
``angular``    cosine       ``sqrt(2 - 2 cos)`` (the chord of the unit vectors)
``euclidean``  l2           the Euclidean distance
``manhattan``  l1           the sum of absolute differences
``hamming``    hamming      differing bits (items are ``f`` values of 0 or 1)
``dot``        ip           the inner product (larger is nearer)
=============  ===========  =====================================================

``search_k`` is nearkit's: the candidates collected per query, duplicates across trees included,
as Annoy counts them; -1 means ``n_trees * n`` (Annoy's default). Misuse raises Annoy's errors
(checked beside annoy 1.17): adding to a loaded (saved or loaded) index, building twice or building
a loaded index (``Exception``), a vector of the wrong length, a negative item or one beyond the
largest (``IndexError``), an unreadable file (``OSError``).

Differences from Annoy (by design or not yet built):

* ``save`` / ``load`` read and write nearkit's index file (not Annoy's format); ``load`` maps the
  file as Annoy does (a read-only nearkit view: processes that load one file share its pages), and
  ``prefault=True`` reads it whole at once, checking its checksum on the way (a format 1 file,
  saved before views, is read into memory instead);
* ``angular``: nearkit stores unit vectors, so ``get_item_vector`` returns the item normalised;
* before ``build`` a search scans every item exactly (Annoy answers ``[]``); an item added after
  ``build`` is found (scanned exactly beside the trees) where Annoy accepts it and never finds it;
* ``build(-1)`` makes ``(f + 2) // 2`` trees, about what Annoy's "trees until the nodes reach twice
  the items" gives for float vectors;
* item ids not added are not stored (Annoy keeps zero vectors up to the largest id):
  ``get_n_items`` is still the largest id + 1, as Annoy's (after ``load``: the item count, the
  same for items numbered from 0 without gaps), and ``get_item_vector`` of an id never added
  raises ``IndexError``;
* ``set_seed`` must come before the first ``add_item``.
"""

import os
import warnings

import numpy as np

from ._index import Index

__all__ = ["AnnoyIndex"]

_METRICS = {"angular": "cosine", "euclidean": "l2", "manhattan": "l1", "hamming": "hamming",
            "dot": "ip"}
_ALIASES = {"a": "angular", "e": "euclidean", "m": "manhattan", "h": "hamming", "d": "dot"}


class AnnoyIndex:
    """An index of ``f``-dimensional items under ``metric`` (see the module)."""

    def __init__(self, f, metric=None):
        if metric is None:
            warnings.warn("The default argument for metric will be removed in future version of "
                          "Annoy. Please pass metric='angular' explicitly.", FutureWarning,
                          stacklevel=2)
            metric = "angular"
        metric = _ALIASES.get(metric, metric)
        if metric not in _METRICS:
            raise ValueError("No such metric")
        f = int(f)
        if f <= 0:
            raise ValueError("f must be positive")
        self.f = f
        self._metric = metric
        self._seed = 42
        self._on_disk = None
        self._reset()

    # -- state --

    def _reset(self):
        bits = -(-self.f // 8) * 8  # hamming: packed bytes, padded with zero bits
        self._index = Index("rpforest", _METRICS[self._metric],
                            dim=bits if self._metric == "hamming" else self.f, seed=self._seed)
        self._built = False
        self._loaded = False
        self._n_items = 0

    def _packed(self, vector, what="Vector"):
        v = np.asarray(vector, dtype=np.float32).ravel()
        if v.shape[0] != self.f:
            raise IndexError(f"{what} has wrong length (expected {self.f}, got {v.shape[0]})")
        if self._metric == "hamming":
            return np.packbits(v != 0, bitorder="little")
        return v

    def _unpacked(self, row):
        if self._metric == "hamming":
            return np.unpackbits(row, bitorder="little")[: self.f].astype(np.float32)
        return row

    def _check_item(self, i):
        i = int(i)
        if i < 0:
            raise IndexError("Item index can not be negative")
        if i >= self._n_items or i not in self._index:
            raise IndexError("Item index larger than the largest item index")
        return i

    # -- adding and building --

    def add_item(self, i, vector):
        """Adds (or replaces) item ``i``, a non-negative integer, with ``vector`` of ``f`` values."""
        if self._loaded:
            raise Exception("You can't add an item to a loaded index")
        i = int(i)
        if i < 0:
            raise IndexError("Item index can not be negative")
        v = self._packed(vector)
        if i in self._index:
            self._index.remove(i)
        self._index.add(v[None, :], ids=[i])
        self._n_items = max(self._n_items, i + 1)

    def build(self, n_trees, n_jobs=-1):
        """Builds ``n_trees`` trees (-1: ``(f + 2) // 2``) on ``n_jobs`` threads (-1: every core)."""
        if self._loaded:
            raise Exception("You can't build a loaded index")
        if self._built:
            raise Exception("You can't build a built index")
        n_trees = int(n_trees)
        if n_trees == -1:
            n_trees = max(1, (self.f + 2) // 2)
        if n_trees < 1:
            raise ValueError("n_trees must be positive or -1")
        self._index.set_param("n_trees", n_trees)
        self._index.set_param("num_threads", 0 if n_jobs is None or n_jobs < 0 else int(n_jobs))
        self._index.build()
        self._index.set_param("num_threads", 1)
        self._built = True
        if self._on_disk is not None:
            self._index.save(self._on_disk)
        return True

    def unbuild(self):
        """Forgets the trees so that items can be added again (the items stay)."""
        if self._loaded:
            raise Exception("You can't unbuild a loaded index")
        self._built = False
        return True

    def on_disk_build(self, fn):
        """Builds into file ``fn``: nearkit builds in memory and writes ``fn`` when ``build`` ends."""
        self._on_disk = os.fspath(fn)
        open(self._on_disk, "wb").close()  # Annoy creates the file at once
        return True

    def set_seed(self, seed):
        """The seed of the trees' random splits (before ``build``)."""
        if len(self._index) or self._built or self._loaded:
            raise Exception("nearkit.annoy: set_seed must come before add_item")
        self._seed = int(seed)
        self._reset()

    def verbose(self, v):
        return True

    # -- files --

    def save(self, fn, prefault=False):
        """Writes the index (nearkit's format) to ``fn``; the index is then read-only, as Annoy's."""
        if not self._built and self._n_items:
            self.build(-1)
        self._index.save(os.fspath(fn))
        self._loaded = True
        return True

    def load(self, fn, prefault=False):
        """Maps an index written by :meth:`save` (or any nearkit binding) for ``f`` and the metric."""
        # a format 1 file, whose sections cannot be used in place, is read into memory instead
        index = Index.view(os.fspath(fn), verify=bool(prefault), load_if_unviewable=True)
        expected = -(-self.f // 8) * 8 if self._metric == "hamming" else self.f
        if index.metric != _METRICS[self._metric] or index.dim != expected or index.kind != "rpforest":
            raise OSError(f"{fn}: not an rpforest index of {self.f} dimensions under {self._metric}")
        self._index = index
        self._built = self._loaded = True
        # nearkit's file does not list the ids; items numbered 0..n-1 (Annoy's usual) give n
        self._n_items = len(index)
        return True

    def unload(self):
        """Forgets the items and the trees (a new, empty index)."""
        self._reset()
        return True

    # -- reading --

    def get_n_items(self):
        return self._n_items

    def get_n_trees(self):
        return int(self._index.get_param("n_trees")) if self._built else 0

    def get_item_vector(self, i):
        i = self._check_item(i)
        return self._unpacked(self._index.get(i)).tolist()

    def get_distance(self, i, j):
        a = self._index.get(self._check_item(i))
        b = self._index.get(self._check_item(j))
        return self._reported(self._distance(a, b))

    def _distance(self, a, b):
        if self._metric == "hamming":
            return float(np.unpackbits(np.bitwise_xor(a, b)).sum())
        a = a.astype(np.float64)
        b = b.astype(np.float64)
        if self._metric == "euclidean":
            return float(np.sqrt(((a - b) ** 2).sum()))
        if self._metric == "manhattan":
            return float(np.abs(a - b).sum())
        if self._metric == "dot":
            return -float(a @ b)
        return 1.0 - float(a @ b)

    def _reported(self, d):
        """Annoy's distance from nearkit's."""
        if self._metric == "angular":
            return float(np.sqrt(max(2.0 * d, 0.0)))
        if self._metric == "dot":
            return -float(d)
        return float(d)

    # -- searching --

    def get_nns_by_vector(self, vector, n, search_k=-1, include_distances=False):
        """The ``n`` nearest items of ``vector`` (a list), with their distances when asked."""
        return self._search(self._packed(vector), n, search_k, include_distances)

    def get_nns_by_item(self, i, n, search_k=-1, include_distances=False):
        """The ``n`` nearest items of item ``i`` (itself first, as a rule)."""
        return self._search(self._index.get(self._check_item(i)), n, search_k, include_distances)

    def _search(self, q, n, search_k, include_distances):
        n = int(n)
        if n < 0:
            raise ValueError("n must be non-negative")
        if n == 0 or len(self._index) == 0:
            return ([], []) if include_distances else []
        search_k = int(search_k)
        ids, dist = self._index.search(q, n, search_k=max(search_k, 0))
        keep = ids[0] >= 0
        ids = ids[0][keep].tolist()
        if not include_distances:
            return ids
        d = dist[0][keep].astype(np.float64)
        if self._metric == "angular":
            d = np.sqrt(np.maximum(2.0 * d, 0.0))
        elif self._metric == "dot":
            d = -d
        return ids, d.tolist()
