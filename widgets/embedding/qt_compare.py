"""The Embedding view's comparison: a second projection of the same samples (another
layer or model) beside the first, aligned to it by Procrustes, its axes linked.

With "arrows" on, each sample drawn in the comparison gets a line from its position in
the first projection to its aligned position in the second: the selected samples, or a
fixed random subset when none is selected (a few hundred lines stay readable).
"""

from __future__ import annotations

import numpy as np
from PySide6.QtWidgets import QCheckBox, QHBoxLayout

from widgets.embedding.data import LayoutRequest, load_layout
from widgets.embedding.qt_embedding_controls import select_combo

MAX_ARROWS = 2000  # for a selection: the user chose these samples
RANDOM_ARROWS = 150  # without one: a seeded subset, the same on every redraw


class Comparison:
    """Loads and aligns ``view.layout_b`` (``view`` is a ``QtEmbeddingView``)."""

    def __init__(self, view):
        self.view = view
        self.alignment = None  # of the last layout_b shown, to layout_a
        view.compare_combo.activated.connect(self._on_compare_combo_activated)
        self.arrows_check = QCheckBox("arrows")
        self.arrows_check.setChecked(True)
        self.arrows_check.setToolTip(
            "Lines from each sample's position in the first projection to its aligned "
            f"position here: the selected samples, or {RANDOM_ARROWS} random ones when "
            "none is selected")
        self.arrows_check.toggled.connect(lambda _: view._show_selection())
        pane = view.compare_pane.layout()
        pane.removeWidget(view.compare_title)
        header = QHBoxLayout()
        header.addWidget(view.compare_title, 1)
        header.addWidget(self.arrows_check)
        pane.insertLayout(0, header)

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

    def arrow_ids(self, selected: np.ndarray) -> np.ndarray:
        """Samples that get an arrow: in both layouts, the selected ones (at most
        ``MAX_ARROWS``) or, with no selection, ``RANDOM_ARROWS`` drawn with a fixed seed."""
        view = self.view
        a, b = view.layout_a, view.layout_b
        if not self.arrows_check.isChecked() or a is None or b is None:
            return np.zeros(0, np.int64)
        common = np.intersect1d(a.ids, b.ids)
        if len(selected):
            return np.intersect1d(common, selected)[:MAX_ARROWS]
        if len(common) > RANDOM_ARROWS:
            pick = np.random.default_rng(0).choice(len(common), RANDOM_ARROWS, replace=False)
            common = common[np.sort(pick)]
        return common

    def update_arrows(self, selected) -> None:
        """Draw the arrows for ``selected`` (the session's selection) in the comparison."""
        view = self.view
        ids = self.arrow_ids(np.asarray(selected, dtype=np.int64))
        view.compare.set_arrows(view.scatter.coords_of(ids), view.compare.coords_of(ids))
