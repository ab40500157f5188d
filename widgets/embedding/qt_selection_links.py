"""The Embedding view's links to the session's selection: brushed points become the
selected samples (shown in the gallery and, with arrows, in the comparison), the
hovered point the hovered sample, and a clicked sample's nearest neighbours in
activation space fill the neighbours gallery."""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import QTimer

from widgets._gui_thread import connect_model


class SelectionLinks:
    """Selection, hover and neighbours of ``view`` (a ``QtEmbeddingView``)."""

    def __init__(self, view):
        self.view = view
        self._nn_job = None
        self._nn_sample: int | None = None
        self._hover_echo: int | None = None  # our own hover, coming back from the session
        self._timer = QTimer(view, singleShot=True, interval=40)
        self._timer.timeout.connect(self.show_selection)
        for plot in (view.scatter, view.compare):
            plot.selection_made.connect(self._on_scatter_selection_made)
            plot.hovered.connect(self._on_scatter_hovered)
            plot.clicked.connect(self._on_scatter_clicked)
        side = view.side
        side.neighbours_k_changed.connect(lambda _: self.request_neighbours(self._nn_sample))
        side.neighbours.sample_clicked.connect(self.request_neighbours)
        side.gallery.sample_clicked.connect(self.request_neighbours)
        sel = view.session.selection
        connect_model(view, sel.events.sample_ids, lambda *_: self._timer.start())
        connect_model(view, sel.events.hovered_sample,
                      self._on_selection_hovered_sample_changed, nargs=1)

    def _on_scatter_selection_made(self, ids: np.ndarray, op: str) -> None:
        selection = self.view.session.selection
        current = np.asarray(selection.sample_ids, dtype=np.int64)
        if op == "add":
            ids = np.union1d(current, ids)
        elif op == "remove":
            ids = np.setdiff1d(current, ids)
        selection.sample_ids = tuple(int(i) for i in np.unique(ids))

    def show_selection(self) -> None:
        self._timer.stop()
        view = self.view
        ids = np.asarray(view.session.selection.sample_ids, dtype=np.int64)
        view.scatter.set_selected(ids)
        context = view.layout_a.context if view.layout_a is not None else None
        view.side.show_selection(context, ids)
        if view.layout_b is not None:
            view.compare.set_selected(ids)
            view.comparison.update_arrows(ids)

    def _on_scatter_hovered(self, sid) -> None:
        view = self.view
        context = view.layout_a.context if view.layout_a is not None else None
        view.side.hover.show_sample(context, sid)
        if sid is not None:
            self._hover_echo = sid
            view.session.selection.hovered_sample = sid

    def _on_selection_hovered_sample_changed(self, sid) -> None:
        view = self.view
        if sid is None or sid == self._hover_echo or view.layout_a is None:
            return
        view.side.hover.show_sample(view.layout_a.context, sid)

    def _on_scatter_clicked(self, sid: int) -> None:
        self.request_neighbours(sid)

    def request_neighbours(self, sid) -> None:
        from visualizer.analysis.projection.neighbors import NeighborsRequest, nearest_neighbors

        view = self.view
        layout = view.layout_a
        if sid is None or layout is None or view.ws is None:
            return
        self._nn_sample = int(sid)
        request = NeighborsRequest(str(view.ws.root), layout.context.run_id, layout.layer,
                                   int(sid), k=view.side.k_spin.value())

        def done(job):
            if job is not self._nn_job or view.layout_a is not layout:
                return
            result = job.result
            view.side.show_neighbours(layout.context, result, layout.layer)
            view.scatter.set_highlight(np.concatenate([[result.sample_id], result.ids]))

        self._nn_job = view.runner.submit(nearest_neighbors, request,
                                          name="Nearest neighbours", on_done=done)
