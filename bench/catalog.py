"""Benchmark: a workspace catalog with thousands of runs (a sweep times a grid).

For each size (default 1,000, 10,000 and 50,000 runs, of mixed kinds with realistic
parameters, metrics and provenance, five per-sample columns per attribution run), in
one process:

- ``open``: ``Workspace.open`` (migrate, recover), and the GUI thread's time inside
  ``QtMainWindow.open_workspace`` (every view reacting); the run list is then read in a
  thread, and its arrival on the GUI thread (``list``) is timed too;
- ``change``: one run added and then completed by another writer, as the window sees it:
  the GUI-thread time of ``session.check_catalog()``, which reads the change log and runs
  every view's handler. Against the baseline the catalog change replaced: re-reading every
  run (``Catalog.runs()``, what a refresh or a poll paid at the least);
- ``info --json``: the CLI command, in process, output to a buffer;
- ``sources``: the per-sample colour sources of a split (the newest 200 and the count).

Targets (issue 9): open <= 1 s, change <= 16 ms, info <= 1 s, sources <= 100 ms.

    python bench/catalog.py [--runs 1000,10000,50000] [--repeats 3]
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
os.environ.setdefault("DEEPSCOPE_NO_WARMUP", "1")

# the mix of a workspace after a pruning sweep and a robustness grid
KINDS = (("activations", 0.02), ("projection", 0.03), ("attribution", 0.25),
         ("sanity", 0.01), ("robustness", 0.69))
COLUMNS = ("deletion_auc", "insertion_auc", "infidelity", "sensitivity", "confidence")


def fill(ws, n: int, seed: int = 0) -> None:
    """``n`` runs written straight into the catalog (the files are not needed here)."""
    import numpy as np

    from visualizer.workspace.provenance import base_provenance

    rng = np.random.default_rng(seed)
    facts = base_provenance(device="cpu", seed=0)
    kinds = rng.choice([k for k, _ in KINDS], size=n, p=[p for _, p in KINDS])
    start = time.time() - n
    runs, columns = [], []
    for i, kind in enumerate(kinds):
        run_id = f"{kind[:4]}-{i:08x}"
        params = {"model": f"cnn-s{i % 20}", "dataset": "digits", "split": "test",
                  "seed": 0, "limit": 360}
        if kind in ("attribution", "sanity"):
            params |= {"method": "integrated_gradients", "n_steps": 50, "target": "pred"}
        elif kind == "activations":
            params |= {"layers": [f"layer{j}" for j in range(8)]}
        elif kind == "projection":
            params |= {"method": "umap", "layer": "layer3", "source_run": "act-0"}
        else:
            params |= {"corruption": "gaussian_noise", "severity": int(i % 5) + 1}
        metrics = {"n_samples": 360, "seconds": 1.5, "accuracy": 0.9,
                   "deletion_auc": 0.2, "insertion_auc": 0.7}
        runs.append((run_id, kind, "complete", params["model"], "digits", json.dumps(params),
                     json.dumps(metrics), json.dumps(facts), f"runs/{run_id}.h5", None, 1,
                     "bench", start + i, start + i + 1.5, 1))
        if kind == "attribution":
            columns += [(run_id, "digits", "test", name, start + i) for name in COLUMNS]
    with ws.catalog.transaction(notify=False) as con:
        con.executemany("INSERT INTO runs VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)", runs)
        con.executemany("INSERT INTO run_columns VALUES (?,?,?,?,?)", columns)


class Times:
    """Wall and CPU seconds of repeated measurements of one quantity."""

    def __init__(self) -> None:
        self.wall: list[float] = []
        self.cpu: list[float] = []

    def add(self, wall: float, cpu: float) -> None:
        self.wall.append(wall)
        self.cpu.append(cpu)

    def median(self, kind: str = "wall") -> float:
        return 1000 * statistics.median(getattr(self, kind))

    def text(self) -> str:
        w, c = (sorted(1000 * v for v in values) for values in (self.wall, self.cpu))
        return (f"wall {statistics.median(w):8.2f} [{w[0]:.2f}–{w[-1]:.2f}]   "
                f"cpu {statistics.median(c):8.2f} [{c[0]:.2f}–{c[-1]:.2f}]")


def timed(times: Times | None, fn, *args):
    """Call ``fn``; add its wall and CPU time (of this thread: the GUI thread for the
    window's measurements) to ``times``."""
    wall, cpu = time.perf_counter(), time.thread_time()
    result = fn(*args)
    wall, cpu = time.perf_counter() - wall, time.thread_time() - cpu
    if times is not None:
        times.add(wall, cpu)
    return wall, cpu, result


def one_change(ws, session, kind: str, times: Times) -> None:
    """GUI-thread time of the worse of two changes: a run of ``kind`` appearing, then
    completing."""
    from visualizer.workspace.catalog import RunRecord

    run_id = f"new-{time.monotonic_ns():x}"
    params = {"model": "cnn-s0", "dataset": "digits", "split": "test", "method": "saliency"}
    ws.catalog.add_run(RunRecord(run_id, kind, "running", "cnn-s0", "digits", params, {}, {},
                                 None, None, 1, "bench", time.time(), None))
    added = timed(None, session.check_catalog)
    ws.catalog.update_run(run_id, status="complete", metrics={"n_samples": 16},
                          finished_at=time.time())
    finished = timed(None, session.check_catalog)
    times.add(max(added[0], finished[0]), max(added[1], finished[1]))


METRICS = {  # name: (what it is, goal in ms)
    "open": ("Workspace.open", 1000),
    "window": ("GUI thread inside QtMainWindow.open_workspace", 1000),
    "list": ("GUI thread taking the run list read by its thread", 1000),
    "change attribution": ("GUI thread, worst of a run added / completed", 16),
    "change activations": ("GUI thread, worst of a run added / completed", 16),
    "re-read": ("Catalog.runs(): the baseline a refresh or a poll pays", None),
    "info --json": ("the CLI command, in process", 1000),
    "sources": ("newest 200 per-sample colour sources and their count", 100),
}


def bench_size(n: int, repeats: int, app) -> dict[str, Times]:
    from visualizer.analysis.projection.colour_sources import count_sources, per_sample_sources
    from visualizer.cli import main as cli_main
    from visualizer.session import Session
    from visualizer.workspace.workspace import Workspace
    from widgets.qt_main_window import QtMainWindow

    t = {name: Times() for name in METRICS}
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "ws"
        fill(Workspace.create(root), n)
        for _ in range(repeats):
            timed(t["open"], Workspace.open, root)
            buffer = io.StringIO()
            with contextlib.redirect_stdout(buffer):
                timed(t["info --json"], cli_main, ["info", str(root), "--json"])
            ws = Workspace.open(root)
            timed(t["sources"], lambda ws=ws: (
                per_sample_sources(ws, "digits", "test", limit=200),
                count_sources(ws, "digits", "test")))
            timed(t["re-read"], ws.catalog.runs)
        assert len(json.loads(buffer.getvalue())["runs"]) == n

        for _ in range(repeats):
            session = Session()
            window = QtMainWindow(session)
            browser = window.browser
            listed = Times()
            loaded = browser._on_rows_loaded
            browser._on_rows_loaded = lambda *a, loaded=loaded, listed=listed: timed(
                listed, loaded, *a)
            timed(t["window"], window.open_workspace, str(root))
            deadline = time.monotonic() + 60
            while not listed.wall and time.monotonic() < deadline:
                app.processEvents()
                time.sleep(0.002)
            t["list"].add(listed.wall[0], listed.cpu[0])
            assert browser.runs.model.total == session.workspace.catalog.count_runs()
            ws = session.workspace
            assert session.selection.run_id  # the window shows the newest activation run
            for kind in ("attribution", "activations"):
                one_change(ws, session, kind, t[f"change {kind}"])
            window.runner.shutdown(wait=True)
            window.close()
            window.deleteLater()
            app.processEvents()
    return t


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", default="1000,10000,50000")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    from PySide6.QtWidgets import QApplication

    app = QApplication.instance() or QApplication([])
    import logging

    # the runs here have no files: the views' "cannot read" messages are expected
    logging.getLogger("deepscope").setLevel(logging.CRITICAL)
    print(f"ms, median [min–max] of {args.repeats}; cpu = CPU time of the measuring thread")
    for name, (what, goal) in METRICS.items():
        print(f"  {name:<19} {what}" + (f" (goal <= {goal} ms)" if goal else ""))
    missed = []
    for n in (int(s) for s in args.runs.split(",")):
        t = bench_size(n, args.repeats, app)
        print(f"{n:,} runs", flush=True)
        for name, (_, goal) in METRICS.items():
            print(f"  {name:<19} {t[name].text()}", flush=True)
            if goal is not None and t[name].median() > goal:
                missed.append(f"{name} at {n:,} runs: {t[name].median():.1f} > {goal} ms")
        for kind in ("wall", "cpu"):
            ratio = t["change attribution"].median(kind) / t["re-read"].median(kind)
            print(f"  change ÷ re-read ({kind}) {ratio:.4f}")
    print("goals: " + ("met at every size" if not missed else "MISSED: " + "; ".join(missed)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
