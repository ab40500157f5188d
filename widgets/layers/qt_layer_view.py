"""The Layers tab: the model's graph on the left, the selected layer in detail on the right.

It follows ``selection.run_id`` (the model is the run's), ``selection.layer`` (the
highlighted node and the detail) and the selected sample (``hovered_sample``, else the
first of ``sample_ids``) for feature maps; clicking a node writes ``selection.layer``.
Everything heavy (model loading, tracing, layout, reading the dump) runs as jobs; a
newer request of the same kind cancels the older one and stale results are dropped.

A pruned model (a catalog model with a ``lineage``) is shown like any other, with its
lineage in the header ("pruned from cnn by magnitude to 90% (finetune)"),
coloured by weight sparsity until the user picks another colouring, its channel counts
against its parent's on the nodes, and its parent's weights beside its own.
"""

from __future__ import annotations

from PySide6.QtCore import Qt, QTimer
from PySide6.QtWidgets import (
    QComboBox,
    QFileDialog,
    QHBoxLayout,
    QLineEdit,
    QMenu,
    QPushButton,
    QSplitter,
    QStackedWidget,
    QTabWidget,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from visualizer.analysis.layers.graph import COLOR_STATS, GraphRequest, RelayoutRequest
from visualizer.analysis.layers.lineage import PruningInfo, pruning_info
from visualizer.analysis.layers.view_state import DETAIL_TABS, LayerViewState, resolve_colour
from widgets._gui_thread import connect_model
from widgets.layers.qt_color_bar import QtColorBar
from widgets.layers.qt_compare_panel import QtComparePanel
from widgets.layers.qt_feature_grid import QtFeatureGrid
from widgets.layers.qt_graph_canvas import QtGraphCanvas
from widgets.layers.qt_lineage_label import QtLineageLabel
from widgets.layers.qt_top_samples import QtTopSamples
from widgets.layers.qt_unit_panel import QtUnitPanel
from widgets.layers.qt_weights_panel import QtWeightsPanel
from widgets.qt_empty_state import QtEmptyState, activation_run_or_hint
from widgets.qt_text import plain_label

COLLAPSE_CHOICES = (("Every layer", 0), ("Fold modules at depth 1", 1),
                    ("Fold modules at depth 2", 2), ("Fold modules at depth 3", 3))


class QtLayerView(QWidget):
    """The Layer view of ``session``; jobs go through ``runner`` (``QtJobRunner``)."""

    def __init__(self, session, runner, parent: QWidget | None = None,
                 state: LayerViewState | None = None):
        super().__init__(parent)
        self.session = session
        self.runner = runner
        self.state = state or LayerViewState()
        self.model_name: str | None = None
        self.run_id: str | None = None
        self.graph_result = None
        self.detail = None
        self.features = None
        self.top = None
        self.comparison = None
        self.pruning: PruningInfo | None = None  # the shown model's lineage, if pruned
        self._latest: dict[str, object] = {}
        self._updating = False
        self._build()
        self._sample_timer = QTimer(self)  # hover events come fast: coalesce them
        self._sample_timer.setSingleShot(True)
        self._sample_timer.setInterval(60)
        self._sample_timer.timeout.connect(self._request_features)
        sel = session.selection
        connect_model(self, sel.events.run_id, self._on_selection_run_id_changed, nargs=1)
        connect_model(self, sel.events.layer, self._on_selection_layer_changed, nargs=1)
        connect_model(self, sel.events.hovered_sample,
                      lambda *_: self._sample_timer.start(), nargs=1)
        connect_model(self, sel.events.sample_ids, lambda *_: self._sample_timer.start(),
                      nargs=1)
        connect_model(self, session.workspace_changed, lambda ws: self.show_run(None), nargs=1)
        self.show_run(sel.run_id)

    # -- building ----------------------------------------------------------------
    def _build(self) -> None:
        self.empty = QtEmptyState(
            "Layers",
            "The model's layer graph, coloured by a statistic (mean activation, dead "
            "units, weight norm, parameters, weight sparsity), and one layer in detail: "
            "per-unit statistics, weights and filters, feature maps of a sample and the "
            "samples that excite a unit most.",
            "Select an activation run in the workspace browser on the left.")
        self.color_box = QComboBox()
        self.color_box.addItem("Layer type", "type")
        for key, (title, _) in COLOR_STATS.items():
            self.color_box.addItem(title, key)
        self.color_box.setItemData(self.color_box.findData("zero_weights"),
                                   "Share of each layer's weights that are exactly zero: "
                                   "where pruning removed weights.", Qt.ItemDataRole.ToolTipRole)
        self.color_box.setCurrentIndex(max(0, self.color_box.findData(
            resolve_colour(self.state.color_by, False))))
        self.color_box.currentIndexChanged.connect(self._on_color_box_changed)
        self.collapse_box = QComboBox()
        for text, depth in COLLAPSE_CHOICES:
            self.collapse_box.addItem(text, depth)
        self.collapse_box.setCurrentIndex(max(0, self.collapse_box.findData(
            self.state.collapse_depth)))
        self.collapse_box.setToolTip("Fold modules into one node; double-click a folded "
                                     "node to open it, a layer to fold its module.")
        self.collapse_box.currentIndexChanged.connect(self._on_collapse_box_changed)
        self.search_box = QLineEdit(self.state.search)
        self.search_box.setPlaceholderText("Search layers (name or type), Enter to jump")
        self.search_box.setClearButtonEnabled(True)
        self.search_box.textChanged.connect(self._on_search_box_text_changed)
        self.search_box.returnPressed.connect(self._on_search_box_return_pressed)
        self._match_pos = 0
        self.fit_button = QPushButton("Fit")
        self.fit_button.setToolTip("Show the whole graph")
        self.export_button = QToolButton()
        self.export_button.setText("Export")
        self.export_button.setPopupMode(QToolButton.ToolButtonPopupMode.InstantPopup)
        menu = QMenu(self.export_button)
        menu.addAction("View as PNG…", lambda: self._export(self, "png"))
        menu.addAction("View as SVG…", lambda: self._export(self, "svg"))
        menu.addAction("Graph as PNG…", lambda: self._export(self.canvas, "png"))
        menu.addAction("Graph as SVG…", lambda: self._export(self.canvas, "svg"))
        menu.addAction("Detail as PNG…", lambda: self._export(self.tabs, "png"))
        self.export_button.setMenu(menu)
        self.title = plain_label()
        font = self.title.font()
        font.setBold(True)
        self.title.setFont(font)
        self.lineage = QtLineageLabel()
        bar = QHBoxLayout()
        bar.addWidget(self.title)
        bar.addWidget(self.lineage)
        bar.addSpacing(12)
        bar.addWidget(plain_label("Colour:"))
        bar.addWidget(self.color_box)
        bar.addWidget(self.collapse_box)
        bar.addWidget(self.search_box, 1)
        bar.addWidget(self.fit_button)
        bar.addWidget(self.export_button)
        self.note = plain_label(wrap=True)
        self.note.setStyleSheet("background: #fff4ce; color: #5c4400; padding: 4px;")
        self.note.hide()
        self.status = plain_label(wrap=True)
        self.status.setStyleSheet("color: #5f6b7a;")
        self.canvas = QtGraphCanvas()
        self.canvas.color_by = resolve_colour(self.state.color_by, False)
        self.canvas.node_clicked.connect(self._on_canvas_node_clicked)
        self.canvas.node_double_clicked.connect(self._on_canvas_node_double_clicked)
        self.fit_button.clicked.connect(self.canvas.fit_all)
        self.color_bar = QtColorBar()
        left = QWidget()
        ll = QVBoxLayout(left)
        ll.setContentsMargins(0, 0, 0, 0)
        ll.addWidget(self.note)
        ll.addWidget(self.canvas, 1)
        ll.addWidget(self.color_bar)
        self.units_panel = QtUnitPanel()
        self.weights_panel = QtWeightsPanel()
        self.feature_grid = QtFeatureGrid()
        self.top_panel = QtTopSamples(self.session)
        self.compare_panel = QtComparePanel()
        self.tabs = QTabWidget()
        for widget, text in ((self.units_panel, "Units"), (self.weights_panel, "Weights"),
                             (self.feature_grid, "Feature maps"),
                             (self.top_panel, "Top samples"), (self.compare_panel, "Compare")):
            self.tabs.addTab(widget, text)
        self.tabs.setCurrentIndex(DETAIL_TABS.index(self.state.tab)
                                  if self.state.tab in DETAIL_TABS else 0)
        self.tabs.currentChanged.connect(self._on_tabs_current_changed)
        self.units_panel.set_state(self.state.unit_stat, self.state.unit_sort)
        self.units_panel.unit_clicked.connect(self._on_unit_picked)
        self.feature_grid.unit_clicked.connect(self._on_unit_picked)
        self.feature_grid.shared.setChecked(self.state.shared_scale)
        self.top_panel.k.setValue(self.state.top_k)
        self.top_panel.reduce.setCurrentIndex(max(0, self.top_panel.reduce.findData(
            self.state.reduce)))
        self.top_panel.request_changed.connect(self._on_top_panel_request_changed)
        self.compare_panel.model_b_changed.connect(self._on_compare_model_changed)
        self.compare_panel.layer_clicked.connect(self._set_layer)
        self.splitter = QSplitter(Qt.Orientation.Horizontal)
        self.splitter.addWidget(left)
        self.splitter.addWidget(self.tabs)
        self.splitter.setStretchFactor(0, 5)
        self.splitter.setStretchFactor(1, 6)
        self.splitter.setChildrenCollapsible(False)
        left.setMinimumWidth(280)
        self.tabs.setMinimumWidth(360)
        page = QWidget()
        pl = QVBoxLayout(page)
        pl.setContentsMargins(8, 6, 8, 6)
        pl.addLayout(bar)
        pl.addWidget(self.splitter, 1)
        pl.addWidget(self.status)
        self.stack = QStackedWidget()
        self.stack.addWidget(self.empty)
        self.stack.addWidget(page)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.addWidget(self.stack)

    # -- jobs --------------------------------------------------------------------
    def _submit(self, kind: str, fn, request, on_done, text: str) -> None:
        old = self._latest.get(kind)
        if old is not None and hasattr(old, "cancel") and not old.state.finished:
            old.cancel()
        token = object()  # stands for the job until submit returns (sync runners)
        self._latest[kind] = token

        def current(j) -> bool:
            return self._latest.get(kind) in (j, token)

        def done(j):
            if current(j):
                on_done(j.result)

        def failed(j):
            if current(j):
                self._show_error(kind, str(j.error))

        job = self.runner.submit(fn, request, name=text, on_done=done, on_failed=failed)
        if self._latest.get(kind) is token:
            self._latest[kind] = job

    def _show_error(self, kind: str, message: str) -> None:
        self.status.setText(f"{kind}: {message}")
        if kind == "graph":
            self.canvas.set_graph(None)
            self.note.setText(f"The graph could not be built: {message}")
            self.note.show()
        elif kind == "features":
            self.feature_grid.set_maps(None, f"Feature maps unavailable: {message}")
        elif kind == "top":
            self.top_panel.set_result(None, text=f"Top samples unavailable: {message}")
        elif kind == "compare":
            self.compare_panel.set_result(None, f"Comparison failed: {message}")

    def pending(self) -> bool:
        """Whether any of this view's jobs is still running (tests, headless render)."""
        return any(hasattr(j, "state") and not j.state.finished
                   for j in self._latest.values())

    # -- run -----------------------------------------------------------------------
    def _on_selection_run_id_changed(self, run_id: str | None) -> None:
        self.show_run(run_id)

    def show_run(self, run_id: str | None) -> None:
        ws = self.session.workspace
        for job in self._latest.values():
            if hasattr(job, "cancel") and not job.state.finished:
                job.cancel()
        self._latest.clear()
        self.run_id = None
        run, hint = activation_run_or_hint(
            ws, run_id, "Select an activation run in the workspace browser on the left: its "
                        "model's graph appears here.")
        if run is None:
            self.empty.set_texts(hint=hint)
            self.stack.setCurrentIndex(0)
            return
        self.run_id = run_id
        self.run = run
        self.model_name = run.params.get("model") or run.record.model
        self.title.setText(f"{self.model_name} · run {run_id}")
        records = {m.name: m for m in ws.models()}  # one catalog read for all below
        self._show_lineage(pruning_info(records, self.model_name))
        self.stack.setCurrentIndex(1)
        self.status.setText(f"Tracing {self.model_name} and laying out its graph…")
        self.graph_result = None
        self.canvas.set_graph(None)
        self._submit("graph", _build_graph, GraphRequest(
            str(ws.root), self.model_name, run_id, collapsed=self.state.collapsed,
            collapse_depth=self.state.collapse_depth or None), self._on_graph_done,
            f"Layer graph of {self.model_name}")
        layers = run.params.get("layers") or []
        if self.session.selection.layer not in layers and layers:
            self._set_layer(_default_layer(layers, run.params.get("layer_shapes") or {}))
        else:
            self._request_detail()
        others = [name for name in records if name != self.model_name]
        self.compare_panel.set_models(self.model_name, others, self.state.compare_model)
        if self.state.tab == "compare":
            self._request_compare()

    def _show_lineage(self, info: PruningInfo | None) -> None:
        """The header's lineage, the nodes' channel counts and the default colouring."""
        self.pruning = self.canvas.pruning = info
        self.lineage.set_info(info)
        key = resolve_colour(self.state.color_by, info is not None)
        self.color_box.blockSignals(True)  # the model's default, not the user's pick
        self.color_box.setCurrentIndex(max(0, self.color_box.findData(key)))
        self.color_box.blockSignals(False)
        self.canvas.set_color_by(key)
        self._apply_color_bar()

    def _on_graph_done(self, result) -> None:
        self.graph_result = result
        self.canvas.set_graph(result)
        self._apply_color_bar()
        g = result.graph
        if not g.traced:
            self.note.setText(g.note)
            self.note.show()
        else:
            self.note.hide()
        self.status.setText(
            f"{len(g.nodes)} nodes, {len(g.edges)} edges"
            + (f" ({len(result.collapsed)} modules folded)" if result.collapsed else "")
            + f"; traced with torch.fx in {result.seconds:.2f} s." if g.traced else
            f"{len(g.nodes)} modules (module tree, not data flow).")
        if self.state.search:
            self.canvas.search(self.state.search)
        layer = self.session.selection.layer
        self.canvas.set_selected(self.canvas.node_for_layer(layer))

    def _relayout(self) -> None:
        if self.graph_result is None or self.graph_result.full is None:
            return
        self._submit("graph", _relayout, RelayoutRequest(
            self.graph_result.full, self.state.collapsed, self.state.collapse_depth or None,
            self._expanded), self._on_graph_done, f"Layout of {self.model_name}")

    _expanded: tuple[str, ...] = ()

    # -- layer ----------------------------------------------------------------------
    def _on_selection_layer_changed(self, layer: str | None) -> None:
        if self._updating:
            return
        self.canvas.set_selected(self.canvas.node_for_layer(layer))
        self._request_detail()

    def _set_layer(self, layer: str | None) -> None:
        """Write the selection (the view follows through its own slot)."""
        if layer is None or layer == self.session.selection.layer:
            self.canvas.set_selected(self.canvas.node_for_layer(layer), center=False)
            return
        self.session.selection.layer = layer

    def _on_canvas_node_clicked(self, name: str) -> None:
        node = self.canvas.nodes[self.canvas.index[name]]
        layer = node.layer or node.module_path or node.name
        self._updating = True
        try:
            self.canvas.set_selected(name, center=False)
            self.session.selection.layer = layer
        finally:
            self._updating = False
        self._request_detail()

    def _on_canvas_node_double_clicked(self, name: str) -> None:
        node = self.canvas.nodes[self.canvas.index[name]]
        collapsed, expanded = set(self.state.collapsed), set(self._expanded)
        if node.op == "collapsed":
            collapsed.discard(name)
            expanded.add(name)
        else:
            parent = (node.module_path or node.scope or "").rpartition(".")[0] \
                if node.module_path else (node.scope or "")
            if not parent:
                return
            collapsed.add(parent)
            expanded.discard(parent)
        self.state.collapsed, self._expanded = tuple(sorted(collapsed)), tuple(sorted(expanded))
        self._relayout()

    def _request_detail(self) -> None:
        layer = self.session.selection.layer
        if self.run_id is None or layer is None:
            return
        from visualizer.analysis.layers.detail import DetailRequest

        self.status.setText(f"Loading {layer}…")
        self._submit("detail", _layer_detail, DetailRequest(
            str(self.session.workspace.root), self.run_id, layer), self._on_detail_done,
            f"Statistics of {layer}")
        self._request_features()
        self._request_top()
        if self.tabs.currentWidget() is self.compare_panel:
            self._request_compare()

    def _on_detail_done(self, detail) -> None:
        self.detail = detail
        self.units_panel.set_table(detail.units, detail.note)
        self.weights_panel.set_weights(detail.weights, detail.first_conv, detail.layer,
                                       parent=detail.parent,
                                       parent_weights=detail.parent_weights)
        if detail.units is not None:
            self.top_panel.set_units(detail.units.units, len(detail.units.shape) > 1,
                                     self.state.unit)
        self.status.setText(detail.note or f"{detail.layer} of {detail.model}.")

    # -- sample ----------------------------------------------------------------------
    def current_sample(self) -> tuple[int, bool]:
        """The selected sample and whether the user chose it (else sample 0)."""
        sel = self.session.selection
        if sel.hovered_sample is not None:
            return int(sel.hovered_sample), True
        if sel.sample_ids:
            return int(sel.sample_ids[0]), True
        return 0, False

    def _request_features(self) -> None:
        layer = self.session.selection.layer
        if self.run_id is None or layer is None:
            return
        from visualizer.analysis.layers.samples import FeatureRequest

        sample, _chosen = self.current_sample()
        self._submit("features", _feature_maps, FeatureRequest(
            str(self.session.workspace.root), self.run_id, layer, sample),
            self._on_features_done, f"Feature maps of {layer}")

    def _on_features_done(self, maps) -> None:
        self.features = maps
        _, chosen = self.current_sample()
        self.feature_grid.unit = self.state.unit
        self.feature_grid.set_maps(maps, "" if chosen else
                                   "No sample selected: showing sample 0; click a sample in "
                                   "a gallery or another view to change it.")

    # -- units and top samples --------------------------------------------------------
    def _on_unit_picked(self, unit: int) -> None:
        self.state.unit = unit
        self.top_panel.unit.blockSignals(True)
        self.top_panel.unit.setValue(unit)
        self.top_panel.unit.blockSignals(False)
        self.feature_grid.set_unit(unit)
        self._request_top()

    def _on_top_panel_request_changed(self) -> None:
        self.state.unit = self.top_panel.unit.value()
        self.state.top_k = self.top_panel.k.value()
        self.state.reduce = self.top_panel.reduce.currentData()
        self.feature_grid.set_unit(self.state.unit)
        self._request_top()

    def _request_top(self) -> None:
        layer = self.session.selection.layer
        if self.run_id is None or layer is None:
            return
        if layer not in (self.run.params.get("layers") or [layer]):
            self.top_panel.set_result(None, text=f"{layer} was not recorded in this run, so "
                                                 "its top samples cannot be ranked.")
            return
        from visualizer.analysis.layers.samples import TopKRequest

        units = (self.run.params.get("layer_shapes") or {}).get(layer) or [0]
        if units[0] and self.state.unit >= units[0]:
            self.state.unit = 0  # a new layer with fewer units
        self._submit("top", _top_activating, TopKRequest(
            str(self.session.workspace.root), self.run_id, layer, self.state.unit,
            self.state.top_k, self.state.reduce), self._on_top_done,
            f"Top samples of {layer}[{self.state.unit}]")

    def _on_top_done(self, top) -> None:
        self.top = top
        samples, names = None, ()
        try:
            from visualizer.samples import samples_of_run

            samples = samples_of_run(self.session.workspace, self.run)
            names = samples.class_names
        except Exception as exc:  # noqa: BLE001 - captions still show without images
            self.status.setText(f"Thumbnails unavailable: {exc}")
        self.top_panel.set_result(top, samples, names)

    # -- comparison -----------------------------------------------------------------
    def _on_compare_model_changed(self, name: str) -> None:
        self.state.compare_model = name or None
        self._request_compare()

    def _request_compare(self) -> None:
        ws = self.session.workspace
        b = self.compare_panel.model_b.currentData()
        if ws is None or self.run_id is None or not b:
            self.compare_panel.set_result(None)
            return
        from visualizer.analysis.layers.compare import CompareRequest, newest_run

        self.session.selection.models = (self.model_name, b)
        self._submit("compare", _compare_models, CompareRequest(
            str(ws.root), self.model_name, b, self.run_id,
            newest_run(ws, b, self.run.params.get("dataset")), self.session.selection.layer),
            self.compare_panel.set_result, f"Compare {self.model_name} and {b}")

    # -- options ----------------------------------------------------------------------
    def _on_tabs_current_changed(self, index: int) -> None:
        self.state.tab = DETAIL_TABS[index]
        if self.state.tab == "compare":
            self._request_compare()

    def _on_color_box_changed(self, *_):
        self.state.color_by = self.color_box.currentData()
        self.canvas.set_color_by(self.state.color_by)
        self._apply_color_bar()

    def _apply_color_bar(self) -> None:
        key = self.canvas.color_by
        title = COLOR_STATS[key][0] if key in COLOR_STATS else "Layer type"
        self.color_bar.set_scale(key, title, *self.canvas.range)

    def _on_collapse_box_changed(self, *_):
        self.state.collapse_depth = int(self.collapse_box.currentData())
        self._expanded = ()
        self._relayout()

    def _on_search_box_text_changed(self, text: str) -> None:
        self.state.search = text
        found = self.canvas.search(text)
        self._match_pos = 0
        if text and not found:
            self.status.setText(f"No layer matches {text!r}.")
        elif found:
            self.status.setText(f"{len(found)} layers match; Enter jumps to the next one.")

    def _on_search_box_return_pressed(self) -> None:
        found = [self.canvas.nodes[i].name for i in self.canvas.matches]
        if not found:
            return
        name = found[self._match_pos % len(found)]
        self._match_pos += 1
        self.canvas.ensure_visible(name)
        self._on_canvas_node_clicked(name)

    def _export(self, widget: QWidget, fmt: str) -> None:
        from widgets.common.export import export_widget
        from widgets.qt_dialogs import last_dir

        path, _ = QFileDialog.getSaveFileName(
            self, f"Export as {fmt.upper()}", last_dir(), f"{fmt.upper()} (*.{fmt})")
        if not path:
            return
        if not path.lower().endswith("." + fmt):
            path += "." + fmt
        try:
            export_widget(widget, path)
        except Exception as exc:  # noqa: BLE001 - report, never crash the window
            self.session.notify("error", "Export failed", str(exc))
            return
        self.session.notify("info", "Exported", path)


def _default_layer(layers: list[str], shapes: dict) -> str:
    """The last layer with a spatial map (feature maps to look at), else the first."""
    spatial = [name for name in layers
               if len(shapes.get(name) or ()) == 3 and shapes[name][1] * shapes[name][2] > 1]
    return spatial[-1] if spatial else layers[0]


# Job functions are imported lazily so the tab opens without importing torch.
def _build_graph(request, ctx):
    from visualizer.analysis.layers.graph import build_graph

    return build_graph(request, ctx)


def _relayout(request, ctx):
    from visualizer.analysis.layers.graph import relayout

    return relayout(request, ctx)


def _layer_detail(request, ctx):
    from visualizer.analysis.layers.detail import layer_detail

    return layer_detail(request, ctx)


def _feature_maps(request, ctx):
    from visualizer.analysis.layers.samples import feature_maps

    return feature_maps(request, ctx)


def _top_activating(request, ctx):
    from visualizer.analysis.layers.samples import top_activating

    return top_activating(request, ctx)


def _compare_models(request, ctx):
    from visualizer.analysis.layers.compare import compare_models

    return compare_models(request, ctx)
