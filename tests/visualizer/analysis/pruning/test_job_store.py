"""Storing a pruned model: names that never overwrite, the order of writes and what a
failure or a crash leaves, curves in the run file, imported parents."""

from __future__ import annotations

import json

import numpy as np
import pytest

from visualizer.analysis.pruning import derived
from visualizer.analysis.pruning.derived import lineage
from visualizer.workspace.catalog import Catalog


@pytest.fixture
def ws(tmp_path):
    from visualizer.workspace.workspace import Workspace

    ws = Workspace.create(tmp_path / "ws")
    ws.add_builtin_dataset()
    ws.add_zoo_model("cnn", epochs=2)
    return ws


def _consistent(ws) -> None:
    """Every pruned model has a complete pruning run that names it, its weights are
    there, and no weights file lies in models/ without a model row."""
    runs = {r.id: r for r in ws.runs(kind="pruning")}
    for rec in ws.models():
        info = lineage(rec)
        if info is not None:
            run = runs[info["run"]]
            assert run.status == "complete" and run.params["model"] == rec.name
        assert (ws.root / rec.path).is_file()
    files = {p.name for p in (ws.root / "models").glob("*.safetensors")}
    assert files <= {(ws.root / m.path).name for m in ws.models()}


def _files(ws) -> set[str]:
    return {p.name for p in (ws.root / "models").iterdir()}


def test_a_rerun_never_replaces_a_complete_model(ws):
    first = ws.prune("cnn", "digits", "random", 0.5)
    rec = ws.catalog.model("cnn-random-50")
    again = ws.prune("cnn", "digits", "random", 0.5)  # the same request: same key
    assert again.params["model"] == "cnn-random-50-2"
    assert again.params["key"] == first.params["key"]
    third = ws.prune("cnn", "digits", "random", 0.5, seed=1)
    assert third.params["model"] == "cnn-random-50-3"
    kept = ws.catalog.model("cnn-random-50")
    assert (kept.sha256, lineage(kept)["run"]) == (rec.sha256, first.id)
    from visualizer.models.loading import sha256_file

    assert sha256_file(ws.root / kept.path) == rec.sha256
    _consistent(ws)


def test_only_a_half_made_model_gives_its_name_back(ws):
    from visualizer.workspace.runs import _acquire_lock, _release_lock, lock_path

    run = ws.prune("cnn", "digits", "random", 0.5)
    name = run.params["model"]
    assert derived.free_name(ws, name) == f"{name}-2"  # complete: kept
    ws.catalog.update_run(run.id, status="running", finished_at=None)
    fd = _acquire_lock(lock_path(ws.root, run.id))  # a live process still writes it
    try:
        assert derived.free_name(ws, name) == f"{name}-2"
    finally:
        _release_lock(fd, lock_path(ws.root, run.id))
    assert derived.free_name(ws, name) == name  # its writer died: half-made
    ws.catalog.update_run(run.id, status="failed")
    assert derived.free_name(ws, name) == name
    redo = ws.prune("cnn", "digits", "random", 0.5)  # takes the name, replacing it
    assert redo.params["model"] == name
    assert lineage(ws.catalog.model(name))["run"] == redo.id
    _consistent(ws)


def test_finished_point_leaves_a_point_that_a_live_process_is_making(ws):
    from visualizer.analysis.pruning.api import build_request
    from visualizer.analysis.pruning.sweep import finished_point
    from visualizer.workspace.runs import _acquire_lock, _release_lock, lock_path

    run = ws.prune("cnn", "digits", "magnitude", 0.5)
    point = build_request(ws, "cnn", "digits", "magnitude", 0.5)
    assert finished_point(ws, point).id == run.id
    ws.catalog.update_run(run.id, status="running", finished_at=None)
    fd = _acquire_lock(lock_path(ws.root, run.id))
    try:
        assert finished_point(ws, point) is None
        assert run.params["model"] in {m.name for m in ws.models()}  # left alone
    finally:
        _release_lock(fd, lock_path(ws.root, run.id))
    assert finished_point(ws, point) is None  # now half-made: removed
    assert run.params["model"] not in {m.name for m in ws.models()}
    assert f"{run.params['model']}.safetensors" not in _files(ws)


def test_a_failure_after_the_weights_leaves_no_orphan(ws, monkeypatch):
    before = _files(ws)

    def broken_put(*args, **kwargs):
        raise RuntimeError("disk full")

    monkeypatch.setattr(derived, "put", broken_put)
    with pytest.raises(RuntimeError, match="disk full"):
        ws.prune("cnn", "digits", "magnitude", 0.5)
    assert _files(ws) == before
    (run,) = ws.runs(kind="pruning")
    assert run.status == "failed" and len(ws.models()) == 1
    _consistent(ws)


def test_an_interrupt_while_completing_takes_the_model_back(ws, monkeypatch):
    """Killed between the model row and the run's completion: nothing is left that has
    no complete run, in this process and after the next open."""
    from visualizer.workspace.workspace import Workspace

    real = Catalog.update_run

    def interrupted(self, run_id, **fields):
        if fields.get("status") == "complete":
            raise KeyboardInterrupt
        return real(self, run_id, **fields)

    monkeypatch.setattr(Catalog, "update_run", interrupted)
    with pytest.raises(KeyboardInterrupt):
        ws.prune("cnn", "digits", "magnitude", 0.5)
    monkeypatch.setattr(Catalog, "update_run", real)
    (run,) = ws.runs(kind="pruning")
    assert run.status == "running"  # as a kill would leave it
    assert [m.name for m in ws.models()] == ["cnn"]
    reopened = Workspace.open(ws.root)
    assert reopened.run(run.id).status == "interrupted"
    _consistent(reopened)


def test_open_removes_the_model_of_a_run_that_never_completed(ws):
    """The crash the next open repairs (``derived.discard_unfinished``): a model row
    whose run is left ``running`` by a dead process."""
    from visualizer.workspace.workspace import Workspace

    run = ws.prune("cnn", "digits", "magnitude", 0.5)
    name = run.params["model"]
    ws.catalog.update_run(run.id, status="running", finished_at=None, pid=2 ** 22 + 7)
    reopened = Workspace.open(ws.root)
    assert run.id in reopened.recovery.interrupted
    assert reopened.run(run.id).status == "interrupted"
    assert name not in {m.name for m in reopened.models()}
    assert f"{name}.safetensors" not in _files(reopened)
    _consistent(reopened)


def test_curves_live_in_the_run_file_not_in_the_catalog(ws, monkeypatch):
    from visualizer.analysis.pruning import results, schedule
    from visualizer.workspace.runfile import per_sample_columns

    produced = []
    real = schedule.run_schedule

    def recording(*args, **kwargs):
        produced.append(real(*args, **kwargs))
        return produced[-1]

    monkeypatch.setattr(schedule, "run_schedule", recording)
    run = ws.prune("cnn", "digits", "magnitude", 0.8, schedule="finetune", epochs=1)
    rec = ws.catalog.model(run.params["model"])
    assert lineage(rec)["curves"] is True
    assert '"loss"' not in json.dumps(rec.info)  # pruned_points parses no curves
    got = results.curves(ws, rec.name)
    assert got == produced[0].curves.to_dict()
    assert list(got) == ["step", "epoch", "loss", "train_accuracy", "sparsity",
                         "eval_epoch", "eval_accuracy"]
    assert all(isinstance(s, int) for s in got["step"])
    assert len(got["eval_accuracy"]) < len(got["loss"])
    assert not any(c.startswith("curves/") for c in per_sample_columns(run.path))
    point = next(p for p in results.pruned_points(ws) if p.model == rec.name)
    assert point.schedule == "finetune"
    oneshot = ws.prune("cnn", "digits", "magnitude", 0.5)
    assert results.curves(ws, oneshot.params["model"]) is None
    assert lineage(ws.catalog.model(oneshot.params["model"]))["curves"] is False


def test_a_curve_as_long_as_the_split_is_not_a_per_sample_column(tmp_path):
    from visualizer.workspace.runfile import RunFileWriter, per_sample_columns

    path = tmp_path / "run.h5"
    with RunFileWriter(path, "pruning") as writer:
        writer.put("sample_index", np.arange(5))
        writer.put("confidence", np.ones(5, np.float32))
        writer.put("curves/loss", np.linspace(1, 0, 5))
        writer.publish()
    assert per_sample_columns(path) == ["confidence"]


def test_channel_pruning_an_imported_model_without_input_shape_reloads(ws, tmp_path):
    from safetensors.torch import save_file

    weights = tmp_path / "cnn.safetensors"
    save_file({k: v.contiguous() for k, v in ws.load_model("cnn").state_dict().items()},
              str(weights))
    ws.import_model(weights, "imported", arch="cnn")
    assert "input_shape" not in ws.catalog.model("imported").info
    run = ws.prune("imported", "digits", "magnitude_layer", 0.5, structured=True)
    rec = ws.catalog.model(run.params["model"])
    assert rec.info["input_shape"] == [1, 8, 8]
    model = ws.load_model(rec.name)  # rebuilt from the architecture and the channels
    assert model.conv1.out_channels == lineage(rec)["kept_channels"]["conv1"]
    _consistent(ws)


def test_the_sweep_run_records_what_its_points_were_made_with(ws):
    from visualizer.jobs.contract import JobCancelled

    class CancelAtOnce:
        cancelled = True

        def progress(self, *a):
            pass

        def status(self, text):
            pass

        def partial(self, obj):
            pass

        def check_cancelled(self):
            raise JobCancelled()

    with pytest.raises(JobCancelled):
        ws.prune_sweep("cnn", "digits", ["magnitude"], [0.5], schedule="imp", imp_rounds=2,
                       layers="conv1", epochs=1, ctx=CancelAtOnce())
    sweep = ws.runs(kind="prune_sweep")[-1]
    assert sweep.status == "cancelled"
    assert (sweep.params["layers"], sweep.params["include_classifier"],
            sweep.params["imp_rounds"]) == (["conv1"], False, 2)
    assert sweep.provenance["device"] == "cpu"
    run = ws.prune_sweep("cnn", "digits", ["magnitude"], [0.5])
    assert "imp_rounds" not in run.params and run.params["layers"] is None
    assert run.provenance["device"] == "cpu"
