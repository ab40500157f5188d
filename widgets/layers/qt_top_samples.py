"""Top-activating samples of one unit, as a thumbnail gallery with scores."""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import QSize, Signal
from PySide6.QtWidgets import QComboBox, QHBoxLayout, QSpinBox, QVBoxLayout, QWidget

from visualizer.analysis.layers.samples import TopK
from widgets.common.qt_sample_gallery import QtSampleGallery
from widgets.qt_text import plain_label


class QtTopSamples(QWidget):
    """Unit and k pickers over a :class:`QtSampleGallery`; ``request_changed`` on edit."""

    request_changed = Signal()

    def __init__(self, session, parent: QWidget | None = None):
        super().__init__(parent)
        self.unit = QSpinBox()
        self.unit.setRange(0, 0)
        self.k = QSpinBox()
        self.k.setRange(1, 256)
        self.k.setValue(16)
        self.reduce = QComboBox()
        self.reduce.addItem("mean of the map", "mean")
        self.reduce.addItem("max of the map", "max")
        for w in (self.unit, self.k):
            w.valueChanged.connect(lambda *_: self.request_changed.emit())
        self.reduce.currentIndexChanged.connect(lambda *_: self.request_changed.emit())
        bar = QHBoxLayout()
        for text, w in (("Unit:", self.unit), ("Samples:", self.k), ("Score:", self.reduce)):
            bar.addWidget(plain_label(text))
            bar.addWidget(w)
        bar.addStretch(1)
        self.title = plain_label(wrap=True)
        self.gallery = QtSampleGallery(session, size=84)
        self.gallery.setGridSize(QSize(84 + 36, 84 + 44))  # room for two caption lines
        self.gallery.setWordWrap(True)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(4, 4, 4, 4)
        lay.addLayout(bar)
        lay.addWidget(self.title)
        lay.addWidget(self.gallery, 1)
        self.result: TopK | None = None

    def set_units(self, n: int, conv: bool, unit: int = 0) -> None:
        self.unit.blockSignals(True)
        self.unit.setRange(0, max(n - 1, 0))
        self.unit.setValue(unit)
        self.unit.blockSignals(False)
        self.reduce.setEnabled(conv)

    def set_result(self, top: TopK | None, samples=None, class_names=(), text: str = "") -> None:
        self.result = top
        if top is None:
            self.title.setText(text)
            self.gallery.set_samples(np.zeros(0, np.int64), None)
            return
        names = list(class_names)

        def label(v):
            return names[int(v)] if 0 <= int(v) < len(names) else str(int(v))

        captions = []
        for i, sid in enumerate(top.sample_index):
            cap = f"#{int(sid)} · {top.scores[i]:.3g}"
            if top.labels is not None:
                cap += f"\n{label(top.labels[i])}"
                if top.predictions is not None and top.predictions[i] != top.labels[i]:
                    cap += f"→{label(top.predictions[i])}"
            captions.append(cap)
        images = samples.x if samples is not None and samples.kind == "image" else None
        rng = samples.input_range if samples is not None else (0.0, 1.0)
        self.gallery.set_samples(top.sample_index, images, captions, rng)
        how = "its value" if top.reduce == "mean" and not self.reduce.isEnabled() else \
            f"the {top.reduce} of its map"
        self.title.setText(f"The {len(top.rows)} samples on which unit {top.unit} of "
                           f"{top.layer} is most active (score: {how}), best first; "
                           "caption: sample, score, label (→ prediction when wrong). "
                           "Click one to show its feature maps.")
