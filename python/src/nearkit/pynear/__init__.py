"""PyNear's API over nearkit's indexes: ``import nearkit.pynear as pynear``.

A program written for PyNear (the ``pynear`` package) runs unchanged with this module in
its place::

    import numpy as np
    import nearkit.pynear as pynear

    data = np.random.rand(100_000, 16).astype(np.float32)
    index = pynear.VPTreeL2Index()
    index.set(data)
    indices, distances = index.searchKNN(data[:10], k=5)

Every class is a thin adapter over :class:`nearkit.Index` (the search is nearkit's C library); it
only converts arguments and results to PyNear's conventions:

========================  ==========  =======  =============================================
class                     kind        metric   results
========================  ==========  =======  =============================================
``VPTreeL2Index``         vptree      l2       ``searchKNN``: per-query lists, **farthest
``VPTreeL1Index``         vptree      l1       first**; ``search1NN``: flat lists (one id and
``VPTreeChebyshevIndex``  vptree      linf     distance per query); Euclidean (not squared)
``VPTreeCosineIndex``     vptree      cosine   L2; cosine distance 1 - cos in [0, 2]
``VPTreeBinaryIndex``     vptree      hamming  as above, int distances (uint8 packed bits)
``BKTreeBinaryIndex``     bktree      hamming  ``find_threshold(q, t)``: ``(indices,
                                               distances, keys)`` of rows at distance <= t
``MIHBinaryIndex(m)``     mih         hamming  ``searchKNN(q, k, radius=8)``: nearest first
``IVFFlatBinaryIndex``    ivf_binary  hamming  ``searchKNN``: nearest first; ``set_nprobe``
``IVFFlatL2Index``        ivf_flat    l2       nearest first, **squared** L2 distances;
``IVFFlatCosineIndex``    ivf_flat    cosine   ``search1NN`` gives nested lists as searchKNN
``HNSWL2Index``           hnsw        l2       as VP-trees (lists farthest first, arrays
``HNSWCosineIndex``       hnsw        cosine   nearest first); ``filter=`` mask, ``add``,
``HNSWBinaryIndex``       hnsw        hamming  ``remove``, ``rebuild``, ``set_ef``
``MIHSeededHNSWBinary``   hnsw + mih  hamming  as HNSWBinaryIndex; rows within ``mih_radius``
``Index``                                      always found (two nearkit indexes, merged)
========================  ==========  =======  =============================================

PyNear's fixed-width names (``VPTreeBinaryIndex64`` / ``128`` / ``256`` / ``512`` / ``N`` and the
same for ``BKTreeBinaryIndex``) are the binary classes with a check of the row width (8, 16, 32, 64
bytes; ``N`` any width).

Common to every class: ``set(data)`` replaces the whole content (a new nearkit index is created,
filled and built); ids are row numbers of ``data``; where fewer than k rows exist a row holds fewer
than k entries; ``searchKNN_arrays`` (VP-trees, MIH, binary IVF) returns ``(ids, distances)`` arrays
of shape ``(n, k)`` nearest first, padded with id -1 and distance ``inf`` (float) or the int64
maximum (hamming); ``to_string()`` is the nearkit index's description; every class pickles (the
nearkit index is stored, not rebuilt). Extra keyword arguments of a constructor (e.g.
``VPTreeL2Index(leaf_size=16, num_threads=2)``) go to :class:`nearkit.Index`.

Differences from PyNear, where PyNear's behaviour is undefined or an error (by design):

* bad input raises instead of returning garbage: a query of the wrong dimension, NaN or infinity,
  ``k`` <= 0 (PyNear returns empty rows for ``k=0``) raise ``ValueError``;
* ``MIHBinaryIndex.searchKNN(q, k, radius)`` returns exactly the k nearest rows within ``radius``
  (fewer when fewer lie within it). PyNear guarantees the same rows within the radius but may add
  rows beyond it that its sub-tables happened to reach; nearkit does not;
* ``MIHBinaryIndex(m=0)`` lets nearkit choose m; any m with substrings of at most 64 bits is
  accepted (PyNear needs m to divide the byte width);
* ``BKTreeBinaryIndex.find_threshold`` lists each query's matches in row order (ascending id);
  PyNear lists them in its tree's traversal order, which is row order on its own tests' data but
  not in general (compare as sets). Empty inputs as PyNear's tree classes: a tree set from an
  empty array (``np.array([], np.uint8)`` included) or never set answers empty lists;
  ``pynear.BKTreeBinaryIndex``'s Python wrapper raises ``ValueError`` for a never set tree;
* a BK-tree also has ``searchKNN`` / ``search1NN`` with ``VPTreeBinaryIndex``'s conventions; MIH,
  binary IVF, BK-tree and MIH-seeded HNSW indexes pickle (PyNear's do not);
* graph classes: ``MIHSeededHNSWBinaryIndex`` stores the rows twice (see the class); a filter of
  the wrong length or type raises ``ValueError`` (PyNear: ``RuntimeError``); ``HNSWL2Index`` has
  no ``dist_calls`` / ``reset_dist_calls`` (nearkit does not count distance computations); every
  graph class has ``dim`` (bits for binary rows); ``ef_search`` below 1 searches with 1;
  cosine: a zero vector is orthogonal to everything (distance 1; PyNear reports 0.5);
* ``dist_l2`` & co. compute with nearkit's kernels; vectors of different lengths, or a
  ``dist_hamming_N`` given another width than N bits, raise ``ValueError`` (PyNear reads past
  the shorter one).

Modules as PyNear's: :mod:`nearkit.pynear.sharded` (``ShardedHNSWIndex``: shards by key, searched
in parallel, top k merged, saved as a directory), :mod:`nearkit.pynear.forest` (the float IVF
classes) and :mod:`nearkit.pynear.sklearn_adapter` (``PyNearNearestNeighbors``,
``PyNearKNeighborsClassifier``, ``PyNearKNeighborsRegressor``; imported when scikit-learn is).
``HNSWL2IndexSQ8`` waits for nearkit's compressed codes: naming it raises ``AttributeError``.
"""


from ._adapters import (
    BKTreeBinaryIndex,
    BKTreeBinaryIndex64,
    BKTreeBinaryIndex128,
    BKTreeBinaryIndex256,
    BKTreeBinaryIndex512,
    BKTreeBinaryIndexN,
    IVFFlatBinaryIndex,
    IVFFlatCosineIndex,
    IVFFlatL2Index,
    MIHBinaryIndex,
    VPTreeBinaryIndex,
    VPTreeBinaryIndex64,
    VPTreeBinaryIndex128,
    VPTreeBinaryIndex256,
    VPTreeBinaryIndex512,
    VPTreeBinaryIndexN,
    VPTreeChebyshevIndex,
    VPTreeCosineIndex,
    VPTreeL1Index,
    VPTreeL2Index,
)
from ._distance import (
    dist_chebyshev,
    dist_hamming,
    dist_hamming_64,
    dist_hamming_128,
    dist_hamming_256,
    dist_hamming_512,
    dist_l1,
    dist_l2,
)
from ._graph import HNSWBinaryIndex, HNSWCosineIndex, HNSWL2Index, MIHSeededHNSWBinaryIndex
from . import forest, sharded
from .sharded import ShardedHNSWIndex

__all__ = [
    "VPTreeL2Index",
    "VPTreeL1Index",
    "VPTreeChebyshevIndex",
    "VPTreeCosineIndex",
    "VPTreeBinaryIndex",
    "VPTreeBinaryIndex64",
    "VPTreeBinaryIndex128",
    "VPTreeBinaryIndex256",
    "VPTreeBinaryIndex512",
    "VPTreeBinaryIndexN",
    "BKTreeBinaryIndex",
    "BKTreeBinaryIndex64",
    "BKTreeBinaryIndex128",
    "BKTreeBinaryIndex256",
    "BKTreeBinaryIndex512",
    "BKTreeBinaryIndexN",
    "MIHBinaryIndex",
    "IVFFlatBinaryIndex",
    "IVFFlatL2Index",
    "IVFFlatCosineIndex",
    "HNSWL2Index",
    "HNSWCosineIndex",
    "HNSWBinaryIndex",
    "MIHSeededHNSWBinaryIndex",
    "ShardedHNSWIndex",
    "dist_l2",
    "dist_l1",
    "dist_chebyshev",
    "dist_hamming",
    "dist_hamming_64",
    "dist_hamming_128",
    "dist_hamming_256",
    "dist_hamming_512",
    "forest",
    "sharded",
]

try:  # as PyNear: the scikit-learn adapters exist where scikit-learn does
    from . import sklearn_adapter
    from .sklearn_adapter import (
        PyNearKNeighborsClassifier,
        PyNearKNeighborsRegressor,
        PyNearNearestNeighbors,
    )
except ImportError:
    pass
else:
    __all__ += ["sklearn_adapter", "PyNearNearestNeighbors", "PyNearKNeighborsClassifier",
                "PyNearKNeighborsRegressor"]

_MISSING = {
    "HNSWL2IndexSQ8": "nearkit has no compressed (SQ8) codes yet; use HNSWL2Index",
}


def __getattr__(name):
    if name in _MISSING:
        raise AttributeError(f"nearkit.pynear has no {name}: {_MISSING[name]}")
    raise AttributeError(f"module 'nearkit.pynear' has no attribute {name!r}")
