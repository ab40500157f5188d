"""Dialogs: import a model, import data, extract activations.

Dialogs only collect a request; the work runs as jobs through ``QtJobRunner`` (format
detection and hashing, copying, parsing, extraction), and their errors arrive as job
failures shown as notifications, so a bad file never takes the window down. Files that
run code when loaded need the user's explicit trust, asked with the file's SHA-256.
"""

from __future__ import annotations

import re
from pathlib import Path

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLineEdit,
    QMessageBox,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from widgets import workspace_jobs as wj
from widgets.qt_text import plain_label
from widgets.settings import app_settings

LAST_DIR = "paths/last_dir"


def last_dir() -> str:
    return str(app_settings().value(LAST_DIR, str(Path.home())))


def remember_dir(path: str) -> None:
    p = Path(path)
    app_settings().setValue(LAST_DIR, str(p if p.is_dir() else p.parent))


def default_name(path: str) -> str:
    stem = Path(path.rstrip("/\\")).stem
    return re.sub(r"[^A-Za-z0-9_.-]", "_", stem).lstrip("._-")[:64]


class _PathField(QWidget):
    """A line edit with File… (and optionally Folder…) pickers."""

    def __init__(self, caption: str, file_filter: str = "", folders: bool = False,
                 parent: QWidget | None = None):
        super().__init__(parent)
        self.edit = QLineEdit()
        self.edit.setPlaceholderText("path to a file" + (" or folder" if folders else ""))
        self._caption, self._filter = caption, file_filter
        lay = QHBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.addWidget(self.edit, 1)
        file_button = QPushButton("File…")
        file_button.clicked.connect(self._on_file_clicked)
        lay.addWidget(file_button)
        if folders:
            folder_button = QPushButton("Folder…")
            folder_button.clicked.connect(self._on_folder_clicked)
            lay.addWidget(folder_button)

    def _on_file_clicked(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, self._caption, last_dir(), self._filter)
        if path:
            self.set_path(path)

    def _on_folder_clicked(self) -> None:
        path = QFileDialog.getExistingDirectory(self, self._caption, last_dir())
        if path:
            self.set_path(path)

    def set_path(self, path: str) -> None:
        remember_dir(path)
        self.edit.setText(path)
        self.edit.editingFinished.emit()

    def path(self) -> str:
        return self.edit.text().strip()


def _buttons(dialog: QDialog, ok_text: str) -> QDialogButtonBox:
    box = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok
                           | QDialogButtonBox.StandardButton.Cancel)
    box.button(QDialogButtonBox.StandardButton.Ok).setText(ok_text)
    box.accepted.connect(dialog.accept)
    box.rejected.connect(dialog.reject)
    return box


# -- import model ----------------------------------------------------------------
def architecture_choices() -> list[tuple[str, str]]:
    """``(id, title)`` of every architecture a plugin contributes (the zoo included)."""
    from plugins.manager import get_manager

    try:
        return [(c.id, c.title or c.id) for c in get_manager().contributions("architectures")]
    except Exception:  # noqa: BLE001 - a broken plugin must not break the dialog
        return []


class QtImportModelDialog(QDialog):
    """File, name and architecture of a model to import; the format is detected in a job."""

    def __init__(self, runner=None, parent: QWidget | None = None):
        super().__init__(parent)
        self.setWindowTitle("Import model")
        self.runner = runner
        self._inspect_job = None
        self.path = _PathField("Model file", "Model files (*.safetensors *.pt *.pth *.bin "
                                             "*.pt2 *.ckpt);;All files (*)")
        self.name = QLineEdit()
        self.name.setPlaceholderText("letters, digits, _ - . (used on the command line)")
        self.arch = QComboBox()
        self.arch.setEditable(True)
        self.arch.addItem("", "")
        for cid, title in architecture_choices():
            self.arch.addItem(f"{cid} — {title}", cid)
        self.arch.lineEdit().setPlaceholderText("zoo id, or module:factory for your own code")
        self.format_label = plain_label("Choose a file to detect its format.", wrap=True)
        form = QFormLayout()
        form.addRow("File:", self.path)
        form.addRow("Name:", self.name)
        form.addRow("Architecture:", self.arch)
        form.addRow("Format:", self.format_label)
        help_text = plain_label(
            "Safetensors and torch state dicts hold only weights and need the architecture "
            "that builds the model. TorchScript, torch.export and pickled modules run code "
            "when loaded: you will be asked to trust the file.", wrap=True)
        help_text.setStyleSheet("color: #5f6b7a;")
        lay = QVBoxLayout(self)
        lay.addLayout(form)
        lay.addWidget(help_text)
        lay.addWidget(_buttons(self, "Import"))
        self.path.edit.editingFinished.connect(self._on_path_editing_finished)
        self.resize(620, self.sizeHint().height())

    def _on_path_editing_finished(self) -> None:
        path = self.path.path()
        if path and not self.name.text():
            self.name.setText(default_name(path))
        if not path or self.runner is None:
            return
        self.format_label.setText("detecting…")
        self._inspect_job = self.runner.submit(
            wj.inspect_model_file, wj.InspectModelRequest(path), name="Detect model format",
            on_done=self._on_inspect_done, on_failed=self._on_inspect_failed)

    def _on_inspect_done(self, job) -> None:
        if job is not self._inspect_job:  # a newer file was chosen meanwhile
            return
        fmt = job.result.format
        risk = " — runs code when loaded (needs your trust)" if fmt in wj.CODE_FORMATS \
            else " — weights only (safe)"
        self.format_label.setText(fmt + risk)

    def _on_inspect_failed(self, job) -> None:
        if job is self._inspect_job:
            self.format_label.setText(f"not recognised: {job.error}")

    def architecture(self) -> str:
        text = self.arch.currentText().strip()
        index = self.arch.findText(text)
        return self.arch.itemData(index) if index >= 0 else text

    def values(self) -> tuple[str, str, str]:
        return self.path.path(), self.name.text().strip(), self.architecture()

    def accept(self) -> None:
        path, name, _ = self.values()
        if not path or not name:
            QMessageBox.warning(self, "Import model", "Choose a file and a name.")
            return
        super().accept()


def confirm_trust(parent: QWidget | None, info: wj.ModelFileInfo) -> bool:
    """Ask before loading a file that runs code; Cancel is the default answer."""
    box = QMessageBox(parent)
    box.setIcon(QMessageBox.Icon.Warning)
    box.setWindowTitle("Trust this model file?")
    box.setTextFormat(Qt.TextFormat.PlainText)
    box.setText(f"\u201c{Path(info.path).name}\u201d is a {info.format} file. Loading it runs "
                "code stored in the file, with all your rights: it can read, change or "
                "delete your files and use your network.")
    box.setInformativeText(
        f"Only continue if you trust where this file came from.\n\nFile: {info.path}\n"
        f"SHA-256: {info.sha256}\n\nCompare the SHA-256 with the one its author published.")
    trust = box.addButton("Trust and import", QMessageBox.ButtonRole.AcceptRole)
    cancel = box.addButton(QMessageBox.StandardButton.Cancel)
    box.setDefaultButton(cancel)
    box.setEscapeButton(cancel)
    box.exec()
    return box.clickedButton() is trust


ask_trust = confirm_trust  # tests replace this to answer without a modal dialog


def start_model_import(parent, session, runner, path: str, name: str, arch: str | None):
    """Detect and hash in a job, ask for trust if needed, then import in a child process."""
    workspace = str(session.workspace.root)

    def on_inspected(job) -> None:
        info: wj.ModelFileInfo = job.result
        trust = False
        if info.format in wj.CODE_FORMATS:
            if not ask_trust(parent, info):
                session.notify("info", "Import cancelled",
                               f"{Path(path).name} was not imported (not trusted).")
                return
            trust = True
        request = wj.ImportModelRequest(workspace, path, name, arch or None, trust)
        runner.submit(wj.import_model, request, name=f"Import model {name}",
                      on_done=on_imported, process=True)

    def on_imported(job) -> None:
        session.check_catalog()
        session.notify("info", "Model imported", f"{job.result} was added to the workspace.")
        # what will not work with it (TorchScript: no hooks) or what it needs to keep
        # loading (a pickle's own modules); one small catalog row
        for text in session.workspace.catalog.model(job.result).info.get("warnings", []):
            session.notify("warning", f"Model {job.result}: please note", text)

    return runner.submit(wj.inspect_model_file, wj.InspectModelRequest(path),
                         name=f"Inspect {Path(path).name}", on_done=on_inspected)


# -- import data -------------------------------------------------------------------
class QtImportDataDialog(QDialog):
    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.setWindowTitle("Import data")
        self.path = _PathField("Dataset", "Datasets (*.npz *.h5 *.hdf5);;All files (*)",
                               folders=True)
        self.name = QLineEdit()
        self.path.edit.editingFinished.connect(
            lambda: self.name.text() or self.name.setText(default_name(self.path.path())))
        form = QFormLayout()
        form.addRow("File or folder:", self.path)
        form.addRow("Name:", self.name)
        help_text = plain_label("A .npz or HDF5 file with arrays x and y, or an image folder "
                                "with one subfolder per class.", wrap=True)
        help_text.setStyleSheet("color: #5f6b7a;")
        lay = QVBoxLayout(self)
        lay.addLayout(form)
        lay.addWidget(help_text)
        lay.addWidget(_buttons(self, "Import"))
        self.resize(620, self.sizeHint().height())

    def values(self) -> tuple[str, str]:
        return self.path.path(), self.name.text().strip()

    def accept(self) -> None:
        if not all(self.values()):
            QMessageBox.warning(self, "Import data", "Choose a file or folder and a name.")
            return
        super().accept()


def start_data_import(session, runner, path: str, name: str):
    def on_imported(job) -> None:
        session.check_catalog()
        session.notify("info", "Dataset imported", f"{job.result} was added to the workspace.")

    request = wj.ImportDataRequest(str(session.workspace.root), path, name)
    return runner.submit(wj.import_dataset, request, name=f"Import data {name}",
                         on_done=on_imported)
