"""The Embedding view's source pickers: the Run, Layer and Method combos, kept in step
with the view's state and with the run and layer selected in the session."""

from __future__ import annotations

from widgets._gui_thread import connect_model


def default_layer(layers: list[str]) -> str | None:
    """The penultimate layer (the last one before the logits), a common embedding choice."""
    if not layers:
        return None
    return layers[-2] if len(layers) >= 2 else layers[-1]


MAX_LISTED_RUNS = 500  # the newest: a sweep can make thousands (the browser lists all)


class SourcePicker:
    """Picks the activation run, layer and method of ``view`` (a ``QtEmbeddingView``)."""

    def __init__(self, view):
        self.view = view
        self._updating = False  # combos filled by code: not a user's choice
        view.run_combo.currentIndexChanged.connect(self._on_run_combo_changed)
        view.layer_combo.currentIndexChanged.connect(self._on_layer_combo_changed)
        view.method_combo.currentIndexChanged.connect(self._on_method_combo_changed)
        sel = view.session.selection
        connect_model(view, sel.events.run_id, self._on_selection_run_id_changed, nargs=1)
        connect_model(view, sel.events.layer, self._on_selection_layer_changed, nargs=1)
        self._on_method_combo_changed()  # the parameters of the method shown first

    def fill_run_combo(self) -> None:
        view = self.view
        self._updating = True
        try:
            current = view.state.source_run
            view.run_combo.clear()
            runs = view.ws.catalog.run_rows(kind="activations", status="complete",
                                            newest=MAX_LISTED_RUNS) if view.ws else []
            for run in runs:
                view.run_combo.addItem(_title(run), run.id)
            want = current or view.session.selection.run_id
            index = view.run_combo.findData(want) if want else -1
            if index < 0 and runs:
                index = len(runs) - 1
            view.run_combo.setCurrentIndex(index)
        finally:
            self._updating = False
        run_id = view.run_combo.currentData()
        if run_id and run_id != view.state.source_run:
            self.set_source(run_id)

    def follow_change(self, change) -> None:
        """Offer activation runs that just finished; anything else re-reads the list."""
        view = self.view
        finished = [i for i, c in change.runs.items() if c.kind == "activations"
                    and c.status == "complete" and c.op != "removed"
                    and view.run_combo.findData(i) < 0]
        removed = any(c.op == "removed" for c in change.runs.values())
        if change.reset or removed or not view.run_combo.count() or len(finished) > 20:
            self.fill_run_combo()
            return
        view.run_combo.blockSignals(True)
        for run in sorted(view.ws.catalog.run_rows(finished), key=lambda r: r.created_at):
            view.run_combo.addItem(_title(run), run.id)
        view.run_combo.blockSignals(False)

    def follow(self, run_id: str) -> None:
        """Make ``run_id`` (the run of a layout being shown) the source, without reloading."""
        view = self.view
        if run_id != view.state.source_run:
            view.state.source_run = run_id
            self._updating = True
            index = view.run_combo.findData(run_id)
            if index >= 0:
                view.run_combo.setCurrentIndex(index)
            self._updating = False

    def _on_selection_run_id_changed(self, run_id) -> None:
        view = self.view
        index = view.run_combo.findData(run_id) if run_id else -1
        if index >= 0 and run_id != view.state.source_run:
            self._updating = True
            view.run_combo.setCurrentIndex(index)
            self._updating = False
            self.set_source(run_id)

    def _on_selection_layer_changed(self, layer) -> None:
        view = self.view
        index = view.layer_combo.findText(layer) if layer else -1
        if index >= 0 and layer != view.state.layer:
            view.layer_combo.setCurrentIndex(index)

    def _on_run_combo_changed(self, _index: int) -> None:
        if self._updating:
            return
        view = self.view
        run_id = view.run_combo.currentData()
        if run_id:
            self.set_source(run_id)
            if view.session.selection.run_id != run_id:
                view.session.selection.run_id = run_id

    def set_source(self, run_id: str) -> None:
        view = self.view
        view.state.source_run = run_id
        try:
            run = view.ws.run(run_id)
        except Exception:  # noqa: BLE001 - a deleted run: nothing to show
            return
        layers = list(run.params.get("layers", []))
        self._updating = True
        try:
            view.layer_combo.clear()
            view.layer_combo.addItems(layers)
            want = view.session.selection.layer
            layer = want if want in layers else default_layer(layers)
            if layer:
                view.layer_combo.setCurrentText(layer)
            view.state.layer = layer
        finally:
            self._updating = False
        view._ensure_context(run_id)
        view._show_stored_for_current()

    def _on_layer_combo_changed(self, _index: int) -> None:
        if self._updating:
            return
        view = self.view
        view.state.layer = view.layer_combo.currentText() or None
        if view.state.layer and view.session.selection.layer != view.state.layer:
            view.session.selection.layer = view.state.layer
        view._show_stored_for_current()

    def _on_method_combo_changed(self, *_) -> None:
        view = self.view
        view.state.method = view.method_combo.currentData() or "umap"
        try:
            from visualizer.analysis.projection.job import resolve_method

            _, method = resolve_method(view.state.method)
            view.params.set_params(method.params)
        except Exception as exc:  # noqa: BLE001 - a broken plugin: say so, keep going
            view.params.set_params(None)
            view.status.setText(f"method unavailable: {exc}")


def _title(run) -> str:
    """A ``RunRow`` in the run menu."""
    return f"{run.model or '?'} · {run.dataset or '?'} · {run.id}"
