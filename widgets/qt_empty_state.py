"""An honest empty state: what a view will show, and what the user can do now."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QFrame, QVBoxLayout, QWidget

from widgets.qt_text import plain_label


class QtEmptyState(QWidget):
    """A centred title, a description and a hint, all plain text."""

    WIDTH = 580

    def __init__(self, title: str, description: str, hint: str = "",
                 parent: QWidget | None = None):
        super().__init__(parent)
        self.title = plain_label(title)
        font = self.title.font()
        font.setPointSizeF(font.pointSizeF() * 1.5)
        font.setBold(True)
        self.title.setFont(font)
        self.description = plain_label(description, wrap=True)
        self.hint = plain_label(hint, wrap=True)
        hint_font = self.hint.font()
        hint_font.setItalic(True)
        self.hint.setFont(hint_font)
        self.hint.setVisible(bool(hint))
        for label in (self.title, self.description, self.hint):
            label.setAlignment(Qt.AlignmentFlag.AlignHCenter)
        self.description.setStyleSheet("color: palette(window-text);")
        self.hint.setStyleSheet("color: #5f6b7a;")
        card = QFrame()
        card.setFixedWidth(self.WIDTH)
        inner = QVBoxLayout(card)
        inner.setSpacing(12)
        inner.addWidget(self.title)
        inner.addWidget(self.description)
        inner.addWidget(self.hint)
        outer = QVBoxLayout(self)
        outer.addStretch(2)
        outer.addWidget(card, 0, Qt.AlignmentFlag.AlignHCenter)
        outer.addStretch(3)
        self._fit_heights()

    def _fit_heights(self) -> None:
        # Wrapped labels inside a centred card get no width-for-height negotiation;
        # give them the height their text needs at the card's width (no clipped lines).
        for label in (self.title, self.description, self.hint):
            label.setMinimumHeight(label.heightForWidth(self.WIDTH - 24))

    def set_texts(self, title: str | None = None, description: str | None = None,
                  hint: str | None = None) -> None:
        if title is not None:
            self.title.setText(title)
        if description is not None:
            self.description.setText(description)
        if hint is not None:
            self.hint.setText(hint)
            self.hint.setVisible(bool(hint))
        self._fit_heights()


OPEN_WORKSPACE_HINT = ("Open a workspace (File menu), then select an activation run in the "
                       "workspace browser on the left.")


NO_ACTIVATION_RUNS_HINT = ("This workspace has no activation run yet. Make one with Analysis > "
                           "Extract activations; a run that finishes, here or in a job, is "
                           "shown at once.")


def activation_run_or_hint(workspace, run_id: str | None, select_hint: str):
    """``(run, None)`` when ``run_id`` is an activation run to show, else ``(None, hint)``
    with the text for the view's empty state (no workspace, nothing selected, a run
    that is missing or of another kind)."""
    if workspace is None:
        return None, OPEN_WORKSPACE_HINT
    if not run_id:
        if not workspace.catalog.count_runs(kind="activations", status="complete"):
            return None, NO_ACTIVATION_RUNS_HINT
        return None, select_hint
    try:
        run = workspace.run(run_id)
    except Exception as exc:  # noqa: BLE001 - a missing run must not break the view
        return None, f"Run {run_id} cannot be shown: {exc}"
    if run.kind != "activations":
        return None, (f"Run {run_id} cannot be shown: run {run_id} is a {run.kind} run, "
                      "not an activation run.")
    return run, None
