"""Export a view to PNG or SVG (also used by the headless render)."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QPoint, QRectF, QSize
from PySide6.QtGui import QColor, QImage, QPainter
from PySide6.QtWidgets import QWidget


def export_widget(widget: QWidget, path: str | Path, scale: float = 2.0) -> Path:
    """Draw ``widget`` into ``path`` (.png at ``scale`` x, or .svg), written atomically."""
    from visualizer.workspace.atomic import atomic_path

    path = Path(path).resolve()
    suffix = path.suffix.lower()
    if suffix not in (".png", ".svg"):
        raise ValueError(f"{path.name}: export to .png or .svg")
    size = widget.size()
    with atomic_path(path) as temp:
        temp = Path(temp)
        if suffix == ".png":
            image = QImage(QSize(int(size.width() * scale), int(size.height() * scale)),
                           QImage.Format.Format_ARGB32)
            image.fill(QColor("white"))
            painter = QPainter(image)
            painter.setRenderHint(QPainter.RenderHint.Antialiasing)
            painter.scale(scale, scale)
            widget.render(painter, QPoint(0, 0))
            painter.end()
            if not image.save(str(temp), "PNG"):
                raise OSError(f"could not write {path}")
        else:
            from PySide6.QtSvg import QSvgGenerator

            generator = QSvgGenerator()
            generator.setFileName(str(temp))
            generator.setSize(size)
            generator.setViewBox(QRectF(0, 0, size.width(), size.height()))
            generator.setTitle("DeepScope embedding")
            painter = QPainter(generator)
            widget.render(painter, QPoint(0, 0))
            painter.end()
    return path
