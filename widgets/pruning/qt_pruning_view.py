"""The Pruning tab ("pruning lab"): sweep methods × sparsities over a dense model, see
accuracy against sparsity, and inspect one pruned model against its parent: where the
weights went (per-layer sparsity beside the other methods at that sparsity), what it
costs, how fine-tuning went, how its representations moved (CKA) and which samples it
forgot.

The view follows ``session.catalog_changed``: a pruned model that appears (a sweep point
finished, here, in another window or in a terminal) is added to its series without
redrawing the others, and nothing is re-read for run changes. The current pruned model
is ``session.selection.models = (dense, pruned)`` once the user picks one, and follows
that selection when another view sets it.
"""

from __future__ import annotations

import importlib

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QHBoxLayout,
    QMenu,
    QSplitter,
    QStackedWidget,
    QTabWidget,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from widgets._gui_thread import connect_model
from widgets.pruning.data import default_model, dense_accuracy, peers_of
from widgets.pruning.plots import QtAccuracyPlot, QtLayerSparsityPlot
from widgets.pruning.qt_cost_table import QtCostTable
from widgets.pruning.qt_curves_pane import QtCurvesPane
from widgets.pruning.qt_sweep_controls import QtSweepControls
from widgets.pruning.style import heading, note, pane, plain_tip, scrolled
from widgets.qt_empty_state import QtEmptyState

OPEN_HINT = "Open a workspace with a model and a dataset (File > Open workspace)."
DESCRIPTION = ("Prune a model with several methods to several sparsities, compare their "
               "accuracy, and inspect one pruned model against its parent: per-layer "
               "sparsity, cost, fine-tuning curves, representation similarity (CKA) and "
               "the samples it forgot.")


class QtPruningView(QWidget):
    """The Pruning view of ``session``; jobs go through ``runner`` (``QtJobRunner``)."""

    def __init__(self, session, runner, parent: QWidget | None = None):
        super().__init__(parent)
        self.session, self.runner = session, runner
        self.dense: str | None = None
        self.current: str | None = None
        self.points: dict[str, object] = {}  # model -> PrunedPoint of ``dense``
        self.dense_accuracy: float | None = None
        self._writing = False
        self._build()
        self.controls.dense_changed.connect(self.show_dense)
        self.controls.partial_arrived.connect(self._on_controls_partial_arrived)
        self.controls.sweep_started.connect(self._on_controls_sweep_started)
        if hasattr(self.forgotten_panel, "model_chosen"):  # a row of its counts table
            self.forgotten_panel.model_chosen.connect(self.select_model)
        self.controls.sweep_finished.connect(self._on_controls_sweep_finished)
        self.accuracy_plot.point_clicked.connect(self._on_accuracy_plot_point_clicked)
        connect_model(self, session.workspace_changed, self._on_session_workspace_changed,
                      nargs=1)
        connect_model(self, session.catalog_changed, self._on_session_catalog_changed)
        connect_model(self, session.selection.events.models,
                      self._on_selection_models_changed, nargs=1)
        self._on_session_workspace_changed(session.workspace)

    # -- building ------------------------------------------------------------------------
    def _build(self) -> None:
        self.controls = QtSweepControls(self.session, self.runner)
        self.title = heading()
        self.export_button = QToolButton()
        self.export_button.setText("Export")
        self.export_button.setPopupMode(QToolButton.ToolButtonPopupMode.InstantPopup)
        menu = QMenu(self.export_button)
        menu.addAction("Figure as PNG…", lambda: self._export("png"))
        menu.addAction("Figure as SVG…", lambda: self._export("svg"))
        self.export_button.setMenu(menu)
        self.open_button = QToolButton()
        self.open_button.setText("Open model in")
        self.open_button.setToolTip("Show the current pruned model in another view")
        self.open_button.setPopupMode(QToolButton.ToolButtonPopupMode.InstantPopup)
        menu = QMenu(self.open_button)
        menu.addAction("Layers view (weight sparsity per layer)", self.open_in_layers)
        menu.addAction("Embedding view (dense vs pruned, aligned)",
                       lambda: getattr(self.cka_panel, "show_in_embedding", lambda: None)())
        self.open_button.setMenu(menu)
        self.accuracy_plot = QtAccuracyPlot()
        self.accuracy_title = heading("Accuracy against sparsity · click a point to inspect it")
        self.layer_plot = QtLayerSparsityPlot()
        self.layer_title = heading("Per-layer sparsity")
        self.cost_table = QtCostTable()
        self.cost_title = heading("Cost against the dense model")
        self.curves = QtCurvesPane(self.runner)
        self.cka_panel = self._panel("qt_cka_panel", "QtCkaPanel", "CKA")
        self.forgotten_panel = self._panel("qt_forgotten_panel", "QtForgottenPanel",
                                           "forgotten samples")
        # The three analyses of the current model share the full width: the forgotten
        # samples' gallery and attribution grid need it, and so does the CKA heat map.
        self.panel_tabs = QTabWidget()
        self.panel_tabs.setDocumentMode(True)
        self.panel_tabs.addTab(self.curves, "Fine-tuning curves")
        self.panel_tabs.addTab(scrolled(self.cka_panel), "Representation similarity (CKA)")
        self.panel_tabs.addTab(scrolled(self.forgotten_panel), "Forgotten samples")

        top = QSplitter()
        top.addWidget(pane(self.accuracy_title, self.accuracy_plot))
        top.addWidget(pane(self.layer_title, self.layer_plot, self.cost_title,
                            self.cost_table))
        top.setStretchFactor(0, 3)
        top.setStretchFactor(1, 2)
        top.setSizes([800, 540])
        self.body = QSplitter(Qt.Orientation.Vertical)
        self.body.addWidget(top)
        self.body.addWidget(self.panel_tabs)
        # the layer bars need room under their legend, and the cost table its rows
        self.layer_plot.setMinimumHeight(170)
        self.body.setStretchFactor(0, 3)
        self.body.setStretchFactor(1, 2)
        self.body.setSizes([480, 320])
        self.empty = QtEmptyState("Pruning", DESCRIPTION, OPEN_HINT)
        self.stack = QStackedWidget()
        self.stack.addWidget(self.empty)
        self.stack.addWidget(self.body)
        header = QHBoxLayout()
        header.addWidget(self.title, 1)
        header.addWidget(self.open_button)
        header.addWidget(self.export_button)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(4, 4, 4, 4)
        lay.addWidget(self.controls)
        lay.addLayout(header)
        lay.addWidget(self.stack, 1)

    def _panel(self, module: str, cls: str, what: str) -> QWidget:
        """An embedded panel, imported lazily: while it is missing (or fails to start)
        the tab says so and the rest of the view works."""
        name = f"widgets.pruning.{module}"
        try:
            return getattr(importlib.import_module(name), cls)(self.session, self.runner)
        except Exception as exc:  # noqa: BLE001 - one broken panel must not cost the view
            if isinstance(exc, ModuleNotFoundError) and exc.name == name:
                return note(f"The {what} panel is not in this version yet.")
            self.session.notify("error", f"The {what} panel failed to start",
                                f"{type(exc).__name__}: {exc}")
            return note(f"The {what} panel failed to start: {type(exc).__name__}: {exc}")

    # -- session → view --------------------------------------------------------------------
    @property
    def ws(self):
        return self.session.workspace

    def _on_session_workspace_changed(self, ws) -> None:
        self.dense = self.current = None
        self.points = {}
        self.refresh()

    def refresh(self) -> None:
        """Re-read the catalog's pruned models (one query) and show the dense model."""
        from visualizer.analysis.pruning.results import pruned_points

        every = pruned_points(self.ws) if self.ws is not None else []
        self.controls.fill(self.ws, self.dense, every)
        self._show(self.controls.dense, [p for p in every if p.parent == self.controls.dense])

    def show_dense(self, name: str | None) -> None:
        """Show the pruned descendants of the dense model ``name``."""
        from visualizer.analysis.pruning.results import pruned_points

        if name != self.controls.dense:
            self.controls.set_dense(name)  # emits dense_changed, which lands here again
            return
        self._show(name, pruned_points(self.ws, name) if self.ws is not None and name else [])

    def _show(self, dense: str | None, points) -> None:
        self.dense = dense
        self.points = {p.model: p for p in points}
        self.dense_accuracy = dense_accuracy(self.ws, dense, points) if dense else None
        self.accuracy_plot.set_points(points)
        self.accuracy_plot.set_dense(dense, self.dense_accuracy)
        wanted = self.session.selection.models
        current = self.current if self.current in self.points else (
            wanted[1] if len(wanted) > 1 and wanted[1] in self.points else default_model(points))
        self._set_current(current)
        self._update_title()

    def _update_title(self) -> None:
        ws, dense, n = self.ws, self.dense, len(self.points)
        if ws is None:
            hint = OPEN_HINT
        elif dense is None:
            hint = ("This workspace has no model to prune. Import one (File > Import "
                    "model), or make the demo workspace with `python main.py demo`.")
        else:
            hint = (f"No pruned models of {dense} yet: choose methods and sparsities above "
                    "and press Run sweep.")
        self.empty.set_texts(hint=hint)
        live = self.controls.job is not None
        self.stack.setCurrentWidget(self.body if n or live else self.empty)
        self.export_button.setVisible(bool(n))
        self.open_button.setVisible(bool(n))
        dataset = self.controls.dataset_combo.currentData()
        acc = f" · dense accuracy {100 * self.dense_accuracy:.2f}%" \
            if self.dense_accuracy is not None else ""
        self.title.setText(f"{dense} on {dataset}{acc} · {n} pruned model{'s' * (n != 1)}"
                           if dense and n else "")

    def _on_session_catalog_changed(self, change) -> None:
        if not (change.models or change.reset) or self.ws is None:
            return  # runs come and go all the time; only models make points
        from visualizer.analysis.pruning.results import pruned_points

        every = pruned_points(self.ws)
        self.controls.fill(self.ws, self.dense, every)
        if self.controls.dense != self.dense or change.reset:
            self.show_dense(self.controls.dense)
            return
        mine = {p.model: p for p in every if p.parent == self.dense}
        gone = [m for m in self.points if m not in mine]
        changed = [p for m, p in mine.items() if self.points.get(m) != p]
        if not gone and not changed:
            return
        self.points = mine
        self.dense_accuracy = dense_accuracy(self.ws, self.dense, list(mine.values()))
        self.accuracy_plot.remove_points(gone)
        self.accuracy_plot.add_points(changed)
        self.accuracy_plot.set_dense(self.dense, self.dense_accuracy)
        if self.current not in mine or any(p.model == self.current for p in changed):
            self._set_current(self.current if self.current in mine else
                              default_model(list(mine.values())))
        else:  # a new peer at the current sparsity belongs among the bars
            self._show_details()
        self._update_title()

    def _on_selection_models_changed(self, models) -> None:
        if self._writing or len(models) < 2:
            return
        dense, pruned = models[0], models[1]
        if pruned in self.points:
            self._set_current(pruned)
        elif dense != self.dense and self.controls.dense_combo.findData(dense) >= 0:
            self.current = pruned
            self.show_dense(dense)

    # -- the current pruned model -------------------------------------------------------------
    def select_model(self, model: str) -> None:
        """Make ``model`` the current pruned model and tell the other views
        (``selection.models = (dense, model)``)."""
        if model not in self.points:
            return
        self._set_current(model)
        self._writing = True
        try:
            self.session.selection.models = (self.dense, model)
        finally:
            self._writing = False

    def open_in_layers(self):
        """Find or extract the activations of the current pruned model (and of its
        parent, on the same samples), then show the pruned one in the Layers view."""
        from visualizer.analysis.pruning import compare as cj

        ws, model = self.session.workspace, self.current
        if ws is None or not model or not self.dense:
            return None
        request = cj.PairRequest(str(ws.root), self.dense, model,
                                 cj.dataset_of(ws, model) or
                                 self.controls.dataset_combo.currentData())

        def done(job) -> None:
            if self.current != model:
                return  # another model was chosen meanwhile
            self.session.selection.run_id = job.result[1]
            self.session.show_view_requested.emit("layers", {})

        return self.runner.submit(cj.activations_pair, request,
                                  name=f"Activations of {model} for the Layers view",
                                  on_done=done)

    def _on_accuracy_plot_point_clicked(self, model: str) -> None:
        self.select_model(model)

    def _set_current(self, model: str | None) -> None:
        self.current = model
        self.accuracy_plot.set_current(model)
        self._show_details()
        for panel in (self.cka_panel, self.forgotten_panel):
            if hasattr(panel, "set_models"):
                try:
                    panel.set_models(self.dense, model)
                except Exception as exc:  # noqa: BLE001 - a panel's bug stays in its tab
                    self.session.notify("error", "A pruning panel failed",
                                        f"{type(exc).__name__}: {exc}")

    def _show_details(self) -> None:
        p = self.points.get(self.current) if self.current else None
        self.cost_table.set_point(p)
        if p is None:
            self.layer_plot.set_models([], None)
            self.layer_title.setText("Per-layer sparsity")
            self.cost_title.setText("Cost against the dense model")
        else:
            self.layer_plot.set_models(peers_of(p, list(self.points.values())), p.model)
            self.layer_title.setText(f"Per-layer sparsity at {100 * p.target_sparsity:.3g}% "
                                     "target, by method")
            self.layer_title.setToolTip(plain_tip(
                f"Bars: every model of {p.parent} pruned to this target; outlined: "
                f"{p.model}; dashed line: its overall sparsity ({100 * p.sparsity:.1f}%)"))
            self.cost_title.setText(f"{p.model} against {p.parent}")
        self.curves.show_model(self.ws, p)

    # -- live fine-tuning curves -------------------------------------------------------------
    def _on_controls_sweep_started(self, _job) -> None:
        self._update_title()
        if self.controls.schedule_combo.currentData() != "oneshot":  # watch the curves stream in
            self.panel_tabs.setCurrentWidget(self.curves)

    def _on_controls_partial_arrived(self, partial: dict) -> None:
        kind = partial.get("kind")
        if kind == "finetune_curves" and partial.get("curves"):
            self.curves.add_live(partial, self.dense_accuracy)
        elif kind == "sweep_point_done":
            self.session.check_catalog()  # the new point lands through catalog_changed

    def _on_controls_sweep_finished(self, _job) -> None:
        self.curves.end_live()
        self.curves.show_model(self.ws, self.points.get(self.current) if self.current else None)
        self._update_title()

    # -- export ---------------------------------------------------------------------------
    def export_image(self, path):
        """The figure ``render`` draws (not the controls) for the shown models."""
        from widgets.pruning.render import render

        return render(self.ws, out=path, options={"dense": self.dense, "model": self.current})

    def _export(self, kind: str) -> None:
        from pathlib import Path

        from PySide6.QtWidgets import QFileDialog

        from widgets.qt_dialogs import last_dir, remember_dir

        path, _ = QFileDialog.getSaveFileName(self, f"Export the pruning figure as "
                                              f"{kind.upper()}", str(last_dir()),
                                              f"{kind.upper()} (*.{kind})")
        if not path:
            return
        if not path.lower().endswith(f".{kind}"):
            path += f".{kind}"
        try:
            out = self.export_image(path)
        except Exception as exc:  # noqa: BLE001 - shown to the user, not raised
            self.session.notify("error", "Export failed", f"{type(exc).__name__}: {exc}")
            return
        remember_dir(str(Path(path).parent))
        self.session.notify("info", "Pruning figure exported", str(out))
