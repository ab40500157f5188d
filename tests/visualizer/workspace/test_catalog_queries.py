"""The catalog's change log and the light queries that lists of thousands of runs use.

Each fast path is checked against the slow, obvious one it replaces: ``run_dicts``
against ``Run.to_json``, ``run_rows`` against the parsed records, ``runs(params=...)``
against filtering in Python, the column index against scanning the run files.
"""

import time

import numpy as np
import pytest

from visualizer.workspace.catalog import DatasetRecord, ModelRecord, RunRecord
from visualizer.workspace.workspace import Workspace


def _record(run_id, kind="attribution", status="complete", created=0.0, **params):
    params = {"model": "cnn", "dataset": "digits", "split": "test", **params}
    return RunRecord(run_id, kind, status, "cnn", "digits", params,
                     {"n_samples": 16, "deletion_auc": 0.25}, {"host": "h"},
                     f"runs/{run_id}.h5", None, 1, "h", 1.7e9 + created + 0.123456,
                     1.7e9 + created + 2.5 if status != "running" else None)


@pytest.fixture
def ws(tmp_path):
    ws = Workspace.create(tmp_path / "ws")
    for i in range(30):
        kind = ("attribution", "activations", "projection")[i % 3]
        extra = {"method": "saliency" if i % 2 else "integrated_gradients"} \
            if kind == "attribution" else {"layers": ["a", "b"]} \
            if kind == "activations" else {"layer": "fc1", "source_run": "act-0"}
        ws.catalog.add_run(_record(f"r{i:02d}", kind, created=i, **extra))
    ws.catalog.add_run(_record("broken", status="failed", created=40, method="x"))
    ws.catalog.update_run("broken", error='bad "quote" \\ and ünïcode')
    return ws


def test_change_log_names_what_changed_with_kind_and_status(tmp_path):
    ws = Workspace.create(tmp_path / "ws")
    seq = ws.catalog.last_change()
    ws.catalog.put_model(ModelRecord("m", "safetensors", "models/m", "0", "cnn"))
    ws.catalog.put_dataset(DatasetRecord("d", "npz", "datasets/d.h5", "1"))
    ws.catalog.add_run(_record("a", status="running"))
    ws.catalog.update_run("a", status="complete")
    ws.catalog.add_run(_record("b"))
    ws.catalog.delete_run("b")
    seq, change = ws.catalog.changes_since(seq)
    assert change.models == {"m"} and change.datasets == {"d"}
    # added then finished since the last look: still "added", now complete
    assert (change.runs["a"].op, change.runs["a"].kind, change.runs["a"].status) == (
        "added", "attribution", "complete")
    assert change.runs["b"].op == "removed"
    assert change.touches_runs("attribution", status="complete")
    assert not change.touches_runs("activations")
    assert ws.catalog.changes_since(seq) == (seq, type(change)())
    assert not ws.catalog.changes_since(seq)[1]


def test_run_dicts_equal_to_json_of_every_run(ws):
    assert ws.catalog.run_dicts(ws.root) == [r.to_json() for r in ws.runs()]


def test_run_rows_match_the_records(ws):
    rows = {r.id: r for r in ws.catalog.run_rows()}
    for run in ws.runs():
        row = rows[run.id]
        assert (row.kind, row.status, row.model, row.dataset) == (
            run.kind, run.status, run.record.model, run.record.dataset)
        assert row.split == run.params["split"] and row.n_samples == 16
        assert row.method == run.params.get("method") and row.layer == run.params.get("layer")
        assert row.created_at == run.record.created_at and row.error == run.error
    assert rows["r01"].what == "2 layers" and rows["r02"].what == "fc1"
    newest = ws.catalog.run_rows(kind="attribution", status="complete", newest=3)
    assert [r.id for r in newest] == ["r21", "r24", "r27"]
    assert [r.id for r in ws.catalog.run_rows(["r03", "nope"])] == ["r03"]
    assert ws.catalog.count_runs(kind="attribution") == 11


def test_runs_filtered_on_parameters_in_sql(ws):
    want = [r.id for r in ws.runs(kind="attribution") if r.params.get("method") == "saliency"]
    got = [r.id for r in ws.runs(kind="attribution", params={"method": "saliency"})]
    assert got == want and len(got) == 5
    with pytest.raises(ValueError, match="bad parameter name"):
        ws.catalog.runs(params={"x') OR 1=1 --": 1})


def test_column_index_equals_a_scan_of_the_files(tmp_path):
    from visualizer.analysis.projection.colour_sources import count_sources, per_sample_sources
    from visualizer.workspace.runfile import RunFileWriter, per_sample_columns

    ws = Workspace.create(tmp_path / "ws")
    made = []
    for _ in range(3):
        params = {"model": "cnn", "dataset": "digits", "split": "test"}
        with ws.new_run("attribution", model="cnn", dataset="digits", params=params,
                        provenance={}) as new:
            with RunFileWriter(new.path, "attribution") as w:
                w.put("sample_index", np.arange(5))
                w.put("deletion_auc", np.linspace(0, 1, 5))
                w.put("per_sample/confidence", np.ones(5, np.float32))
                w.put("label", np.arange(5))  # integers: not a colour source
                w.put("stats/x", np.ones(5))  # statistics: not a column
                w.publish()
        made.append(new.id)
        time.sleep(0.01)
    assert per_sample_columns(ws.run(made[0]).path) == ["deletion_auc", "per_sample/confidence"]
    sources = per_sample_sources(ws, "digits", "test")
    assert [(s.run_id, s.name) for s in sources] == [
        (rid, name) for rid in reversed(made) for name in ("deletion_auc",
                                                           "per_sample/confidence")]
    assert count_sources(ws, "digits", "test") == 6
    assert [s.run_id for s in per_sample_sources(ws, "digits", "test", limit=2)] == \
        [made[2]] * 2
    assert {s.name for s in per_sample_sources(ws, "digits", "test", text="confid")} == \
        {"per_sample/confidence"}
    assert per_sample_sources(ws, "digits", "train") == []


def test_a_schema_1_workspace_gets_a_change_log_and_its_runs_indexed_on_first_use(tmp_path):
    import shutil
    from pathlib import Path

    from visualizer.analysis.projection.colour_sources import per_sample_sources
    from visualizer.workspace.runfile import per_sample_columns

    fixture = Path(__file__).parents[2] / "fixtures" / "workspace-schema-1"
    shutil.copytree(fixture, tmp_path / "old")
    ws = Workspace.open(tmp_path / "old")
    (run,) = ws.runs()
    assert [r.id for r in ws.catalog.runs_without_columns("digits")] == [run.id]
    scanned = per_sample_columns(run.path)  # what a scan of the file finds
    assert [s.name for s in per_sample_sources(ws, "digits", "test")] == scanned
    assert ws.catalog.runs_without_columns("digits") == []  # indexed once
    seq = ws.catalog.last_change()
    ws.catalog.put_dataset(DatasetRecord("more", "npz", "datasets/m.h5", "1"))
    assert ws.catalog.changes_since(seq)[1].datasets == {"more"}


def test_opening_a_workspace_writes_nothing_to_its_catalog(tmp_path):
    """Opening is a read (``info``, ``render``, a read-only copy): the change log is
    trimmed only when it has grown past what is kept."""
    import os

    ws = Workspace.create(tmp_path / "ws")
    ws.catalog.put_dataset(DatasetRecord("d", "npz", "datasets/d.h5", "1"))
    with ws.catalog.connect() as con:
        con.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    ws.catalog.close()
    files = {p.name: p.stat().st_mtime_ns for p in ws.root.iterdir() if p.is_file()}
    assert [d.name for d in Workspace.open(ws.root).datasets()] == ["d"]
    wal = ws.catalog.path.with_name(ws.catalog.path.name + "-wal")
    assert not wal.exists() or os.path.getsize(wal) == 0
    assert {p.name: p.stat().st_mtime_ns for p in ws.root.iterdir()
            if p.is_file() and p.name in files} == files
