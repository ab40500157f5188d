"""The Compute controls of the Attribution tab: model, dataset, method and its options
(layer, target, baseline, samples, NoiseTunnel) beside the method's parameter form;
Run, Cancel and Sanity check with progress and status. They build the request a job
runs; the job itself is :mod:`widgets.attribution.qt_attribution_jobs`' business.
"""

from __future__ import annotations

from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QProgressBar,
    QPushButton,
    QSpinBox,
    QWidget,
)

from visualizer.errors import DeepScopeError
from widgets.attribution.qt_method_form import QtMethodForm
from widgets.qt_text import plain_label


class QtRunControls(QWidget):
    def __init__(self, session, parent: QWidget | None = None):
        super().__init__(parent)
        self.session = session
        self.model_combo, self.dataset_combo = QComboBox(), QComboBox()
        self.method_combo = QComboBox()
        self.layer_combo = QComboBox()
        self.layer_combo.setEditable(True)
        self.layer_combo.setToolTip("layer for layer methods; empty: the last convolution")
        self.target_combo = QComboBox()
        self.target_combo.setEditable(True)
        self.target_combo.addItems(["pred", "label"] + [str(k) for k in range(10)])
        self.baseline_combo = QComboBox()
        self.baseline_combo.addItems(["zeros", "mean", "blur", "noise"])
        self.limit_spin = QSpinBox()
        self.limit_spin.setRange(1, 100000)
        self.limit_spin.setValue(64)
        self.use_selection = QCheckBox("selected samples")
        self.smooth_combo = QComboBox()
        self.smooth_combo.addItems(["none", "smoothgrad", "smoothgrad_sq", "vargrad"])
        self.run_button = QPushButton("Run")
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.setEnabled(False)
        self.sanity_button = QPushButton("Sanity check")
        self.progress = QProgressBar()
        self.progress.setMaximumWidth(220)
        self.status = plain_label("")
        self.params = QtMethodForm()

        compute = QGroupBox("Compute")
        form = QFormLayout(compute)
        row = QHBoxLayout()
        for label, w in (("Model", self.model_combo), ("Data", self.dataset_combo),
                         ("Method", self.method_combo)):
            row.addWidget(plain_label(label))
            row.addWidget(w, 1)
        form.addRow(row)
        row = QHBoxLayout()
        for label, w in (("Layer", self.layer_combo), ("Target", self.target_combo),
                         ("Baseline", self.baseline_combo), ("Samples", self.limit_spin)):
            row.addWidget(plain_label(label))
            row.addWidget(w, 1)
        row.addWidget(self.use_selection)
        form.addRow(row)
        row = QHBoxLayout()
        row.addWidget(plain_label("NoiseTunnel"))
        row.addWidget(self.smooth_combo)
        row.addStretch(1)
        for w in (self.run_button, self.cancel_button, self.sanity_button, self.progress):
            row.addWidget(w)
        form.addRow(row)
        form.addRow(self.status)

        top = QHBoxLayout(self)
        top.setContentsMargins(0, 0, 0, 0)
        top.addWidget(compute, 3)
        top.addWidget(self.params, 1)

        self.method_combo.currentIndexChanged.connect(self._on_method_combo_changed)

    # -- choices --------------------------------------------------------------------------
    def set_workspace(self, ws) -> None:
        """Offer the models and datasets of ``ws`` and the installed methods."""
        self.model_combo.clear()
        self.dataset_combo.clear()
        self.set_models_and_datasets(ws)
        self.method_combo.blockSignals(True)
        self.method_combo.clear()
        try:
            from plugins.manager import get_manager

            for c in get_manager().contributions("attribution_methods"):
                self.method_combo.addItem(c.title or c.name, c.id)
        except Exception as exc:  # noqa: BLE001 - the view still shows stored runs
            self.session.notify("error", "Attribution methods unavailable", str(exc))
        self.method_combo.blockSignals(False)
        self._on_method_combo_changed()

    def set_models_and_datasets(self, ws) -> None:
        """Offer the models and datasets of ``ws`` now, keeping the current choices."""
        for combo, names, preferred in (
                (self.model_combo, [m.name for m in ws.models()] if ws else [], "cnn"),
                (self.dataset_combo, [d.name for d in ws.datasets()] if ws else [], None)):
            current = combo.currentText()
            if [combo.itemText(i) for i in range(combo.count())] == names:
                continue
            combo.blockSignals(True)
            combo.clear()
            combo.addItems(names)
            keep = current if current in names else preferred
            if keep in names:
                combo.setCurrentText(keep)
            combo.blockSignals(False)

    def method_spec(self):
        from plugins.manager import get_manager

        cid = self.method_combo.currentData()
        if not cid:
            return None
        manager = get_manager()
        return manager.load(manager.get("attribution_methods", cid)).spec

    def _on_method_combo_changed(self, *_):
        self.params.clear()
        try:
            spec = self.method_spec()
        except Exception as exc:  # noqa: BLE001 - a broken plugin: say so, keep going
            self.status.setText(f"cannot load this method: {exc}")
            return
        if spec is None:
            return
        self.params.fill(spec.params)
        self.layer_combo.setEnabled(bool(spec.layer))
        self.smooth_combo.setEnabled(bool(spec.gradient))
        self.baseline_combo.setEnabled(spec.baselines != "none")
        if spec.layer:
            self._fill_layers()
        self.status.setText(spec.note)

    def _fill_layers(self) -> None:
        ws, model = self.session.workspace, self.model_combo.currentText()
        if ws is None or not model or self.layer_combo.count():
            return
        try:
            info = ws.catalog.model(model).info
        except Exception:  # noqa: BLE001
            return
        names = info.get("layers") if isinstance(info.get("layers"), list) else []
        self.layer_combo.addItems([""] + [str(n) for n in names])

    def request(self):
        """The ``AttributeRequest`` these controls describe."""
        from visualizer.analysis.attribution.api import build_request

        spec = self.method_spec()
        if spec is None:
            raise DeepScopeError("no attribution method is chosen.",
                                 fix="pick one in the Method list (Plugins lists failures).")
        options = dict(limit=self.limit_spin.value(), target=self.target_combo.currentText(),
                       baseline=self.baseline_combo.currentText(),
                       layer=(self.layer_combo.currentText() or None) if spec.layer else None,
                       smooth=None if self.smooth_combo.currentText() == "none"
                       or not spec.gradient else self.smooth_combo.currentText())
        if self.use_selection.isChecked() and self.session.selection.sample_ids:
            options["sample_ids"] = list(self.session.selection.sample_ids)
        return build_request(self.session.workspace, self.model_combo.currentText(),
                             self.dataset_combo.currentText(),
                             self.method_combo.currentData(), params=self.params.values(),
                             **options)

    # -- job feedback ---------------------------------------------------------------------
    def show_running(self) -> None:
        self.cancel_button.setEnabled(True)
        self.progress.setRange(0, 0)

    def show_progress(self, done, total) -> None:
        if total:
            self.progress.setRange(0, int(total))
            self.progress.setValue(int(done))

    def show_finished(self, state) -> None:
        self.cancel_button.setEnabled(False)
        self.progress.setRange(0, 1)
        self.progress.setValue(1 if state.value == "done" else 0)
        if state.value == "cancelled":
            self.status.setText("cancelled")
