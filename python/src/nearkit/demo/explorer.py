"""The KNN explorer: up to millions of 2-D points in a vptree; hovering highlights the k nearest.

Zoomed out the points are a density raster (points per pixel on a log scale); zoomed in, dots.
Wheel: zoom around the cursor; drag: pan; double-click: the whole square again.
"""

from __future__ import annotations

import time
from typing import Optional, Tuple

import numpy as np

import nearkit

from ._common import (BACKGROUND, CANVAS_SIZE, HIGHLIGHT, DemoWindow, demo_points, density_ramp,
                      image_of, rgb32)
from ._qt import QtCore, QtGui, QtWidgets

DOT_LIMIT = 25_000  # more visible points than this: the density raster
DOT_COLOUR = (120, 190, 255)


class ExplorerCanvas(QtWidgets.QWidget):
    """Draws the points and the hovered place's neighbours; asks the index on every hover."""

    def __init__(self, window: "ExplorerWindow") -> None:
        super().__init__()
        self.owner = window
        self.setFixedSize(*CANVAS_SIZE)
        self.setMouseTracking(True)
        self.setCursor(QtCore.Qt.CursorShape.CrossCursor)
        self.ramp = density_ramp()
        self.base: Optional[QtGui.QImage] = None
        self.mode = "density"
        self.pan_from: Optional[QtCore.QPointF] = None
        self.reset_view()

    # -- the view: canvas pixel = (world - origin) * scale --

    def reset_view(self) -> None:
        w, h = CANVAS_SIZE
        self.scale = min(w, h) * 0.96
        self.origin = np.array([0.5 - w / 2 / self.scale, 0.5 - h / 2 / self.scale])

    def to_canvas(self, xy: np.ndarray) -> np.ndarray:
        return (np.asarray(xy, dtype=np.float64) - self.origin) * self.scale

    def to_world(self, px: float, py: float) -> Tuple[float, float]:
        x, y = self.origin + np.array([px, py]) / self.scale
        return float(x), float(y)

    def render_base(self) -> None:
        """Bins the visible points into pixels: their density, or the points themselves."""
        w, h = CANVAS_SIZE
        pix = np.floor(self.to_canvas(self.owner.points)).astype(np.int64)
        inside = (pix[:, 0] >= 0) & (pix[:, 0] < w) & (pix[:, 1] >= 0) & (pix[:, 1] < h)
        counts = np.bincount(pix[inside, 1] * w + pix[inside, 0], minlength=w * h).reshape(h, w)
        image = np.full((h, w), rgb32(BACKGROUND), dtype=np.uint32)
        visible = int(inside.sum())
        self.mode = "density" if visible > DOT_LIMIT else "points"
        if self.mode == "density":
            level = 0.15 + 0.85 * np.log1p(counts) / np.log1p(max(int(counts.max()), 1))
            index = np.rint(level * (len(self.ramp) - 1)).astype(np.int64)
            image = np.where(counts > 0, self.ramp[index], image).astype(np.uint32)
        else:
            # each point a 3 x 3 dot: the occupied pixels, grown by one in every direction
            occupied = np.pad(counts > 0, 1)
            dots = np.zeros((h, w), dtype=bool)
            for dy in (0, 1, 2):
                for dx in (0, 1, 2):
                    dots |= occupied[dy:dy + h, dx:dx + w]
            image[dots] = rgb32(DOT_COLOUR)
        self.visible = visible
        self.base = image_of(image)
        self.update()

    def paintEvent(self, event: QtGui.QPaintEvent) -> None:  # noqa: N802 (Qt's name)
        painter = QtGui.QPainter(self)
        if self.base is not None:
            painter.drawImage(0, 0, self.base)
        hover = self.owner.hover
        if hover is None:
            return
        painter.setRenderHint(QtGui.QPainter.RenderHint.Antialiasing)
        q = self.to_canvas(hover.query)
        neighbours = self.to_canvas(self.owner.points[hover.ids])
        painter.setPen(QtGui.QPen(QtGui.QColor(255, 159, 28, 140), 1))
        for x, y in neighbours:
            painter.drawLine(QtCore.QPointF(*q), QtCore.QPointF(x, y))
        painter.setPen(QtGui.QPen(QtGui.QColor("white"), 2))
        painter.setBrush(QtCore.Qt.BrushStyle.NoBrush)
        painter.drawEllipse(QtCore.QPointF(*q), 7, 7)
        painter.setPen(QtCore.Qt.PenStyle.NoPen)
        # dark rims first, then the discs: where neighbours overlap, no rim crosses a disc
        for colour, radius in ((QtGui.QColor(0, 0, 0), 5.5), (QtGui.QColor(*HIGHLIGHT), 4.5)):
            painter.setBrush(colour)
            for x, y in neighbours:
                painter.drawEllipse(QtCore.QPointF(x, y), radius, radius)

    def mousePressEvent(self, event: QtGui.QMouseEvent) -> None:  # noqa: N802
        self.pan_from = event.position()

    def mouseReleaseEvent(self, event: QtGui.QMouseEvent) -> None:  # noqa: N802
        self.pan_from = None

    def mouseMoveEvent(self, event: QtGui.QMouseEvent) -> None:  # noqa: N802
        pos = event.position()
        if self.pan_from is not None:
            delta = pos - self.pan_from
            self.origin = self.origin - np.array([delta.x(), delta.y()]) / self.scale
            self.pan_from = pos
            self.render_base()
        self.owner.ask_nearest(*self.to_world(pos.x(), pos.y()))

    def wheelEvent(self, event: QtGui.QWheelEvent) -> None:  # noqa: N802
        pos = event.position()
        world = np.array(self.to_world(pos.x(), pos.y()))
        self.scale = float(np.clip(self.scale * np.exp(event.angleDelta().y() / 120 * 0.25), 100, 5e6))
        self.origin = world - np.array([pos.x(), pos.y()]) / self.scale
        self.render_base()
        self.owner.show_status()

    def mouseDoubleClickEvent(self, event: QtGui.QMouseEvent) -> None:  # noqa: N802
        self.reset_view()
        self.render_base()


class Hover:
    """One hover's answer: the place asked about, the neighbours' ids and the query's time."""

    def __init__(self, query: Tuple[float, float], ids: np.ndarray, distances: np.ndarray, ms: float):
        self.query = np.array(query, dtype=np.float32)
        self.ids = ids
        self.distances = distances
        self.ms = ms


class ExplorerWindow(DemoWindow):
    canvas: ExplorerCanvas

    def __init__(self, n_points: int = 1_000_000, k: int = 10, metric: str = "l2",
                 kind: str = "vptree") -> None:
        super().__init__("nearkit: KNN explorer", ExplorerCanvas(self))
        self.hover: Optional[Hover] = None
        counts = sorted({10_000, 100_000, 1_000_000, n_points})
        self.points_box = self.add_choice("points", [f"{c:,}" for c in counts], f"{n_points:,}")
        self.k_box = self.add_number("k", 1, 100, k)
        self.metric_box = self.add_choice("metric", ("l2", "l1", "linf"), metric)
        self.kind_box = self.add_choice("index", ("vptree", "flat"), kind)
        self.controls.addStretch(1)
        self.points = demo_points(n_points)
        self.points_box.currentTextChanged.connect(self.new_points)
        self.metric_box.currentTextChanged.connect(lambda _: self.build_index())
        self.kind_box.currentTextChanged.connect(lambda _: self.build_index())
        self.build_index()

    def new_points(self, count: str) -> None:
        self.points = demo_points(int(count.replace(",", "")))
        self.build_index()

    def build_index(self) -> None:
        start = time.perf_counter()
        self.index = nearkit.Index(kind=self.kind_box.currentText(),
                                   metric=self.metric_box.currentText(), dim=2)
        self.index.add(self.points)
        self.index.build()
        self.build_ms = (time.perf_counter() - start) * 1e3
        self.hover = None
        self.canvas.render_base()
        self.show_status()

    def ask_nearest(self, x: float, y: float) -> Hover:
        query = np.array([[x, y]], dtype=np.float32)
        start = time.perf_counter()
        ids, distances = self.index.search(query, self.k_box.value())
        ms = (time.perf_counter() - start) * 1e3
        found = ids[0] >= 0
        self.hover = Hover((x, y), ids[0][found], distances[0][found], ms)
        self.canvas.update()
        self.show_status()
        return self.hover

    def show_status(self) -> None:
        text = (f"{len(self.points):,} points in a {self.kind_box.currentText()} "
                f"(built in {self.build_ms:.0f} ms) · {self.canvas.mode}")
        if self.hover is not None:
            x, y = self.hover.query
            text += (f" · {len(self.hover.ids)} nearest to ({x:.4f}, {y:.4f}) "
                     f"in {self.hover.ms:.3f} ms")
        self.status.setText(text)
