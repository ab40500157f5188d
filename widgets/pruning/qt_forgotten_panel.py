"""What pruning forgot (Hooker et al., 2019): how many test samples each pruned model of
the parent forgot (dense right, pruned wrong) and gained (the reverse); the current
pruned model's forgotten or gained samples as thumbnails, linked to the shared
selection; and one attribution method on both models for those samples, side by side.

The counts come from the catalog (the lineage of each pruned model); the samples,
thumbnails and attributions are read or computed in jobs
(``visualizer.analysis.pruning.compare``).
"""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import QItemSelectionModel, QSize, Qt, Signal
from PySide6.QtWidgets import (
    QButtonGroup,
    QComboBox,
    QHBoxLayout,
    QPushButton,
    QRadioButton,
    QScrollArea,
    QSplitter,
    QVBoxLayout,
    QWidget,
)

from visualizer.analysis.pruning import compare as cj
from widgets._gui_thread import connect_model
from widgets.attribution.qt_panels import QtColorBar
from widgets.common.qt_sample_gallery import QtSampleGallery
from widgets.pruning.qt_forgotten_counts import QtForgottenCounts
from widgets.pruning.qt_side_by_side import QtSideBySide, verdict
from widgets.pruning.style import ElidedLabel, heading

SIDE_BY_SIDE = 8  # samples attributed when none of the shown ones is selected


def _pane(title: str, top, body, bottom) -> QWidget:
    """A titled column: a row of controls, the body (first part stretches), a status row."""
    w = QWidget()
    lay = QVBoxLayout(w)
    lay.setContentsMargins(2, 2, 2, 2)
    lay.addWidget(heading(title))
    for widgets, stretch_first in ((top, False), (body, None), (bottom, True)):
        if stretch_first is None:
            for k, widget in enumerate(widgets):
                lay.addWidget(widget, 1 if k == 0 else 0)
            continue
        if widgets:
            row = QHBoxLayout()
            for k, widget in enumerate(widgets):
                row.addWidget(widget, 1 if stretch_first and k == 0 else 0)
            if not stretch_first:
                row.addStretch(1)
            lay.addLayout(row)
    return w


class QtForgottenPanel(QWidget):
    model_chosen = Signal(str)  # a pruned model clicked in the counts table
    loaded = Signal(object)  # ForgottenData shown
    attributed = Signal(object)  # SideBySide shown

    def __init__(self, session, runner, parent=None):
        super().__init__(parent)
        self.session, self.runner = session, runner
        self.dense: str | None = None
        self.pruned: str | None = None
        self._key = None  # (workspace, dense, pruned) shown
        self.data: cj.ForgottenData | None = None
        self.side_by_side: cj.SideBySide | None = None
        self.job = self.attr_job = None

        self.table = QtForgottenCounts()
        self.table.model_clicked.connect(self._on_table_model_clicked)

        self.kind_group = QButtonGroup(self)
        self.forgotten_radio, self.gained_radio = QRadioButton("forgotten"), \
            QRadioButton("gained")
        self.forgotten_radio.setChecked(True)
        for b in (self.forgotten_radio, self.gained_radio):
            self.kind_group.addButton(b)
        self.kind_group.buttonToggled.connect(lambda *_: self._fill_gallery())
        self.select_button = QPushButton("Select these")
        self.select_button.setToolTip("Make these samples the shared selection (the "
                                      "Embedding view highlights them)")
        self.select_button.clicked.connect(self.select_these)
        self.gallery = QtSampleGallery(session, size=64, writes_selection=True)
        self.gallery.setGridSize(QSize(96, 64 + 40))
        self.gallery.setWordWrap(True)  # two caption lines: dense, then pruned
        self.gallery_note = ElidedLabel("")

        self.method_combo = QComboBox()
        self.method_combo.addItem("Saliency", "saliency")
        self.method_combo.addItem("Integrated Gradients", "integrated_gradients")
        self.method_combo.setSizeAdjustPolicy(
            QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
        self.method_combo.setMinimumContentsLength(9)
        self.attr_button = QPushButton("Run on both")
        self.attr_button.setToolTip(f"The selected samples shown here (else the first "
                                    f"{SIDE_BY_SIDE}) attributed on the dense and on the "
                                    "pruned model, side by side")
        self.attr_button.clicked.connect(self.attribute)
        self.attr_cancel = QPushButton("Cancel")
        self.attr_cancel.clicked.connect(self.cancel)
        self.attr_status = ElidedLabel("")
        self.grid = QtSideBySide()
        scroll = QScrollArea()
        scroll.setWidget(self.grid)
        scroll.setWidgetResizable(True)
        self.colorbar = QtColorBar()
        self.colorbar.set(True, "one scale per row")
        self.counts_title = ElidedLabel("")

        self.splitter = splitter = QSplitter(Qt.Orientation.Horizontal)
        for title, top, body, bottom in (
                ("Forgotten and gained per pruned model", (), (self.table,),
                 (self.counts_title,)),
                ("Samples", (self.forgotten_radio, self.gained_radio), (self.gallery,),
                 (self.gallery_note, self.select_button)),
                ("Attributions side by side", (self.method_combo, self.attr_button),
                 (scroll, self.colorbar), (self.attr_status, self.attr_cancel))):
            splitter.addWidget(_pane(title, top, body, bottom))
        self._user_sized = False  # a handle moved by hand: keep the user's widths
        splitter.splitterMoved.connect(lambda *_: setattr(self, "_user_sized", True))
        lay = QVBoxLayout(self)
        lay.setContentsMargins(4, 4, 4, 4)
        lay.addWidget(splitter)
        connect_model(self, session.selection.events.sample_ids,
                      lambda *_: self._show_selection())
        if hasattr(runner, "job_finished"):  # a Cancel in the jobs panel ends ours too
            runner.job_finished.connect(self._on_runner_job_finished)
        connect_model(self, session.catalog_changed,
                      lambda change: self._fill_counts() if change.models_or_datasets
                      else None)  # a sweep adds pruned models: count them too
        self._set_enabled()

    def resizeEvent(self, event) -> None:  # noqa: N802 - Qt API
        super().resizeEvent(event)
        if not self._user_sized:
            self._fit_panes()

    def _fit_panes(self) -> None:
        """The whole counts table when there is room (its first columns when not), one
        or more columns of thumbnails, the rest for the maps: the Pruning view may give
        this panel little width."""
        width = self.splitter.width()
        table = int(min(self.table.natural_width(), max(200, 0.4 * width)))
        gallery = int(max(112, 0.26 * width))
        self.splitter.setSizes([table, gallery, max(width - table - gallery, 0)])

    @property
    def ws(self):
        return self.session.workspace

    # -- models and counts -------------------------------------------------------------
    def set_models(self, dense: str | None, pruned: str | None) -> None:
        """Show what ``pruned`` forgot relative to ``dense`` (its parent)."""
        key = (self.ws.root if self.ws is not None else None, dense, pruned)
        if key == self._key and self.data is not None:
            return
        self.cancel()
        self._key, self.dense, self.pruned = key, dense, pruned
        self.data = None
        self.gallery.set_samples([], None)
        self.side_by_side = None
        self.grid.set(None)
        self._fill_counts()
        if self.ws is not None and pruned:
            self.job = self.runner.submit(
                cj.load_forgotten, cj.ForgottenRequest(str(self.ws.root), pruned),
                name=f"Read what {pruned} forgot", on_done=self._on_load_done,
                on_failed=self._on_load_failed)
            self.gallery_note.setText("reading…")
        self._set_enabled()

    def _fill_counts(self) -> None:
        from visualizer.analysis.pruning.results import pruned_points

        points = pruned_points(self.ws, self.dense) if self.ws is not None and self.dense \
            else []
        self.table.set_points(points, self.pruned)
        if not self._user_sized:
            self._fit_panes()
        self.counts_title.setText(f"{len(points)} pruned models of {self.dense}"
                                  if self.dense else "")

    def counts(self) -> dict[str, tuple[int | None, int | None]]:
        """What the table shows: model -> (forgotten, gained)."""
        return self.table.counts()

    def _on_table_model_clicked(self, model: str) -> None:
        if model != self.pruned:
            self.set_models(self.dense, model)
            self.model_chosen.emit(model)

    # -- samples ------------------------------------------------------------------------
    def _on_load_done(self, job) -> None:
        if job is not self.job:
            return
        self.job = None
        self.data = job.result
        self._fill_gallery()
        self._set_enabled()
        self.loaded.emit(self.data)

    def _on_load_failed(self, job) -> None:
        if job is not self.job:
            return
        self.job = None
        self.gallery_note.setText(f"Cannot read what {self.pruned} forgot: {job.error}")

    @property
    def kind(self) -> str:
        return "gained" if self.gained_radio.isChecked() else "forgotten"

    def shown_ids(self) -> np.ndarray:
        if self.data is None:
            return np.zeros(0, np.int64)
        s = self.data.samples
        return s.sample_index[getattr(s, self.kind)]

    def _fill_gallery(self) -> None:
        d = self.data
        if d is None:
            return
        s = d.samples
        mask = getattr(s, self.kind)
        captions = [f"{verdict('dense', p, y)}\n{verdict('pruned', q, y)}"
                    for p, q, y in zip(s.parent_prediction[mask].tolist(),
                                       s.prediction[mask].tolist(), s.label[mask].tolist(),
                                       strict=True)]
        self.gallery.set_samples(s.sample_index[mask], d.images, captions, d.value_range)
        self.forgotten_radio.setText(f"forgotten ({int(s.forgotten.sum())})")
        self.gained_radio.setText(f"gained ({int(s.gained.sum())})")
        self._show_selection()

    def _show_selection(self) -> None:
        """Highlight the shown samples that are in the shared selection (no echo)."""
        ids = self.gallery.sample_ids
        selected = np.asarray(self.session.selection.sample_ids, dtype=np.int64)
        hit = np.isin(ids, selected)
        self.gallery.writes_selection = False  # our own highlight is not a brush
        try:
            model, sel = self.gallery.model(), self.gallery.selectionModel()
            sel.clearSelection()
            for row in np.flatnonzero(hit):
                sel.select(model.index(int(row)), QItemSelectionModel.SelectionFlag.Select)
        finally:
            self.gallery.writes_selection = True
        n = len(ids)
        what = f"{n} {self.kind} samples of {self.pruned}" if self.data is not None else ""
        if hit.any():
            what += f" · {int(hit.sum())} in the selection"
        if self.data is not None and self.data.images is None:  # said, not just missing
            why = self.data.thumbnails_error
            what += f" · no thumbnails: {why}" if why else " · no thumbnails"
        self.gallery_note.setText(what)

    def select_these(self) -> None:
        """Make the shown samples the shared selection."""
        self.session.selection.sample_ids = tuple(int(i) for i in np.sort(self.shown_ids()))

    # -- attributions side by side -------------------------------------------------------
    def attribution_ids(self) -> np.ndarray:
        shown = self.shown_ids()
        chosen = shown[np.isin(shown, np.asarray(self.session.selection.sample_ids,
                                                 dtype=np.int64))]
        return chosen[:4 * SIDE_BY_SIDE] if len(chosen) else shown[:SIDE_BY_SIDE]

    def attribute(self):
        """Attribute the chosen samples on both models (one job); returns the Job."""
        ids = self.attribution_ids()
        if self.data is None or not len(ids):
            self.attr_status.setText(f"No {self.kind} samples to attribute.")
            return None
        if self.attr_job is not None:
            self.attr_job.cancel()
        method = self.method_combo.currentData()
        request = cj.SideBySideRequest(str(self.ws.root), self.dense, self.pruned,
                                       self.data.dataset, tuple(int(i) for i in ids),
                                       method, self.data.samples.split)
        job = self.runner.submit(cj.attribute_pair, request,
                                 name=f"{self.method_combo.currentText()}: {self.dense} vs "
                                      f"{self.pruned}",
                                 on_done=self._on_attr_done, on_failed=self._on_attr_failed)
        self.attr_job = job
        self.attr_status.setText(f"attributing {len(ids)} samples on both models…")
        self._set_enabled()
        return job

    def _on_attr_done(self, job) -> None:
        if job is not self.attr_job:
            return
        self.attr_job = None
        self.side_by_side = job.result
        self.grid.set(job.result, self.dense, self.pruned)
        self.attr_status.setText(f"{self.method_combo.currentText()}: runs "
                                 f"{', '.join(job.result.runs.values())}")
        self.session.check_catalog()
        self._set_enabled()
        self.attributed.emit(job.result)

    def _on_attr_failed(self, job) -> None:
        if job is not self.attr_job:
            return
        self.attr_job = None
        self.attr_status.setText(f"Failed: {job.error}")
        from widgets.qt_job_runner import notify_failure

        notify_failure(self.session.notify, job)
        self._set_enabled()

    def cancel(self) -> None:
        for attr in ("job", "attr_job"):
            job = getattr(self, attr)
            setattr(self, attr, None)
            if job is not None and not job.state.finished:
                job.cancel()
        self._set_enabled()

    def _on_runner_job_finished(self, job) -> None:
        if job.state.value == "cancelled" and job in (self.job, self.attr_job):
            if job is self.attr_job:
                self.attr_job = None
                self.attr_status.setText("Cancelled.")
            else:
                self.job = None
                self.gallery_note.setText("Cancelled.")
            self._set_enabled()

    def _set_enabled(self) -> None:
        has = self.data is not None
        self.select_button.setEnabled(has)
        self.attr_button.setEnabled(has and self.attr_job is None)
        self.attr_cancel.setEnabled(self.attr_job is not None)
