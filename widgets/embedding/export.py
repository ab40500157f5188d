"""Export a view to PNG or SVG (also used by the headless render), and the selected
samples to CSV."""

from __future__ import annotations

from pathlib import Path

import numpy as np
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


def export_selection_csv(layout, ids, path) -> str:
    """Write ``sample_id,label,prediction,confidence`` rows for ``ids`` (atomically)."""
    import csv
    import io

    from visualizer.workspace.atomic import atomic_write_text

    ids = np.asarray(ids, dtype=np.int64)
    buf = io.StringIO()
    writer = csv.writer(buf)
    writer.writerow(["sample_id", "label", "prediction", "confidence"])
    context = layout.context if layout is not None else None
    cols = [context.values_at(name, ids) if context is not None else None
            for name in ("label", "prediction", "confidence")]
    for i, sid in enumerate(ids):
        row = [int(sid)]
        for values, integer in zip(cols, (True, True, False), strict=True):
            v = None if values is None else values[i]
            row.append("" if v is None or not np.isfinite(v) else
                       (int(v) if integer else f"{v:.6g}"))
        writer.writerow(row)
    atomic_write_text(path, buf.getvalue())
    return str(path)
