"""Opens the desktop demos (python -m nearkit.demo) in real windows and checks what the screen shows.

Run under an X server (ctest: xvfb-run). The explorer is hovered and zoomed: the highlighted points
must be the exact k nearest (brute force here) and drawn in the highlight colour on screen. The
Voronoi window gets a seed added, dragged and removed, and under l2 and l1 its on-screen pixels must
have the colour of their nearest seed (brute force at sampled pixels). Screenshots of the screen
itself go to the directory in argv[1]. Exit code 77 (ctest's skip) when PySide6 is missing.
"""

from __future__ import annotations

import os
import sys
import time

import numpy as np

try:
    from PySide6 import QtCore, QtGui, QtWidgets
    from PySide6.QtTest import QTest
except ImportError as err:
    print(f"SKIP: PySide6 is not installed ({err}); ci/deps-demo.sh installs it")
    sys.exit(77)

from nearkit.demo._common import HIGHLIGHT, seed_rgb
from nearkit.demo.explorer import ExplorerWindow
from nearkit.demo.voronoi import VoronoiWindow

DISTANCES = {
    "l2": lambda d: np.hypot(d[..., 0], d[..., 1]),
    "l1": lambda d: np.abs(d).sum(axis=-1),
    "linf": lambda d: np.abs(d).max(axis=-1),
}


def wait_until(condition, what: str, seconds: float = 20.0) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        QTest.qWait(20)


def screen_pixels(widget: QtWidgets.QWidget) -> np.ndarray:
    """What the X server shows where the widget is: (h, w, 3) uint8, read back from the screen."""
    QTest.qWait(150)  # let the compositor-less X server receive the last paint
    top_left = widget.mapToGlobal(QtCore.QPoint(0, 0))
    shot = QtWidgets.QApplication.primaryScreen().grabWindow(0, top_left.x(), top_left.y(), widget.width(), widget.height())
    image = shot.toImage().convertToFormat(QtGui.QImage.Format.Format_RGB888)
    data = np.frombuffer(image.constBits(), dtype=np.uint8).reshape(image.height(), image.bytesPerLine())
    return data[:, : 3 * image.width()].reshape(image.height(), image.width(), 3).copy()


def save_screenshot(window: QtWidgets.QWidget, path: str) -> None:
    QTest.qWait(150)
    g = window.frameGeometry()
    shot = QtWidgets.QApplication.primaryScreen().grabWindow(0, g.x(), g.y(), g.width(), g.height())
    assert shot.save(path), f"could not write {path}"


def check_explorer(out_dir: str) -> None:
    window = ExplorerWindow(n_points=500_000, k=10)
    window.show()
    assert QTest.qWaitForWindowExposed(window)
    canvas = window.canvas
    wheel = lambda at, steps: QtWidgets.QApplication.sendEvent(canvas, QtGui.QWheelEvent(  # noqa: E731
        QtCore.QPointF(at), QtCore.QPointF(canvas.mapToGlobal(at)), QtCore.QPoint(0, 0),
        QtCore.QPoint(0, 120 * steps), QtCore.Qt.MouseButton.NoButton, QtCore.Qt.KeyboardModifier.NoModifier,
        QtCore.Qt.ScrollPhase.NoScrollPhase, False))
    for step, (px, py) in enumerate([(300, 240), (445, 290), (520, 400)]):
        if step == 1:  # zoom in around the cursor until single points show
            wheel(QtCore.QPoint(445, 290), 12)
            assert canvas.mode == "points", canvas.mode
        QTest.mouseMove(canvas, QtCore.QPoint(px, py))
        wait_until(lambda: window.hover is not None and np.allclose(canvas.to_canvas(window.hover.query), (px, py), atol=1.01),
                   f"the hover answer at ({px}, {py})")
        hover = window.hover
        d = DISTANCES["l2"](window.points.astype(np.float64) - hover.query.astype(np.float64))
        truth = np.argsort(d, kind="stable")[:10]
        kth = d[truth[-1]]
        missing = [i for i in truth if i not in set(hover.ids.tolist()) and abs(d[i] - kth) > 1e-6]
        assert len(hover.ids) == 10 and not missing, f"not the exact 10 nearest: {hover.ids} vs {truth}"
        shown = screen_pixels(canvas)
        for x, y in canvas.to_canvas(window.points[hover.ids]):
            colour = shown[int(y), int(x)]
            assert np.abs(colour.astype(int) - HIGHLIGHT).max() <= 40, f"neighbour at ({x:.0f}, {y:.0f}) shows {colour}"
        if step == 0:
            assert canvas.mode == "density"
            save_screenshot(window, os.path.join(out_dir, "desktop-explorer.png"))
    save_screenshot(window, os.path.join(out_dir, "desktop-explorer-zoomed.png"))
    window.close()


def check_voronoi_pixels(window: VoronoiWindow, samples: int = 1500) -> None:
    shown = screen_pixels(window.canvas)
    seeds = window.drawn_seeds.astype(np.float64)
    colours = np.array([seed_rgb(i) for i in range(len(seeds))])
    dist = DISTANCES[window.metric_box.currentText()]
    rng = np.random.default_rng(3)
    h, w, _ = shown.shape
    checked = 0
    for x, y in zip(rng.integers(0, w, samples), rng.integers(0, h, samples)):
        centre = np.array([x + 0.5, y + 0.5])
        if np.hypot(*(seeds - centre).T).min() < 7:  # under a seed's marker
            continue
        d = dist(seeds - centre)
        allowed = np.flatnonzero(d - d.min() <= 1e-3)
        ok = any(np.abs(colours[i] - shown[y, x]).max() <= 3 for i in allowed)
        assert ok, f"pixel ({x}, {y}) shows {shown[y, x]}, its nearest seed {allowed} is {colours[allowed[0]]}"
        checked += 1
    assert checked > samples // 2


def next_frame(window: VoronoiWindow, action) -> None:
    frames = window.frames
    action()
    wait_until(lambda: window.frames > frames and not window.redraw_timer.isActive(), "a new Voronoi frame")


def check_voronoi(out_dir: str) -> None:
    window = VoronoiWindow(n_seeds=40, random_seed=7)
    window.show()
    assert QTest.qWaitForWindowExposed(window)
    wait_until(lambda: window.frames > 0, "the first Voronoi frame")
    canvas = window.canvas
    check_voronoi_pixels(window)
    left = QtCore.Qt.MouseButton.LeftButton
    none = QtCore.Qt.KeyboardModifier.NoModifier
    seeds = window.seeds
    free = next((x, y) for y in range(30, 570, 20) for x in range(30, 770, 20)
                if np.hypot(seeds[:, 0] - x, seeds[:, 1] - y).min() > 40)
    next_frame(window, lambda: QTest.mousePress(canvas, left, none, QtCore.QPoint(*free)))
    QTest.mouseRelease(canvas, left, none, QtCore.QPoint(*free))
    assert len(window.drawn_seeds) == 41
    to = (min(free[0] + 80, 790), min(free[1] + 50, 590))
    QTest.mousePress(canvas, left, none, QtCore.QPoint(*free))
    for t in np.linspace(0, 1, 6)[1:]:
        QTest.mouseMove(canvas, QtCore.QPoint(round(free[0] + t * (to[0] - free[0])), round(free[1] + t * (to[1] - free[1]))))
    QTest.mouseRelease(canvas, left, none, QtCore.QPoint(*to))
    wait_until(lambda: np.allclose(window.drawn_seeds[-1], to) and not window.redraw_timer.isActive(), "the dragged seed")
    check_voronoi_pixels(window)
    save_screenshot(window, os.path.join(out_dir, "desktop-voronoi.png"))
    next_frame(window, lambda: QTest.mouseClick(canvas, QtCore.Qt.MouseButton.RightButton, none, QtCore.QPoint(*to)))
    assert len(window.drawn_seeds) == 40
    next_frame(window, lambda: window.metric_box.setCurrentText("l1"))
    check_voronoi_pixels(window)
    window.close()


def main() -> int:
    out_dir = os.path.abspath(sys.argv[1] if len(sys.argv) > 1 else ".")
    os.makedirs(out_dir, exist_ok=True)
    app = QtWidgets.QApplication.instance() or QtWidgets.QApplication(["nearkit-demo-check"])
    check_explorer(out_dir)
    check_voronoi(out_dir)
    app.processEvents()
    print(f"ok: explorer (hover, zoom, exact neighbours on screen) and Voronoi (add, drag, remove; l2, l1 pixels); screenshots in {out_dir}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
