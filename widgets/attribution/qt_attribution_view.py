"""The Attribution tab: choose a model, dataset, method and samples; run it as a job
with progress and Cancel; see the maps (gallery), compare runs (grid), one sample in
detail, and the model-randomisation sanity check. Export the shown panel to PNG/SVG.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDoubleSpinBox,
    QFileDialog,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QListWidget,
    QListWidgetItem,
    QProgressBar,
    QPushButton,
    QScrollArea,
    QSlider,
    QSpinBox,
    QSplitter,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from widgets._gui_thread import connect_model
from widgets.attribution.data import latest_sanity, load_attribution, load_sanity
from widgets.attribution.qt_panels import (
    DisplayOptions,
    QtAttributionGallery,
    QtColorBar,
    QtComparisonGrid,
    QtSampleDetail,
    QtSanityPlot,
)
from widgets.qt_text import plain_label

TABS = ("gallery", "compare", "detail", "sanity")


class QtAttributionView(QWidget):
    def __init__(self, session, runner, parent: QWidget | None = None):
        super().__init__(parent)
        self.session, self.runner = session, runner
        self.options = DisplayOptions()
        self.data = None  # AttributionData of the shown run
        self.samples = None  # SplitSamples of its dataset
        self.job = None
        self._param_widgets: dict[str, QWidget] = {}
        self._build()
        connect_model(self, session.workspace_changed, self._on_session_workspace_changed,
                      nargs=1)
        connect_model(self, session.catalog_changed, self._on_session_catalog_changed)
        connect_model(self, session.selection.events.hovered_sample,
                      self._on_selection_hovered_sample_changed, nargs=1)
        connect_model(self, session.selection.events.sample_ids,
                      self._on_selection_sample_ids_changed, nargs=1)
        self._on_session_workspace_changed(session.workspace)

    # -- layout --------------------------------------------------------------------
    def _build(self) -> None:
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
        self.params_box = QGroupBox("Parameters")
        self.params_form = QFormLayout(self.params_box)

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

        self.run_combo = QComboBox()
        self.mode_combo = QComboBox()
        self.mode_combo.addItems(["auto", "signed", "absolute"])
        self.scale_combo = QComboBox()
        self.scale_combo.addItems(["per sample", "per run"])
        self.opacity = QSlider(Qt.Orientation.Horizontal)
        self.opacity.setRange(0, 100)
        self.opacity.setValue(int(self.options.opacity * 100))
        self.opacity.setMaximumWidth(140)
        self.class_combo = QComboBox()
        self.correct_combo = QComboBox()
        self.correct_combo.addItems(["all", "correct", "incorrect"])
        self.conf_spin = QDoubleSpinBox()
        self.conf_spin.setRange(0, 1)
        self.conf_spin.setSingleStep(0.05)
        self.only_selected = QCheckBox("only brushed")
        self.export_button = QPushButton("Export…")
        display = QHBoxLayout()
        for label, w in (("Run", self.run_combo), ("Colour", self.mode_combo),
                         ("Scale", self.scale_combo), ("Opacity", self.opacity),
                         ("Class", self.class_combo), ("Show", self.correct_combo),
                         ("Conf. ≥", self.conf_spin)):
            display.addWidget(plain_label(label))
            display.addWidget(w, 2 if w is self.run_combo else 0)
        display.addWidget(self.only_selected)
        display.addWidget(self.export_button)

        self.summary = plain_label("", wrap=True, selectable=True)
        self.warning = plain_label("", wrap=True)
        self.warning.setStyleSheet("color: #b03a2e; font-weight: bold;")
        self.colorbar = QtColorBar()
        self.gallery = QtAttributionGallery(self.session)
        gallery_page = QWidget()
        gl = QVBoxLayout(gallery_page)
        gl.setContentsMargins(0, 0, 0, 0)
        gl.addWidget(self.warning)
        gl.addWidget(self.summary)
        gl.addWidget(self.colorbar)
        gl.addWidget(self.gallery, 1)

        self.compare_list = QListWidget()
        self.compare_list.setMaximumWidth(300)
        self.grid = QtComparisonGrid()
        grid_scroll = QScrollArea()
        grid_scroll.setWidget(self.grid)
        grid_scroll.setWidgetResizable(True)
        compare_page = QSplitter()
        left = QWidget()
        ll = QVBoxLayout(left)
        ll.setContentsMargins(0, 0, 0, 0)
        ll.addWidget(plain_label("Runs to compare (same dataset):"))
        ll.addWidget(self.compare_list, 1)
        compare_page.addWidget(left)
        compare_page.addWidget(grid_scroll)
        compare_page.setStretchFactor(1, 1)
        self.detail = QtSampleDetail()
        self.sanity_plot = QtSanityPlot()

        self.tabs = QTabWidget()
        self.tabs.addTab(gallery_page, "Gallery")
        self.tabs.addTab(compare_page, "Compare")
        self.tabs.addTab(self.detail, "Sample")
        self.tabs.addTab(self.sanity_plot, "Sanity check")

        top = QHBoxLayout()
        top.addWidget(compute, 3)
        top.addWidget(self.params_box, 1)
        lay = QVBoxLayout(self)
        lay.addLayout(top)
        lay.addLayout(display)
        lay.addWidget(self.tabs, 1)

        self.method_combo.currentIndexChanged.connect(self._on_method_combo_changed)
        self.run_button.clicked.connect(self.start)
        self.cancel_button.clicked.connect(self.cancel)
        self.sanity_button.clicked.connect(self.start_sanity)
        self.run_combo.currentIndexChanged.connect(self._on_run_combo_changed)
        self.mode_combo.currentTextChanged.connect(self._on_display_changed)
        self.scale_combo.currentTextChanged.connect(self._on_display_changed)
        self.opacity.valueChanged.connect(self._on_display_changed)
        for w in (self.class_combo, self.correct_combo):
            w.currentIndexChanged.connect(self.refresh_gallery)
        self.conf_spin.valueChanged.connect(self.refresh_gallery)
        self.only_selected.toggled.connect(self.refresh_gallery)
        self.compare_list.itemChanged.connect(self.refresh_grid)
        self.export_button.clicked.connect(self._on_export_clicked)
        self.gallery.doubleClicked.connect(lambda *_: self.tabs.setCurrentWidget(self.detail))

    # -- workspace and runs -------------------------------------------------------
    def _on_session_workspace_changed(self, ws) -> None:
        self.model_combo.clear()
        self.dataset_combo.clear()
        self.method_combo.blockSignals(True)
        self.method_combo.clear()
        if ws is not None:
            self.model_combo.addItems([m.name for m in ws.models()])
            self.dataset_combo.addItems([d.name for d in ws.datasets()])
            if self.model_combo.findText("cnn") >= 0:
                self.model_combo.setCurrentText("cnn")
        try:
            from plugins.manager import get_manager

            for c in get_manager().contributions("attribution_methods"):
                self.method_combo.addItem(c.title or c.name, c.id)
        except Exception as exc:  # noqa: BLE001 - the view still shows stored runs
            self.session.notify("error", "Attribution methods unavailable", str(exc))
        self.method_combo.blockSignals(False)
        self._on_method_combo_changed()
        self.refresh_runs()

    def _on_session_catalog_changed(self) -> None:
        self.refresh_runs(keep=True)

    def refresh_runs(self, keep: bool = False, select: str | None = None) -> None:
        ws = self.session.workspace
        current = select or (self.run_combo.currentData() if keep else None)
        runs = ws.runs(kind="attribution", status="complete") if ws is not None else []
        self.run_combo.blockSignals(True)
        self.run_combo.clear()
        for r in reversed(runs):
            p = r.params
            self.run_combo.addItem(f"{r.id} · {p.get('method')} · {p.get('model')} · "
                                   f"{r.metrics.get('n_samples', '?')} samples", r.id)
        idx = self.run_combo.findData(current) if current else 0
        self.run_combo.setCurrentIndex(max(idx, 0))
        self.run_combo.blockSignals(False)
        self._fill_compare_list(runs)
        if self.run_combo.count():
            if self.data is None or self.run_combo.currentData() != self.data.run_id:
                self.show_run(self.run_combo.currentData())
        else:
            self.data = None
            self.summary.setText("No attribution runs yet: choose a method and press Run.")

    def _fill_compare_list(self, runs) -> None:
        checked = {self.compare_list.item(i).data(Qt.ItemDataRole.UserRole)
                   for i in range(self.compare_list.count())
                   if self.compare_list.item(i).checkState() == Qt.CheckState.Checked}
        self.compare_list.blockSignals(True)
        self.compare_list.clear()
        for r in reversed(runs):
            item = QListWidgetItem(f"{r.params.get('method')} · {r.params.get('model')}"
                                   f" · {r.id}")
            item.setData(Qt.ItemDataRole.UserRole, r.id)
            item.setFlags(item.flags() | Qt.ItemFlag.ItemIsUserCheckable)
            item.setCheckState(Qt.CheckState.Checked if r.id in checked
                               else Qt.CheckState.Unchecked)
            self.compare_list.addItem(item)
        self.compare_list.blockSignals(False)

    def _on_run_combo_changed(self, *_):
        run_id = self.run_combo.currentData()
        if run_id:
            self.show_run(run_id)

    def show_run(self, run_id: str) -> None:
        from visualizer.samples import split_samples

        ws = self.session.workspace
        self.data = load_attribution(ws, run_id)
        self.samples = split_samples(ws, self.data.dataset, self.data.split)
        self.class_combo.blockSignals(True)
        self.class_combo.clear()
        self.class_combo.addItem("all", None)
        for k, name in enumerate(self.samples.class_names):
            self.class_combo.addItem(name, k)
        self.class_combo.blockSignals(False)
        self._update_summary()
        self._default_comparison()
        self.refresh_gallery()
        self.refresh_grid()
        self.refresh_sanity()
        sid = self.session.selection.hovered_sample
        self.show_detail(sid if sid is not None and self.data.row_of(sid) is not None
                         else int(self.data.sample_index[0]))

    def _update_summary(self) -> None:
        d = self.data
        m = d.metrics

        def f(key):
            v = m.get(key)
            return "—" if v is None else f"{v:.4g}"

        text = (f"{d.title}   samples {m.get('n_samples')}   deletion AUC {f('deletion_auc')} "
                f"(lower is better)   insertion AUC {f('insertion_auc')}   infidelity "
                f"{f('infidelity')}   sensitivity {f('sensitivity')}")
        if "mean_delta" in m:
            text += f"   mean |delta| {f('mean_delta')}"
        text += f"   target {d.params.get('target')}   baseline {d.params.get('baseline')}"
        self.summary.setText(text)
        warnings = []
        if m.get("not_converged"):
            warnings.append(f"⚠ not converged: {m['not_converged']} sample(s) keep a relative "
                            f"delta above 1e-2 after {m.get('max_n_steps')} steps.")
        if m.get("n_nonfinite"):
            warnings.append(f"⚠ {m['n_nonfinite']} non-finite values (shown in green).")
        sanity = latest_sanity(self.session.workspace, d.model, d.method)
        if sanity is not None and not sanity.metrics.get("passed"):
            warnings.append(f"⚠ {d.method} fails the model-randomisation sanity check "
                            f"(ρ = {sanity.metrics.get('final_spearman_abs', 0):.2f}): see "
                            "the Sanity check tab.")
        self.warning.setText("\n".join(warnings))
        self.warning.setVisible(bool(warnings))
        signed = self.options.signed(d)
        scale = "per-sample" if self.options.scale == "sample" else "per-run"
        self.colorbar.set(signed, f"{'signed' if signed else 'absolute'} attribution, "
                                  f"{scale} scale")

    def _default_comparison(self) -> None:
        """Tick the shown run plus the same method on other models and other methods."""
        d = self.data
        ticked = 0
        self.compare_list.blockSignals(True)
        for i in range(self.compare_list.count()):
            item = self.compare_list.item(i)
            item.setCheckState(Qt.CheckState.Unchecked)
        seen = {(d.method, d.model)}
        for i in range(self.compare_list.count()):  # the shown run first
            item = self.compare_list.item(i)
            if item.data(Qt.ItemDataRole.UserRole) == d.run_id:
                item.setCheckState(Qt.CheckState.Checked)
                ticked = 1
        for i in range(self.compare_list.count()):
            item = self.compare_list.item(i)
            run = self.session.workspace.run(item.data(Qt.ItemDataRole.UserRole))
            key = (run.params.get("method"), run.params.get("model"))
            if run.params.get("dataset") != d.dataset or key in seen or ticked >= 5:
                continue
            if key[0] == d.method or key[1] == d.model:
                seen.add(key)
                item.setCheckState(Qt.CheckState.Checked)
                ticked += 1
        self.compare_list.blockSignals(False)

    # -- panels -------------------------------------------------------------------------
    def visible_ids(self) -> np.ndarray:
        d = self.data
        if d is None:
            return np.zeros(0, dtype=np.int64)
        a = d.arrays
        keep = np.ones(len(d.sample_index), dtype=bool)
        cls = self.class_combo.currentData()
        if cls is not None:
            keep &= a["label"] == cls
        mode = self.correct_combo.currentText()
        if mode != "all":
            correct = a["label"] == a["prediction"]
            keep &= correct if mode == "correct" else ~correct
        keep &= a["confidence"] >= self.conf_spin.value()
        if self.only_selected.isChecked():
            keep &= np.isin(d.sample_index, np.asarray(self.session.selection.sample_ids,
                                                        dtype=np.int64))
        return d.sample_index[keep]

    def refresh_gallery(self, *_) -> None:
        if self.data is None or self.samples is None:
            return
        ids = self.visible_ids()
        a, names = self.data.arrays, self.samples.class_names
        captions = []
        for sid in ids:
            r = self.data.row_of(int(sid))
            mark = "✓" if a["label"][r] == a["prediction"][r] else "✗"
            captions.append(f"{names[a['label'][r]]}→{names[a['prediction'][r]]} {mark} "
                            f"{float(a['confidence'][r]):.2f}")
        model = self.gallery.overlay_model
        model.data_ = self.data
        model.options = self.options
        self.gallery.set_samples(ids, self.samples.x, captions, self.samples.input_range)

    def checked_runs(self) -> list[str]:
        return [self.compare_list.item(i).data(Qt.ItemDataRole.UserRole)
                for i in range(self.compare_list.count())
                if self.compare_list.item(i).checkState() == Qt.CheckState.Checked]

    def refresh_grid(self, *_) -> None:
        if self.data is None or self.samples is None:
            return
        ws = self.session.workspace
        columns = []
        for run_id in self.checked_runs():
            try:
                columns.append(self.data if run_id == self.data.run_id
                               else load_attribution(ws, run_id))
            except Exception as exc:  # noqa: BLE001 - a damaged run costs its column only
                self.session.notify("warning", f"Cannot show run {run_id}", str(exc))
        ids = [int(s) for s in self.visible_ids()[:8]]
        names = self.samples.class_names
        captions = {sid: f"#{sid}\nlabel {names[self.samples.y[sid]]}" for sid in ids}
        self.grid.options = self.options
        self.grid.set(columns, ids, self.samples.x, self.samples.input_range, captions)

    def refresh_sanity(self) -> None:
        d = self.data
        run = latest_sanity(self.session.workspace, d.model, d.method) if d else None
        self.sanity_plot.set_sanity(load_sanity(self.session.workspace, run.id)
                                    if run is not None else None)

    def show_detail(self, sid: int | None) -> None:
        if sid is None or self.data is None or self.samples is None:
            return
        self.detail.show_sample(self.data, int(sid), self.samples.x[int(sid)], self.options,
                                self.samples.input_range, self.samples.class_names)

    def _on_display_changed(self, *_):
        self.options.mode = self.mode_combo.currentText()
        self.options.scale = "sample" if self.scale_combo.currentIndex() == 0 else "run"
        self.options.opacity = self.opacity.value() / 100
        if self.data is not None:
            self._update_summary()
            self.gallery.overlay_model.redraw()
            self.grid.update()
            self.show_detail(self.session.selection.hovered_sample
                             if self.session.selection.hovered_sample is not None
                             else int(self.data.sample_index[0]))

    def _on_selection_hovered_sample_changed(self, sid) -> None:
        self.show_detail(sid)

    def _on_selection_sample_ids_changed(self, ids) -> None:
        if self.only_selected.isChecked():
            self.refresh_gallery()
            self.refresh_grid()

    # -- method form --------------------------------------------------------------------
    def method_spec(self):
        from plugins.manager import get_manager

        cid = self.method_combo.currentData()
        if not cid:
            return None
        manager = get_manager()
        return manager.load(manager.get("attribution_methods", cid)).spec

    def _on_method_combo_changed(self, *_):
        while self.params_form.rowCount():
            self.params_form.removeRow(0)
        self._param_widgets = {}
        try:
            spec = self.method_spec()
        except Exception as exc:  # noqa: BLE001 - a broken plugin: say so, keep going
            self.status.setText(f"cannot load this method: {exc}")
            return
        if spec is None:
            return
        for p in spec.params:
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
            self._param_widgets[p.name] = w
            self.params_form.addRow(plain_label(p.name.replace("_", " ")), w)
        if not spec.params:
            self.params_form.addRow(plain_label("no parameters"))
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

    def param_values(self) -> dict:
        values = {}
        for name, w in self._param_widgets.items():
            if isinstance(w, QSpinBox | QDoubleSpinBox):
                values[name] = w.value()
            elif isinstance(w, QCheckBox):
                values[name] = w.isChecked()
            else:
                values[name] = w.currentText()
        return values

    # -- jobs ----------------------------------------------------------------------------
    def request(self):
        from visualizer.analysis.attribution.api import build_request

        spec = self.method_spec()
        options = dict(limit=self.limit_spin.value(), target=self.target_combo.currentText(),
                       baseline=self.baseline_combo.currentText(),
                       layer=(self.layer_combo.currentText() or None) if spec.layer else None,
                       smooth=None if self.smooth_combo.currentText() == "none"
                       or not spec.gradient else self.smooth_combo.currentText())
        if self.use_selection.isChecked() and self.session.selection.sample_ids:
            options["sample_ids"] = list(self.session.selection.sample_ids)
        return build_request(self.session.workspace, self.model_combo.currentText(),
                             self.dataset_combo.currentText(),
                             self.method_combo.currentData(), params=self.param_values(),
                             **options)

    def start(self):
        from visualizer.analysis.attribution.job import attribute_job

        return self._submit(attribute_job, self.request(),
                            f"attribution {self.method_combo.currentText()}")

    def start_sanity(self):
        from visualizer.analysis.attribution.sanity import SanityRequest, sanity_job

        request = SanityRequest.from_attribute(self.request(), n_samples=8)
        return self._submit(sanity_job, request,
                            f"sanity check {self.method_combo.currentText()}")

    def _submit(self, fn, request, name):
        if self.job is not None and not self.job.state.finished:
            self.job.cancel()  # a new request for this view replaces the old one
        job = self.runner.submit(fn, request, name=name, on_done=self._on_job_done,
                                 on_failed=self._on_job_failed)
        self.job = job
        bridge = self.runner.bridge(job)
        if bridge is not None:
            bridge.progressed.connect(self._on_job_progressed)
            bridge.status_changed.connect(self.status.setText)
            bridge.partial_arrived.connect(self._on_job_partial)
            bridge.state_changed.connect(self._on_job_state_changed)
        self.cancel_button.setEnabled(True)
        self.progress.setRange(0, 0)
        return job

    def cancel(self) -> None:
        if self.job is not None:
            self.job.cancel()

    def _on_job_progressed(self, done, total) -> None:
        if total:
            self.progress.setRange(0, int(total))
            self.progress.setValue(int(done))

    def _on_job_partial(self, obj) -> None:
        if not isinstance(obj, dict) or obj.get("stage") != "coarse" or self.samples is None:
            return
        model = self.gallery.overlay_model
        model.data_ = None
        model.preview = {int(s): m for s, m in zip(obj["sample_index"], obj["attributions"],
                                                     strict=False)}
        ids = np.asarray(obj["sample_index"])
        self.gallery.set_samples(ids, self.samples.x, [f"{i} (preview)" for i in ids],
                                 self.samples.input_range)
        self.status.setText("coarse preview (8 steps); computing the full maps…")

    def _on_job_state_changed(self, state) -> None:
        if state.finished:
            self.cancel_button.setEnabled(False)
            self.progress.setRange(0, 1)
            self.progress.setValue(1 if state.value == "done" else 0)
            if state.value == "cancelled":
                self.status.setText("cancelled")
                self.gallery.overlay_model.preview = {}
                self.refresh_gallery()

    def _on_job_done(self, job) -> None:
        self.session.catalog_changed.emit()
        self.gallery.overlay_model.preview = {}
        run = self.session.workspace.run(job.result)
        if run.kind == "sanity":
            self.status.setText(f"sanity check {run.id}: "
                                f"{'passed' if run.metrics.get('passed') else 'FAILED'}")
            if self.data is not None:
                self._update_summary()
                self.refresh_sanity()
            self.tabs.setCurrentWidget(self.sanity_plot)
            return
        self.status.setText(f"{run.id} done in {run.metrics.get('seconds')} s")
        self.refresh_runs(select=run.id)
        self.show_run(run.id)

    def _on_job_failed(self, job) -> None:
        self.status.setText(f"failed: {job.error}")
        self.session.notify("error", f"{job.name} failed", str(job.error),
                            details=job.error.traceback if job.error else "")

    # -- export --------------------------------------------------------------------------
    def current_panel(self) -> QWidget:
        page = self.tabs.currentWidget()
        if page is not None and isinstance(page, QSplitter):
            return self.grid
        return page

    def set_tab(self, name: str) -> None:
        self.tabs.setCurrentIndex(TABS.index(name))

    def export(self, path: str | Path) -> Path:
        from widgets.attribution.render import export_widget

        return export_widget(self.current_panel(), Path(path))

    def _on_export_clicked(self) -> None:
        from widgets.qt_dialogs import last_dir

        path, _ = QFileDialog.getSaveFileName(self, "Export view", last_dir(),
                                              "PNG image (*.png);;SVG drawing (*.svg)")
        if path:
            if not path.lower().endswith((".png", ".svg")):
                path += ".png"
            self.status.setText(f"exported {self.export(path)}")
