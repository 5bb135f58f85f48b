"""PySide6, the demos' one dependency beyond nearkit's, with a clear message where it is missing."""

try:
    from PySide6 import QtCore, QtGui, QtWidgets
except ImportError as err:  # pragma: no cover - depends on the environment
    raise SystemExit(
        "nearkit.demo needs PySide6 (Qt for Python): pip install 'nearkit[demo]' "
        f"(importing it failed: {err})") from None

__all__ = ["QtCore", "QtGui", "QtWidgets"]
