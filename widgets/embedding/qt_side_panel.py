"""The Embedding view's side panel: the hovered sample, the selection gallery, and the
nearest neighbours of a sample in activation space."""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QHBoxLayout,
    QLabel,
    QPushButton,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from widgets.common.qt_sample_gallery import QtSampleGallery
from widgets.common.thumbnails import pixmap, to_rgb8
from widgets.qt_text import plain_label

GALLERY_LIMIT = 2000  # thumbnails listed; the count says how many are selected


def describe(context, sid: int) -> str:
    """"#12 · label 3 · predicted 5 (0.82)" from a SourceContext (plain text)."""
    if context is None:
        return f"sample {sid}"
    rows = np.flatnonzero(context.ids == sid)
    if not len(rows):
        return f"sample {sid}"
    r = int(rows[0])
    names = context.class_names

    def name(c):
        return names[c] if 0 <= c < len(names) else str(c)

    parts = [f"#{sid}"]
    if context.label is not None:
        parts.append(f"label {name(int(context.label[r]))}")
    if context.prediction is not None:
        pred = int(context.prediction[r])
        conf = (f" ({float(context.confidence[r]):.2f})" if context.confidence is not None
                else "")
        mark = "" if context.label is None or pred == int(context.label[r]) else "  ✗"
        parts.append(f"predicted {name(pred)}{conf}{mark}")
    return " · ".join(parts)


class QtHoverCard(QWidget):
    """Thumbnail and predictions of the sample under the mouse."""

    def __init__(self, parent=None, size: int = 72):
        super().__init__(parent)
        self._size = size
        self.image = QLabel()
        self.image.setFixedSize(size, size)
        self.image.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.image.setStyleSheet("background: #f2f2f2; border: 1px solid #ddd;")
        self.text = plain_label("Hover a point to see its sample.", wrap=True)
        lay = QHBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.addWidget(self.image)
        lay.addWidget(self.text, 1)

    def show_sample(self, context, sid: int | None) -> None:
        if sid is None or context is None:
            self.image.clear()
            self.text.setText("Hover a point to see its sample.")
            return
        self.text.setText(describe(context, sid))
        if context.images is not None and 0 <= sid < len(context.images):
            rgb = to_rgb8(context.images[sid:sid + 1], context.value_range)[0]
            self.image.setPixmap(pixmap(rgb, self._size))
        else:
            self.image.clear()


class QtSidePanel(QWidget):
    """Hover card, "Selected" gallery (with export) and "Nearest neighbours" gallery."""

    export_requested = Signal()
    clear_requested = Signal()
    neighbours_k_changed = Signal(int)

    def __init__(self, session, parent=None):
        super().__init__(parent)
        self.session = session
        self.hover = QtHoverCard()
        self.selection_title = plain_label("Selected: none — draw a lasso (L) or a box (B)", wrap=True)
        self.export_button = QPushButton("Export ids…")
        self.export_button.setToolTip("Save the selected sample ids, labels and predictions "
                                      "as CSV")
        self.export_button.clicked.connect(self.export_requested)
        self.clear_button = QPushButton("Clear")
        self.clear_button.clicked.connect(self.clear_requested)
        self.gallery = QtSampleGallery(session, size=48)
        self.neighbours_title = plain_label("Nearest neighbours: click a point", wrap=True)
        self.k_spin = QSpinBox()
        self.k_spin.setRange(1, 200)
        self.k_spin.setValue(12)
        self.k_spin.setPrefix("k = ")
        self.k_spin.valueChanged.connect(self.neighbours_k_changed)
        self.neighbours = QtSampleGallery(session, size=48)

        lay = QVBoxLayout(self)
        lay.setContentsMargins(4, 4, 4, 4)
        lay.addWidget(self.hover)
        head = QHBoxLayout()
        head.addWidget(self.selection_title, 1)
        head.addWidget(self.clear_button)
        head.addWidget(self.export_button)
        lay.addLayout(head)
        lay.addWidget(self.gallery, 3)
        head = QHBoxLayout()
        head.addWidget(self.neighbours_title, 1)
        head.addWidget(self.k_spin)
        lay.addLayout(head)
        lay.addWidget(self.neighbours, 2)

    def show_selection(self, context, ids: np.ndarray) -> None:
        n = len(ids)
        if not n:
            self.selection_title.setText("Selected: none — draw a lasso (L) or a box (B)")
        else:
            more = f", first {GALLERY_LIMIT} shown" if n > GALLERY_LIMIT else ""
            self.selection_title.setText(f"Selected: {n:,} samples{more}")
        shown = np.asarray(ids[:GALLERY_LIMIT], dtype=np.int64)
        images = context.images if context is not None else None
        captions = [_caption(context, int(s)) for s in shown]
        value_range = context.value_range if context is not None else (0.0, 1.0)
        self.gallery.set_samples(shown, images, captions, value_range)
        self.export_button.setEnabled(n > 0)
        self.clear_button.setEnabled(n > 0)

    def show_neighbours(self, context, result, layer: str) -> None:
        if result is None:
            self.neighbours.set_samples([], None)
            return
        self.neighbours_title.setText(
            f"Nearest neighbours of #{result.sample_id} in {layer} "
            f"({result.metric}, activation space)")
        captions = [f"{_caption(context, int(s))} d={d:.2g}"
                    for s, d in zip(result.ids, result.distances, strict=True)]
        self.neighbours.set_samples(result.ids, context.images if context else None,
                                    captions,
                                    context.value_range if context else (0.0, 1.0))


def _caption(context, sid: int) -> str:
    if context is None or context.label is None:
        return f"#{sid}"
    rows = np.flatnonzero(context.ids == sid)
    if not len(rows):
        return f"#{sid}"
    r = int(rows[0])
    label = int(context.label[r])
    if context.prediction is not None and int(context.prediction[r]) != label:
        return f"#{sid} {label}→{int(context.prediction[r])}"
    return f"#{sid} {label}"
