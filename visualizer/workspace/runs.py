"""Runs: the catalog record plus its HDF5 file, and the life cycle of a new run.

A run is ``running`` while a live process holds an exclusive ``flock`` on its lock
file. The kernel drops that lock when the process dies, even under ``kill -9``, so on
open a ``running`` run whose lock can be taken belongs to a dead process and becomes
``interrupted``.
"""

from __future__ import annotations

import contextlib
import os
import socket
import time
import uuid
from pathlib import Path
from typing import TYPE_CHECKING, Any

from visualizer.jobs.contract import JobCancelled
from visualizer.workspace.catalog import RunRecord
from visualizer.workspace.runfile import RunArrays

if TYPE_CHECKING:
    from visualizer.workspace.workspace import Workspace

try:
    import fcntl
except ImportError:  # Windows: fall back to asking whether the writer's pid is alive
    fcntl = None

KIND_PREFIX = {"activations": "act", "attribution": "attr", "projection": "proj",
               "sanity": "sani", "pruning": "prun", "prune_sweep": "psw", "cka": "cka"}


def new_run_id(kind: str) -> str:
    return f"{KIND_PREFIX.get(kind, kind[:4])}-{uuid.uuid4().hex[:8]}"


class Run:
    """One run in a workspace: its record, and its arrays read lazily from HDF5."""

    def __init__(self, workspace: Workspace, record: RunRecord):
        self._ws = workspace
        self._rec = record

    id = property(lambda self: self._rec.id)
    kind = property(lambda self: self._rec.kind)
    status = property(lambda self: self._rec.status)
    params = property(lambda self: self._rec.params)
    metrics = property(lambda self: self._rec.metrics)
    provenance = property(lambda self: self._rec.provenance)
    error = property(lambda self: self._rec.error)
    record = property(lambda self: self._rec)

    @property
    def path(self) -> Path | None:
        return self._ws.root / self._rec.path if self._rec.path else None

    def refresh(self) -> Run:
        self._rec = self._ws.catalog.run(self.id)
        return self

    def arrays(self) -> RunArrays:
        """Name -> array-like (h5py dataset); close it or use it in a ``with`` block."""
        from visualizer.errors import WorkspaceError

        if self._rec.status != "complete" or self.path is None:
            state = (f"is {self._rec.status}" if self._rec.status != "complete"
                     else "has no run file")
            raise WorkspaceError(
                f"run {self.id} {state}; only complete runs with a file have arrays.",
                fix="re-run it, or pick a complete run (see `info`).",
            )
        return RunArrays(self.path)

    def to_json(self) -> dict[str, Any]:
        r = self._rec
        return {
            "id": r.id, "kind": r.kind, "status": r.status, "model": r.model,
            "dataset": r.dataset, "params": r.params, "metrics": r.metrics,
            "path": str(self.path) if self.path else None, "error": r.error,
            "created_at": r.created_at, "finished_at": r.finished_at,
        }

    def __repr__(self) -> str:
        return f"Run(id={self.id!r}, kind={self.kind!r}, status={self.status!r})"


class NewRun:
    """The life cycle of a run being made: ``running`` -> ``complete|failed|cancelled``.

    Use as a context manager around the work. The run becomes ``complete`` only if the
    block ends normally *and* its file was published under the final name.
    """

    def __init__(self, ws: Workspace, kind: str, model: str | None, dataset: str | None,
                 params: dict[str, Any], provenance: dict[str, Any]):
        self.ws = ws
        self.id = new_run_id(kind)
        self.kind = kind
        self.rel_path = f"runs/{self.id}.h5"
        self.path = ws.root / self.rel_path
        self.metrics: dict[str, Any] = {}
        self.provenance = provenance
        self._lock_fd: int | None = None
        self._record = RunRecord(
            id=self.id, kind=kind, status="running", model=model, dataset=dataset,
            params=params, metrics={}, provenance=provenance, path=self.rel_path, error=None,
            pid=os.getpid(), host=socket.gethostname(), created_at=time.time(),
            finished_at=None,
        )

    def __enter__(self) -> NewRun:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock_fd = _acquire_lock(lock_path(self.ws.root, self.id))
        self.ws.catalog.add_run(self._record)
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        try:
            if exc_type is None:
                if not self.path.exists():
                    raise RuntimeError(f"run {self.id} ended without publishing {self.path}")
                index_columns(self.ws, self._record)
                self.ws.catalog.update_run(
                    self.id, status="complete", metrics=self.metrics,
                    provenance=self.provenance, finished_at=time.time(),
                )
            elif issubclass(exc_type, (JobCancelled, KeyboardInterrupt, SystemExit)):
                # SystemExit: a worker told to stop (SIGTERM on Cancel or quit)
                self.ws.catalog.update_run(self.id, status="cancelled", finished_at=time.time())
            else:
                self.ws.catalog.update_run(
                    self.id, status="failed", error=f"{exc_type.__name__}: {exc}",
                    finished_at=time.time(),
                )
        finally:
            _release_lock(self._lock_fd, lock_path(self.ws.root, self.id))

    def run(self) -> Run:
        return Run(self.ws, self.ws.catalog.run(self.id))


def index_columns(ws: Workspace, record: RunRecord) -> list[str]:
    """Record in the catalog the per-sample columns of a published run file, so views
    list them with one query instead of opening every file."""
    from visualizer.workspace.runfile import per_sample_columns

    names = per_sample_columns(ws.root / record.path) if record.path else []
    ws.catalog.set_run_columns(record.id, record.dataset,
                               record.params.get("split", "test"), names, record.created_at)
    return names


def lock_path(root: Path, run_id: str) -> Path:
    return root / "runs" / f".{run_id}.lock"


def _acquire_lock(path: Path) -> int:
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    if fcntl is not None:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    os.write(fd, str(os.getpid()).encode())
    return fd


def _release_lock(fd: int | None, path: Path) -> None:
    if fd is None:
        return
    with contextlib.suppress(FileNotFoundError):
        path.unlink()
    os.close(fd)  # closing drops the flock


def writer_is_alive(root: Path, record: RunRecord) -> bool:
    """Whether the process that started a ``running`` run still holds it."""
    path = lock_path(root, record.id)
    if not path.exists():
        return False
    if fcntl is None or record.host != socket.gethostname():
        return record.host != socket.gethostname() or pid_alive(record.pid)
    fd = os.open(path, os.O_RDWR)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    finally:
        os.close(fd)
    return False


def pid_alive(pid: int | None) -> bool:
    """Whether a process with this pid exists on this machine."""
    if not pid:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
