"""Plain-text building blocks: every untrusted string goes through these.

File, model, layer, class and plugin names and error texts come from users and files.
Qt labels guess rich text from a leading ``<``, so labels made here are pinned to
``Qt.PlainText``, and long texts go to read-only ``QPlainTextEdit``s.
"""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtGui import QFont, QFontDatabase
from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QLabel,
    QPlainTextEdit,
    QVBoxLayout,
    QWidget,
)


def plain_label(text: str = "", parent: QWidget | None = None, *, wrap: bool = False,
                selectable: bool = False) -> QLabel:
    label = QLabel(parent)
    label.setTextFormat(Qt.TextFormat.PlainText)
    label.setText(text)
    label.setWordWrap(wrap)
    if selectable:
        label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
    return label


def mono_font() -> QFont:
    return QFontDatabase.systemFont(QFontDatabase.SystemFont.FixedFont)


def plain_text_view(text: str = "", parent: QWidget | None = None, *,
                    mono: bool = True) -> QPlainTextEdit:
    view = QPlainTextEdit(parent)
    view.setReadOnly(True)
    view.setPlainText(text)
    view.setLineWrapMode(QPlainTextEdit.LineWrapMode.NoWrap if mono
                         else QPlainTextEdit.LineWrapMode.WidgetWidth)
    if mono:
        view.setFont(mono_font())
    return view


def show_text_dialog(parent: QWidget | None, title: str, text: str) -> QDialog:
    """A non-modal window showing ``text`` (a traceback, a run's parameters) as plain text."""
    dialog = QDialog(parent)
    dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
    dialog.setWindowTitle(title)
    lay = QVBoxLayout(dialog)
    lay.addWidget(plain_text_view(text, dialog))
    buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
    buttons.rejected.connect(dialog.close)
    lay.addWidget(buttons)
    dialog.resize(760, 480)
    dialog.show()
    return dialog


def compact_combo(combo, chars: int):
    """Let ``combo`` shrink to about ``chars`` characters instead of its longest entry
    (a run or projection title can be 60), so that a view's row of controls fits
    beside the workspace browser; the popup still shows whole entries."""
    from PySide6.QtWidgets import QComboBox

    combo.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
    combo.setMinimumContentsLength(chars)
    return combo
