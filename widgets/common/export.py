"""Export any widget (a whole view, a plot, a panel) to PNG or SVG, written atomically.

Used by every view's Export button and by ``python main.py render``.
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtWidgets import QWidget


def export_widget(widget: QWidget, path: str | Path, *, scale: float = 2.0,
                  title: str = "DeepScope") -> Path:
    """Draw ``widget`` into ``path``: PNG at ``scale`` x its size, or SVG (vector, with
    images embedded). A failed export never leaves a half-written file."""
    from PySide6.QtCore import QPoint, QRect, QSize
    from PySide6.QtGui import QImage, QPainter
    from PySide6.QtSvg import QSvgGenerator

    from visualizer.errors import DeepScopeError
    from visualizer.workspace.atomic import atomic_path

    path = Path(path).resolve()
    suffix = path.suffix.lower()
    if suffix not in (".png", ".svg"):
        raise DeepScopeError(f"{path.name}: DeepScope exports .png or .svg.",
                             fix="end the file name in .png or .svg.")
    size = widget.size()
    with atomic_path(path) as temp:
        if suffix == ".png":
            image = QImage(QSize(int(size.width() * scale), int(size.height() * scale)),
                           QImage.Format.Format_ARGB32)
            image.setDevicePixelRatio(scale)  # crisp text and lines, not an upscaled bitmap
            image.fill(widget.palette().window().color())
            painter = QPainter(image)
            painter.setRenderHint(QPainter.RenderHint.Antialiasing)
            widget.render(painter, QPoint(0, 0))
            painter.end()
            if not image.save(str(temp), "PNG"):
                raise DeepScopeError(f"could not write {path}.",
                                     fix="check that the folder is writable.")
        else:
            generator = QSvgGenerator()
            generator.setFileName(str(temp))
            generator.setSize(size)
            generator.setViewBox(QRect(0, 0, size.width(), size.height()))
            generator.setTitle(title)
            painter = QPainter(generator)
            try:
                widget.render(painter, QPoint(0, 0))
            finally:
                painter.end()
    return path
