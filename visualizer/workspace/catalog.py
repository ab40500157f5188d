"""The workspace catalog: a small SQLite database of models, datasets and runs.

SQLite in WAL mode is transactional and survives ``kill -9`` at any moment; the arrays
live in HDF5 files beside it. Each thread gets its own connection and every write is one
short transaction, so the catalog is safe to use from job threads and from several
processes at once.
"""

from __future__ import annotations

import contextlib
import json
import sqlite3
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from visualizer.errors import NotFoundError, WorkspaceError

SCHEMA_VERSION = 1
RUN_STATUSES = ("running", "complete", "failed", "cancelled", "interrupted")

_SCHEMA_V1 = """
CREATE TABLE IF NOT EXISTS models (
    name TEXT PRIMARY KEY,
    format TEXT NOT NULL,
    path TEXT NOT NULL,
    sha256 TEXT NOT NULL,
    architecture TEXT,
    info TEXT NOT NULL DEFAULT '{}',
    created_at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS datasets (
    name TEXT PRIMARY KEY,
    source TEXT NOT NULL,
    path TEXT,
    sha256 TEXT,
    info TEXT NOT NULL DEFAULT '{}',
    created_at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS runs (
    id TEXT PRIMARY KEY,
    kind TEXT NOT NULL,
    status TEXT NOT NULL,
    model TEXT,
    dataset TEXT,
    params TEXT NOT NULL DEFAULT '{}',
    metrics TEXT NOT NULL DEFAULT '{}',
    provenance TEXT NOT NULL DEFAULT '{}',
    path TEXT,
    error TEXT,
    pid INTEGER,
    host TEXT,
    created_at REAL NOT NULL,
    finished_at REAL
);
CREATE INDEX IF NOT EXISTS runs_by_kind ON runs (kind, created_at);
"""

# Migrations from version N to N+1, applied in order inside one transaction each.
# A schema change adds a function here and a fixture workspace written by the old version.
MIGRATIONS: dict[int, str] = {0: _SCHEMA_V1}


@dataclass
class ModelRecord:
    name: str
    format: str
    path: str
    sha256: str
    architecture: str | None
    info: dict[str, Any] = field(default_factory=dict)
    created_at: float = 0.0


@dataclass
class DatasetRecord:
    name: str
    source: str
    path: str | None
    sha256: str | None
    info: dict[str, Any] = field(default_factory=dict)
    created_at: float = 0.0


@dataclass
class RunRecord:
    id: str
    kind: str
    status: str
    model: str | None
    dataset: str | None
    params: dict[str, Any]
    metrics: dict[str, Any]
    provenance: dict[str, Any]
    path: str | None
    error: str | None
    pid: int | None
    host: str | None
    created_at: float
    finished_at: float | None


class Catalog:
    """Access to ``deepscope.sqlite`` in a workspace folder."""

    FILE = "deepscope.sqlite"

    def __init__(self, folder: Path):
        self.path = Path(folder) / self.FILE
        # One connection per thread, kept for the life of this object: opening one
        # costs ~0.4 ms, more than the query, and a job makes about ten queries.
        self._local = threading.local()

    # -- connection and schema ---------------------------------------------------
    @contextlib.contextmanager
    def connect(self) -> Iterator[sqlite3.Connection]:
        con = getattr(self._local, "con", None)
        if con is None:
            con = sqlite3.connect(self.path, timeout=30.0, isolation_level=None)
            try:
                con.row_factory = sqlite3.Row
                con.execute("PRAGMA journal_mode=WAL")
                con.execute("PRAGMA synchronous=FULL")
            except BaseException:
                con.close()
                raise
            self._local.con = con
        try:
            yield con
        except sqlite3.Error:
            self.close()  # a broken connection is not reused
            raise

    def close(self) -> None:
        """Close this thread's connection (the next query opens a new one)."""
        con = getattr(self._local, "con", None)
        self._local.con = None
        if con is not None:
            con.close()

    @contextlib.contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        with self.connect() as con:
            con.execute("BEGIN IMMEDIATE")
            try:
                yield con
            except BaseException:
                con.execute("ROLLBACK")
                raise
            con.execute("COMMIT")

    def schema_version(self) -> int:
        with self.connect() as con:
            return con.execute("PRAGMA user_version").fetchone()[0]

    def migrate(self) -> int:
        """Bring the schema up to ``SCHEMA_VERSION``; return the version found before."""
        try:
            found = self.schema_version()
        except sqlite3.DatabaseError as exc:
            raise WorkspaceError(
                f"the catalog cannot be read ({exc}).",
                path=self.path,
                fix="restore it from a backup, or create a new workspace and re-import.",
            ) from exc
        if found > SCHEMA_VERSION:
            raise WorkspaceError(
                f"this workspace was written by a newer DeepScope (schema {found}, "
                f"this version reads up to {SCHEMA_VERSION}).",
                path=self.path,
                fix="upgrade DeepScope.",
            )
        for version in range(found, SCHEMA_VERSION):
            with self.transaction() as con:
                for statement in _split_sql(MIGRATIONS[version]):
                    con.execute(statement)
                con.execute(f"PRAGMA user_version = {version + 1}")
        return found

    # -- models ------------------------------------------------------------------
    def put_model(self, rec: ModelRecord) -> None:
        with self.transaction() as con:
            con.execute(
                "INSERT OR REPLACE INTO models VALUES (?,?,?,?,?,?,?)",
                (rec.name, rec.format, rec.path, rec.sha256, rec.architecture,
                 json.dumps(rec.info), rec.created_at or time.time()),
            )

    def models(self) -> list[ModelRecord]:
        with self.connect() as con:
            rows = con.execute("SELECT * FROM models ORDER BY created_at, name").fetchall()
        return [ModelRecord(**{**dict(r), "info": json.loads(r["info"])}) for r in rows]

    def model(self, name: str) -> ModelRecord:
        for rec in self.models():
            if rec.name == name:
                return rec
        known = ", ".join(m.name for m in self.models()) or "none yet"
        raise NotFoundError(
            f"no model named {name!r} in this workspace (models: {known}).",
            fix="import it with `import-model`, or pick one of the listed names.",
        )

    # -- datasets ----------------------------------------------------------------
    def put_dataset(self, rec: DatasetRecord) -> None:
        with self.transaction() as con:
            con.execute(
                "INSERT OR REPLACE INTO datasets VALUES (?,?,?,?,?,?)",
                (rec.name, rec.source, rec.path, rec.sha256, json.dumps(rec.info),
                 rec.created_at or time.time()),
            )

    def datasets(self) -> list[DatasetRecord]:
        with self.connect() as con:
            rows = con.execute("SELECT * FROM datasets ORDER BY created_at, name").fetchall()
        return [DatasetRecord(**{**dict(r), "info": json.loads(r["info"])}) for r in rows]

    def dataset(self, name: str) -> DatasetRecord:
        for rec in self.datasets():
            if rec.name == name:
                return rec
        known = ", ".join(d.name for d in self.datasets()) or "none yet"
        raise NotFoundError(
            f"no dataset named {name!r} in this workspace (datasets: {known}).",
            fix="import it with `import-data`, or pick one of the listed names.",
        )

    # -- runs --------------------------------------------------------------------
    def add_run(self, rec: RunRecord) -> None:
        with self.transaction() as con:
            con.execute(
                "INSERT INTO runs VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
                (rec.id, rec.kind, rec.status, rec.model, rec.dataset,
                 json.dumps(rec.params), json.dumps(rec.metrics), json.dumps(rec.provenance),
                 rec.path, rec.error, rec.pid, rec.host, rec.created_at, rec.finished_at),
            )

    def update_run(self, run_id: str, **fields: Any) -> None:
        if "status" in fields and fields["status"] not in RUN_STATUSES:
            raise ValueError(f"bad run status {fields['status']!r}")
        for key in ("params", "metrics", "provenance"):
            if key in fields:
                fields[key] = json.dumps(fields[key])
        cols = ", ".join(f"{k} = ?" for k in fields)
        with self.transaction() as con:
            con.execute(f"UPDATE runs SET {cols} WHERE id = ?", (*fields.values(), run_id))

    def merge_metrics(self, run_id: str, metrics: dict[str, Any]) -> None:
        with self.transaction() as con:
            row = con.execute("SELECT metrics FROM runs WHERE id = ?", (run_id,)).fetchone()
            merged = {**json.loads(row["metrics"]), **metrics}
            con.execute("UPDATE runs SET metrics = ? WHERE id = ?", (json.dumps(merged), run_id))

    def runs(self, kind: str | None = None, status: str | None = None) -> list[RunRecord]:
        sql, args = "SELECT * FROM runs WHERE 1=1", []
        if kind:
            sql, args = sql + " AND kind = ?", [*args, kind]
        if status:
            sql, args = sql + " AND status = ?", [*args, status]
        with self.connect() as con:
            rows = con.execute(sql + " ORDER BY created_at, id", args).fetchall()
        return [_run_from_row(r) for r in rows]

    def run(self, run_id: str) -> RunRecord:
        with self.connect() as con:
            row = con.execute("SELECT * FROM runs WHERE id = ?", (run_id,)).fetchone()
        if row is None:
            raise NotFoundError(
                f"no run with id {run_id!r} in this workspace.",
                fix="list the runs with `info`.",
            )
        return _run_from_row(row)

    def delete_run(self, run_id: str) -> None:
        with self.transaction() as con:
            con.execute("DELETE FROM runs WHERE id = ?", (run_id,))


def _run_from_row(row: sqlite3.Row) -> RunRecord:
    d = dict(row)
    for key in ("params", "metrics", "provenance"):
        d[key] = json.loads(d[key])
    return RunRecord(**d)


def _split_sql(script: str) -> list[str]:
    return [s.strip() for s in script.split(";") if s.strip()]
