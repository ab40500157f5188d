"""Fine-tuning curves of the Pruning view: the stored curves of the current pruned
model (read from its pruning run in a job, never on the GUI thread), or the live curves
of the sweep point being fine-tuned, redrawn at most every ``interval_ms`` however fast
the partials come.

``QtCurvesPlot`` draws curves against epochs (loss; accuracy, train per step and test per
epoch; sparsity per step when it changes: gradual, IMP); ``QtCurvesPane`` puts a title
and an empty state around it.
"""

from __future__ import annotations

import html
import logging

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt, QTimer
from PySide6.QtWidgets import QStackedWidget, QVBoxLayout, QWidget

from widgets.pruning.style import (
    ACCENT,
    DENSE,
    TEXT,
    fit_legend,
    heading,
    legend_item,
    note,
    smooth,
    style_plot,
)

log = logging.getLogger("deepscope.pruning")


class QtCurvesPlot(pg.GraphicsLayoutWidget):
    """Fine-tuning curves against epochs: loss, accuracy (train per step, evaluation per
    epoch) and, when it changes (gradual, IMP), sparsity per step."""

    def __init__(self, parent=None):
        super().__init__(parent)
        self.setBackground("w")
        self.title = self.addLabel("", row=0, col=0, colspan=3, color=TEXT, size="10pt")
        # the legend spans the row, so that no plot's column is as wide as the legend
        self.acc_legend = legend_item(columns=3)
        self.addItem(self.acc_legend, row=1, col=0, colspan=3)
        self.ci.layout.setRowStretchFactor(2, 1)
        for col in (0, 1):
            self.ci.layout.setColumnStretchFactor(col, 1)
        self.loss_plot = self.addPlot(row=2, col=0)
        self.acc_plot = self.addPlot(row=2, col=1)
        self.sparsity_plot = pg.PlotItem()  # in the layout only while sparsity changes
        self._sparsity_shown = False
        for plot, left in ((self.loss_plot, "Loss"), (self.acc_plot, "Accuracy (%)"),
                           (self.sparsity_plot, "Sparsity (%)")):
            style_plot(plot, left, "Epoch")
            plot.getViewBox().setDefaultPadding(0.04)  # the epoch-0 marker is not cut
        for plot in (self.acc_plot, self.sparsity_plot):
            plot.setXLink(self.loss_plot)
        pen = pg.mkPen(ACCENT, width=2)
        raw = pg.mkPen(pg.mkColor(ACCENT).lighter(170), width=1)
        self.loss_raw = self.loss_plot.plot(pen=raw)
        self.loss_curve = self.loss_plot.plot(pen=pen)
        self.train_raw = self.acc_plot.plot(pen=raw)
        self.train_curve = self.acc_plot.plot(pen=pen)
        self.eval_curve = self.acc_plot.plot(
            pen=pg.mkPen(TEXT, width=1.5), symbol="o", symbolSize=7, symbolBrush=TEXT,
            symbolPen=None)
        dashed = pg.mkPen(DENSE, width=1.2, style=Qt.PenStyle.DashLine)
        self.dense_line = pg.InfiniteLine(angle=0, pen=dashed)
        self.acc_plot.addItem(self.dense_line, ignoreBounds=True)
        self.acc_legend.addItem(self.train_curve, "train (per batch)")
        self.acc_legend.addItem(self.eval_curve, "test (per epoch)")
        self.acc_legend.addItem(pg.PlotDataItem(pen=dashed), "dense model")  # a key only
        self.sparsity_curve = self.sparsity_plot.plot(pen=pg.mkPen(DENSE, width=2))
        self.curves: dict | None = None

    def resizeEvent(self, event) -> None:  # noqa: N802 - Qt override
        super().resizeEvent(event)  # pyqtgraph calls it with None while building
        if getattr(self, "acc_legend", None) is not None:
            fit_legend(self.acc_legend, self.width(), per_item=170)

    def set_curves(self, curves: dict | None, title: str = "", *,
                   dense_accuracy: float | None = None,
                   before_finetune: float | None = None) -> None:
        """Draw ``curves`` (a stored or live ``Curves.to_dict()``; None clears)."""
        self.curves = curves
        self.title.setText(html.escape(title))
        self.title.setMaximumHeight(1e6 if title else 0)  # no empty band above the plots
        c = curves or {}
        epoch = np.asarray(c.get("epoch") or [], dtype=np.float64)
        loss = np.asarray(c.get("loss") or [], dtype=np.float64)
        train = 100 * np.asarray(c.get("train_accuracy") or [], dtype=np.float64)
        n = min(len(epoch), len(loss), len(train)) if len(train) else min(len(epoch), len(loss))
        self.loss_raw.setData(epoch[:n], loss[:n])
        self.loss_curve.setData(epoch[:n], smooth(loss[:n]))
        m = min(len(epoch), len(train))
        self.train_raw.setData(epoch[:m], train[:m])
        self.train_curve.setData(epoch[:m], smooth(train[:m]))
        ev_x = list(c.get("eval_epoch") or [])
        ev_y = [100 * v for v in (c.get("eval_accuracy") or [])][:len(ev_x)]
        if before_finetune is not None and ev_x:  # where fine-tuning started from
            ev_x, ev_y = [0.0] + ev_x, [100 * before_finetune] + ev_y
        self.eval_curve.setData(ev_x[:len(ev_y)], ev_y)
        if dense_accuracy is not None and np.isfinite(dense_accuracy):
            self.dense_line.setValue(100 * dense_accuracy)
            self.dense_line.show()
        else:
            self.dense_line.hide()
        sparsity = 100 * np.asarray(c.get("sparsity") or [], dtype=np.float64)
        k = min(len(epoch), len(sparsity))
        self.sparsity_curve.setData(epoch[:k], sparsity[:k])
        varies = k > 1 and float(np.nanmax(sparsity[:k]) - np.nanmin(sparsity[:k])) > 1e-3
        if varies != self._sparsity_shown:  # a hidden plot would still hold its column
            if varies:
                self.addItem(self.sparsity_plot, row=2, col=2)
            else:
                self.ci.removeItem(self.sparsity_plot)
            self.ci.layout.setColumnStretchFactor(2, int(varies))
            self._sparsity_shown = varies
        for plot in (self.loss_plot, self.acc_plot, self.sparsity_plot):
            plot.enableAutoRange()


class QtCurvesPane(QWidget):
    """Title, curves and an empty state that says why there are no curves.

    Stored curves are read from the pruned model's run file in a job on ``runner`` (a
    ``QtJobRunner``): "reading…" shows meanwhile, and a result that arrives after
    another model was chosen, or after live curves took over, is dropped."""

    interval_ms = 150  # partials can come every few steps: coalesce the redraws

    def __init__(self, runner, parent=None):
        super().__init__(parent)
        self.runner = runner
        self.title = heading("Fine-tuning")
        self.plot = QtCurvesPlot()
        self.note = note("Pick a pruned model in the accuracy plot.")
        self.stack = QStackedWidget()
        self.stack.addWidget(self.note)
        self.stack.addWidget(self.plot)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(2, 2, 2, 2)
        lay.setSpacing(2)
        lay.addWidget(self.title)
        lay.addWidget(self.stack, 1)
        self.live: dict | None = None  # the newest live partial, while a sweep trains
        self.point = None  # the PrunedPoint whose stored curves are shown or read
        self.job = None  # the read of ``point``'s curves, while it runs
        self._root = None  # the workspace folder of ``point``
        self._shown = False  # whether what ``point`` has (curves or why none) is shown
        self._dense_accuracy: float | None = None
        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.setInterval(self.interval_ms)
        self._timer.timeout.connect(self._draw_live)
        if hasattr(runner, "job_finished"):  # a Cancel in the jobs panel ends ours too
            runner.job_finished.connect(self._on_runner_job_finished)

    def show_model(self, ws, point) -> None:
        """The stored curves of ``point`` (a PrunedPoint or None), read in a job; ignored
        while live."""
        if self.live is not None:
            return
        root = ws.root if ws is not None else None
        if point is not None and (root, point) == (self._root, self.point) and (
                self.job is not None or self._shown):
            return  # shown or being read already (a catalog change re-shows the details)
        self._drop_job()
        self.point, self._root, self._shown = point, root, False
        if point is None:
            self.title.setText("Fine-tuning")
            self._say("Pick a pruned model in the accuracy plot.")
            return
        self.title.setText(f"Fine-tuning · {point.model}")
        if point.schedule == "oneshot" or ws is None:
            self._say_no_curves(point)
            return
        from visualizer.analysis.pruning.compare import CurvesRequest, load_curves

        self.job = self.runner.submit(
            load_curves, CurvesRequest(str(ws.root), point.model),
            name=f"Read the fine-tuning curves of {point.model}",
            on_done=self._on_job_done, on_failed=self._on_job_failed)
        self._say("reading…")

    def _say_no_curves(self, point) -> None:
        self._shown = True
        if point.schedule == "oneshot":
            self._say(f"{point.model} was pruned one-shot, without training, so it has no "
                      "curves. Sweep with the finetune, gradual or imp schedule to see loss "
                      "and accuracy recover.")
        else:
            self._say(f"{point.model} has no stored fine-tuning curves.")

    def _current(self, job) -> bool:
        """Whether ``job`` is the read of the shown model (else its result is stale)."""
        return job is self.job and self.live is None and self.point is not None

    def _drop_job(self) -> None:
        job, self.job = self.job, None
        if job is not None and not job.state.finished:
            job.cancel()

    def _on_job_done(self, job) -> None:
        if not self._current(job):
            return  # another model was chosen meanwhile, or a sweep went live
        self.job = None
        point = self.point
        if not job.result:
            self._say_no_curves(point)
            return
        self.plot.set_curves(job.result, "", dense_accuracy=point.parent_accuracy,
                             before_finetune=point.accuracy_before_finetune)
        self.stack.setCurrentWidget(self.plot)
        self._shown = True

    def _on_job_failed(self, job) -> None:
        if not self._current(job):
            return
        self.job = None
        log.warning("cannot read the fine-tuning curves of %s: %s", self.point.model,
                    job.error)
        self._say(f"Cannot read the fine-tuning curves of {self.point.model}: {job.error}")

    def _on_runner_job_finished(self, job) -> None:
        if job.state.value == "cancelled" and self._current(job):
            self.job = None
            self._say("Cancelled: the curves were not read.")

    def _say(self, text: str) -> None:
        self.note.setText(text)
        self.stack.setCurrentWidget(self.note)

    def add_live(self, partial: dict, dense_accuracy: float | None = None) -> None:
        """A ``{"kind": "finetune_curves", "curves": ...}`` partial (with the sweep's
        ``point``, ``points``, ``method``, ``sparsity``): drawn within ``interval_ms``."""
        if self.live is None:
            self._drop_job()  # the live curves replace the stored ones being read
            self._shown = False  # and the stored ones are drawn again when it ends
        self.live = partial
        self._dense_accuracy = dense_accuracy
        if not self._timer.isActive():
            self._timer.start()

    def end_live(self) -> None:
        self.live = None
        self._timer.stop()

    def _draw_live(self) -> None:
        partial = self.live
        if partial is None:
            return
        where = ""
        if "point" in partial:
            where = f" · point {partial['point'] + 1} of {partial.get('points', '?')}"
        method, sparsity = partial.get("method", ""), partial.get("sparsity")
        target = f" to {100 * sparsity:.3g}%" if isinstance(sparsity, (int, float)) else ""
        self.title.setText(f"Fine-tuning · live: {method}{target}{where}")
        self.plot.set_curves(partial["curves"], "", dense_accuracy=self._dense_accuracy)
        self.stack.setCurrentWidget(self.plot)
