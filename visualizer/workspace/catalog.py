"""The workspace catalog: a small SQLite database of models, datasets and runs.

SQLite in WAL mode is transactional and survives ``kill -9`` at any moment; the arrays
live in HDF5 files beside it. Each thread gets its own connection and every write is one
short transaction, so the catalog is safe to use from job threads and from several
processes at once.
"""

from __future__ import annotations

import contextlib
import inspect
import json
import re
import sqlite3
import threading
import time
import weakref
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple

from visualizer.errors import NotFoundError, WorkspaceError

SCHEMA_VERSION = 2
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

# Version 2: a change log that every write fills through triggers, so any process can
# learn what changed since it last looked (``changes_since``) without re-reading the
# catalog; and an index of the per-sample columns each complete run publishes.
_CHANGE_TRIGGERS = [
    f"""CREATE TRIGGER IF NOT EXISTS {table}_{op} AFTER {event} ON {table} BEGIN
        INSERT INTO changes (entity, key, op, kind, status)
        VALUES ('{entity}', {row}.{key}, '{op}', {extra}); END"""
    for table, entity, key in (("models", "model", "name"), ("datasets", "dataset", "name"),
                               ("runs", "run", "id"))
    for event, op, row in (("INSERT", "added", "NEW"), ("UPDATE", "updated", "NEW"),
                           ("DELETE", "removed", "OLD"))
    for extra in ([f"{row}.kind, {row}.status"] if table == "runs" else ["NULL, NULL"])
]
_SCHEMA_V2 = [
    """CREATE TABLE IF NOT EXISTS changes (
        seq INTEGER PRIMARY KEY AUTOINCREMENT,
        entity TEXT NOT NULL,
        key TEXT NOT NULL,
        op TEXT NOT NULL,
        kind TEXT,
        status TEXT)""",
    *_CHANGE_TRIGGERS,
    # created_at is the run's, copied so that "the newest N of a split" walks an index
    """CREATE TABLE IF NOT EXISTS run_columns (
        run_id TEXT NOT NULL,
        dataset TEXT,
        split TEXT,
        name TEXT NOT NULL,
        created_at REAL NOT NULL,
        PRIMARY KEY (run_id, name))""",
    "CREATE INDEX IF NOT EXISTS run_columns_by_split ON run_columns "
    "(dataset, split, created_at)",
    "CREATE INDEX IF NOT EXISTS runs_by_status ON runs (status)",
    # runs complete before version 2 have no column index yet: NULL means "scan the file"
    "ALTER TABLE runs ADD COLUMN columns_indexed INTEGER",
]

# Migrations from version N to N+1, applied in order inside one transaction each.
# A schema change adds statements here and a fixture workspace written by the new version.
MIGRATIONS: dict[int, str | list[str]] = {0: _SCHEMA_V1, 1: _SCHEMA_V2}
# How many change-log entries are kept: a watcher that fell further behind re-reads all.
CHANGES_KEPT = 100_000


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
    columns_indexed: int | None = None


@dataclass(frozen=True)
class CatalogChange:
    """What changed in a catalog since a watcher last looked.

    ``runs`` maps run ids to ``RunChange`` (the last operation, ``added``, ``updated``
    or ``removed``, with the run's kind and status then). ``reset`` means the watcher
    fell behind the kept log: re-read everything.
    """

    models: frozenset[str] = frozenset()
    datasets: frozenset[str] = frozenset()
    runs: dict[str, RunChange] = field(default_factory=dict)
    reset: bool = False

    def __bool__(self) -> bool:
        return bool(self.models or self.datasets or self.runs or self.reset)

    @property
    def models_or_datasets(self) -> bool:
        return bool(self.models or self.datasets or self.reset)

    def touches_runs(self, *kinds: str, status: str | None = None) -> bool:
        """Whether runs of ``kinds`` (any kind when none given) changed; with ``status``,
        only changes that left a run in that status or removed it count."""
        return self.reset or any(
            (not kinds or c.kind in kinds)
            and (status is None or c.status == status or c.op == "removed")
            for c in self.runs.values())


class RunRow(NamedTuple):
    """What a list of runs shows of one run (``Catalog.run_rows``)."""

    id: str
    kind: str
    status: str
    model: str | None
    dataset: str | None
    split: str | None
    method: str | None
    layer: str | None
    n_layers: int | None
    n_samples: int | None
    created_at: float
    finished_at: float | None
    error: str | None

    @property
    def what(self) -> str:
        """The method and layer, or the number of layers, in a few words."""
        parts = [p for p in (self.method, self.layer) if p]
        if not parts and self.n_layers:
            parts.append(f"{self.n_layers} layer{'s' if self.n_layers != 1 else ''}")
        return " · ".join(parts)


@dataclass(frozen=True)
class RunChange:
    op: str  # "added" | "updated" | "removed"
    kind: str
    status: str


# Writers in this process call these after each committed write (with the catalog path),
# so a window learns of a job's write at once; other processes are seen through the log.
_write_listeners: list = []
_listeners_lock = threading.Lock()


def add_write_listener(fn) -> None:
    """Call ``fn(catalog_path)`` after every write in this process (from the writing
    thread). A bound method is held weakly, so a listening session can go away."""
    ref = weakref.WeakMethod(fn) if inspect.ismethod(fn) else (lambda: fn)
    with _listeners_lock:
        _write_listeners.append(ref)


def _notify_write(path: Path) -> None:
    with _listeners_lock:
        _write_listeners[:] = [ref for ref in _write_listeners if ref() is not None]
        listeners = [ref() for ref in _write_listeners]
    for fn in listeners:
        if fn is None:
            continue
        try:
            fn(path)
        except Exception:  # noqa: BLE001 - a listener never breaks a write
            import logging

            logging.getLogger("deepscope.catalog").exception("catalog write listener failed")


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
    def transaction(self, notify: bool = True) -> Iterator[sqlite3.Connection]:
        with self.connect() as con:
            con.execute("BEGIN IMMEDIATE")
            try:
                yield con
            except BaseException:
                con.execute("ROLLBACK")
                raise
            con.execute("COMMIT")
        if notify:
            _notify_write(self.path)

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
            steps = MIGRATIONS[version]
            with self.transaction(notify=False) as con:
                for statement in _split_sql(steps) if isinstance(steps, str) else steps:
                    con.execute(statement)
                con.execute(f"PRAGMA user_version = {version + 1}")
        if found == SCHEMA_VERSION:
            self._trim_changes()
        return found

    # -- the change log ----------------------------------------------------------
    def last_change(self) -> int:
        """The sequence number of the newest change (0 for none)."""
        with self.connect() as con:
            return con.execute("SELECT COALESCE(MAX(seq), 0) FROM changes").fetchone()[0]

    def changes_since(self, seq: int, max_rows: int = 5000) -> tuple[int, CatalogChange]:
        """Changes after ``seq``: ``(newest seq, CatalogChange)``.

        More than ``max_rows`` changes, or a ``seq`` older than the kept log, give a
        change with ``reset=True``: re-reading everything is then cheaper.
        """
        with self.connect() as con:
            first, last = con.execute("SELECT MIN(seq), MAX(seq) FROM changes").fetchone()
            if last is None or last <= seq:
                return seq, CatalogChange()
            if seq < first - 1 or last - seq > max_rows:
                return last, CatalogChange(reset=True)
            rows = con.execute("SELECT * FROM changes WHERE seq > ? ORDER BY seq",
                               (seq,)).fetchall()
        models, datasets, runs = set(), set(), {}
        for row in rows:
            entity, key, op = row["entity"], row["key"], row["op"]
            if entity == "model":
                models.add(key)
            elif entity == "dataset":
                datasets.add(key)
            else:
                before = runs.get(key)
                if before is not None and before.op == "added" and op == "updated":
                    op = "added"  # added and finished since the last look: still new here
                runs[key] = RunChange(op, row["kind"], row["status"])
        return rows[-1]["seq"], CatalogChange(frozenset(models), frozenset(datasets), runs)

    def _trim_changes(self) -> None:
        """Drop the oldest change-log entries past ``CHANGES_KEPT``: a write only when
        there is something to drop, so opening stays a read (and works read-only)."""
        with self.connect() as con:
            first, last = con.execute("SELECT MIN(seq), MAX(seq) FROM changes").fetchone()
        if last is None or last - first < CHANGES_KEPT:
            return
        try:
            with self.transaction(notify=False) as con:
                con.execute("DELETE FROM changes WHERE seq <= ?", (last - CHANGES_KEPT,))
        except sqlite3.OperationalError as exc:  # a read-only catalog keeps its log
            if "readonly" not in str(exc):
                raise

    # -- models ------------------------------------------------------------------
    def put_model(self, rec: ModelRecord) -> None:
        with self.transaction() as con:
            con.execute(
                "INSERT OR REPLACE INTO models VALUES (?,?,?,?,?,?,?)",
                (rec.name, rec.format, rec.path, rec.sha256, rec.architecture,
                 json.dumps(rec.info), rec.created_at or time.time()),
            )

    def delete_model(self, name: str) -> None:
        with self.transaction() as con:
            con.execute("DELETE FROM models WHERE name = ?", (name,))

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
                "INSERT INTO runs VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
                (rec.id, rec.kind, rec.status, rec.model, rec.dataset,
                 json.dumps(rec.params), json.dumps(rec.metrics), json.dumps(rec.provenance),
                 rec.path, rec.error, rec.pid, rec.host, rec.created_at, rec.finished_at,
                 rec.columns_indexed),
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

    def runs(self, kind: str | None = None, status: str | None = None,
             params: dict[str, Any] | None = None, newest: int | None = None
             ) -> list[RunRecord]:
        """Runs, oldest first; ``params`` keeps those whose parameters have these values
        (compared by SQLite, so only the matches are parsed); ``newest`` keeps the N
        newest."""
        sql, args = "SELECT * FROM runs WHERE 1=1", []
        if kind:
            sql, args = sql + " AND kind = ?", [*args, kind]
        if status:
            sql, args = sql + " AND status = ?", [*args, status]
        for key, value in (params or {}).items():
            if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", key):
                raise ValueError(f"bad parameter name {key!r}")
            sql, args = sql + f" AND json_extract(params, '$.{key}') = ?", [*args, value]
        with self.connect() as con:
            if newest is not None:
                rows = con.execute(sql + " ORDER BY created_at DESC, id DESC LIMIT ?",
                                   [*args, newest]).fetchall()[::-1]
            else:
                rows = con.execute(sql + " ORDER BY created_at, id", args).fetchall()
        return [_run_from_row(r) for r in rows]

    def count_runs(self, kind: str | None = None, status: str | None = None) -> int:
        sql, args = "SELECT COUNT(*) FROM runs WHERE 1=1", []
        if kind:
            sql, args = sql + " AND kind = ?", [*args, kind]
        if status:
            sql, args = sql + " AND status = ?", [*args, status]
        with self.connect() as con:
            return con.execute(sql, args).fetchone()[0]

    def run_rows(self, run_ids=None, *, kind: str | None = None, status: str | None = None,
                 newest: int | None = None) -> list[RunRow]:
        """One light row per run (all, or ``run_ids``) for lists of thousands of runs:
        SQLite picks the few fields a list shows out of the JSON, so nothing is parsed
        in Python. ``kind``/``status`` filter, ``newest`` keeps the N newest (oldest
        first either way)."""
        sql = ("SELECT id, kind, status, model, dataset, "
               "json_extract(params, '$.split'), json_extract(params, '$.method'), "
               "json_extract(params, '$.layer'), json_array_length(params, '$.layers'), "
               "COALESCE(json_extract(metrics, '$.n_samples'), "
               "json_extract(params, '$.limit')), created_at, finished_at, error "
               "FROM runs")
        with self.connect() as con:
            if run_ids is None:
                where, args = " WHERE 1=1", []
                if kind:
                    where, args = where + " AND kind = ?", [*args, kind]
                if status:
                    where, args = where + " AND status = ?", [*args, status]
                if newest is not None:
                    rows = con.execute(f"{sql}{where} ORDER BY created_at DESC, id DESC "
                                       "LIMIT ?", [*args, newest]).fetchall()
                    return [RunRow(*r) for r in reversed(rows)]
                return [RunRow(*r) for r in con.execute(f"{sql}{where} ORDER BY created_at, id",
                                                         args)]
            ids = list(run_ids)
            rows = []
            for start in range(0, len(ids), 500):  # SQLite's bound-parameter limit
                chunk = ids[start:start + 500]
                rows += con.execute(f"{sql} WHERE id IN ({','.join('?' * len(chunk))})",
                                    chunk).fetchall()
            return [RunRow(*r) for r in rows]

    def run_dicts(self, root: Path) -> list[dict[str, Any]]:
        """Every run as ``Run.to_json`` gives it, oldest first, built by SQLite and parsed
        in one call (parsing three JSON columns per run in Python cost seconds)."""
        return json.loads(self.runs_json(root))

    def runs_json(self, root: Path) -> str:
        """``run_dicts`` as JSON text (an array), straight from SQLite."""
        sql = ("SELECT json_group_array(json_object("
               "'id', id, 'kind', kind, 'status', status, 'model', model, "
               "'dataset', dataset, 'params', json(params), 'metrics', json(metrics), "
               # SQLite prints a REAL with 15 digits: printf keeps every bit of a time
               "'path', CASE WHEN path IS NULL THEN NULL ELSE ? || '/' || path END, "
               "'error', error, 'created_at', json(printf('%!.17g', created_at)), "
               "'finished_at', CASE WHEN finished_at IS NULL THEN NULL "
               "ELSE json(printf('%!.17g', finished_at)) END)) "
               "FROM (SELECT * FROM runs ORDER BY created_at, id)")
        with self.connect() as con:
            (text,) = con.execute(sql, (str(root),)).fetchone()
        return text

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
            con.execute("DELETE FROM run_columns WHERE run_id = ?", (run_id,))

    # -- per-sample columns --------------------------------------------------------
    def set_run_columns(self, run_id: str, dataset: str | None, split: str | None,
                        names: list[str], created_at: float) -> None:
        """Record the per-sample columns a run publishes (replacing any). Only complete
        runs are indexed, and a complete run never changes status again."""
        with self.transaction(notify=False) as con:
            con.execute("DELETE FROM run_columns WHERE run_id = ?", (run_id,))
            con.executemany("INSERT INTO run_columns VALUES (?,?,?,?,?)",
                            [(run_id, dataset, split, n, created_at) for n in names])
            con.execute("UPDATE runs SET columns_indexed = 1 WHERE id = ?", (run_id,))

    def run_columns(self, dataset: str, split: str, text: str = "", limit: int | None = None
                    ) -> tuple[list[tuple[str, str, str, str | None]], int]:
        """``([(run_id, column, kind, model)], total)`` of the complete runs over a split
        (projections aside: their columns describe a layout), newest first.

        ``text`` filters on the run id, column, kind or model (case-insensitive);
        ``limit`` caps the rows returned, ``total`` counts all matches.
        """
        # complete only: a run killed between indexing and completing offers nothing
        where = "FROM run_columns c JOIN runs r ON r.id = c.run_id " \
                "WHERE c.dataset = ? AND c.split = ? AND r.status = 'complete' " \
                "AND r.kind != 'projection'"
        args: list[Any] = [dataset, split]
        if text:
            where += (" AND (c.name LIKE ? OR r.id LIKE ? OR r.kind LIKE ? "
                      "OR COALESCE(r.model, '') LIKE ?)")
            args += [f"%{text}%"] * 4
        with self.connect() as con:
            total = con.execute(f"SELECT COUNT(*) {where}", args).fetchone()[0]
            sql = (f"SELECT c.run_id, c.name, r.kind, r.model {where} "
                   "ORDER BY c.created_at DESC, c.run_id, c.name")
            if limit is not None:
                sql, args = sql + " LIMIT ?", [*args, limit]
            rows = con.execute(sql, args).fetchall()
        return [tuple(r) for r in rows], total

    def runs_without_columns(self, dataset: str) -> list[RunRecord]:
        """Complete runs over ``dataset`` whose per-sample columns are not indexed yet."""
        with self.connect() as con:
            rows = con.execute("SELECT * FROM runs WHERE status = 'complete' AND dataset = ? "
                               "AND columns_indexed IS NULL", (dataset,)).fetchall()
        return [_run_from_row(r) for r in rows]


def _run_from_row(row: sqlite3.Row) -> RunRecord:
    d = dict(row)
    for key in ("params", "metrics", "provenance"):
        d[key] = json.loads(d[key])
    return RunRecord(**d)


def _split_sql(script: str) -> list[str]:
    return [s.strip() for s in script.split(";") if s.strip()]
