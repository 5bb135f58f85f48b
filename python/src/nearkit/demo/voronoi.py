"""The live Voronoi diagram: every pixel of an 800 x 600 canvas coloured by its nearest seed.

Each redraw is one batch 1-NN search of all 480,000 pixel centres in an index of the seeds.
Click: add a seed; drag a seed: move it; right-click a seed: remove it.
"""

from __future__ import annotations

import time
from typing import Optional

import numpy as np

import nearkit

from ._common import CANVAS_SIZE, DemoWindow, image_of, rgb32, seed_rgb
from ._qt import QtCore, QtGui, QtWidgets

GRAB_RADIUS = 9.0


def pixel_centres(w: int, h: int) -> np.ndarray:
    """The centres of a w x h image's pixels, row by row: (w * h, 2) float32."""
    ys, xs = np.mgrid[0:h, 0:w]
    return np.stack([xs.ravel() + 0.5, ys.ravel() + 0.5], axis=1).astype(np.float32)


class VoronoiCanvas(QtWidgets.QWidget):
    def __init__(self, owner: "VoronoiWindow") -> None:
        super().__init__()
        self.owner = owner
        self.setFixedSize(*CANVAS_SIZE)
        self.setCursor(QtCore.Qt.CursorShape.CrossCursor)
        self.image: Optional[QtGui.QImage] = None
        self.dragging = -1

    def paintEvent(self, event: QtGui.QPaintEvent) -> None:  # noqa: N802 (Qt's name)
        painter = QtGui.QPainter(self)
        if self.image is not None:
            painter.drawImage(0, 0, self.image)
        painter.setRenderHint(QtGui.QPainter.RenderHint.Antialiasing)
        painter.setPen(QtGui.QPen(QtGui.QColor("white"), 1.5))
        painter.setBrush(QtGui.QColor(17, 17, 17))
        for x, y in self.owner.drawn_seeds:
            painter.drawEllipse(QtCore.QPointF(x, y), 4, 4)

    def seed_at(self, x: float, y: float) -> int:
        seeds = self.owner.seeds
        if len(seeds) == 0:
            return -1
        d = np.hypot(seeds[:, 0] - x, seeds[:, 1] - y)
        i = int(np.argmin(d))
        return i if d[i] <= GRAB_RADIUS else -1

    def mousePressEvent(self, event: QtGui.QMouseEvent) -> None:  # noqa: N802
        pos = event.position()
        hit = self.seed_at(pos.x(), pos.y())
        if event.button() == QtCore.Qt.MouseButton.RightButton:
            if hit >= 0 and len(self.owner.seeds) > 1:
                self.owner.set_seeds(np.delete(self.owner.seeds, hit, axis=0))
            return
        if hit < 0 and len(self.owner.seeds) < 1000:
            self.owner.set_seeds(np.vstack([self.owner.seeds, [[pos.x(), pos.y()]]]))
            hit = len(self.owner.seeds) - 1
        self.dragging = hit

    def mouseMoveEvent(self, event: QtGui.QMouseEvent) -> None:  # noqa: N802
        if self.dragging < 0:
            return
        w, h = CANVAS_SIZE
        seeds = self.owner.seeds.copy()
        seeds[self.dragging] = (min(max(event.position().x(), 0), w), min(max(event.position().y(), 0), h))
        self.owner.set_seeds(seeds)

    def mouseReleaseEvent(self, event: QtGui.QMouseEvent) -> None:  # noqa: N802
        self.dragging = -1


class VoronoiWindow(DemoWindow):
    canvas: VoronoiCanvas

    def __init__(self, n_seeds: int = 50, metric: str = "l2", kind: str = "vptree",
                 random_seed: Optional[int] = None) -> None:
        super().__init__("nearkit: live Voronoi", VoronoiCanvas(self))
        self.metric_box = self.add_choice("metric", ("l2", "l1", "linf"), metric)
        self.kind_box = self.add_choice("index", ("vptree", "flat"), kind)
        self.count_box = self.add_number("seeds", 1, 1000, n_seeds)
        button = QtWidgets.QPushButton("new seeds")
        self.controls.addWidget(button)
        self.controls.addStretch(1)
        self.rng = np.random.default_rng(random_seed)
        self.grid = pixel_centres(*CANVAS_SIZE)
        self.seed_colours = np.array([rgb32(seed_rgb(i)) for i in range(1000)], dtype=np.uint32)
        self.seeds = np.zeros((0, 2), dtype=np.float32)
        self.drawn_seeds = self.seeds
        self.frames = 0
        # redraws wait for the event loop to be idle, so a fast drag asks only for its last place
        self.redraw_timer = QtCore.QTimer(self, singleShot=True, interval=0)
        self.redraw_timer.timeout.connect(self.redraw)
        button.clicked.connect(self.new_seeds)
        self.count_box.editingFinished.connect(self.new_seeds)
        self.metric_box.currentTextChanged.connect(lambda _: self.redraw_timer.start())
        self.kind_box.currentTextChanged.connect(lambda _: self.redraw_timer.start())
        self.new_seeds()

    def new_seeds(self) -> None:
        w, h = CANVAS_SIZE
        n = self.count_box.value()
        self.set_seeds(np.column_stack([10 + self.rng.random(n) * (w - 20), 10 + self.rng.random(n) * (h - 20)]))

    def set_seeds(self, seeds: np.ndarray) -> None:
        self.seeds = np.asarray(seeds, dtype=np.float32)
        self.redraw_timer.start()

    def redraw(self) -> None:
        """One frame: a batch 1-NN search of every pixel centre among the seeds."""
        seeds = self.seeds.copy()
        start = time.perf_counter()
        index = nearkit.Index(kind=self.kind_box.currentText(), metric=self.metric_box.currentText(), dim=2)
        index.add(seeds)
        index.build()
        ids = index.search(self.grid, 1).ids[:, 0]
        self.query_ms = (time.perf_counter() - start) * 1e3
        index.close()
        w, h = CANVAS_SIZE
        self.canvas.image = image_of(self.seed_colours[ids].reshape(h, w))
        self.drawn_seeds = seeds
        self.frames += 1
        self.canvas.update()
        self.status.setText(f"{len(seeds)} seeds in a {self.kind_box.currentText()} · {w * h:,} pixels, "
                            f"one batch 1-NN query: {self.query_ms:.1f} ms")
