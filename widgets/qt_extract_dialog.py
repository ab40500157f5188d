"""The Extract activations dialog and the job it starts."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QComboBox,
    QDialog,
    QFormLayout,
    QHBoxLayout,
    QListWidget,
    QListWidgetItem,
    QPushButton,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from widgets import workspace_jobs as wj
from widgets.qt_dialogs import _buttons
from widgets.qt_text import plain_label


class QtExtractDialog(QDialog):
    """Model, dataset, split, layers (default all), device and batch size."""

    def __init__(self, session, runner=None, parent: QWidget | None = None):
        super().__init__(parent)
        self.setWindowTitle("Extract activations")
        self.session = session
        self.runner = runner
        self._layers_job = None
        ws = session.workspace
        self._models = {m.name: m for m in ws.models()} if ws is not None else {}
        self._datasets = {d.name: d for d in ws.datasets()} if ws is not None else {}
        self.model = QComboBox()
        self.model.addItems(list(self._models))
        self.dataset = QComboBox()
        self.dataset.addItems(list(self._datasets))
        self.split = QComboBox()
        self.device = QComboBox()
        self.device.addItems(["auto", "cpu", "cuda"])
        self.device.setToolTip("auto picks CUDA, then MPS, then the CPU")
        self.batch_size = QSpinBox()
        self.batch_size.setRange(1, 65536)
        self.batch_size.setValue(256)
        self.limit = QSpinBox()
        self.limit.setRange(0, 10_000_000)
        self.limit.setSpecialValueText("all samples")
        self.layers = QListWidget()
        self.layers.setMinimumHeight(160)
        self.layers_note = plain_label("", wrap=True)
        self.layers_note.setStyleSheet("color: #5f6b7a;")
        all_button, none_button = QPushButton("All"), QPushButton("None")
        all_button.clicked.connect(lambda: self._check_all(True))
        none_button.clicked.connect(lambda: self._check_all(False))
        row = QHBoxLayout()
        row.addWidget(self.layers_note, 1)
        row.addWidget(all_button)
        row.addWidget(none_button)
        form = QFormLayout()
        form.addRow("Model:", self.model)
        form.addRow("Dataset:", self.dataset)
        form.addRow("Split:", self.split)
        form.addRow("Device:", self.device)
        form.addRow("Batch size:", self.batch_size)
        form.addRow("Limit:", self.limit)
        lay = QVBoxLayout(self)
        lay.addLayout(form)
        lay.addWidget(plain_label("Layers:"))
        lay.addWidget(self.layers, 1)
        lay.addLayout(row)
        self.buttons = _buttons(self, "Extract")
        lay.addWidget(self.buttons)
        self.model.currentTextChanged.connect(self._on_model_changed)
        self.dataset.currentTextChanged.connect(self._on_dataset_changed)
        self._on_dataset_changed(self.dataset.currentText())
        self._on_model_changed(self.model.currentText())
        ok = self.buttons.buttons()[0]
        ok.setEnabled(bool(self._models and self._datasets))
        if not (self._models and self._datasets):
            self.layers_note.setText("The workspace needs a model and a dataset first "
                                     "(File > Import model…, File > Import data…).")
        self.resize(520, 560)

    def _on_dataset_changed(self, name: str) -> None:
        rec = self._datasets.get(name)
        splits = list((rec.info.get("splits") or {}) if rec else {}) or ["test", "train"]
        self.split.clear()
        self.split.addItems(splits + (["all"] if "all" not in splits else []))
        if "test" in splits:
            self.split.setCurrentText("test")

    def _on_model_changed(self, name: str) -> None:
        self.layers.clear()
        rec = self._models.get(name)
        if rec is None:
            return
        shape = rec.info.get("input_shape")
        if shape is None:
            data = self._datasets.get(self.dataset.currentText())
            shape = data.info.get("sample_shape") if data else None
        if self.runner is None or not shape:
            self.layers_note.setText("The layer list is not available; all layers that fit "
                                     "the memory budget will be extracted.")
            return
        self.layers_note.setText("Reading the model's layers…")
        self._layers_job = self.runner.submit(
            wj.list_model_layers, wj.ListLayersRequest(str(self.session.workspace.root), name,
                                                       tuple(shape)),
            name=f"List layers of {name}", on_done=self._on_layers_done,
            on_failed=self._on_layers_failed)

    def _on_layers_done(self, job) -> None:
        if job is not self._layers_job:  # the user picked another model meanwhile
            return
        self.layers.clear()
        for name, type_name, shape in job.result:
            item = QListWidgetItem(f"{name}    {type_name}  {shape}")
            item.setData(Qt.ItemDataRole.UserRole, name)
            item.setFlags(item.flags() | Qt.ItemFlag.ItemIsUserCheckable)
            item.setCheckState(Qt.CheckState.Checked)
            self.layers.addItem(item)
        self.layers_note.setText(f"{len(job.result)} layers; all checked means every layer "
                                 "that fits the memory budget.")

    def _on_layers_failed(self, job) -> None:
        if job is self._layers_job:
            self.layers_note.setText(f"Could not list the layers ({job.error}); all layers "
                                     "will be extracted.")

    def _check_all(self, checked: bool) -> None:
        state = Qt.CheckState.Checked if checked else Qt.CheckState.Unchecked
        for i in range(self.layers.count()):
            self.layers.item(i).setCheckState(state)

    def selected_layers(self) -> tuple[str, ...] | None:
        """None (all) when every listed layer is checked or no list is available."""
        items = [self.layers.item(i) for i in range(self.layers.count())]
        checked = [i.data(Qt.ItemDataRole.UserRole) for i in items
                   if i.checkState() == Qt.CheckState.Checked]
        return None if len(checked) == len(items) else tuple(checked)

    def request(self):
        from visualizer.analysis.activations import ExtractRequest

        return ExtractRequest(
            workspace=str(self.session.workspace.root), model=self.model.currentText(),
            dataset=self.dataset.currentText(), split=self.split.currentText(),
            layers=self.selected_layers(), device=self.device.currentText(),
            batch_size=self.batch_size.value(), limit=self.limit.value() or None)

    def accept(self) -> None:
        if self.selected_layers() == ():
            self.layers_note.setText("Check at least one layer.")
            return
        super().accept()


def start_extraction(session, runner, request):
    """Run ``extract_activations`` as a job; the new run becomes the selection."""
    from visualizer.analysis.activations import extract_activations

    def on_done(job) -> None:
        session.check_catalog()
        session.selection.run_id = job.result
        session.notify("info", "Activations extracted",
                       f"{request.model} on {request.dataset} ({request.split}): run "
                       f"{job.result}.")

    def on_failed(job) -> None:
        session.check_catalog()  # the run now shows failed in the browser
        from widgets.qt_job_runner import notify_failure

        notify_failure(session.notify, job)

    session.check_catalog()
    return runner.submit(extract_activations, request,
                         name=f"Extract {request.model} on {request.dataset}",
                         on_done=on_done, on_failed=on_failed)
