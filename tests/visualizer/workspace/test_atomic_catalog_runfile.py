import os
import sqlite3

import h5py
import numpy as np
import pytest

from visualizer.errors import NotFoundError, WorkspaceError
from visualizer.jobs import JobCancelled
from visualizer.workspace.atomic import TEMP_MARK, atomic_path, atomic_write_text, stale_temp_files
from visualizer.workspace.catalog import SCHEMA_VERSION, Catalog
from visualizer.workspace.runfile import RunArrays, RunFileWriter, sample_chunks
from visualizer.workspace.workspace import Workspace


def test_atomic_write_replaces_whole_file(tmp_path):
    target = tmp_path / "settings.json"
    atomic_write_text(target, "old")
    atomic_write_text(target, "new")
    assert target.read_text() == "new"
    assert stale_temp_files(tmp_path) == []


def test_atomic_path_failure_keeps_old_file_and_leaves_no_temp(tmp_path):
    target = tmp_path / "data.bin"
    target.write_bytes(b"precious")
    with pytest.raises(RuntimeError):
        with atomic_path(target) as temp:
            temp.write_bytes(b"half writ")
            raise RuntimeError("crash mid-write")
    assert target.read_bytes() == b"precious"
    assert not any(TEMP_MARK in p.name for p in tmp_path.iterdir())


def test_sample_chunks_hold_whole_samples():
    assert sample_chunks(10_000, (64, 8, 8), 4) == (64, 64, 8, 8)  # 1 MiB / 16 KiB
    assert sample_chunks(3, (64, 8, 8), 4) == (3, 64, 8, 8)
    big = sample_chunks(100, (512, 64, 64), 4)  # one sample is 8 MiB: one per chunk
    assert big[0] == 1


def test_run_file_has_checksums_chunks_and_schema(tmp_path):
    final = tmp_path / "r.h5"
    with RunFileWriter(final, "activations") as w:
        ds = w.create("activations/fc", 100, (16,))
        ds[...] = np.arange(1600, dtype=np.float32).reshape(100, 16)
        w.put("label", np.arange(100))
        w.publish()
    with h5py.File(final, "r") as f:
        assert f.attrs["deepscope_schema"] == 1 and f.attrs["kind"] == "activations"
        assert f["activations/fc"].fletcher32 and f["activations/fc"].chunks == (100, 16)
        assert f["activations/fc"].compression is None
    with RunArrays(final) as arrays:
        assert set(arrays) == {"fc", "label"}
        assert arrays["fc"][3, 2] == 50


def test_run_file_aborted_by_cancel_leaves_nothing(tmp_path):
    final = tmp_path / "r.h5"
    with pytest.raises(JobCancelled):
        with RunFileWriter(final, "activations") as w:
            w.create("x", 10, (4,))
            raise JobCancelled()
    assert list(tmp_path.iterdir()) == []


def test_run_file_writer_never_overwrites(tmp_path):
    final = tmp_path / "r.h5"
    final.write_bytes(b"user data")
    with RunFileWriter(final, "k") as w:
        w.put("a", np.zeros(3))
    # not published: the user's file is untouched
    assert final.read_bytes() == b"user data"


def test_catalog_schema_wal_and_newer_version_refused(tmp_path):
    ws = Workspace.create(tmp_path / "ws")
    cat = Catalog(ws.root)
    assert cat.schema_version() == SCHEMA_VERSION
    with cat.connect() as con:
        assert con.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        con.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    with pytest.raises(WorkspaceError, match="newer DeepScope"):
        Workspace.open(ws.root)


def test_corrupt_catalog_is_a_clear_error(tmp_path):
    ws_dir = tmp_path / "ws"
    Workspace.create(ws_dir)
    (ws_dir / "deepscope.sqlite").write_bytes(b"not a database at all" * 100)
    for suffix in ("-wal", "-shm"):
        (ws_dir / f"deepscope.sqlite{suffix}").unlink(missing_ok=True)
    with pytest.raises(WorkspaceError, match="catalog cannot be read"):
        Workspace.open(ws_dir)


def test_open_non_workspace_names_folder_and_fix(tmp_path):
    with pytest.raises(WorkspaceError) as err:
        Workspace.open(tmp_path)
    assert str(tmp_path) in str(err.value) and "demo" in str(err.value)


def test_run_lifecycle_complete_failed_cancelled(tmp_path):
    ws = Workspace.create(tmp_path / "ws")

    def make(outcome):
        with ws.new_run("activations", model="m", dataset="d", params={"split": "test"},
                        provenance={}) as run, RunFileWriter(run.path, "activations") as w:
            w.put("sample_index", np.arange(4))
            if outcome == "fail":
                raise ValueError("bad layer")
            if outcome == "cancel":
                raise JobCancelled()
            run.metrics = {"accuracy": 1.0}
            w.publish()
        return run.id

    ok = make("ok")
    with pytest.raises(ValueError):
        make("fail")
    with pytest.raises(JobCancelled):
        make("cancel")
    statuses = {r.id: r.status for r in ws.runs()}
    assert statuses[ok] == "complete"
    assert sorted(statuses.values()) == ["cancelled", "complete", "failed"]
    failed = ws.runs(status="failed")[0]
    assert "bad layer" in failed.error and not failed.path.exists()
    with ws.run(ok).arrays() as arrays:
        assert list(arrays["sample_index"][()]) == [0, 1, 2, 3]
    assert ws.run(ok).metrics == {"accuracy": 1.0}
    with pytest.raises(WorkspaceError, match="only complete runs"):
        ws.runs(status="cancelled")[0].arrays()
    with pytest.raises(NotFoundError):
        ws.run("act-nope")
    # no lock files or temp files left behind
    assert [p.name for p in (ws.root / "runs").iterdir()] == [f"{ok}.h5"]


def test_running_run_of_dead_process_becomes_interrupted(tmp_path):
    ws = Workspace.create(tmp_path / "ws")
    run = ws.new_run("activations", model="m", dataset="d", params={}, provenance={})
    run.__enter__()  # hold it "running" as a live writer would
    # a second open while the writer lives: the run stays running
    assert Workspace.open(ws.root).runs()[0].status == "running"
    (ws.root / "runs" / f".x.h5.999999-deadbeef{TEMP_MARK}.h5").write_bytes(b"partial")
    # simulate the process dying: its lock fd closes, the kernel drops the flock
    os.close(run._lock_fd)
    reopened = Workspace.open(ws.root)
    assert reopened.runs()[0].status == "interrupted"
    assert reopened.recovery.interrupted == [run.id]
    assert reopened.recovery.removed_temp_files == [f"runs/.x.h5.999999-deadbeef{TEMP_MARK}.h5"]
    assert not (ws.root / "runs" / f".{run.id}.lock").exists()


def test_catalog_is_usable_from_raw_sqlite(tmp_path):
    ws = Workspace.create(tmp_path / "ws")
    con = sqlite3.connect(ws.root / "deepscope.sqlite")
    tables = {r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    assert {"models", "datasets", "runs"} <= tables
