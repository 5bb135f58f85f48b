"""What both desktop demos use: the window frame, colours, and numpy arrays shown as QImages."""

from __future__ import annotations

import colorsys
from typing import Sequence, Tuple

import numpy as np
from numpy.typing import NDArray

from ._qt import QtGui, QtWidgets

CANVAS_SIZE = (800, 600)
BACKGROUND = (11, 12, 16)
HIGHLIGHT = (255, 159, 28)
# The density ramp, from few to many points per pixel: dark blue, violet, red, orange, pale yellow.
RAMP_STOPS = ((12, 14, 40), (70, 30, 120), (190, 60, 90), (250, 150, 40), (255, 245, 190))


def rgb32(rgb: Sequence[int]) -> int:
    """(r, g, b) as the 0xffRRGGBB value of a QImage.Format_RGB32 pixel."""
    return 0xFF000000 | (int(rgb[0]) << 16) | (int(rgb[1]) << 8) | int(rgb[2])


def density_ramp(levels: int = 256) -> NDArray[np.uint32]:
    """``levels`` RGB32 colours along RAMP_STOPS."""
    stops = np.array(RAMP_STOPS, dtype=np.float64)
    t = np.linspace(0, len(stops) - 1, levels)
    rgb = np.stack([np.interp(t, np.arange(len(stops)), stops[:, c]) for c in range(3)], axis=1)
    return np.array([rgb32(c) for c in np.rint(rgb).astype(int)], dtype=np.uint32)


def seed_rgb(i: int) -> Tuple[int, int, int]:
    """Seed i's colour: hues a golden angle apart, so neighbouring numbers differ clearly."""
    r, g, b = colorsys.hls_to_rgb((i * 137.508 % 360) / 360, 0.5 + 0.08 * (i * 5 % 3),
                                  0.55 + 0.1 * (i * 7 % 3))
    return round(r * 255), round(g * 255), round(b * 255)


def image_of(pixels: NDArray[np.uint32]) -> QtGui.QImage:
    """An (h, w) uint32 array of RGB32 pixels as a QImage (a copy, so the array may change)."""
    h, w = pixels.shape
    data = np.ascontiguousarray(pixels)
    return QtGui.QImage(data.data, w, h, 4 * w, QtGui.QImage.Format.Format_RGB32).copy()


def demo_points(n: int, seed: int = 22) -> NDArray[np.float32]:
    """n points in the unit square: gaussian clusters over a thin uniform background."""
    rng = np.random.default_rng(seed)
    centres = 0.1 + 0.8 * rng.random((14, 2))
    spreads = 0.01 + 0.07 * rng.random((14, 2))
    which = rng.integers(0, 14, n)
    points = centres[which] + spreads[which] * rng.standard_normal((n, 2))
    background = rng.random(n) < 0.12
    points[background] = rng.random((int(background.sum()), 2))
    return np.clip(points, 0, 1).astype(np.float32)


class DemoWindow(QtWidgets.QWidget):
    """A window: a row of controls, the canvas, and a status line (query times)."""

    def __init__(self, title: str, canvas: QtWidgets.QWidget) -> None:
        super().__init__()
        self.setWindowTitle(title)
        self.controls = QtWidgets.QHBoxLayout()
        self.status = QtWidgets.QLabel("…")
        self.status.setStyleSheet("font-family: monospace; color: #1d4f91;")
        layout = QtWidgets.QVBoxLayout(self)
        layout.addLayout(self.controls)
        layout.addWidget(canvas)
        layout.addWidget(self.status)
        self.canvas = canvas

    def add_choice(self, label: str, choices: Sequence[str], current: str) -> QtWidgets.QComboBox:
        box = QtWidgets.QComboBox()
        box.addItems(list(choices))
        box.setCurrentText(current)
        self.controls.addWidget(QtWidgets.QLabel(label))
        self.controls.addWidget(box)
        return box

    def add_number(self, label: str, lo: int, hi: int, value: int) -> QtWidgets.QSpinBox:
        spin = QtWidgets.QSpinBox()
        spin.setRange(lo, hi)
        spin.setValue(value)
        self.controls.addWidget(QtWidgets.QLabel(label))
        self.controls.addWidget(spin)
        return spin
