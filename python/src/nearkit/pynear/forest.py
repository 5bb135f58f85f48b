"""PyNear's ``forest`` module: the inverted-file classes ``IVFFlatL2Index`` (squared L2
distances) and ``IVFFlatCosineIndex``, over nearkit's kind ``ivf_flat``."""

from ._adapters import IVFFlatCosineIndex, IVFFlatL2Index

__all__ = ["IVFFlatL2Index", "IVFFlatCosineIndex"]
