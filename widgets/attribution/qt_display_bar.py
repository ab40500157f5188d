"""The display row of the Attribution tab: which stored run is shown, how its maps are
coloured, scaled and blended, which of its samples the panels keep (class, correct or
not, confidence, only the brushed ones), and Export.
"""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDoubleSpinBox,
    QHBoxLayout,
    QPushButton,
    QSlider,
    QVBoxLayout,
    QWidget,
)

from widgets.attribution.qt_panels import DisplayOptions
from widgets.qt_text import compact_combo, plain_label


class QtDisplayBar(QWidget):
    run_changed = Signal()
    options_changed = Signal()  # colour mode, scale or opacity
    filter_changed = Signal()  # which samples are shown

    def __init__(self, options: DisplayOptions, parent: QWidget | None = None):
        super().__init__(parent)
        self.run_combo = compact_combo(QComboBox(), 14)
        self.mode_combo = QComboBox()
        self.mode_combo.addItems(["auto", "signed", "absolute"])
        self.scale_combo = QComboBox()
        self.scale_combo.addItems(["per sample", "per run"])
        self.opacity = QSlider(Qt.Orientation.Horizontal)
        self.opacity.setRange(0, 100)
        self.opacity.setValue(int(options.opacity * 100))
        self.opacity.setMaximumWidth(140)
        self.class_combo = QComboBox()
        self.correct_combo = QComboBox()
        self.correct_combo.addItems(["all", "correct", "incorrect"])
        self.conf_spin = QDoubleSpinBox()
        self.conf_spin.setRange(0, 1)
        self.conf_spin.setSingleStep(0.05)
        self.only_selected = QCheckBox("only brushed")
        self.export_button = QPushButton("Export…")
        # two rows: what is shown and how (run, colours, export), then which samples
        rows = QVBoxLayout(self)
        rows.setContentsMargins(0, 0, 0, 0)
        rows.setSpacing(2)
        for items, tail in (
                ((("Run", self.run_combo), ("Colour", self.mode_combo),
                  ("Scale", self.scale_combo), ("Opacity", self.opacity)), self.export_button),
                ((("Class", self.class_combo), ("Show", self.correct_combo),
                  ("Conf. ≥", self.conf_spin)), self.only_selected)):
            row = QHBoxLayout()
            for label, w in items:
                row.addWidget(plain_label(label))
                row.addWidget(w, 2 if w is self.run_combo else 0)
            row.addWidget(tail)
            row.addStretch(0 if tail is self.export_button else 1)
            rows.addLayout(row)

        self.run_combo.currentIndexChanged.connect(lambda *_: self.run_changed.emit())
        for signal in (self.mode_combo.currentTextChanged, self.scale_combo.currentTextChanged,
                       self.opacity.valueChanged):
            signal.connect(lambda *_: self.options_changed.emit())
        for signal in (self.class_combo.currentIndexChanged,
                       self.correct_combo.currentIndexChanged, self.conf_spin.valueChanged,
                       self.only_selected.toggled):
            signal.connect(lambda *_: self.filter_changed.emit())

    def set_runs(self, runs, current: str | None) -> None:
        """Offer ``runs`` newest first, choosing ``current`` (else the newest), silently."""
        self.run_combo.blockSignals(True)
        self.run_combo.clear()
        for r in reversed(runs):  # RunRow: the light rows of Catalog.run_rows
            self.run_combo.addItem(_run_title(r), r.id)
        idx = self.run_combo.findData(current) if current else 0
        self.run_combo.setCurrentIndex(max(idx, 0))
        self.run_combo.blockSignals(False)

    def add_runs(self, runs) -> None:
        """Put newly finished ``runs`` (oldest first) at the top, keeping the choice."""
        self.run_combo.blockSignals(True)
        for r in runs:
            self.run_combo.insertItem(0, _run_title(r), r.id)
        self.run_combo.blockSignals(False)

    def set_classes(self, class_names) -> None:
        self.class_combo.blockSignals(True)
        self.class_combo.clear()
        self.class_combo.addItem("all", None)
        for k, name in enumerate(class_names):
            self.class_combo.addItem(name, k)
        self.class_combo.blockSignals(False)

    def update_options(self, options: DisplayOptions) -> None:
        """Write the chosen colour mode, scale and opacity into the shared ``options``."""
        options.mode = self.mode_combo.currentText()
        options.scale = "sample" if self.scale_combo.currentIndex() == 0 else "run"
        options.opacity = self.opacity.value() / 100

    def visible_ids(self, data, selected_ids) -> np.ndarray:
        """The sample ids of ``data`` that pass the filters (``selected_ids``: brushed)."""
        if data is None:
            return np.zeros(0, dtype=np.int64)
        a = data.arrays
        keep = np.ones(len(data.sample_index), dtype=bool)
        cls = self.class_combo.currentData()
        if cls is not None:
            keep &= a["label"] == cls
        mode = self.correct_combo.currentText()
        if mode != "all":
            correct = a["label"] == a["prediction"]
            keep &= correct if mode == "correct" else ~correct
        keep &= a["confidence"] >= self.conf_spin.value()
        if self.only_selected.isChecked():
            keep &= np.isin(data.sample_index, np.asarray(selected_ids, dtype=np.int64))
        return data.sample_index[keep]


def _run_title(r) -> str:
    samples = r.n_samples if r.n_samples is not None else "?"
    return f"{r.id} · {r.method} · {r.model} · {samples} samples"
