"""A one-row form generated from a projection method's params dataclass."""

from __future__ import annotations

import dataclasses
from typing import Any

from PySide6.QtWidgets import QComboBox, QDoubleSpinBox, QHBoxLayout, QSpinBox, QWidget

from widgets.qt_text import plain_label


class QtParamsForm(QWidget):
    def __init__(self, parent=None):
        super().__init__(parent)
        self._layout = QHBoxLayout(self)
        self._layout.setContentsMargins(0, 0, 0, 0)
        self._editors: dict[str, Any] = {}

    def set_params(self, params_type: type | None, values: dict[str, Any] | None = None
                   ) -> None:
        while self._layout.count():
            item = self._layout.takeAt(0)
            if item.widget() is not None:
                item.widget().deleteLater()
        self._editors = {}
        if params_type is None:
            return
        defaults = params_type()
        for f in dataclasses.fields(params_type):
            value = (values or {}).get(f.name, getattr(defaults, f.name))
            editor = _editor(f, value)
            editor.setToolTip(f.metadata.get("help", ""))
            label = plain_label(f.name.replace("_", " "))
            label.setToolTip(f.metadata.get("help", ""))
            self._layout.addWidget(label)
            self._layout.addWidget(editor)
            self._editors[f.name] = editor
        self._layout.addStretch(1)

    def values(self) -> dict[str, Any]:
        out = {}
        for name, editor in self._editors.items():
            if isinstance(editor, QComboBox):
                out[name] = editor.currentText()
            else:
                out[name] = editor.value()
        return out


def _editor(f: dataclasses.Field, value: Any):
    meta = f.metadata
    kind = f.type if isinstance(f.type, str) else getattr(f.type, "__name__", "")
    if "choices" in meta:
        box = QComboBox()
        box.addItems([str(c) for c in meta["choices"]])
        box.setCurrentText(str(value))
        return box
    if kind.startswith("int"):
        spin = QSpinBox()
        spin.setRange(int(meta.get("min", -10**9)), int(meta.get("max", 10**9)))
        spin.setValue(int(value))
        return spin
    spin = QDoubleSpinBox()
    spin.setDecimals(3)
    spin.setSingleStep(0.05 if meta.get("max", 10) <= 1 else 1.0)
    spin.setRange(float(meta.get("min", -1e9)), float(meta.get("max", 1e9)))
    spin.setValue(float(value))
    return spin
