"""The Embedding view's comparison: a second projection of the same samples (another
layer or model) beside the first, aligned to it by Procrustes, its axes linked."""

from __future__ import annotations

import numpy as np

from widgets.embedding.data import LayoutRequest, load_layout
from widgets.embedding.qt_embedding_controls import select_combo


class Comparison:
    """Loads and aligns ``view.layout_b`` (``view`` is a ``QtEmbeddingView``)."""

    def __init__(self, view):
        self.view = view
        self.alignment = None  # of the last layout_b shown, to layout_a
        view.compare_combo.activated.connect(self._on_compare_combo_activated)

    def _on_compare_combo_activated(self, _index: int) -> None:
        self.set_compare(self.view.compare_combo.currentData())

    def set_compare(self, run_id: str | None) -> None:
        """Show projection ``run_id`` beside the current one, aligned to it (None: hide)."""
        view = self.view
        view.state.compare = run_id
        select_combo(view.compare_combo, run_id)
        if not run_id:
            view.layout_b = None
            view.compare_pane.hide()
            view.compare.setXLink(None)
            view.compare.setYLink(None)
            return

        def done(job):
            if view.state.compare != run_id:
                return
            view.layout_b = job.result
            self.align()

        view.runner.submit(load_layout, LayoutRequest(str(view.ws.root), run_id),
                           name="Load projection to compare", on_done=done)

    def align(self) -> None:
        """Align layout_b to layout_a and show it (nothing while either is missing)."""
        from visualizer.analysis.projection.align import align_by_ids

        view = self.view
        a, b = view.layout_a, view.layout_b
        if a is None or b is None:
            return
        alignment = align_by_ids(a.ids, a.coords, b.ids, b.coords)
        self.alignment = alignment
        aligned = alignment.apply(b.coords)
        view.compare_pane.show()
        view.compare.set_points(aligned, b.ids, view._colouring(b, 1), fit=False)
        view.compare.set_hidden(view.scatter.hidden)
        view.compare.setXLink(view.scatter)
        view.compare.setYLink(view.scatter)
        angle = np.degrees(np.arctan2(alignment.rotation[0, 1], alignment.rotation[0, 0]))
        view.compare_title.setText(
            f"{b.title} · aligned: rotation {angle:.0f}°"
            f"{' (mirrored)' if alignment.reflected else ''}, scale {alignment.scale:.2g}, "
            f"disparity {alignment.disparity:.2f} over {alignment.n_common:,} samples")
        view._show_selection()
