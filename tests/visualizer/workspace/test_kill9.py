"""``kill -9`` at any moment of an extraction never damages earlier runs or the catalog."""

import hashlib
import os
import signal
import sqlite3
import subprocess
import sys
import time

import h5py
import pytest

from visualizer.workspace.atomic import stale_temp_files
from visualizer.workspace.workspace import Workspace

pytestmark = pytest.mark.slow


def sha(path):
    return hashlib.sha256(path.read_bytes()).hexdigest()


def read_everything(path):
    """Read every dataset: fletcher32 turns any damaged chunk into an error."""
    with h5py.File(path, "r") as f:
        f.visititems(lambda name, obj: obj[()] if isinstance(obj, h5py.Dataset) else None)


@pytest.mark.parametrize("delay", [0.0, 1.5, 4.0])
def test_kill9_during_extraction(demo_ws, delay):
    before = {r.id: sha(r.path) for r in demo_ws.runs(status="complete")}
    assert before
    proc = subprocess.Popen(
        [sys.executable, "main.py", "extract", str(demo_ws.root), "--model", "resnet",
         # batch 1: a run of several seconds, so that the kills land early, mid-way and
         # late (batch 4 finished within 4 s on an idle machine)
         "--dataset", "digits", "--split", "all", "--batch-size", "1", "--device", "cpu",
         "--quiet"],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 60
    while not demo_ws.runs(status="running"):  # wait until the run exists
        assert proc.poll() is None, proc.stderr.read()
        assert time.monotonic() < deadline
        time.sleep(0.02)
    time.sleep(delay)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()

    reopened = Workspace.open(demo_ws.root)
    killed = [r for r in reopened.runs() if r.id not in before]
    assert len(killed) == 1 and killed[0].status == "interrupted"
    assert not killed[0].path.exists()
    assert stale_temp_files(reopened.root) == []
    for run_id, digest in before.items():
        run = reopened.run(run_id)
        assert run.status == "complete" and sha(run.path) == digest
        read_everything(run.path)
    con = sqlite3.connect(reopened.root / "deepscope.sqlite")
    assert con.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    # and the workspace keeps working
    assert reopened.extract("mlp", "digits", limit=16).status == "complete"
