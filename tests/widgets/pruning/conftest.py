"""Shared fixtures of the Pruning view's tests (and its panels'): one real workspace,
built once per session through the public API and copied for each test module, so a
module may add or remove models without touching the others.

The workspace: the digits dataset, the zoo ``cnn`` (trained), a one-shot sweep of
magnitude, random and SNIP to 50% and 90% (six pruned models) and one magnitude model at
90% fine-tuned for one epoch (curves, accuracy before fine-tuning). About 8 to 12 s,
most of it training the dense model. ``runner`` is a real ``QtJobRunner`` on the
session's jobs (for tests that need a job's result shown); ``recording_runner`` stands in
for it where a test must see what would be submitted without running it.
"""

from __future__ import annotations

import shutil

import pytest

SWEEP_METHODS = ("magnitude", "random", "snip")
SWEEP_SPARSITIES = (0.5, 0.9)
FINETUNED = "cnn-magnitude-90-finetune"


@pytest.fixture(scope="session")
def pruning_ws_path(tmp_path_factory):
    """The built workspace's folder; never change it (copy it, or use ``pruning_ws``)."""
    from visualizer.workspace.workspace import Workspace

    path = tmp_path_factory.mktemp("pruning") / "ws"
    ws = Workspace.create(path)
    ws.add_builtin_dataset()
    ws.add_zoo_model("cnn")
    ws.prune_sweep("cnn", "digits", list(SWEEP_METHODS), list(SWEEP_SPARSITIES))
    run = ws.prune("cnn", "digits", "magnitude", 0.9, schedule="finetune", epochs=1)
    assert run.params["model"] == FINETUNED
    return path


@pytest.fixture(scope="module")
def pruning_ws(pruning_ws_path, tmp_path_factory):
    """A private copy of the pruning workspace for one test module (opened)."""
    from visualizer.workspace.workspace import Workspace

    dest = tmp_path_factory.mktemp("pruning-copy") / "ws"
    shutil.copytree(pruning_ws_path, dest)
    return Workspace.open(dest)


@pytest.fixture
def pruning_session(pruning_ws):
    """A fresh session on the module's workspace copy."""
    from visualizer.session import Session

    session = Session()
    session.open_workspace(pruning_ws.root)
    return session


@pytest.fixture
def runner(pruning_session):
    """A real Qt runner: jobs run on worker threads and report on the GUI thread."""
    from widgets.qt_job_runner import QtJobRunner

    runner = QtJobRunner(pruning_session.jobs, notify=pruning_session.notify)
    yield runner
    runner.shutdown(wait=True)


class RecordingRunner:
    """``QtJobRunner.submit``'s interface, recording what would run and running nothing."""

    def __init__(self):
        self.submitted: list[tuple] = []

    def submit(self, fn, request, name=None, on_done=None, on_failed=None, **kw):
        from visualizer.jobs.contract import Job

        self.submitted.append((fn, request, kw))
        return Job(name=name or "job")

    def bridge(self, job):
        return None


@pytest.fixture
def recording_runner():
    return RecordingRunner()
