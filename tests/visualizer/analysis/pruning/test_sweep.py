"""Sweeps: one model per point, resumable after cancel and after SIGKILL."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from visualizer.analysis.pruning.derived import lineage
from visualizer.jobs.contract import JobCancelled

ROOT = Path(__file__).resolve().parents[4]


@pytest.fixture
def ws(tmp_path):
    from visualizer.workspace.workspace import Workspace

    ws = Workspace.create(tmp_path / "ws")
    ws.add_builtin_dataset()
    ws.add_zoo_model("cnn", epochs=3)
    return ws


def _consistent(ws) -> None:
    """Every pruned model has a complete pruning run that names it, and back."""
    runs = {r.id: r for r in ws.runs(kind="pruning")}
    for rec in ws.models():
        info = lineage(rec)
        if info is None:
            continue
        run = runs[info["run"]]
        assert run.status == "complete" and run.params["model"] == rec.name
        assert (ws.root / rec.path).is_file()
    for run in runs.values():
        if run.status == "complete":
            assert run.params["model"] in {m.name for m in ws.models()}
    assert not list(ws.root.rglob("*deepscope-tmp*"))


def test_sweep_makes_one_model_per_point_and_keeps_them_when_run_again(ws):
    run = ws.prune_sweep("cnn", "digits", ["magnitude", "random"], [0.5, 0.9])
    assert run.status == "complete" and run.metrics["computed"] == 4
    names = [p["model"] for p in run.params["points"]]
    assert len(set(names)) == 4
    acc = {(p["method"], p["sparsity"]): p["accuracy"] for p in run.params["points"]}
    # at 90% without fine-tuning, random pruning loses more than magnitude pruning
    assert acc[("random", 0.9)] < acc[("magnitude", 0.9)]
    again = ws.prune_sweep("cnn", "digits", ["magnitude", "random"], [0.5, 0.9])
    assert again.metrics["reused"] == 4 and again.metrics["computed"] == 0
    assert [p["model"] for p in again.params["points"]] == names
    _consistent(ws)


def test_cancelled_sweep_resumes_without_redoing_finished_points(ws):
    class CancelAfterTwo:
        def __init__(self):
            self.done = 0

        def progress(self, done, total=None):
            pass

        def status(self, text):
            pass

        def partial(self, obj):
            if isinstance(obj, dict) and obj.get("kind") == "sweep_point_done":
                self.done += 1

        @property
        def cancelled(self):
            return self.done >= 2

        def check_cancelled(self):
            if self.cancelled:
                raise JobCancelled()

    with pytest.raises(JobCancelled):
        ws.prune_sweep("cnn", "digits", ["magnitude"], [0.5, 0.7, 0.9], ctx=CancelAfterTwo())
    assert ws.runs(kind="prune_sweep")[-1].status == "cancelled"
    assert len(ws.runs(kind="pruning", status="complete")) == 2
    run = ws.prune_sweep("cnn", "digits", ["magnitude"], [0.5, 0.7, 0.9])
    assert run.metrics["reused"] == 2 and run.metrics["computed"] == 1
    _consistent(ws)


@pytest.mark.slow
def test_sweep_killed_with_sigkill_resumes_and_the_catalog_stays_consistent(ws):
    from visualizer.workspace.workspace import Workspace

    argv = [sys.executable, str(ROOT / "main.py"), "prune-sweep", str(ws.root), "--model",
            "cnn", "--dataset", "digits", "--methods", "magnitude,taylor",
            "--sparsities", "0.5,0.8,0.9", "--schedule", "finetune", "--epochs", "2"]
    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                            env={**os.environ, "PYTHONPATH": str(ROOT)})
    deadline = time.monotonic() + 240
    while time.monotonic() < deadline and proc.poll() is None:
        if len(ws.runs(kind="pruning", status="complete")) >= 2:
            break
        time.sleep(0.05)
    assert proc.poll() is None, proc.stderr.read().decode()
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    finished = {r.params["key"]: r.id for r in ws.runs(kind="pruning", status="complete")}
    assert len(finished) >= 2

    reopened = Workspace.open(ws.root)  # the dead sweep is marked interrupted
    assert reopened.runs(kind="prune_sweep")[-1].status == "interrupted"
    _consistent(reopened)
    run = reopened.prune_sweep("cnn", "digits", ["magnitude", "taylor"], [0.5, 0.8, 0.9],
                               schedule="finetune", epochs=2)
    assert run.metrics["reused"] == len(finished)
    assert run.metrics["computed"] == 6 - len(finished)
    kept = {p["run"] for p in run.params["points"] if p["reused"]}
    assert kept == set(finished.values())  # the finished points were not recomputed
    _consistent(reopened)
