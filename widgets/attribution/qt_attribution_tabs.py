"""The pages of the Attribution tab: Gallery (warnings, summary, colour bar and the maps),
Compare (the runs to tick and their grid), Sample (one sample in detail) and Sanity
check; which runs are compared, and which panel Export draws.
"""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QListWidget,
    QListWidgetItem,
    QScrollArea,
    QSplitter,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from widgets.attribution.data import latest_sanity
from widgets.attribution.qt_panels import (
    DisplayOptions,
    QtAttributionGallery,
    QtColorBar,
    QtComparisonGrid,
    QtSampleDetail,
    QtSanityPlot,
)
from widgets.qt_text import plain_label

TABS = ("gallery", "compare", "detail", "sanity")


class QtAttributionTabs(QTabWidget):
    comparison_changed = Signal()  # a run was ticked or unticked by hand

    def __init__(self, session, parent: QWidget | None = None):
        super().__init__(parent)
        self.session = session
        self.summary = plain_label("", wrap=True, selectable=True)
        self.warning = plain_label("", wrap=True)
        self.warning.setStyleSheet("color: #b03a2e; font-weight: bold;")
        self.colorbar = QtColorBar()
        self.gallery = QtAttributionGallery(session)
        gallery_page = QWidget()
        gl = QVBoxLayout(gallery_page)
        gl.setContentsMargins(0, 0, 0, 0)
        gl.addWidget(self.warning)
        gl.addWidget(self.summary)
        gl.addWidget(self.colorbar)
        gl.addWidget(self.gallery, 1)

        self.compare_list = QListWidget()
        self.compare_list.setMaximumWidth(300)
        self.grid = QtComparisonGrid()
        grid_scroll = QScrollArea()
        grid_scroll.setWidget(self.grid)
        grid_scroll.setWidgetResizable(True)
        compare_page = QSplitter()
        left = QWidget()
        ll = QVBoxLayout(left)
        ll.setContentsMargins(0, 0, 0, 0)
        ll.addWidget(plain_label("Runs to compare (same dataset):"))
        ll.addWidget(self.compare_list, 1)
        compare_page.addWidget(left)
        compare_page.addWidget(grid_scroll)
        compare_page.setStretchFactor(1, 1)
        self.detail = QtSampleDetail()
        self.sanity_plot = QtSanityPlot()

        self.addTab(gallery_page, "Gallery")
        self.addTab(compare_page, "Compare")
        self.addTab(self.detail, "Sample")
        self.addTab(self.sanity_plot, "Sanity check")

        self.compare_list.itemChanged.connect(lambda *_: self.comparison_changed.emit())
        self.gallery.doubleClicked.connect(lambda *_: self.setCurrentWidget(self.detail))

    # -- gallery header -------------------------------------------------------------------
    def show_summary(self, d, options: DisplayOptions) -> None:
        """The metrics of run ``d``, its warnings and the colour bar for ``options``."""
        m = d.metrics

        def f(key):
            v = m.get(key)
            return "—" if v is None else f"{v:.4g}"

        text = (f"{d.title}   samples {m.get('n_samples')}   deletion AUC {f('deletion_auc')} "
                f"(lower is better)   insertion AUC {f('insertion_auc')}   infidelity "
                f"{f('infidelity')}   sensitivity {f('sensitivity')}")
        if "mean_delta" in m:
            text += f"   mean |delta| {f('mean_delta')}"
        text += f"   target {d.params.get('target')}   baseline {d.params.get('baseline')}"
        self.summary.setText(text)
        warnings = []
        if m.get("not_converged"):
            warnings.append(f"⚠ not converged: {m['not_converged']} sample(s) keep a relative "
                            f"delta above 1e-2 after {m.get('max_n_steps')} steps.")
        if m.get("n_nonfinite"):
            warnings.append(f"⚠ {m['n_nonfinite']} non-finite values (shown in green).")
        sanity = latest_sanity(self.session.workspace, d.model, d.method)
        if sanity is not None:
            from visualizer.analysis.attribution.sanity import warning_text

            said = warning_text(d.method, sanity.metrics, sanity.params.get("properties"))
            if said:
                warnings.append(f"⚠ {said} See the Sanity check tab.")
        self.warning.setText("\n".join(warnings))
        self.warning.setVisible(bool(warnings))
        signed = options.signed(d)
        scale = "per-sample" if options.scale == "sample" else "per-run"
        self.colorbar.set(signed, f"{'signed' if signed else 'absolute'} attribution, "
                                  f"{scale} scale")

    # -- comparison -----------------------------------------------------------------------
    def set_compare_runs(self, runs) -> None:
        """List ``runs`` newest first, keeping the ticks of those still there."""
        checked = set(self.checked_runs())
        self.compare_list.blockSignals(True)
        self.compare_list.clear()
        for r in reversed(runs):
            self.compare_list.addItem(_compare_item(r, r.id in checked))
        self.compare_list.blockSignals(False)

    def add_compare_runs(self, runs) -> None:
        """Put newly finished ``runs`` (oldest first) at the top, unticked."""
        self.compare_list.blockSignals(True)
        for r in runs:
            self.compare_list.insertItem(0, _compare_item(r, False))
        self.compare_list.blockSignals(False)

    def checked_runs(self) -> list[str]:
        return [self.compare_list.item(i).data(Qt.ItemDataRole.UserRole)
                for i in range(self.compare_list.count())
                if self.compare_list.item(i).checkState() == Qt.CheckState.Checked]

    def default_comparison(self, d) -> None:
        """Tick the shown run ``d`` plus the same method on other models and other methods."""
        ticked = 0
        self.compare_list.blockSignals(True)
        for i in range(self.compare_list.count()):
            item = self.compare_list.item(i)
            item.setCheckState(Qt.CheckState.Unchecked)
        seen = {(d.method, d.model)}
        for i in range(self.compare_list.count()):  # the shown run first
            item = self.compare_list.item(i)
            if item.data(Qt.ItemDataRole.UserRole) == d.run_id:
                item.setCheckState(Qt.CheckState.Checked)
                ticked = 1
        for i in range(self.compare_list.count()):
            item = self.compare_list.item(i)
            run = self.session.workspace.run(item.data(Qt.ItemDataRole.UserRole))
            key = (run.params.get("method"), run.params.get("model"))
            if run.params.get("dataset") != d.dataset or key in seen or ticked >= 5:
                continue
            if key[0] == d.method or key[1] == d.model:
                seen.add(key)
                item.setCheckState(Qt.CheckState.Checked)
                ticked += 1
        self.compare_list.blockSignals(False)

    # -- export ---------------------------------------------------------------------------
    def current_panel(self) -> QWidget:
        """The panel Export draws: the grid rather than the whole Compare page."""
        page = self.currentWidget()
        if page is not None and isinstance(page, QSplitter):
            return self.grid
        return page

    def set_tab(self, name: str) -> None:
        self.setCurrentIndex(TABS.index(name))


def _compare_item(r, checked: bool) -> QListWidgetItem:
    """A tickable entry for a ``RunRow``."""
    item = QListWidgetItem(f"{r.method} · {r.model} · {r.id}")
    item.setData(Qt.ItemDataRole.UserRole, r.id)
    item.setFlags(item.flags() | Qt.ItemFlag.ItemIsUserCheckable)
    item.setCheckState(Qt.CheckState.Checked if checked else Qt.CheckState.Unchecked)
    return item
