"""The installed Qt binding must not leak references to None/True/False.

PySide6 6.12.0 under Python 3.11 drops a reference to ``None`` on every void-returning
call; after enough calls the interpreter aborts ("none_dealloc"). pyproject.toml pins
around it; this test fails if a binding with that bug is ever installed again.
"""

import sys


def test_void_qt_calls_keep_none_refcount(qapp):
    from PySide6.QtGui import QPainterPath
    from PySide6.QtWidgets import QLabel

    label, path = QLabel(), QPainterPath()
    before = sys.getrefcount(None)
    for _ in range(500):
        label.setText("x")
        path.lineTo(1.0, 1.0)
    # other threads may create or drop a few Nones meanwhile; a leak is -1000
    assert sys.getrefcount(None) - before > -50
