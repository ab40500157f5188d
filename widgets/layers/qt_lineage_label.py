"""The header's lineage chip: "pruned from cnn by magnitude to 90% (finetune)".

It sits in the Layer view's header row beside the model's name and shrinks with the
window, eliding its end, so that the row of controls still fits beside the workspace
browser; the whole text is its tooltip.
"""

from __future__ import annotations

from PySide6.QtCore import QSize, Qt
from PySide6.QtWidgets import QLabel, QSizePolicy, QWidget

from visualizer.analysis.layers.lineage import PruningInfo


class QtLineageLabel(QLabel):
    """Shows a :class:`PruningInfo` (hidden for a model that is not pruned)."""

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.setTextFormat(Qt.TextFormat.PlainText)  # model names come from users
        self.setSizePolicy(QSizePolicy.Policy.Preferred, QSizePolicy.Policy.Fixed)
        self.setStyleSheet("QLabel { background: #fbeef4; color: #5b0a4e; "
                           "border: 1px solid #f0c4dc; border-radius: 3px; padding: 1px 6px; }")
        self.full_text = ""
        self.hide()

    def set_info(self, info: PruningInfo | None) -> None:
        if info is None:
            self.full_text = ""
            self.setToolTip("")
            self.hide()
            return
        text = info.header()
        if info.accuracy is not None:
            text += f" · accuracy {info.accuracy:.1%}"
            if info.parent_accuracy is not None:
                text += f" ({info.parent} {info.parent_accuracy:.1%})"
        if not info.parent_in_workspace:
            text += f" · {info.parent} is no longer in this workspace"
        self.full_text = text
        self.setToolTip(f"{info.summary()}\n\nNodes are coloured by weight sparsity (the "
                        "share of exactly-zero weights) until you pick another colouring; "
                        f"the Weights tab sets each layer beside {info.parent}'s.")
        self._elide()
        self.updateGeometry()
        self.show()

    def _frame(self) -> int:
        return self.width() - self.contentsRect().width()

    def sizeHint(self) -> QSize:  # noqa: N802 - Qt API
        hint = super().sizeHint()
        return QSize(self.fontMetrics().horizontalAdvance(self.full_text) + self._frame() + 4,
                     hint.height())

    def minimumSizeHint(self) -> QSize:  # noqa: N802 - Qt API
        return QSize(80, super().minimumSizeHint().height())

    def resizeEvent(self, event) -> None:  # noqa: N802 - Qt API
        super().resizeEvent(event)
        self._elide()

    def _elide(self) -> None:
        width = max(self.contentsRect().width(), 10)
        self.setText(self.fontMetrics().elidedText(self.full_text, Qt.TextElideMode.ElideRight,
                                                   width))
