"""The pruning methods to sweep, as one drop-down of check boxes: it stays one control
wide however many methods plugins add, and its text names the ticked ones.

Check boxes inside the menu (``QWidgetAction``) keep it open while several are ticked,
which checkable menu actions do not.
"""

from __future__ import annotations

from PySide6.QtCore import Signal
from PySide6.QtWidgets import QCheckBox, QMenu, QToolButton, QWidgetAction

from visualizer.analysis.pruning.table import BY_ID
from widgets.pruning.data import DEFAULT_METHODS, method_names
from widgets.pruning.style import plain_tip


class QtMethodPicker(QToolButton):
    """``boxes`` maps a method's short name to its check box; ``changed`` on any tick."""

    changed = Signal()
    MAX_TEXT = 34  # characters of the button's summary before it is cut short

    def __init__(self, parent=None):
        super().__init__(parent)
        self.setPopupMode(QToolButton.ToolButtonPopupMode.InstantPopup)
        self.setToolTip("Pruning methods to sweep (each is one series in the plot)")
        self.menu_ = QMenu(self)
        self.boxes: dict[str, QCheckBox] = {}
        names, self.problem = method_names()
        for name, title in names:
            text = f"{name} — {title}" if title and title != name else name
            box = QCheckBox(text.replace("&", "&&"))  # a plugin's "&" is no shortcut
            spec = BY_ID.get(name)
            if spec is not None and spec.citation:
                box.setToolTip(spec.citation)
            box.setChecked(name in DEFAULT_METHODS)
            box.setStyleSheet("QCheckBox { padding: 3px 10px; }")
            box.toggled.connect(self._on_box_toggled)
            action = QWidgetAction(self.menu_)
            action.setDefaultWidget(box)
            self.menu_.addAction(action)
            self.boxes[name] = box
        if self.problem:  # only built-in methods are listed: say why, not nothing
            self.menu_.addSeparator()
            text = f"Plugin methods not listed: {self.problem} (see the log)"
            action = self.menu_.addAction(text.replace("&", "&&"))
            action.setEnabled(False)
            self.setToolTip(plain_tip("Pruning methods to sweep (each is one series in the "
                                      "plot). Plugin methods could not be listed: "
                                      f"{self.problem}"))
        self.setMenu(self.menu_)
        self._update_text()

    def checked(self) -> tuple[str, ...]:
        """Ticked methods that the current mode allows, in menu order."""
        return tuple(n for n, b in self.boxes.items() if b.isChecked() and b.isEnabled())

    def set_checked(self, names) -> None:
        for n, box in self.boxes.items():
            box.setChecked(n in names)

    def set_structured(self, structured: bool) -> None:
        """Grey out methods that cannot remove channels (rather than refuse them later)."""
        for name, box in self.boxes.items():
            spec = BY_ID.get(name)
            box.setEnabled(not (structured and spec is not None and not spec.structured))
        self._update_text()

    def _on_box_toggled(self, _checked: bool) -> None:
        self._update_text()
        self.changed.emit()

    def _update_text(self) -> None:
        names = self.checked()
        text = ", ".join(names) if names else "none ticked"
        if len(text) > self.MAX_TEXT:
            text = f"{text[:self.MAX_TEXT - 1]}…"
        self.setText(text.replace("&", "&&"))  # a plugin's "&" is no shortcut
