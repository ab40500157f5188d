"""The Embedding tab: pick an activation run, a layer and a method; see a PCA picture at
once and the UMAP layout arrive; brush points to select samples in every view.

Work happens in jobs: the stored projection, the source run's labels and thumbnails and
the nearest neighbours load on worker threads; UMAP and t-SNE run in a worker process
(Cancel stops it) and stream intermediate layouts. Results of a job that is no longer
the current one are dropped.

The view composes its parts: ``qt_embedding_controls`` makes the widgets,
``qt_source_picker`` keeps the run, layer and method combos in step with the session,
``qt_projection_jobs`` runs projections, ``qt_compare`` shows an aligned second
projection and ``qt_selection_links`` links brushing, hover and neighbours to the
session's selection. What is shown (``layout_a``, ``layout_b``, the loaded contexts)
lives here.
"""

from __future__ import annotations

import os

import numpy as np
from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QFileDialog, QWidget

from widgets._gui_thread import connect_model
from widgets.embedding.colouring import colouring_for
from widgets.embedding.data import (
    ContextRequest,
    Layout,
    LayoutRequest,
    load_context,
    load_layout,
)
from widgets.embedding.export import export_selection_csv
from widgets.embedding.qt_compare import Comparison
from widgets.embedding.qt_embedding_controls import (
    HINT,
    build_controls,
    fill_colour_combo,
    fill_projection_combos,
    select_combo,
)
from widgets.embedding.qt_projection_jobs import ProjectionJobs
from widgets.embedding.qt_selection_links import SelectionLinks
from widgets.embedding.qt_source_picker import MAX_LISTED_RUNS, SourcePicker, default_layer
from widgets.embedding.state import EmbeddingViewState

# default_layer and export_selection_csv are still imported from here.
__all__ = ["QtEmbeddingView", "default_layer", "export_selection_csv"]


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
        self._load_job = None
        build_controls(self)
        self.source_picker = SourcePicker(self)
        self.projection_jobs = ProjectionJobs(self)
        self.comparison = Comparison(self)
        self.selection_links = SelectionLinks(self)
        self.shown_combo.activated.connect(self._on_shown_combo_activated)
        self.colour_combo.currentIndexChanged.connect(self._on_colour_combo_changed)
        self.fit_button.clicked.connect(self.scatter.fit_view)
        self.scatter.hidden_changed.connect(self._on_scatter_hidden_changed)
        self.side.export_requested.connect(self._export_selection)
        self.side.clear_requested.connect(self._clear_selection)
        self._fill_colour_combo()
        self.side.show_selection(None, np.zeros(0, np.int64))
        connect_model(self, session.workspace_changed, self._on_session_workspace_changed,
                      nargs=1)
        connect_model(self, session.catalog_changed, self._on_session_catalog_changed)
        self._on_session_workspace_changed(session.workspace)
        if self.warm_up_delay_ms is not None and not os.environ.get("DEEPSCOPE_NO_WARMUP"):
            QTimer.singleShot(self.warm_up_delay_ms, self, self._warm_up)  # dies with the view

    # -- the parts' public operations ---------------------------------------------------
    def project(self, *, force: bool = False) -> None:
        """Project the current run/layer with the current method and parameters."""
        self.projection_jobs.project(force=force)

    def cancel(self) -> None:
        self.projection_jobs.cancel()

    def set_compare(self, run_id: str | None) -> None:
        """Show projection ``run_id`` beside the current one, aligned to it (None: hide)."""
        self.comparison.set_compare(run_id)

    def show_request(self, options: dict) -> None:
        """What another view asks to see (``Session.show_view_requested``):
        ``{"run": projection, "compare": projection or None, "arrows": bool}``; the
        comparison is aligned to the first once both are loaded."""
        run_id = options.get("run")
        if self.ws is None or not run_id:
            return
        if "arrows" in options:
            self.comparison.arrows_check.setChecked(bool(options["arrows"]))
        self.session.check_catalog()  # the menus learn runs made moments ago

        def then(layout) -> None:
            if layout.layer and self.layer_combo.findText(layout.layer) >= 0:
                self.layer_combo.blockSignals(True)  # shown as is: no reload
                self.layer_combo.setCurrentText(layout.layer)
                self.layer_combo.blockSignals(False)
                self.state.layer = layout.layer
            index = self.method_combo.findData(layout.method)
            if index >= 0:  # Project would redo what is shown, with its parameters
                self.method_combo.setCurrentIndex(index)
            self.set_compare(options.get("compare"))

        self.show_projection(run_id, then=then)

    @property
    def _alignment(self):
        return self.comparison.alignment

    def _request_neighbours(self, sid) -> None:
        self.selection_links.request_neighbours(sid)

    def _show_selection(self) -> None:
        self.selection_links.show_selection()

    def set_mode(self, mode: str) -> None:
        self.state.mode = mode
        for plot in (self.scatter, self.compare):
            plot.set_mode(mode)
        for button in self.mode_group.buttons():
            button.setChecked(button.mode == mode)

    def _clear_selection(self) -> None:
        self.session.selection.sample_ids = ()

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
        self.source_picker.fill_run_combo()
        self._fill_projection_combos()

    def _on_session_catalog_changed(self, change) -> None:
        if change.touches_runs("activations", status="complete"):
            self.source_picker.follow_change(change)
        if change.touches_runs("projection", status="complete"):
            self._fill_projection_combos()

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

        runs = projections_of(self.ws, source_run=self.state.source_run,
                              layer=self.state.layer)
        runs.sort(key=lambda r: (r.params.get("method") == self.state.method,
                                 r.record.created_at))
        if runs:
            self.show_projection(runs[-1].id)
        else:
            self.layout_a = None
            self.scatter.set_points(np.zeros((0, 2)), np.zeros(0))
            self.title.setText(f"No projection of {self.state.layer} yet — press Project.")
            select_combo(self.shown_combo, None)

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
        self.source_picker.follow(layout.context.run_id)
        if layout.run_id:
            self.state.projection = layout.run_id
            select_combo(self.shown_combo, layout.run_id)
        if previous is None or previous.context is not layout.context:
            self._fill_colour_combo()
        fit = fit or not self.scatter.user_moved or previous is None \
            or previous.stage != layout.stage
        self.scatter.set_points(layout.coords, layout.ids, self._colouring(layout),
                                fit=fit, preview=layout.stage != "final")
        self._set_title()
        self._show_selection()
        if self.layout_b is not None:
            self.comparison.align()

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

    # -- projection and colour combos ---------------------------------------------------
    def _fill_projection_combos(self) -> None:
        from visualizer.analysis.projection.storage import projections_of

        # the newest only: a sweep can store thousands (the browser lists them all)
        runs = projections_of(self.ws, newest=MAX_LISTED_RUNS) if self.ws is not None else []
        fill_projection_combos(self.shown_combo, self.compare_combo, runs)

    def _on_shown_combo_activated(self, _index: int) -> None:
        run_id = self.shown_combo.currentData()
        if run_id:
            self.show_projection(run_id)

    def _fill_colour_combo(self) -> None:
        context = self._contexts.get(self.state.source_run) if self.state.source_run else None
        if self.layout_a is not None:
            context = self.layout_a.context
        fill_colour_combo(self.colour_combo, self.state, context)

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

    # -- export ------------------------------------------------------------------------
    def export_image(self, path) -> object:
        from widgets.common.export import export_widget

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
