"""Export a widget (the whole view, the graph, a panel) to PNG or SVG."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtWidgets import QWidget


def export_widget(widget: QWidget, path: str | Path, scale: float = 2.0) -> Path:
    """Write ``widget`` to ``path``: PNG at ``scale`` x its size, or SVG (vector).

    The file is written to a temporary name in the same folder and moved into place, so
    a failed export never leaves a half-written file.
    """
    from PySide6.QtCore import QPoint, QRect, QSize
    from PySide6.QtGui import QImage, QPainter

    from visualizer.workspace.atomic import atomic_path

    path = Path(path).resolve()
    suffix = path.suffix.lower()
    if suffix not in (".png", ".svg"):
        raise ValueError(f"{path.name}: export to .png or .svg")
    size = widget.size()
    with atomic_path(path) as temp:
        if suffix == ".png":
            image = QImage(QSize(int(size.width() * scale), int(size.height() * scale)),
                           QImage.Format.Format_ARGB32)
            image.setDevicePixelRatio(scale)
            image.fill(widget.palette().window().color())
            painter = QPainter(image)
            widget.render(painter, QPoint(0, 0))
            painter.end()
            if not image.save(str(temp), "PNG"):
                raise OSError(f"could not write {path}")
        else:
            from PySide6.QtSvg import QSvgGenerator

            gen = QSvgGenerator()
            gen.setFileName(str(temp))
            gen.setSize(size)
            gen.setViewBox(QRect(0, 0, size.width(), size.height()))
            gen.setTitle("DeepScope layer view")
            painter = QPainter(gen)
            widget.render(painter, QPoint(0, 0))
            painter.end()
    return path
