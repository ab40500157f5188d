"""The Attribution tab: choose a model, dataset, method and samples; run it as a job
with progress and Cancel; see the maps (gallery), compare runs (grid), one sample in
detail, and the model-randomisation sanity check. Export the shown panel to PNG/SVG.

The view composes its parts and keeps what is shown (the run, its samples):
:class:`QtRunControls` (compute options, parameter form, progress),
:class:`QtDisplayBar` (run, colours, filters), :class:`QtAttributionTabs` (the pages) and
:class:`QtAttributionJobs` (the job on the runner).
"""

from __future__ import annotations

from collections import OrderedDict
from pathlib import Path

import numpy as np
from PySide6.QtWidgets import QFileDialog, QVBoxLayout, QWidget

from visualizer.errors import DeepScopeError
from widgets._gui_thread import connect_model
from widgets.attribution.data import (
    ColumnsRequest,
    latest_sanity,
    load_attribution,
    load_columns,
    load_sanity,
    shown_rows,
)
from widgets.attribution.qt_attribution_jobs import QtAttributionJobs
from widgets.attribution.qt_attribution_tabs import TABS, QtAttributionTabs
from widgets.attribution.qt_display_bar import QtDisplayBar
from widgets.attribution.qt_panels import DisplayOptions
from widgets.attribution.qt_run_controls import QtRunControls

__all__ = ["TABS", "QtAttributionView"]
MAX_CACHED_COLUMNS = 8  # comparison runs kept in memory (each at most data.MAX_BYTES)
_READ_HERE = object()  # _show_loaded: no sanity data given, read it  # TABS: the render CLI checks --set tab= against it


MAX_LISTED_RUNS = 500


class QtAttributionView(QWidget):
    def __init__(self, session, runner, parent: QWidget | None = None):
        super().__init__(parent)
        self.session, self.runner = session, runner
        self.options = DisplayOptions()
        self.data = None  # AttributionData of the shown run
        self.samples = None  # SplitSamples of its dataset
        self._loading_run: str | None = None  # the run being read in a job, if any
        # runs read for the comparison grid (run files never change, so by id), and the
        # job reading more of them
        self._columns: OrderedDict[str, object] = OrderedDict()
        self._columns_job = None
        self.controls = QtRunControls(session)
        self.display = QtDisplayBar(self.options)
        self.tabs = QtAttributionTabs(session)
        self.jobs = QtAttributionJobs(session, runner, self.controls, parent=self)
        # the parts that scripts, the render CLI and tests drive
        self.method_combo, self.limit_spin = self.controls.method_combo, self.controls.limit_spin
        self.run_combo, self.mode_combo = self.display.run_combo, self.display.mode_combo
        self.opacity, self.only_selected = self.display.opacity, self.display.only_selected
        self.gallery, self.grid = self.tabs.gallery, self.tabs.grid
        self.detail, self.sanity_plot = self.tabs.detail, self.tabs.sanity_plot
        self.status = self.controls.status

        lay = QVBoxLayout(self)
        lay.addWidget(self.controls)
        lay.addWidget(self.display)
        lay.addWidget(self.tabs, 1)

        self.controls.run_button.clicked.connect(self.start)
        self.controls.cancel_button.clicked.connect(self.cancel)
        self.controls.sanity_button.clicked.connect(self.start_sanity)
        self.display.run_changed.connect(self._on_display_run_changed)
        self.display.options_changed.connect(self._on_display_options_changed)
        self.display.filter_changed.connect(self.refresh_gallery)
        self.display.export_button.clicked.connect(self._on_export_clicked)
        self.tabs.comparison_changed.connect(self.refresh_grid)
        self.jobs.previewed.connect(self._on_jobs_previewed)
        self.jobs.cancelled.connect(self._on_jobs_cancelled)
        self.jobs.done.connect(self._on_jobs_done)
        connect_model(self, session.workspace_changed, self._on_session_workspace_changed,
                      nargs=1)
        connect_model(self, session.catalog_changed, self._on_session_catalog_changed)
        connect_model(self, session.selection.events.hovered_sample,
                      self._on_selection_hovered_sample_changed, nargs=1)
        connect_model(self, session.selection.events.sample_ids,
                      self._on_selection_sample_ids_changed, nargs=1)
        self._on_session_workspace_changed(session.workspace)

    @property
    def job(self):
        """The view's latest job (None before the first)."""
        return self.jobs.job

    @property
    def _param_widgets(self) -> dict[str, QWidget]:
        return self.controls.params.widgets

    # -- workspace and runs -------------------------------------------------------
    def _on_session_workspace_changed(self, ws) -> None:
        self.controls.set_workspace(ws)
        self.refresh_runs()

    def _on_session_catalog_changed(self, change) -> None:
        if change.models_or_datasets:
            self.controls.set_models_and_datasets(self.session.workspace)
        if not change.touches_runs("attribution", status="complete"):
            return
        finished = [i for i, c in change.runs.items() if c.kind == "attribution"
                    and c.status == "complete" and c.op != "removed"
                    and self.run_combo.findData(i) < 0]
        removed = any(c.op == "removed" for c in change.runs.values())
        if change.reset or removed or not self.run_combo.count() or len(finished) > 20:
            self.refresh_runs(keep=True)
        elif finished:  # a run or a few finished: add them, rebuild nothing
            rows = self.session.workspace.catalog.run_rows(finished)
            rows.sort(key=lambda r: r.created_at)
            self.display.add_runs(rows)
            self.tabs.add_compare_runs(rows)

    def refresh_runs(self, keep: bool = False, select: str | None = None) -> None:
        ws = self.session.workspace
        current = select or (self.run_combo.currentData() if keep else None)
        # the newest runs only: a sweep can make thousands (the browser lists them all)
        runs = ws.catalog.run_rows(kind="attribution", status="complete",
                                   newest=MAX_LISTED_RUNS) if ws is not None else []
        self.display.set_runs(runs, current)
        self.tabs.set_compare_runs(runs)
        if self.run_combo.count():
            if self.data is None or self.run_combo.currentData() != self.data.run_id:
                self.show_run(self.run_combo.currentData())
        else:
            self.data = None
            self.tabs.summary.setText("No attribution runs yet: choose a method and press Run.")

    def _on_display_run_changed(self) -> None:
        run_id = self.run_combo.currentData()
        if run_id:
            self.show_run(run_id)

    def show_run(self, run_id: str) -> None:
        """Show a run: a small one whose dataset is in memory at once; others are read in
        a job (a dataset read, or an import it needs, must never block this thread)."""
        from visualizer.samples import cached_split_samples
        from widgets.attribution.data import SYNC_LOAD_BYTES, LoadRequest, load_for_view

        ws = self.session.workspace
        self._loading_run = run_id
        params = ws.run(run_id).params
        samples = cached_split_samples(ws, params.get("dataset", "?"),
                                       params.get("split", "test"))
        try:
            _, size = shown_rows(ws, run_id)
        except Exception as exc:  # noqa: BLE001 - a deleted or damaged file: say so
            self.data = None
            self.status.setText(f"Run {run_id} cannot be shown: {exc}")
            return
        if size <= SYNC_LOAD_BYTES and samples is not None:
            self._show_loaded(load_attribution(ws, run_id), samples)
            return
        self.status.setText(f"reading run {run_id} ({size / 2**20:.1f} MiB) and its samples …")

        def loaded(job) -> None:
            if self._loading_run == run_id:  # a newer choice wins
                data, samples, sanity = job.result
                self._show_loaded(data, samples, sanity)

        def failed(job) -> None:  # the runner has notified the error
            if self._loading_run == run_id:
                self._loading_run = None
                self.status.setText(f"run {run_id} cannot be shown: {job.error}")

        self.runner.submit(load_for_view, LoadRequest(str(ws.root), run_id),
                           name=f"Read attribution run {run_id}", on_done=loaded,
                           on_failed=failed)

    def _show_loaded(self, data, samples, sanity=_READ_HERE) -> None:
        self.data, self.samples = data, samples
        self._loading_run = None
        self.display.set_classes(self.samples.class_names)
        self.tabs.show_summary(self.data, self.options)
        self.tabs.default_comparison(self.data)
        self.refresh_gallery()
        self.refresh_grid()
        if sanity is _READ_HERE:
            self.refresh_sanity()
        else:  # read in the job with the run
            self.sanity_plot.set_sanity(sanity)
        sid = self.session.selection.hovered_sample
        self.show_detail(sid if sid is not None and self.data.row_of(sid) is not None
                         else int(self.data.sample_index[0]))

    # -- panels -------------------------------------------------------------------------
    def visible_ids(self) -> np.ndarray:
        return self.display.visible_ids(self.data, self.session.selection.sample_ids)

    def refresh_gallery(self, *_) -> None:
        if self.data is None or self.samples is None:
            return
        ids = self.visible_ids()
        a, names = self.data.arrays, self.samples.class_names
        captions = []
        for sid in ids:
            r = self.data.row_of(int(sid))
            label, pred = names[a["label"][r]], names[a["prediction"][r]]
            # a right prediction needs one class name: captions stay short enough to read
            what = f"✓ {label}" if label == pred else f"✗ {label}→{pred}"
            captions.append(f"{what} {float(a['confidence'][r]):.2f}")
        model = self.gallery.overlay_model
        model.data_ = self.data
        model.options = self.options
        self.gallery.set_samples(ids, self.samples.x, captions, self.samples.input_range)

    def checked_runs(self) -> list[str]:
        return self.tabs.checked_runs()

    def refresh_grid(self, *_) -> None:
        """The grid of the ticked runs; runs not read yet are read in a job, then shown."""
        if self.data is None or self.samples is None:
            return
        ws = self.session.workspace
        columns, missing = [], []
        for run_id in self.checked_runs():
            column = self.data if run_id == self.data.run_id else self._columns.get(run_id)
            if column is None:
                missing.append(run_id)
            elif not isinstance(column, str):  # a string says why the run cannot be read
                columns.append(column)
        if missing and self._columns_job is None:
            self._columns_job = self.runner.submit(
                load_columns, ColumnsRequest(str(ws.root), tuple(missing)),
                name=f"Read {len(missing)} run(s) to compare", on_done=self._on_columns_read,
                on_failed=lambda job: setattr(self, "_columns_job", None))
        # the shown run, then the same method on other models beside it, then the others
        shown = self.data
        columns.sort(key=lambda c: (c.run_id != shown.run_id, c.method != shown.method,
                                    c.method, c.model))
        ids = [int(s) for s in self.visible_ids()[:8]]
        names = self.samples.class_names
        captions = {sid: f"#{sid}\nlabel {names[self.samples.y[sid]]}" for sid in ids}
        self.grid.options = self.options
        self.grid.set(columns, ids, self.samples.x, self.samples.input_range, captions)

    def _on_columns_read(self, job) -> None:
        self._columns_job = None
        for run_id, column in job.result.items():
            if isinstance(column, str):
                self.session.notify("warning", f"Cannot show run {run_id}", column)
            self._columns[run_id] = column
            self._columns.move_to_end(run_id)
        while len(self._columns) > MAX_CACHED_COLUMNS:
            self._columns.popitem(last=False)
        self.refresh_grid()

    def loading(self) -> bool:
        """Whether a run or comparison columns are still being read (``render`` waits)."""
        return self._loading_run is not None or self._columns_job is not None

    def refresh_sanity(self) -> None:
        d = self.data
        run = latest_sanity(self.session.workspace, d.model, d.method) if d else None
        self.sanity_plot.set_sanity(load_sanity(self.session.workspace, run.id)
                                    if run is not None else None)

    def show_detail(self, sid: int | None) -> None:
        if sid is None or self.data is None or self.samples is None:
            return
        self.detail.show_sample(self.data, int(sid), self.samples.x[int(sid)], self.options,
                                self.samples.input_range, self.samples.class_names,
                                self.samples.feature_names)

    def _on_display_options_changed(self) -> None:
        self.display.update_options(self.options)
        if self.data is not None:
            self.tabs.show_summary(self.data, self.options)
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

    # -- jobs ----------------------------------------------------------------------------
    def start(self):
        from visualizer.analysis.attribution.job import attribute_job

        request = self._request()
        if request is None:
            return None
        return self.jobs.submit(attribute_job, request,
                                f"attribution {self.method_combo.currentText()}")

    def start_sanity(self):
        from visualizer.analysis.attribution.sanity import SanityRequest, sanity_job

        request = self._request()
        if request is None:
            return None
        return self.jobs.submit(sanity_job, SanityRequest.from_attribute(request, n_samples=8),
                                f"sanity check {self.method_combo.currentText()}")

    def _request(self):
        """The controls' request, or None after saying what is wrong with them."""
        try:
            return self.controls.request()
        except DeepScopeError as exc:
            self.status.setText(str(exc))
            self.session.notify("warning", "Cannot start: check the options", str(exc))
            return None

    def cancel(self) -> None:
        self.jobs.cancel()

    def _on_jobs_previewed(self, obj) -> None:
        if self.samples is None:
            return
        model = self.gallery.overlay_model
        model.data_ = None
        model.preview = {int(s): m for s, m in zip(obj["sample_index"], obj["attributions"],
                                                     strict=False)}
        ids = np.asarray(obj["sample_index"])
        self.gallery.set_samples(ids, self.samples.x, [f"{i} (preview)" for i in ids],
                                 self.samples.input_range)
        self.status.setText("coarse preview (8 steps); computing the full maps…")

    def _on_jobs_cancelled(self) -> None:
        self.gallery.overlay_model.preview = {}
        self.refresh_gallery()

    def _on_jobs_done(self, job) -> None:
        self.session.check_catalog()
        self.gallery.overlay_model.preview = {}
        run = self.session.workspace.run(job.result)
        if run.kind == "sanity":
            from visualizer.analysis.attribution.sanity import is_control

            control = is_control(run.params.get("method", ""), run.params.get("properties"))
            outcome = ("control (no model dependence, as expected)" if control
                       else "passed" if run.metrics.get("passed") else "FAILED")
            self.status.setText(f"sanity check {run.id}: {outcome}")
            if self.data is not None:
                self.tabs.show_summary(self.data, self.options)
                self.refresh_sanity()
            self.tabs.setCurrentWidget(self.sanity_plot)
            return
        self.status.setText(f"{run.id} done in {run.metrics.get('seconds')} s")
        self.refresh_runs(select=run.id)
        self.show_run(run.id)

    # -- export --------------------------------------------------------------------------
    def current_panel(self) -> QWidget:
        return self.tabs.current_panel()

    def set_tab(self, name: str) -> None:
        self.tabs.set_tab(name)

    def export(self, path: str | Path) -> Path:
        from widgets.common.export import export_widget

        return export_widget(self.current_panel(), Path(path))

    def _on_export_clicked(self) -> None:
        from widgets.qt_dialogs import last_dir

        path, _ = QFileDialog.getSaveFileName(self, "Export view", last_dir(),
                                              "PNG image (*.png);;SVG drawing (*.svg)")
        if path:
            if not path.lower().endswith((".png", ".svg")):
                path += ".png"
            self.status.setText(f"exported {self.export(path)}")
