"""Desktop demos of nearkit, in Qt (PySide6, the optional extra ``nearkit[demo]``).

    python -m nearkit.demo explorer   # up to a million 2-D points; hover for the k nearest
    python -m nearkit.demo voronoi    # every pixel coloured by its nearest seed; add, drag, remove

Every nearest-neighbour answer comes from a :class:`nearkit.Index`; the demos only draw. (The
``nearkit demo`` console command is the C program's text demo, a different thing.)
"""

from __future__ import annotations

import argparse
import os
import sys
from typing import List, Optional, Sequence

DEMOS = ("explorer", "voronoi")


def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m nearkit.demo", description=__doc__.split("\n")[0])
    parser.add_argument("demo", choices=DEMOS, help="which demo to open")
    parser.add_argument("--points", type=int, default=1_000_000,
                        help="explorer: how many 2-D points (1 to 5,000,000; default 1,000,000)")
    parser.add_argument("--k", type=int, default=10, help="explorer: neighbours to highlight (1-100)")
    parser.add_argument("--seeds", type=int, default=50, help="voronoi: seeds to start with (1-1000)")
    parser.add_argument("--metric", choices=("l2", "l1", "linf"), default="l2")
    parser.add_argument("--kind", choices=("vptree", "flat"), default="vptree", help="the index kind")
    args = parser.parse_args(argv)
    for name, lo, hi in (("points", 1, 5_000_000), ("k", 1, 100), ("seeds", 1, 1000)):
        if not lo <= getattr(args, name) <= hi:
            parser.error(f"--{name} must be from {lo} to {hi}")
    return args


def require_display() -> None:
    """Exits with a message where Qt would abort the process for want of a screen (Linux, no X or
    Wayland display and no QT_QPA_PLATFORM chosen)."""
    if not sys.platform.startswith("linux") or os.environ.get("QT_QPA_PLATFORM"):
        return
    if not (os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")):
        raise SystemExit("python -m nearkit.demo: no display (DISPLAY and WAYLAND_DISPLAY are unset); "
                         "run it on a desktop, or under xvfb-run")


def main(argv: Optional[Sequence[str]] = None) -> int:
    args = parse_args(argv)
    require_display()
    from ._qt import QtWidgets  # a clear message when PySide6 is missing

    app = QtWidgets.QApplication.instance() or QtWidgets.QApplication(sys.argv[:1])
    window = open_demo(args)
    window.show()
    return int(app.exec())


def open_demo(args: argparse.Namespace) -> "QtWidgets.QWidget":  # type: ignore[name-defined]  # noqa: F821
    """The demo's window, not yet shown (the tests drive it)."""
    if args.demo == "explorer":
        from .explorer import ExplorerWindow
        return ExplorerWindow(n_points=args.points, k=args.k, metric=args.metric, kind=args.kind)
    from .voronoi import VoronoiWindow
    return VoronoiWindow(n_seeds=args.seeds, metric=args.metric, kind=args.kind)


__all__: List[str] = ["main", "open_demo", "DEMOS"]
