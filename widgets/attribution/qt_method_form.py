"""The Parameters box of the Attribution tab: one editor per parameter that the chosen
method's spec declares (int, float, bool or a choice), read back as a dict for the
request."""

from __future__ import annotations

from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDoubleSpinBox,
    QFormLayout,
    QGroupBox,
    QSpinBox,
    QWidget,
)

from widgets.qt_text import plain_label


class QtMethodForm(QGroupBox):
    def __init__(self, parent: QWidget | None = None):
        super().__init__("Parameters", parent)
        self.form = QFormLayout(self)
        self.widgets: dict[str, QWidget] = {}  # parameter name -> its editor

    def clear(self) -> None:
        while self.form.rowCount():
            self.form.removeRow(0)
        self.widgets = {}

    def fill(self, params) -> None:
        """Add one row per declared parameter (``ParamSpec``s) after :meth:`clear`."""
        for p in params:
            if p.kind == "int":
                w = QSpinBox()
                w.setRange(int(p.minimum or 0), int(p.maximum or 10**6))
                w.setValue(int(p.default))
            elif p.kind == "float":
                w = QDoubleSpinBox()
                w.setDecimals(3)
                w.setRange(float(p.minimum or 0), float(p.maximum or 1e6))
                w.setValue(float(p.default))
            elif p.kind == "bool":
                w = QCheckBox()
                w.setChecked(bool(p.default))
            else:
                w = QComboBox()
                w.addItems(list(p.choices))
                w.setCurrentText(str(p.default))
            w.setToolTip(p.help)
            self.widgets[p.name] = w
            self.form.addRow(plain_label(p.name.replace("_", " ")), w)
        if not params:
            self.form.addRow(plain_label("no parameters"))

    def values(self) -> dict:
        values = {}
        for name, w in self.widgets.items():
            if isinstance(w, QSpinBox | QDoubleSpinBox):
                values[name] = w.value()
            elif isinstance(w, QCheckBox):
                values[name] = w.isChecked()
            else:
                values[name] = w.currentText()
        return values
