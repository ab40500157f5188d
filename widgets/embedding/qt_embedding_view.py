"""The Embedding tab: pick an activation run, a layer and a method; see a PCA picture at
once and the UMAP layout arrive; brush points to select samples in every view.

Work happens in jobs: the stored projection, the source run's labels and thumbnails and
the nearest neighbours load on worker threads; UMAP and t-SNE run in a worker process
(Cancel stops it) and stream intermediate layouts. Results of a job that is no longer
the current one are dropped.
"""

from __future__ import annotations

import os

import numpy as np
from PySide6.QtCore import Qt, QTimer
from PySide6.QtGui import QKeySequence, QShortcut
from PySide6.QtWidgets import (
    QButtonGroup,
    QComboBox,
    QFileDialog,
    QHBoxLayout,
    QMenu,
    QProgressBar,
    QPushButton,
    QSplitter,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from widgets._gui_thread import connect_model
from widgets.embedding.colouring import colouring_for
from widgets.embedding.data import (
    ContextRequest,
    Layout,
    LayoutRequest,
    load_context,
    load_layout,
    projection_label,
)
from widgets.embedding.qt_params_form import QtParamsForm
from widgets.embedding.qt_scatter import QtScatterPlot
from widgets.embedding.qt_side_panel import QtSidePanel
from widgets.embedding.state import COLOUR_MODES, COLOUR_TITLES, EmbeddingViewState
from widgets.qt_text import plain_label

MAX_ARROWS = 2000
HINT = "Pick an activation run and a layer, then press Project (PCA shows at once; " \
       "UMAP layouts stream in)."


def default_layer(layers: list[str]) -> str | None:
    """The penultimate layer (the last one before the logits), a common embedding choice."""
    if not layers:
        return None
    return layers[-2] if len(layers) >= 2 else layers[-1]


class QtEmbeddingView(QWidget):
    warm_up_delay_ms: int | None = 4000  # None: never warm numba from this view

    def __init__(self, session, runner, parent=None):
        super().__init__(parent)
        self.session = session
        self.runner = runner
        self.state = EmbeddingViewState()
        self._contexts: dict[str, object] = {}
        self.layout_a: Layout | None = None
        self.layout_b: Layout | None = None
        self._alignment = None
        self._job = None  # the projection job whose partials/results we want
        self._load_job = None
        self._nn_job = None
        self._nn_sample: int | None = None
        self._hover_echo: int | None = None
        self._updating = False
        self._build()
        self._selection_timer = QTimer(self, singleShot=True, interval=40)
        self._selection_timer.timeout.connect(self._show_selection)
        sel = session.selection
        connect_model(self, sel.events.run_id, self._on_selection_run_id_changed, nargs=1)
        connect_model(self, sel.events.layer, self._on_selection_layer_changed, nargs=1)
        connect_model(self, sel.events.sample_ids, lambda *_: self._selection_timer.start())
        connect_model(self, sel.events.hovered_sample,
                      self._on_selection_hovered_sample_changed, nargs=1)
        connect_model(self, session.workspace_changed, self._on_session_workspace_changed,
                      nargs=1)
        connect_model(self, session.catalog_changed, self._on_session_catalog_changed)
        self._on_session_workspace_changed(session.workspace)
        if self.warm_up_delay_ms is not None and not os.environ.get("DEEPSCOPE_NO_WARMUP"):
            QTimer.singleShot(self.warm_up_delay_ms, self, self._warm_up)  # dies with the view

    # -- layout of the widget ------------------------------------------------------------
    def _build(self) -> None:
        self.run_combo = QComboBox()
        self.run_combo.setMinimumContentsLength(18)
        self.run_combo.setToolTip("Activation run to project")
        self.layer_combo = QComboBox()
        self.layer_combo.setMinimumContentsLength(10)
        self.method_combo = QComboBox()
        for name, title in (("umap", "UMAP"), ("pca", "PCA"), ("tsne", "t-SNE")):
            self.method_combo.addItem(title, name)
        self._add_plugin_methods()
        self.project_button = QPushButton("Project")
        self.project_button.setDefault(True)
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.setEnabled(False)
        self.progress = QProgressBar()
        self.progress.setMaximumWidth(160)
        self.progress.setTextVisible(False)
        self.progress.hide()
        self.status = plain_label("")
        self.params = QtParamsForm()

        self.shown_combo = QComboBox()
        self.shown_combo.setMinimumContentsLength(28)
        self.shown_combo.setToolTip("Stored projections of this dataset")
        self.colour_combo = QComboBox()
        self.colour_combo.setMinimumContentsLength(16)
        self.compare_combo = QComboBox()
        self.compare_combo.setMinimumContentsLength(28)
        self.compare_combo.setToolTip("A second projection of the same samples (another "
                                      "layer or model), aligned to the first by Procrustes")
        self.mode_group = QButtonGroup(self)
        mode_row = QHBoxLayout()
        for mode, text, key in (("pan", "Pan", "P"), ("lasso", "Lasso", "L"),
                                ("box", "Box", "B")):
            button = QToolButton()
            button.setText(text)
            button.setCheckable(True)
            button.setToolTip(f"{text} ({key}); Shift adds to the selection, Ctrl removes")
            button.setChecked(mode == "pan")
            self.mode_group.addButton(button)
            button.mode = mode
            mode_row.addWidget(button)
            QShortcut(QKeySequence(key), self, activated=lambda m=mode: self.set_mode(m))
        QShortcut(QKeySequence(Qt.Key.Key_Escape), self, activated=self._clear_selection)
        self.mode_group.buttonClicked.connect(lambda b: self.set_mode(b.mode))
        self.fit_button = QToolButton()
        self.fit_button.setText("Fit")
        self.fit_button.setToolTip("Show all points")
        self.export_button = QToolButton()
        self.export_button.setText("Export")
        self.export_button.setPopupMode(QToolButton.ToolButtonPopupMode.InstantPopup)
        menu = QMenu(self.export_button)
        menu.addAction("PNG…", lambda: self._export("png"))
        menu.addAction("SVG…", lambda: self._export("svg"))
        self.export_button.setMenu(menu)

        row1 = QHBoxLayout()
        for label, w in (("Run", self.run_combo), ("Layer", self.layer_combo),
                         ("Method", self.method_combo)):
            row1.addWidget(plain_label(label))
            row1.addWidget(w)
        row1.addWidget(self.project_button)
        row1.addWidget(self.cancel_button)
        row1.addWidget(self.progress)
        row1.addWidget(self.status, 1)
        row2 = QHBoxLayout()
        row2.addWidget(plain_label("Parameters"))
        row2.addWidget(self.params, 1)
        row3 = QHBoxLayout()
        row3.addWidget(plain_label("Show"))
        row3.addWidget(self.shown_combo, 2)
        row3.addWidget(plain_label("Colour by"))
        row3.addWidget(self.colour_combo, 1)
        row3.addWidget(plain_label("Compare with"))
        row3.addWidget(self.compare_combo, 2)
        row3.addLayout(mode_row)
        row3.addWidget(self.fit_button)
        row3.addWidget(self.export_button)

        self.title = plain_label(HINT)
        self.title.setStyleSheet("font-weight: 600; padding: 2px;")
        self.scatter = QtScatterPlot()
        self.compare = QtScatterPlot(legend=False)
        self.compare_title = plain_label("")
        self.compare_title.setStyleSheet("font-weight: 600; padding: 2px;")
        a = QWidget()
        la = QVBoxLayout(a)
        la.setContentsMargins(0, 0, 0, 0)
        la.addWidget(self.title)
        la.addWidget(self.scatter, 1)
        self.compare_pane = QWidget()
        lb = QVBoxLayout(self.compare_pane)
        lb.setContentsMargins(0, 0, 0, 0)
        lb.addWidget(self.compare_title)
        lb.addWidget(self.compare, 1)
        self.compare_pane.hide()
        self.plots = QSplitter(Qt.Orientation.Horizontal)
        self.plots.addWidget(a)
        self.plots.addWidget(self.compare_pane)
        self.side = QtSidePanel(self.session)
        self.splitter = QSplitter(Qt.Orientation.Horizontal)
        self.splitter.addWidget(self.plots)
        self.splitter.addWidget(self.side)
        self.splitter.setStretchFactor(0, 4)
        self.splitter.setStretchFactor(1, 1)
        self.splitter.setSizes([900, 320])

        lay = QVBoxLayout(self)
        lay.setContentsMargins(4, 4, 4, 4)
        lay.addLayout(row1)
        lay.addLayout(row2)
        lay.addLayout(row3)
        lay.addWidget(self.splitter, 1)

        self.run_combo.currentIndexChanged.connect(self._on_run_combo_changed)
        self.layer_combo.currentIndexChanged.connect(self._on_layer_combo_changed)
        self.method_combo.currentIndexChanged.connect(self._on_method_combo_changed)
        self.project_button.clicked.connect(self.project)
        self.cancel_button.clicked.connect(self.cancel)
        self.shown_combo.activated.connect(self._on_shown_combo_activated)
        self.colour_combo.currentIndexChanged.connect(self._on_colour_combo_changed)
        self.compare_combo.activated.connect(self._on_compare_combo_activated)
        self.fit_button.clicked.connect(self.scatter.fit_view)
        for plot in (self.scatter, self.compare):
            plot.selection_made.connect(self._on_scatter_selection_made)
            plot.hovered.connect(self._on_scatter_hovered)
            plot.clicked.connect(self._on_scatter_clicked)
        self.scatter.hidden_changed.connect(self._on_scatter_hidden_changed)
        self.side.export_requested.connect(self._export_selection)
        self.side.clear_requested.connect(self._clear_selection)
        self.side.neighbours_k_changed.connect(lambda _: self._request_neighbours(
            self._nn_sample))
        self.side.neighbours.sample_clicked.connect(self._request_neighbours)
        self.side.gallery.sample_clicked.connect(self._request_neighbours)
        self._on_method_combo_changed()
        self._fill_colour_combo()
        self.side.show_selection(None, np.zeros(0, np.int64))

    def _add_plugin_methods(self) -> None:
        try:
            from plugins.manager import get_manager

            for c in get_manager().contributions("projection_methods"):
                if c.name not in ("umap", "pca", "tsne"):
                    self.method_combo.addItem(c.title or c.id, c.id)
        except Exception:  # noqa: BLE001 - the built-ins still work
            pass

    # -- session → view ----------------------------------------------------------------
    @property
    def ws(self):
        return self.session.workspace

    def _on_session_workspace_changed(self, ws) -> None:
        self._contexts.clear()
        self.layout_a = self.layout_b = None
        self.scatter.set_points(np.zeros((0, 2)), np.zeros(0))
        self.compare_pane.hide()
        self.title.setText(HINT)
        self._fill_run_combo()
        self._fill_projection_combos()

    def _on_session_catalog_changed(self) -> None:
        self._fill_run_combo()
        self._fill_projection_combos()

    def _fill_run_combo(self) -> None:
        self._updating = True
        try:
            current = self.state.source_run
            self.run_combo.clear()
            runs = self.ws.runs(kind="activations", status="complete") if self.ws else []
            for run in runs:
                self.run_combo.addItem(f"{run.params.get('model', '?')} · "
                                       f"{run.params.get('dataset', '?')} · {run.id}", run.id)
            want = current or self.session.selection.run_id
            index = self.run_combo.findData(want) if want else -1
            if index < 0 and runs:
                index = len(runs) - 1
            self.run_combo.setCurrentIndex(index)
        finally:
            self._updating = False
        run_id = self.run_combo.currentData()
        if run_id and run_id != self.state.source_run:
            self._set_source(run_id)

    def _on_selection_run_id_changed(self, run_id) -> None:
        index = self.run_combo.findData(run_id) if run_id else -1
        if index >= 0 and run_id != self.state.source_run:
            self._updating = True
            self.run_combo.setCurrentIndex(index)
            self._updating = False
            self._set_source(run_id)

    def _on_selection_layer_changed(self, layer) -> None:
        index = self.layer_combo.findText(layer) if layer else -1
        if index >= 0 and layer != self.state.layer:
            self.layer_combo.setCurrentIndex(index)

    def _on_run_combo_changed(self, _index: int) -> None:
        if self._updating:
            return
        run_id = self.run_combo.currentData()
        if run_id:
            self._set_source(run_id)
            if self.session.selection.run_id != run_id:
                self.session.selection.run_id = run_id

    def _set_source(self, run_id: str) -> None:
        self.state.source_run = run_id
        try:
            run = self.ws.run(run_id)
        except Exception:  # noqa: BLE001 - a deleted run: nothing to show
            return
        layers = list(run.params.get("layers", []))
        self._updating = True
        try:
            self.layer_combo.clear()
            self.layer_combo.addItems(layers)
            want = self.session.selection.layer
            layer = want if want in layers else default_layer(layers)
            if layer:
                self.layer_combo.setCurrentText(layer)
            self.state.layer = layer
        finally:
            self._updating = False
        self._ensure_context(run_id)
        self._show_stored_for_current()

    def _on_layer_combo_changed(self, _index: int) -> None:
        if self._updating:
            return
        self.state.layer = self.layer_combo.currentText() or None
        if self.state.layer and self.session.selection.layer != self.state.layer:
            self.session.selection.layer = self.state.layer
        self._show_stored_for_current()

    def _on_method_combo_changed(self, *_):
        self.state.method = self.method_combo.currentData() or "umap"
        try:
            from visualizer.analysis.projection.job import resolve_method

            _, method = resolve_method(self.state.method)
            self.params.set_params(method.params)
        except Exception as exc:  # noqa: BLE001 - a broken plugin: say so, keep going
            self.params.set_params(None)
            self.status.setText(f"method unavailable: {exc}")

    # -- contexts and stored layouts ------------------------------------------------------
    def _ensure_context(self, run_id: str, then=None) -> None:
        if run_id in self._contexts:
            if then is not None:
                then(self._contexts[run_id])
            return

        def done(job):
            self._contexts[run_id] = job.result
            if run_id == self.state.source_run:
                self._fill_colour_combo()
            if then is not None:
                then(job.result)

        self.runner.submit(load_context, ContextRequest(str(self.ws.root), run_id),
                           name="Load samples for the embedding", on_done=done)

    def _show_stored_for_current(self) -> None:
        """The newest stored projection of the current run and layer (this method first)."""
        if self.ws is None or not self.state.source_run or not self.state.layer:
            return
        from visualizer.analysis.projection.storage import projections_of

        runs = [r for r in projections_of(self.ws)
                if r.params.get("source_run") == self.state.source_run
                and r.params.get("layer") == self.state.layer]
        runs.sort(key=lambda r: (r.params.get("method") == self.state.method,
                                 r.record.created_at))
        if runs:
            self.show_projection(runs[-1].id)
        else:
            self.layout_a = None
            self.scatter.set_points(np.zeros((0, 2)), np.zeros(0))
            self.title.setText(f"No projection of {self.state.layer} yet — press Project.")
            self._select_combo(self.shown_combo, None)

    def show_projection(self, run_id: str, *, then=None) -> None:
        """Load a stored projection and show it (on a worker thread)."""
        def done(job):
            if job is not self._load_job:
                return
            layout = job.result
            self._contexts.setdefault(layout.context.run_id, layout.context)
            self._show_layout(layout, fit=True)
            if then is not None:
                then(layout)

        self._load_job = self.runner.submit(
            load_layout, LayoutRequest(str(self.ws.root), run_id), name="Load projection",
            on_done=done)

    def _show_layout(self, layout: Layout, *, fit: bool) -> None:
        previous = self.layout_a
        self.layout_a = layout
        if layout.context.run_id != self.state.source_run:
            self.state.source_run = layout.context.run_id
            self._updating = True
            index = self.run_combo.findData(layout.context.run_id)
            if index >= 0:
                self.run_combo.setCurrentIndex(index)
            self._updating = False
        if layout.run_id:
            self.state.projection = layout.run_id
            self._select_combo(self.shown_combo, layout.run_id)
        if previous is None or previous.context is not layout.context:
            self._fill_colour_combo()
        fit = fit or not self.scatter.user_moved or previous is None \
            or previous.stage != layout.stage
        self.scatter.set_points(layout.coords, layout.ids, self._colouring(layout),
                                fit=fit, preview=layout.stage != "final")
        self._set_title()
        self._show_selection()
        if self.layout_b is not None:
            self._align_compare()

    def _set_title(self) -> None:
        layout = self.layout_a
        if layout is None:
            return
        trust = layout.metrics.get("trustworthiness_k10")
        extra = f" · trustworthiness {trust:.3f}" if trust is not None else ""
        n = f"{len(layout.ids):,} samples"
        self.title.setText(f"{layout.title} · {n}{extra}")

    def _colouring(self, layout: Layout, model_index: int = 0):
        return colouring_for(layout, self.state.colour, self.ws, model_index)

    # -- projecting --------------------------------------------------------------------
    def project(self, *, force: bool = False) -> None:
        """Project the current run/layer with the current method and parameters."""
        from visualizer.analysis.projection.api import request_for
        from visualizer.analysis.projection.job import preview_layout, project_job
        from visualizer.analysis.projection.storage import find_stored
        from visualizer.errors import DeepScopeError

        if self.ws is None or not self.state.source_run or not self.state.layer:
            self.status.setText("Pick an activation run and a layer first.")
            return
        try:
            request, method_id, params = request_for(
                self.ws, self.state.source_run, self.state.layer, self.state.method,
                **self.params.values())
        except DeepScopeError as exc:
            self.status.setText(str(exc))
            return
        stored = None if force else find_stored(self.ws, self.state.source_run,
                                                self.state.layer, method_id, params)
        if stored is not None:
            self.status.setText(f"Stored projection {stored.id} (same inputs) reused.")
            self.show_projection(stored.id)
            return
        self.cancel()
        _, method = _resolve(self.state.method)
        context_run = self.state.source_run
        name = f"{method.title.split(' ')[0]} of {self.state.layer}"

        def on_preview(job):
            if self._job is None or job.request_token != self._job.id:
                return
            partial = job.result
            self._ensure_context(context_run, lambda ctx: self._on_partial_layout(
                partial, token=job.request_token))

        self._job = self.runner.submit(
            project_job, request, name=name, on_done=self._on_project_done,
            on_failed=self._on_project_failed,
            process="warm" if method.in_process else False)
        token = self._job.id
        bridge = self.runner.bridge(self._job)
        if bridge is not None:
            bridge.partial_arrived.connect(lambda p, t=token: self._on_partial_layout(p, t))
            bridge.status_changed.connect(lambda text, t=token: self._on_job_status(text, t))
            bridge.progressed.connect(lambda d, tot, t=token: self._on_job_progress(d, tot, t))
        if method.in_process or method.name != "pca":
            preview = self.runner.submit(preview_layout, request, name="PCA preview",
                                         on_done=on_preview)
            preview.request_token = token
        self.cancel_button.setEnabled(True)
        self.project_button.setEnabled(False)
        self.progress.setRange(0, 0)
        self.progress.show()
        self.status.setText(f"{name}: started")

    def cancel(self) -> None:
        job, self._job = self._job, None
        if job is not None and not job.state.finished:
            job.cancel()
            self.status.setText("Cancelled.")
        self._job_ended()

    def _job_ended(self) -> None:
        self.cancel_button.setEnabled(False)
        self.project_button.setEnabled(True)
        self.progress.hide()

    def _on_job_status(self, text: str, token: int) -> None:
        if self._job is not None and self._job.id == token:
            self.status.setText(text)

    def _on_job_progress(self, done: float, total, token: int) -> None:
        if self._job is not None and self._job.id == token and total:
            self.progress.setRange(0, 1000)
            self.progress.setValue(int(1000 * done / total))

    def _on_partial_layout(self, partial, token: int) -> None:
        if self._job is None or self._job.id != token:
            return  # a stale job's layout
        context = self._contexts.get(self.state.source_run)
        if context is None:
            return  # labels not loaded yet: the next partial will show
        if self.layout_a is not None and self.layout_a.stage == "layout" \
                and partial.stage == "preview":
            return  # UMAP already overtook the preview
        layout = Layout(partial.coords, partial.sample_index, context, None,
                        partial.method or self.state.method, self.state.layer or "",
                        stage=partial.stage, done=partial.done, total=partial.total)
        self._show_layout(layout, fit=False)

    def _on_project_done(self, job) -> None:
        if self._job is not job:
            return
        self._job = None
        self._job_ended()
        self.status.setText(f"Stored as {job.result}.")
        self.session.catalog_changed.emit()
        self.show_projection(job.result)

    def _on_project_failed(self, job) -> None:
        if self._job is not job:
            return
        self._job = None
        self._job_ended()
        self.status.setText(f"Failed: {job.error}")
        from widgets.qt_job_runner import notify_failure

        notify_failure(self.session.notify, job)

    # -- combos ------------------------------------------------------------------------
    def _fill_projection_combos(self) -> None:
        from visualizer.analysis.projection.storage import projections_of

        runs = projections_of(self.ws) if self.ws is not None else []
        for combo, none_text in ((self.shown_combo, None),
                                 (self.compare_combo, "— no comparison —")):
            current = combo.currentData()
            combo.blockSignals(True)
            combo.clear()
            if none_text:
                combo.addItem(none_text, None)
            for run in reversed(runs):
                combo.addItem(projection_label(run), run.id)
            self._select_combo(combo, current)
            combo.blockSignals(False)

    @staticmethod
    def _select_combo(combo: QComboBox, data) -> None:
        index = combo.findData(data) if data is not None else -1
        combo.blockSignals(True)
        combo.setCurrentIndex(index if index >= 0 else (0 if combo.count() and
                                                          combo.itemData(0) is None else -1))
        combo.blockSignals(False)

    def _on_shown_combo_activated(self, _index: int) -> None:
        run_id = self.shown_combo.currentData()
        if run_id:
            self.show_projection(run_id)

    def _fill_colour_combo(self) -> None:
        context = self._contexts.get(self.state.source_run) if self.state.source_run else None
        if self.layout_a is not None:
            context = self.layout_a.context
        self.colour_combo.blockSignals(True)
        self.colour_combo.clear()
        for mode in COLOUR_MODES:
            self.colour_combo.addItem(COLOUR_TITLES[mode], mode)
        for source in (context.sources if context is not None else []):
            self.colour_combo.addItem(source.title, source.key)
        index = self.colour_combo.findData(self.state.colour)
        if index < 0:
            self.state.colour = "label"
            index = 0
        self.colour_combo.setCurrentIndex(index)
        self.colour_combo.blockSignals(False)

    def _on_colour_combo_changed(self, _index: int) -> None:
        self.state.colour = self.colour_combo.currentData() or "label"
        self.recolour()

    def set_colour(self, mode: str) -> None:
        index = self.colour_combo.findData(mode)
        if index < 0:
            raise ValueError(f"no colour mode {mode!r}")
        self.colour_combo.setCurrentIndex(index)

    def recolour(self) -> None:
        if self.layout_a is not None:
            self.scatter.set_colouring(self._colouring(self.layout_a))
        if self.layout_b is not None:
            self.compare.set_colouring(self._colouring(self.layout_b, 1))
            self.compare.set_hidden(self.scatter.hidden)

    def _on_scatter_hidden_changed(self, hidden) -> None:
        self.state.hidden = tuple(sorted(hidden))
        if self.layout_b is not None:
            self.compare.set_hidden(hidden)

    # -- comparison --------------------------------------------------------------------
    def _on_compare_combo_activated(self, _index: int) -> None:
        self.set_compare(self.compare_combo.currentData())

    def set_compare(self, run_id: str | None) -> None:
        """Show projection ``run_id`` beside the current one, aligned to it (None: hide)."""
        self.state.compare = run_id
        self._select_combo(self.compare_combo, run_id)
        if not run_id:
            self.layout_b = None
            self.compare_pane.hide()
            self.compare.setXLink(None)
            self.compare.setYLink(None)
            return

        def done(job):
            if self.state.compare != run_id:
                return
            self.layout_b = job.result
            self._align_compare()

        self.runner.submit(load_layout, LayoutRequest(str(self.ws.root), run_id),
                           name="Load projection to compare", on_done=done)

    def _align_compare(self) -> None:
        from visualizer.analysis.projection.align import align_by_ids

        a, b = self.layout_a, self.layout_b
        if a is None or b is None:
            return
        alignment = align_by_ids(a.ids, a.coords, b.ids, b.coords)
        self._alignment = alignment
        aligned = alignment.apply(b.coords)
        self.compare_pane.show()
        self.compare.set_points(aligned, b.ids, self._colouring(b, 1), fit=False)
        self.compare.set_hidden(self.scatter.hidden)
        self.compare.setXLink(self.scatter)
        self.compare.setYLink(self.scatter)
        angle = np.degrees(np.arctan2(alignment.rotation[0, 1], alignment.rotation[0, 0]))
        self.compare_title.setText(
            f"{b.title} · aligned: rotation {angle:.0f}°"
            f"{' (mirrored)' if alignment.reflected else ''}, scale {alignment.scale:.2g}, "
            f"disparity {alignment.disparity:.2f} over {alignment.n_common:,} samples")
        self._show_selection()

    # -- selection, hover, neighbours ----------------------------------------------------
    def set_mode(self, mode: str) -> None:
        self.state.mode = mode
        for plot in (self.scatter, self.compare):
            plot.set_mode(mode)
        for button in self.mode_group.buttons():
            button.setChecked(button.mode == mode)

    def _on_scatter_selection_made(self, ids: np.ndarray, op: str) -> None:
        current = np.asarray(self.session.selection.sample_ids, dtype=np.int64)
        if op == "add":
            ids = np.union1d(current, ids)
        elif op == "remove":
            ids = np.setdiff1d(current, ids)
        self.session.selection.sample_ids = tuple(int(i) for i in np.unique(ids))

    def _clear_selection(self) -> None:
        self.session.selection.sample_ids = ()

    def _show_selection(self) -> None:
        self._selection_timer.stop()
        ids = np.asarray(self.session.selection.sample_ids, dtype=np.int64)
        self.scatter.set_selected(ids)
        context = self.layout_a.context if self.layout_a is not None else None
        self.side.show_selection(context, ids)
        if self.layout_b is not None:
            self.compare.set_selected(ids)
            common = np.intersect1d(ids, self.layout_b.ids)[:MAX_ARROWS]
            common = np.intersect1d(common, self.layout_a.ids if self.layout_a else [])
            self.compare.set_arrows(self.scatter.coords_of(common),
                                    self.compare.coords_of(common))

    def _on_scatter_hovered(self, sid) -> None:
        context = self.layout_a.context if self.layout_a is not None else None
        self.side.hover.show_sample(context, sid)
        if sid is not None:
            self._hover_echo = sid
            self.session.selection.hovered_sample = sid

    def _on_selection_hovered_sample_changed(self, sid) -> None:
        if sid is None or sid == self._hover_echo or self.layout_a is None:
            return
        self.side.hover.show_sample(self.layout_a.context, sid)

    def _on_scatter_clicked(self, sid: int) -> None:
        self._request_neighbours(sid)

    def _request_neighbours(self, sid) -> None:
        from visualizer.analysis.projection.neighbors import NeighborsRequest, nearest_neighbors

        layout = self.layout_a
        if sid is None or layout is None or self.ws is None:
            return
        self._nn_sample = int(sid)
        request = NeighborsRequest(str(self.ws.root), layout.context.run_id, layout.layer,
                                   int(sid), k=self.side.k_spin.value())

        def done(job):
            if job is not self._nn_job or self.layout_a is not layout:
                return
            result = job.result
            self.side.show_neighbours(layout.context, result, layout.layer)
            self.scatter.set_highlight(np.concatenate([[result.sample_id], result.ids]))

        self._nn_job = self.runner.submit(nearest_neighbors, request,
                                          name="Nearest neighbours", on_done=done)

    # -- export ------------------------------------------------------------------------
    def export_image(self, path) -> object:
        from widgets.embedding.export import export_widget

        target = self.plots if self.layout_b is not None else self.scatter
        return export_widget(target, path)

    def _export(self, kind: str) -> None:
        from widgets.qt_dialogs import last_dir, remember_dir

        path, _ = QFileDialog.getSaveFileName(self, f"Export the embedding as {kind.upper()}",
                                              str(last_dir()), f"{kind.upper()} (*.{kind})")
        if not path:
            return
        if not path.lower().endswith(f".{kind}"):
            path += f".{kind}"
        try:
            out = self.export_image(path)
        except Exception as exc:  # noqa: BLE001 - shown to the user, not raised
            self.session.notify("error", "Export failed", f"{type(exc).__name__}: {exc}")
            return
        from pathlib import Path

        remember_dir(str(Path(path).parent))
        self.session.notify("info", "Embedding exported", str(out))

    def _export_selection(self) -> None:
        from pathlib import Path

        from widgets.qt_dialogs import last_dir

        path, _ = QFileDialog.getSaveFileName(self, "Export the selected samples",
                                              str(last_dir()), "CSV (*.csv)")
        if path:
            out = export_selection_csv(self.layout_a, self.session.selection.sample_ids, path)
            self.session.notify("info", "Selection exported", str(Path(out)))

    # -- start-up ------------------------------------------------------------------------
    def _warm_up(self) -> None:
        """Start the warm worker that UMAP and t-SNE run in, and compile numba code there.

        Compiled code lives in a process (pynndescent's cannot be cached on disk), so
        the warm-up runs in the same long-lived worker the projections will use.
        """
        from visualizer.analysis.projection.numba_cache import WarmUpRequest, warm_up

        self.runner.add_warm_up(warm_up, WarmUpRequest(force=True),
                                "Prepare UMAP (background, once per start)")


def _resolve(name: str):
    from visualizer.analysis.projection.job import resolve_method

    return resolve_method(name)


def export_selection_csv(layout, ids, path) -> str:
    """Write ``sample_id,label,prediction,confidence`` rows for ``ids`` (atomically)."""
    import csv
    import io

    from visualizer.workspace.atomic import atomic_write_text

    ids = np.asarray(ids, dtype=np.int64)
    buf = io.StringIO()
    writer = csv.writer(buf)
    writer.writerow(["sample_id", "label", "prediction", "confidence"])
    context = layout.context if layout is not None else None
    cols = [context.values_at(name, ids) if context is not None else None
            for name in ("label", "prediction", "confidence")]
    for i, sid in enumerate(ids):
        row = [int(sid)]
        for values, integer in zip(cols, (True, True, False), strict=True):
            v = None if values is None else values[i]
            row.append("" if v is None or not np.isfinite(v) else
                       (int(v) if integer else f"{v:.6g}"))
        writer.writerow(row)
    atomic_write_text(path, buf.getvalue())
    return str(path)
