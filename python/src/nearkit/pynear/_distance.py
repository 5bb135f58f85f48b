"""PyNear's module-level distance functions: the distance between two vectors, computed by
nearkit's kernels (a one-row ``flat`` index answers the query)."""

import numpy as np

from .._errors import InvalidArgumentError
from .._index import Index

_HAMMING_BYTES = (8, 16, 32, 64)


def _floats(x):
    a = np.asarray(x, dtype=np.float32)
    return a.reshape(-1)  # PyNear flattens: [[1, 2]] is the vector (1, 2)


def _bytes(x, what):
    a = np.asarray(x)
    if a.dtype != np.uint8:
        if a.size and (a.dtype.kind not in "iu" or a.min() < 0 or a.max() > 255):
            raise TypeError(f"{what} must hold byte values 0..255 (packed bits); got {a.dtype}")
        a = a.astype(np.uint8)
    return a.reshape(-1)


def _agreeing(a, b):
    if a.shape != b.shape:
        raise InvalidArgumentError(
            f"invalid data dimension: a and b dimensions must agree ({a.shape[0]} and "
            f"{b.shape[0]})")


def _distance(metric, a, b, dim):
    """nearkit's distance between a and b (b stored in a one-row flat index, a searched)."""
    index = Index(kind="flat", metric=metric, dim=dim, num_threads=1)
    index.add(b.reshape(1, -1))
    return index.search(a.reshape(1, -1), 1)[1][0, 0]


def _float_distance(metric, a, b):
    a, b = _floats(a), _floats(b)
    _agreeing(a, b)
    if a.shape[0] == 0:
        return 0.0  # no coordinates: no difference (PyNear's answer)
    return float(_distance(metric, a, b, a.shape[0]))


def dist_l2(a, b):
    """Euclidean distance between two vectors (float32, not squared)."""
    return _float_distance("l2", a, b)


def dist_l1(a, b):
    """Manhattan (L1) distance between two vectors (float32)."""
    return _float_distance("l1", a, b)


def dist_chebyshev(a, b):
    """Chebyshev (L-infinity) distance between two vectors (float32)."""
    return _float_distance("linf", a, b)


def _hamming(a, b, width=None):
    a, b = _bytes(a, "a"), _bytes(b, "b")
    _agreeing(a, b)
    if width is not None and a.shape[0] != width:
        raise InvalidArgumentError(
            f"invalid data dimension: this function takes {width} bytes, got {a.shape[0]}")
    if a.shape[0] not in _HAMMING_BYTES:
        raise InvalidArgumentError(
            "invalid data dimension: hamming distance only supports 64, 32, 16 or 8 bytes of data")
    return int(_distance("hamming", a, b, a.shape[0] * 8))


def dist_hamming(a, b):
    """Hamming distance (int) between two rows of packed bits of 8, 16, 32 or 64 bytes."""
    return _hamming(a, b)


def dist_hamming_64(a, b):
    """Hamming distance (int) between two 64-bit codes (8 bytes each)."""
    return _hamming(a, b, 8)


def dist_hamming_128(a, b):
    """Hamming distance (int) between two 128-bit codes (16 bytes each)."""
    return _hamming(a, b, 16)


def dist_hamming_256(a, b):
    """Hamming distance (int) between two 256-bit codes (32 bytes each)."""
    return _hamming(a, b, 32)


def dist_hamming_512(a, b):
    """Hamming distance (int) between two 512-bit codes (64 bytes each)."""
    return _hamming(a, b, 64)
