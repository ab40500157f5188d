"""The Pruning view's controls: which dense model to prune on which dataset, by which
methods to which sparsities under which schedule, and the sweep job they start.

The request is checked by the core's own ``build_sweep`` before anything is submitted,
so the GUI refuses exactly what the CLI refuses, with the same message and fix, shown
inline under the controls. The sweep runs in a child process (``process=True``): Cancel
stops it and the GUI never waits on torch. Run comes back only once the job has ended
(the child may take a moment to stop), with "cancelling…" meanwhile.
"""

from __future__ import annotations

from PySide6.QtCore import Signal
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDoubleSpinBox,
    QHBoxLayout,
    QLineEdit,
    QProgressBar,
    QPushButton,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from visualizer.analysis.pruning.table import DEFAULT_SPARSITIES, SCHEDULES
from widgets.pruning.data import SCHEDULE_TIPS, parse_sparsities
from widgets.pruning.qt_method_picker import QtMethodPicker
from widgets.pruning.style import ElidedLabel
from widgets.qt_text import compact_combo, plain_label


class QtSweepControls(QWidget):
    """Controls and the sweep job; ``dense_changed(name)`` when the dense model changes,
    ``sweep_started(job)``, ``partial_arrived(dict)`` and ``sweep_finished(job)``."""

    dense_changed = Signal(object)
    sweep_started = Signal(object)
    partial_arrived = Signal(object)
    sweep_finished = Signal(object)

    def __init__(self, session, runner, parent=None):
        super().__init__(parent)
        self.session, self.runner = session, runner
        self.job = None
        self.dense_combo = compact_combo(QComboBox(), 12)
        self.dense_combo.setToolTip("The dense (unpruned) model to prune; the plots show "
                                    "its pruned descendants")
        self.dataset_combo = compact_combo(QComboBox(), 8)
        self.dataset_combo.setToolTip("Fine-tuning uses its train split, accuracy its test "
                                      "split")
        self.methods_picker = QtMethodPicker()
        self.method_boxes = self.methods_picker.boxes
        self.sparsities_edit = QLineEdit(", ".join(f"{s:g}" for s in DEFAULT_SPARSITIES))
        self.sparsities_edit.setToolTip("Target sparsities: fractions of the prunable "
                                        "weights to remove (0.9 = 90%), comma-separated")
        self.sparsities_edit.setMinimumWidth(150)
        self.schedule_combo = QComboBox()
        for s in SCHEDULES:
            self.schedule_combo.addItem(s, s)
            self.schedule_combo.setItemData(self.schedule_combo.count() - 1,
                                            SCHEDULE_TIPS.get(s, ""), 3)  # ToolTipRole
        self.structured_box = QCheckBox("Channels")
        self.structured_box.setToolTip("Structured pruning: remove whole channels "
                                       "(Torch-Pruning), so the model gets smaller and "
                                       "faster; otherwise single weights are masked")
        self.epochs_spin = QSpinBox()
        self.epochs_spin.setRange(1, 1000)
        self.epochs_spin.setValue(3)
        self.lr_spin = QDoubleSpinBox()
        self.lr_spin.setDecimals(4)
        self.lr_spin.setRange(0.0001, 10.0)
        self.lr_spin.setSingleStep(0.005)
        self.lr_spin.setValue(0.01)
        self.run_button = QPushButton("Run sweep")
        self.run_button.setDefault(True)
        self.run_button.setToolTip("Prune with every checked method to every sparsity; "
                                   "points already made are kept, not redone")
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.setEnabled(False)
        self.progress = QProgressBar()
        self.progress.setMaximumWidth(140)
        self.progress.setTextVisible(False)
        self.progress.hide()
        # job status texts name models: elided, they never make the view wider
        self.status = ElidedLabel("")
        self.status.setStyleSheet("color: #5f6b7a;")
        self.status.setMinimumWidth(120)
        self.error = plain_label("", wrap=True, selectable=True)
        self.error.setStyleSheet("color: #b3261e; font-weight: 600;")
        self.error.hide()

        # Two rows that fit beside the workspace browser (about 850 px): what to prune,
        # then how, with the job's buttons and its status where the row has room.
        row1 = QHBoxLayout()
        for text, w, stretch in (("Dense model", self.dense_combo, 0),
                                 ("Dataset", self.dataset_combo, 0),
                                 ("Methods", self.methods_picker, 0),
                                 ("Sparsities", self.sparsities_edit, 1)):
            row1.addWidget(plain_label(text))
            row1.addWidget(w, stretch)
        row2 = QHBoxLayout()
        row2.addWidget(plain_label("Schedule"))
        row2.addWidget(self.schedule_combo)
        row2.addWidget(self.structured_box)
        self.epochs_label, self.lr_label = plain_label("Epochs"), plain_label("LR")
        for w in (self.epochs_label, self.epochs_spin, self.lr_label, self.lr_spin,
                  self.run_button, self.cancel_button, self.progress):
            row2.addWidget(w)
        row2.addWidget(self.status, 1)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.setSpacing(4)
        lay.addLayout(row1)
        lay.addLayout(row2)
        lay.addWidget(self.error)

        self.dense_combo.currentIndexChanged.connect(self._on_dense_combo_changed)
        self.schedule_combo.currentIndexChanged.connect(self._on_schedule_combo_changed)
        self.structured_box.toggled.connect(self._on_structured_box_toggled)
        self.sparsities_edit.textEdited.connect(lambda _: self.show_error(None))
        self.methods_picker.changed.connect(lambda: self.show_error(None))
        self.run_button.clicked.connect(self.run_sweep)
        self.cancel_button.clicked.connect(self.cancel)
        if hasattr(runner, "job_finished"):  # every end: done, failed, or cancelled
            runner.job_finished.connect(self._on_runner_job_finished)
        self._on_schedule_combo_changed()

    # -- values ------------------------------------------------------------------------
    @property
    def dense(self) -> str | None:
        return self.dense_combo.currentData()

    def methods(self) -> tuple[str, ...]:
        return self.methods_picker.checked()

    def set_methods(self, names) -> None:
        self.methods_picker.set_checked(names)

    def fill(self, ws, dense: str | None = None, points=None) -> None:
        """List the dense models and datasets of ``ws``, keeping (or setting) choices;
        ``points`` are its pruned models when the caller has read them already."""
        from visualizer.analysis.pruning.results import pruned_points

        models = ws.models() if ws is not None else []
        if points is None:
            points = pruned_points(ws) if ws is not None else []
        counts: dict[str, int] = {}
        for p in points:
            counts[p.parent] = counts.get(p.parent, 0) + 1
        dense_names = [m.name for m in models if not (m.info or {}).get("lineage")]
        trained_on = {m.name: (m.info or {}).get("trained_on") for m in models}
        keep = dense or self.dense
        if keep not in dense_names:
            keep = max(dense_names, key=lambda n: (counts.get(n, 0), -dense_names.index(n)),
                       default=None)
        self.dense_combo.blockSignals(True)
        self.dense_combo.clear()
        for name in dense_names:
            n = counts.get(name, 0)
            self.dense_combo.addItem(name, name)
            self.dense_combo.setItemData(self.dense_combo.count() - 1,
                                         f"{n} pruned model{'s' * (n != 1)}", 3)
        self.dense_combo.setCurrentIndex(max(0, self.dense_combo.findData(keep)))
        self.dense_combo.blockSignals(False)
        datasets = [d.name for d in ws.datasets()] if ws is not None else []
        current = self.dataset_combo.currentData()
        self.dataset_combo.clear()
        for name in datasets:
            self.dataset_combo.addItem(name, name)
        wanted = current if current in datasets else trained_on.get(keep)
        self.dataset_combo.setCurrentIndex(max(0, self.dataset_combo.findData(wanted)))
        self.run_button.setEnabled(bool(dense_names and datasets) and self.job is None)

    def set_dense(self, name: str) -> None:
        index = self.dense_combo.findData(name)
        if index >= 0 and index != self.dense_combo.currentIndex():
            self.dense_combo.setCurrentIndex(index)

    def _on_dense_combo_changed(self, _index: int) -> None:
        self.dense_changed.emit(self.dense)

    def _on_schedule_combo_changed(self, _index: int = 0) -> None:
        trains = self.schedule_combo.currentData() != "oneshot"
        for w in (self.epochs_label, self.epochs_spin, self.lr_label, self.lr_spin):
            w.setEnabled(trains)
        self.show_error(None)

    def _on_structured_box_toggled(self, structured: bool) -> None:
        self.methods_picker.set_structured(structured)
        self.show_error(None)

    def show_error(self, text: str | None) -> None:
        self.error.setText(text or "")
        self.error.setVisible(bool(text))

    # -- the sweep job ------------------------------------------------------------------
    def request(self):
        """The checked ``SweepRequest`` for the current values; raises DeepScopeError
        (or ValueError for an unreadable sparsity) with the message to show."""
        from visualizer.analysis.pruning.api import build_sweep
        from visualizer.errors import DeepScopeError

        ws = self.session.workspace
        if ws is None:
            raise DeepScopeError("no workspace is open.", fix="open one from the File menu.")
        if not self.dense or not self.dataset_combo.currentData():
            raise DeepScopeError("pick a dense model and a dataset first.")
        if not self.methods():
            raise DeepScopeError("no pruning method is ticked.", fix="tick one or more above.")
        sparsities = parse_sparsities(self.sparsities_edit.text())
        if not sparsities:
            raise DeepScopeError("no sparsity given.", fix="type fractions, e.g. 0.5, 0.9.")
        return build_sweep(ws, self.dense, self.dataset_combo.currentData(), self.methods(),
                           sparsities, structured=self.structured_box.isChecked(),
                           schedule=self.schedule_combo.currentData(),
                           epochs=self.epochs_spin.value(), lr=self.lr_spin.value(),
                           device="auto")

    def run_sweep(self):
        """Check the values and submit the sweep; returns its Job (None when refused)."""
        from visualizer.analysis.pruning.sweep import sweep_job
        from visualizer.errors import DeepScopeError

        try:
            request = self.request()
        except (DeepScopeError, ValueError) as exc:
            self.show_error(str(exc))
            return None
        self.show_error(None)
        n = len(request.methods) * len(request.sparsities)
        self.job = self.runner.submit(
            sweep_job, request, name=f"Pruning sweep of {request.model} ({n} points)",
            on_done=self._on_job_done, on_failed=self._on_job_failed, process=True)
        bridge = self.runner.bridge(self.job) if hasattr(self.runner, "bridge") else None
        if bridge is not None:
            token = self.job.id
            bridge.partial_arrived.connect(lambda p, t=token: self._relay(t, p))
            bridge.status_changed.connect(lambda s, t=token: self._relay(t, s, status=True))
            bridge.progressed.connect(lambda d, tot, t=token: self._on_progress(t, d, tot))
        self.run_button.setEnabled(False)
        self.cancel_button.setEnabled(True)
        self.progress.setRange(0, 0)
        self.progress.show()
        self.status.setText(f"Sweep started: {n} points")
        self.sweep_started.emit(self.job)
        return self.job

    def _relay(self, token: int, payload, status: bool = False) -> None:
        if self.job is None or self.job.id != token:
            return  # a replaced sweep's late message
        if status:
            if not self.job.cancel_requested:  # "cancelling…" stays until it has ended
                self.status.setText(str(payload))
        elif isinstance(payload, dict):
            self.partial_arrived.emit(payload)

    def _on_progress(self, token: int, done: float, total) -> None:
        if self.job is not None and self.job.id == token and total:
            self.progress.setRange(0, 1000)
            self.progress.setValue(int(1000 * done / total))

    def cancel(self) -> None:
        """Ask the sweep to stop. Run stays disabled until the job has ended: the child
        process may take a moment to stop, and a second sweep must not start beside it."""
        job = self.job
        if job is None:
            return
        if job.state.finished:  # ended already, its end not reported yet: report it now
            {"done": self._on_job_done, "failed": self._on_job_failed}.get(
                job.state.value, self._on_runner_job_finished)(job)
            return
        job.cancel()
        self.cancel_button.setEnabled(False)
        self.status.setText("cancelling…")

    def _on_runner_job_finished(self, job) -> None:
        """Any end of the sweep job (after ``_on_job_done`` / ``_on_job_failed``, which
        have handled theirs): a cancel, from here or from the jobs panel."""
        if job is not self.job:
            return
        if job.state.value == "cancelled":
            self.status.setText("Cancelled: points already made are kept.")
            self.session.check_catalog()  # the points made before the cancel
        self._ended(job)

    def _ended(self, job) -> None:
        self.job = None
        self.run_button.setEnabled(bool(self.dense and self.dataset_combo.currentData()))
        self.cancel_button.setEnabled(False)
        self.progress.hide()
        if job is not None:
            self.sweep_finished.emit(job)

    def _on_job_done(self, job) -> None:
        if job is not self.job:
            return
        self.status.setText("Sweep finished.")
        self.session.check_catalog()
        self._ended(job)

    def _on_job_failed(self, job) -> None:
        if job is not self.job:
            return
        from widgets.qt_job_runner import notify_failure

        self.show_error(f"The sweep failed: {job.error}")
        self.status.setText("")
        notify_failure(self.session.notify, job)
        self.session.check_catalog()  # the points made before the failure
        self._ended(job)
