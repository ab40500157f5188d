"""Dense vs pruned representations: linear CKA between every layer pair (a heat map,
dense layers as rows, pruned as columns) and of each layer with itself (a curve), and
the hand-off of one layer's two projections to the Embedding view.

All reads and computations are jobs (``visualizer.analysis.pruning.compare``); the panel
only looks up the catalog. Only the panel's current job speaks: a result of a replaced job is dropped.
"""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QComboBox,
    QHBoxLayout,
    QPushButton,
    QSplitter,
    QVBoxLayout,
    QWidget,
)

from visualizer.analysis.pruning import compare as cj
from visualizer.errors import DeepScopeError
from widgets._gui_thread import connect_model
from widgets.pruning.qt_cka_plots import QtCkaHeatmap, QtSameLayerCurve
from widgets.pruning.style import ElidedLabel, heading
from widgets.qt_text import plain_label


class QtCkaPanel(QWidget):
    shown = Signal(object)  # the CkaData now on screen
    embedding_requested = Signal(dict)  # the options sent with show_view_requested

    def __init__(self, session, runner, parent=None):
        super().__init__(parent)
        self.session, self.runner = session, runner
        self.dense: str | None = None
        self.pruned: str | None = None
        self._key = None  # (workspace, dense, pruned) shown
        self.data: cj.CkaData | None = None
        self.job = None  # the current CKA (or load) job
        self.embed_job = None

        self.title = heading("Pick a pruned model to compare with its dense parent.")
        self.compare_button = QPushButton("Compare representations")
        self.compare_button.setToolTip(
            "Activations of both models on the same test samples (stored ones reused, "
            "else 500 drawn with seed 0), then linear CKA between every pair of layers")
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.setEnabled(False)
        self.status = ElidedLabel("")
        top = QHBoxLayout()
        top.addWidget(self.compare_button)
        top.addWidget(self.cancel_button)
        top.addWidget(self.status, 1)

        self.heat = QtCkaHeatmap()
        self.curve_plot = QtSameLayerCurve()
        splitter = QSplitter(Qt.Orientation.Horizontal)
        splitter.addWidget(self.heat)
        splitter.addWidget(self.curve_plot)
        splitter.setSizes([620, 480])

        self.embed_button = QPushButton("Dense vs pruned in Embedding")
        self.embed_button.setToolTip("Project one layer of both models and show the two "
                                     "projections side by side, aligned, in the Embedding "
                                     "view")
        self.layer_combo = QComboBox()
        self.layer_combo.setToolTip("Layer to project (default: the penultimate)")
        self.method_combo = QComboBox()
        self.method_combo.addItem("PCA", "pca")
        self.method_combo.addItem("UMAP", "umap")
        self.embed_status = ElidedLabel("")
        bottom = QHBoxLayout()
        bottom.addWidget(self.embed_button)
        bottom.addWidget(plain_label("Layer"))
        bottom.addWidget(self.layer_combo)
        bottom.addWidget(plain_label("Method"))
        bottom.addWidget(self.method_combo)
        bottom.addWidget(self.embed_status, 1)

        lay = QVBoxLayout(self)
        lay.setContentsMargins(4, 4, 4, 4)
        lay.addWidget(self.title)
        lay.addLayout(top)
        lay.addWidget(splitter, 1)
        lay.addLayout(bottom)
        self.compare_button.clicked.connect(self.compare)
        self.cancel_button.clicked.connect(self.cancel)
        self.embed_button.clicked.connect(self.show_in_embedding)
        if hasattr(runner, "job_finished"):  # a Cancel in the jobs panel ends ours too
            runner.job_finished.connect(self._on_runner_job_finished)
        connect_model(self, session.catalog_changed, self._on_session_catalog_changed)
        self._set_enabled()

    def _on_session_catalog_changed(self, change) -> None:
        """A CKA of the pair made elsewhere (the CLI, a script) shows when it lands."""
        if self.data is None and self.job is None and self.ws is not None and self.pruned \
                and change.touches_runs("cka", status="complete"):
            stored = cj.stored_cka(self.ws, self.dense, self.pruned)
            if stored is not None:
                self._submit(cj.load_cka, cj.LoadCkaRequest(str(self.ws.root), stored.id),
                             f"Read CKA {stored.id}")

    # -- models -----------------------------------------------------------------------
    @property
    def ws(self):
        return self.session.workspace

    def set_models(self, dense: str | None, pruned: str | None) -> None:
        """Compare ``dense`` (rows) with ``pruned`` (columns); a stored CKA shows at once."""
        key = (self.ws.root if self.ws is not None else None, dense, pruned)
        if key == self._key:  # the same pair of the same workspace: nothing to redo
            return
        self.cancel()
        self._key, self.dense, self.pruned = key, dense, pruned
        self._show(None)
        self._fill_layers(self._model_layers())
        self.embed_status.setText("")
        if self.ws is None or not dense or not pruned:
            self.title.setText("Pick a pruned model to compare with its dense parent.")
            self._set_enabled()
            return
        self.title.setText(f"{dense} (rows) vs {pruned} (columns): linear CKA")
        stored = cj.stored_cka(self.ws, dense, pruned)  # one catalog query
        if stored is None:
            self.status.setText("No CKA of this pair yet: press Compare representations.")
        else:
            self._submit(cj.load_cka, cj.LoadCkaRequest(str(self.ws.root), stored.id),
                         f"Read CKA {stored.id}")
        self._set_enabled()

    def _model_layers(self) -> list[str]:
        """Layer names from the catalog (no model is loaded), until a CKA names them."""
        if self.ws is None or not self.dense:
            return []
        try:
            table = (self.ws.catalog.model(self.dense).info or {}).get("layers") or []
        except Exception:  # noqa: BLE001 - a model removed meanwhile: no layers to offer
            return []
        return [row[0] for row in table if row[2]]

    def _fill_layers(self, layers: list[str]) -> None:
        current = self.layer_combo.currentData()
        self.layer_combo.clear()
        self.layer_combo.addItem("penultimate", None)
        for name in layers:
            self.layer_combo.addItem(name, name)
        index = self.layer_combo.findData(current) if current else 0
        self.layer_combo.setCurrentIndex(max(index, 0))

    def _set_enabled(self) -> None:
        ready = self.ws is not None and bool(self.dense and self.pruned)
        running = self.job is not None
        self.compare_button.setEnabled(ready and not running)
        self.cancel_button.setEnabled(running or self.embed_job is not None)
        self.embed_button.setEnabled(ready and self.embed_job is None)

    def _request(self, cls=cj.PairRequest, **extra):
        """The request for the current pair, or None (said in the status line)."""
        try:
            dataset = cj.dataset_of(self.ws, self.pruned)
        except DeepScopeError:  # removed meanwhile
            dataset = None
        if dataset is None:
            self.status.setText(f"{self.pruned} is not a pruned model: no dataset to "
                                "compare on.")
            return None
        return cls(str(self.ws.root), self.dense, self.pruned, dataset, **extra)

    # -- jobs -------------------------------------------------------------------------
    def compare(self):
        """Run (or reuse) the activations and the CKA of the pair; returns the Job."""
        if self.ws is None or not self.dense or not self.pruned:
            return None
        request = self._request()
        if request is None:
            return None
        return self._submit(cj.compare_representations, request,
                            f"CKA {self.dense} vs {self.pruned}")

    def _submit(self, fn, request, name):
        old, self.job = self.job, None
        if old is not None and not old.state.finished:
            old.cancel()  # a new request for this panel replaces the old one
        job = self.runner.submit(fn, request, name=name, on_done=self._on_job_done,
                                 on_failed=self._on_job_failed)
        self.job = job
        bridge = self.runner.bridge(job)
        if bridge is not None:
            bridge.status_changed.connect(
                lambda text: self.status.setText(text) if job is self.job else None)
        self.status.setText(f"{name}…")
        self._set_enabled()
        return job

    def cancel(self) -> None:
        for attr in ("job", "embed_job"):
            job = getattr(self, attr)
            setattr(self, attr, None)
            if job is not None and not job.state.finished:
                job.cancel()
                self.status.setText("Cancelled.")
        self._set_enabled()

    def _on_runner_job_finished(self, job) -> None:
        if job.state.value == "cancelled" and job in (self.job, self.embed_job):
            self.job = None if job is self.job else self.job
            self.embed_job = None if job is self.embed_job else self.embed_job
            self.status.setText("Cancelled.")
            self._set_enabled()

    def _on_job_done(self, job) -> None:
        if job is not self.job:
            return  # replaced by a newer request, or for another pair
        self.job = None
        self.session.check_catalog()  # the browser and the Embedding menus list new runs
        self._show(job.result)
        self._set_enabled()

    def _on_job_failed(self, job) -> None:
        if job is not self.job:
            return
        self.job = None
        self.status.setText(f"Failed: {job.error}")
        self.session.check_catalog()
        from widgets.qt_job_runner import notify_failure

        notify_failure(self.session.notify, job)
        self._set_enabled()

    def show_in_embedding(self):
        """Project the chosen layer of both models (a job), then ask the main window to
        show the two projections aligned in the Embedding view; returns the Job."""
        if self.ws is None or not self.dense or not self.pruned:
            return None
        if self.embed_job is not None:
            self.embed_job.cancel()
        data, method = self.data, self.method_combo.currentData()
        request = self._request(cj.EmbedRequest, layer=self.layer_combo.currentData(),
                                method=method, run_a=data.run_a if data else None,
                                run_b=data.run_b if data else None)
        if request is None:
            return None
        job = self.runner.submit(
            cj.project_pair, request, name=f"{method.upper()} of {self.dense} and "
                                           f"{self.pruned}",
            on_done=self._on_embed_done, on_failed=self._on_embed_failed,
            process="warm" if method != "pca" else False)  # UMAP holds the GIL
        self.embed_job = job
        self.embed_status.setText(f"projecting ({method.upper()})…")
        self._set_enabled()
        return job

    def _on_embed_done(self, job) -> None:
        if job is not self.embed_job:
            return
        self.embed_job = None
        self._set_enabled()
        result = job.result
        self.embed_status.setText(f"{result['layer']}: {result['run']} vs {result['compare']}")
        self.session.check_catalog()
        options = {"run": result["run"], "compare": result["compare"], "arrows": True}
        self.embedding_requested.emit(options)
        self.session.show_view_requested.emit("embedding", options)

    def _on_embed_failed(self, job) -> None:
        if job is not self.embed_job:
            return
        self.embed_job = None
        self._set_enabled()
        self.embed_status.setText(f"Failed: {job.error}")
        from widgets.qt_job_runner import notify_failure

        notify_failure(self.session.notify, job)

    # -- drawing ----------------------------------------------------------------------
    def _show(self, data: cj.CkaData | None) -> None:
        self.data = data
        if data is None:
            self.heat.set(None)
            self.curve_plot.set([], None)
            return
        self.heat.set(data.matrix, data.layers_a, data.layers_b, f"dense: {data.model_a}",
                      f"pruned: {data.model_b}")
        self.curve_plot.set(data.common, data.per_layer)
        finite = data.per_layer[np.isfinite(data.per_layer)]
        mean = f" · mean same-layer CKA {finite.mean():.3f}" if len(finite) else ""
        self.title.setText(f"{data.model_a} (rows) vs {data.model_b} (columns): linear CKA "
                           f"on {data.n_samples:,} test samples{mean}")
        self.status.setText(f"{'Stored' if data.reused else 'New'} run {data.run_id} "
                            f"(activations {data.run_a}, {data.run_b}).")
        self._fill_layers(data.common)
        self.shown.emit(data)
