"""Embedding benchmark: each figure against its baseline, measured in the same run.

(a) the UMAP projection job (worker process: read, PCA pre-reduction, fit, store)
    against umap-learn called directly on the same N x D activations (goal <= 1.1x);
(b) time to the first preview (PCA layout on a worker thread; goal <= 1 s);
(c) GUI heartbeat (10 ms timer) while the job runs and its layouts stream into the
    scatter: 99th-percentile stall (goal <= 50 ms);
(d) frame time after a pan with 1,000,000 points (goal <= 50 ms), and with 100,000
    points against a plain pyqtgraph ScatterPlotItem with per-point brushes.

    python bench/embedding.py            # 50,000 x 512, 1,000,000 points
    python bench/embedding.py --quick    # 5,000 x 128, 200,000 points
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")


def synthetic_workspace(root: Path, n: int, d: int, seed: int = 0):
    from visualizer.workspace.runfile import RunFileWriter
    from visualizer.workspace.workspace import Workspace

    ws = Workspace.create(root)
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(20, d)) * 3
    labels = rng.integers(0, 20, n)
    x = (centres[labels] + rng.normal(size=(n, d))).astype(np.float32)
    params = {"model": "bench", "dataset": "bench", "split": "test", "layers": ["feat"],
              "layer_shapes": {"feat": [d]}}
    with ws.new_run("activations", model=None, dataset=None, params=params,
                    provenance={}) as new_run, \
            RunFileWriter(new_run.path, "activations") as w:
        w.put("activations/feat", x)
        w.file["activations"].attrs["order"] = ["feat"]
        w.put("sample_index", np.arange(n))
        w.put("label", labels % 10)
        w.put("prediction", labels % 10)
        w.publish()
    return ws, new_run.id, x, labels


def percentile(values, q):
    return float(np.percentile(np.asarray(values), q)) if values else float("nan")


def bench_job(ws, run_id, x, repeats: int):
    """(a), (b), (c): job vs direct umap; preview time; heartbeat during the job."""
    from PySide6.QtCore import QElapsedTimer, QTimer
    from PySide6.QtWidgets import QApplication

    from visualizer.analysis.projection.job import ProjectRequest, preview_layout, project_job
    from visualizer.analysis.projection.numba_cache import import_umap
    from visualizer.jobs import NullContext
    from visualizer.session import JobList
    from widgets.embedding.colors import categorical
    from widgets.embedding.qt_scatter import QtScatterPlot
    from widgets.qt_job_runner import QtJobRunner

    app = QApplication.instance() or QApplication([])
    umap = import_umap()
    from visualizer.analysis.projection.methods import pca_reduce
    from visualizer.analysis.projection.numba_cache import WarmUpRequest, warm_up

    # Both sides warm, as in the app after start-up: this process for the direct calls,
    # and the long-lived worker the job runs in (its warm-up is what the app runs).
    warm_up(WarmUpRequest(force=True), NullContext())
    jobs = JobList()
    runner = QtJobRunner(jobs)
    runner.add_warm_up(warm_up, WarmUpRequest(force=True), "warm up")
    while any(not j.state.finished for j in jobs.jobs):
        app.processEvents()
        time.sleep(0.01)
    plot = QtScatterPlot()
    plot.resize(900, 700)
    plot.show()
    job_times, direct_times, direct_pca_times, previews, stalls = [], [], [], [], []
    labels = categorical("label", np.zeros(len(x), np.int64))
    for r in range(repeats):
        # baseline: umap-learn directly on the raw activations, and on the same PCA input
        t = time.perf_counter()
        umap.UMAP(random_state=0).fit_transform(x)
        direct_times.append(time.perf_counter() - t)
        t = time.perf_counter()
        umap.UMAP(random_state=0).fit_transform(pca_reduce(x, 50) if x.shape[1] > 50 else x)
        direct_pca_times.append(time.perf_counter() - t)
        # subject: preview + the process job with streamed layouts, heartbeat on
        request = ProjectRequest(str(ws.root), run_id, "feat", "umap",
                                 options=(("seed", r),) if r else ())
        t = time.perf_counter()
        preview_layout(request, NullContext())
        previews.append(time.perf_counter() - t)
        beats: list[float] = []
        clock = QElapsedTimer()
        clock.start()
        last = [clock.nsecsElapsed()]

        def beat(clock=clock, beats=beats, last=last):
            now = clock.nsecsElapsed()
            beats.append((now - last[0]) / 1e6)
            last[0] = now

        heart = QTimer(interval=10)
        heart.timeout.connect(beat)
        heart.start()
        t = time.perf_counter()
        job = runner.submit(project_job, request, name="bench umap", process="warm")
        bridge = runner.bridge(job)
        last = []

        def show_partial(p, last=last):
            last.append(p)
            plot.set_points(p.coords, p.sample_index, labels, fit=False, preview=True)

        bridge.partial_arrived.connect(show_partial)
        while not job.state.finished:
            app.processEvents()
            time.sleep(0.001)
        job_times.append(time.perf_counter() - t)
        if last:  # the final layout is drawn as exact points: its stall counts too
            plot.set_points(last[-1].coords, last[-1].sample_index, labels, fit=False)
            for _ in range(20):
                app.processEvents()
                time.sleep(0.01)
        heart.stop()
        if job.error:
            raise RuntimeError(str(job.error))
        stalls += [b - 10.0 for b in beats[1:]]
    runner.shutdown(wait=True)
    return job_times, direct_times, direct_pca_times, previews, stalls


def pan_times(plot, app, n_pans: int = 15) -> list[float]:
    vb = plot.getViewBox()
    out = []
    for i in range(n_pans):
        (x0, x1), _ = vb.viewRange()
        t = time.perf_counter()
        vb.translateBy(x=(x1 - x0) * (0.13 if i % 2 == 0 else -0.11))
        app.processEvents()
        if hasattr(plot, "refresh"):
            plot.refresh()  # do not wait for the coalescing timer: count its work
        plot.viewport().repaint()
        out.append((time.perf_counter() - t) * 1000)
    return out


def bench_pan(n_big: int, n_small: int = 100_000):
    import pyqtgraph as pg
    from PySide6.QtWidgets import QApplication

    from widgets.embedding.colors import categorical
    from widgets.embedding.qt_scatter import QtScatterPlot

    app = QApplication.instance() or QApplication([])
    rng = np.random.default_rng(0)
    results = {}
    for n in (n_big, n_small):
        labels = rng.integers(0, 10, n)
        centres = rng.normal(size=(10, 2)) * 6
        xy = (centres[labels] + rng.normal(size=(n, 2))).astype(np.float32)
        colouring = categorical("label", labels)
        ours = QtScatterPlot()
        ours.resize(1000, 800)
        ours.show()
        ours.set_points(xy, np.arange(n), colouring)
        app.processEvents()
        ours_ms = pan_times(ours, app)
        shown = ours.shown
        ours.close()
        base_ms = None
        if n == n_small:
            plain = pg.PlotWidget()
            plain.resize(1000, 800)
            plain.show()
            brushes = [pg.mkBrush(*map(int, c)) for c in colouring.colors]
            item = pg.ScatterPlotItem(x=xy[:, 0], y=xy[:, 1], pxMode=True, pen=None, size=3,
                                      brush=[brushes[k] for k in colouring.cat])
            plain.addItem(item)
            plain.getViewBox().disableAutoRange()
            plain.getViewBox().setRange(xRange=(xy[:, 0].min(), xy[:, 0].max()),
                                        yRange=(xy[:, 1].min(), xy[:, 1].max()))
            app.processEvents()
            base_ms = pan_times(plain, app)
            plain.close()
        results[n] = (ours_ms, shown, base_ms)
    return results


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--repeats", type=int, default=None)
    args = ap.parse_args()
    n, d, n_pan = (5000, 128, 200_000) if args.quick else (50_000, 512, 1_000_000)
    repeats = args.repeats or (1 if args.quick else 2)
    print(f"embedding benchmark: {n:,} x {d} activations, pans with {n_pan:,} and 100,000 "
          f"points, {repeats} repeat(s), {os.cpu_count()} CPUs")
    with tempfile.TemporaryDirectory() as tmp:
        ws, run_id, x, _ = synthetic_workspace(Path(tmp) / "ws", n, d)
        job_t, direct_t, direct_pca_t, previews, stalls = bench_job(ws, run_id, x, repeats)
    job, direct, direct_pca = (statistics.median(v) for v in (job_t, direct_t, direct_pca_t))
    print(f"(a) UMAP job {job:.2f} s vs umap-learn directly {direct:.2f} s on the raw "
          f"{d}-d activations: {job / direct:.2f}x (goal <= 1.1x); vs umap-learn on the same "
          f"PCA-50 input {direct_pca:.2f} s: {job / direct_pca:.2f}x")
    print(f"(b) first preview (PCA on a worker thread): {1000 * max(previews):.0f} ms "
          f"(goal <= 1000 ms)")
    print(f"(c) GUI heartbeat while the job runs: p99 stall {percentile(stalls, 99):.1f} ms, "
          f"max {max(stalls) if stalls else float('nan'):.1f} ms over {len(stalls)} beats "
          f"(goal p99 <= 50 ms)")
    pans = bench_pan(n_pan)
    for count, (ours, shown, base) in pans.items():
        line = (f"(d) pan with {count:,} points ({shown}): median {statistics.median(ours):.1f}"
                f" ms, p95 {percentile(ours, 95):.1f} ms")
        if base is not None:
            line += (f"; plain ScatterPlotItem median {statistics.median(base):.1f} ms, "
                     f"p95 {percentile(base, 95):.1f} ms -> "
                     f"{statistics.median(ours) / statistics.median(base):.2f}x")
        print(line + " (goal <= 50 ms)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
