"""Benchmark: the Layer view's graph and feature-map grid against plain pyqtgraph paints.

1. Graph: layered layout + first paint of a 500-node synthetic graph (with skip edges)
   in the graph canvas, against one paint of a pyqtgraph ScatterPlotItem with 500
   square symbols plus the same edges as one PlotCurveItem, in a widget of the same size.
2. Feature maps: a 256-channel 16x16 grid (mosaic build, upload, first paint), against
   one paint of 256 pyqtgraph ImageItems of the same maps.

Subject and baseline run interleaved, several repeats, offscreen; the medians and their
ratio are printed (targets: graph <= 1 s, grid <= 100 ms).

    python bench/layers.py [--nodes 500] [--channels 256] [--repeats 5]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

SIZE = (900, 800)


def synthetic_graph(n: int, seed: int = 0):
    from visualizer.analysis.layers.graph import LayerNode, ModelGraph

    rng = np.random.default_rng(seed)
    edges = [(f"block{i // 8}.layer{i}", f"block{(i + 1) // 8}.layer{i + 1}")
             for i in range(n - 1)]
    for i in range(0, n - 8, 4):  # residual-style skips over 3-8 layers
        j = i + int(rng.integers(3, 9))
        edges.append((f"block{i // 8}.layer{i}", f"block{j // 8}.layer{j}"))
    nodes = [LayerNode(name=f"block{i // 8}.layer{i}", op="call_module",
                       type_name=("Conv2d", "BatchNorm2d", "ReLU")[i % 3],
                       module_path=f"block{i // 8}.layer{i}", shape=(64, 16, 16),
                       n_params=int(rng.integers(0, 40000)),
                       values={"mean_activation": float(rng.random()),
                               "dead_fraction": float(rng.random())})
             for i in range(n)]
    return ModelGraph(model="synthetic", nodes=nodes, edges=edges, traced=True, note="")


def time_graph(graph, canvas) -> float:
    from visualizer.analysis.layers.graph import GraphResult, layout_graph

    start = time.perf_counter()
    layout = layout_graph(graph)
    canvas.set_graph(GraphResult(graph=graph, layout=layout, full=graph))
    canvas.grab()  # the first paint
    return time.perf_counter() - start


def time_graph_baseline(graph, layout, widget) -> float:
    import pyqtgraph as pg

    start = time.perf_counter()
    item = widget.getPlotItem()
    item.clear()
    idx = {n: i for i, n in enumerate(layout.names)}
    pts = np.array([[layout.x[idx[s]], layout.y[idx[s]], layout.x[idx[d]], layout.y[idx[d]]]
                    for s, d in graph.edges]).reshape(-1, 2)
    item.addItem(pg.PlotCurveItem(pts[:, 0], pts[:, 1], connect="pairs",
                                  pen=pg.mkPen("#7a8594")))
    item.addItem(pg.ScatterPlotItem(layout.x, layout.y, symbol="s", size=20, pxMode=True,
                                    pen=None, brush=pg.mkBrush("#4c78a8")))
    item.autoRange()
    widget.grab()
    return time.perf_counter() - start


def time_grid(grid, maps) -> float:
    start = time.perf_counter()
    grid.set_maps(maps)
    grid.canvas.grab()
    return time.perf_counter() - start


def time_grid_baseline(values, widget, vb) -> float:
    import pyqtgraph as pg

    start = time.perf_counter()
    vb.clear()
    cols = int(np.ceil(np.sqrt(len(values))))
    h, w = values.shape[1:]
    for k, v in enumerate(values):
        img = pg.ImageItem(v, axisOrder="row-major", levels=(0, float(values.max())))
        r, c = divmod(k, cols)
        img.setPos(c * (w + 1), r * (h + 1))
        vb.addItem(img)
    vb.autoRange()
    widget.grab()
    return time.perf_counter() - start


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--nodes", type=int, default=500)
    p.add_argument("--channels", type=int, default=256)
    p.add_argument("--size", type=int, default=16)
    p.add_argument("--repeats", type=int, default=5)
    args = p.parse_args(argv)

    import pyqtgraph as pg
    from PySide6.QtWidgets import QApplication

    from visualizer.analysis.layers.graph import layout_graph
    from visualizer.analysis.layers.samples import FeatureMaps
    from widgets.layers.qt_feature_grid import QtFeatureGrid
    from widgets.layers.qt_graph_canvas import QtGraphCanvas

    app = QApplication.instance() or QApplication(["bench"])  # noqa: F841
    graph = synthetic_graph(args.nodes)
    canvas = QtGraphCanvas()
    canvas.resize(*SIZE)
    canvas.show()
    base_plot = pg.PlotWidget(background="w")
    base_plot.resize(*SIZE)
    base_plot.show()
    layout = layout_graph(graph)
    rng = np.random.default_rng(0)
    values = np.maximum(rng.normal(size=(args.channels, args.size, args.size)), 0
                        ).astype(np.float32)
    maps = FeatureMaps("bench", 0, values, "dump", 1, 1)
    grid = QtFeatureGrid()
    grid.resize(*SIZE)
    grid.show()
    base_grid = pg.GraphicsLayoutWidget()
    base_grid.resize(*SIZE)
    base_vb = base_grid.addViewBox(lockAspect=True, invertY=True)
    base_grid.show()
    app.processEvents()
    time_graph(graph, canvas)  # warm up both paths once
    time_graph_baseline(graph, layout, base_plot)
    time_grid(grid, maps)
    time_grid_baseline(values, base_grid, base_vb)

    g, gb, f, fb, lay = [], [], [], [], []
    for rep in range(args.repeats):
        pair = [lambda: g.append(time_graph(graph, canvas)),
                lambda: gb.append(time_graph_baseline(graph, layout, base_plot))]
        for fn in (pair if rep % 2 == 0 else pair[::-1]):
            fn()
        t = time.perf_counter()
        layout_graph(graph)
        lay.append(time.perf_counter() - t)
        pair = [lambda: f.append(time_grid(grid, maps)),
                lambda: fb.append(time_grid_baseline(values, base_grid, base_vb))]
        for fn in (pair if rep % 2 == 0 else pair[::-1]):
            fn()
        app.processEvents()
    med = statistics.median
    print(f"graph: {args.nodes} nodes, {len(graph.edges)} edges, {args.repeats} repeats")
    print(f"  layout alone                 {med(lay) * 1e3:8.1f} ms")
    print(f"  layout + first paint         {med(g) * 1e3:8.1f} ms   (target <= 1000 ms)")
    print(f"  baseline pyqtgraph paint     {med(gb) * 1e3:8.1f} ms   (scatter + edge curve)")
    print(f"  ratio subject / baseline     {med(g) / med(gb):8.2f}")
    print(f"feature maps: {args.channels} channels of {args.size}x{args.size}")
    print(f"  grid build + first paint     {med(f) * 1e3:8.1f} ms   (target <= 100 ms)")
    print(f"  baseline {args.channels} ImageItems paint {med(fb) * 1e3:8.1f} ms")
    print(f"  ratio subject / baseline     {med(f) / med(fb):8.2f}")
    ok = med(g) <= 1.0 and med(f) <= 0.1
    print("targets met" if ok else "TARGET MISSED")
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
