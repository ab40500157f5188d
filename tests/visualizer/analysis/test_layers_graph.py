"""Layer graph: skip connections, module-tree fallback, collapsing, layered layout."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from visualizer.analysis.layers.graph import (
    annotate_graph,
    collapse,
    layout_graph,
    modules_at_depth,
)
from visualizer.analysis.layers.layout import layered_layout
from visualizer.models.zoo import build_resnet


class Untraceable(nn.Module):
    """Data-dependent control flow: torch.fx cannot trace ``if x.sum() > 0``."""

    def __init__(self):
        super().__init__()
        self.fc1 = nn.Linear(64, 16)
        self.act = nn.ReLU()
        self.head = nn.Sequential(nn.Linear(16, 10))

    def forward(self, x):
        h = self.act(self.fc1(x.flatten(1)))
        if h.sum() > 0:
            h = h * 2
        return self.head(h)


def _preds(edges):
    out: dict[str, set[str]] = {}
    for s, d in edges:
        out.setdefault(d, set()).add(s)
    return out


def test_resnet_graph_has_skip_connection_edges_through_layout():
    torch.manual_seed(0)
    graph = annotate_graph(build_resnet(), name="resnet", input_shape=(1, 8, 8))
    preds = _preds(graph.edges)
    # Identity skip: the block's add takes the block input (the stem's relu1) directly.
    assert preds["add"] == {"layer1.0.bn2", "relu1"}
    # Projection skip: layer2.0's add takes the downsample branch, which takes the input.
    assert preds["add_1"] == {"layer2.0.bn2", "layer2.0.downsample.1"}
    assert preds["layer2.0.downsample.0"] == {"layer1.0.relu2"}
    assert preds["add_2"] == {"layer2.1.bn2", "layer2.0.relu2"}
    by_name = {n.name: n for n in graph.nodes}
    assert by_name["add"].shape == (16, 8, 8) and by_name["add_1"].shape == (32, 4, 4)
    assert by_name["layer1.0.conv1"].n_params == 16 * 16 * 9
    assert by_name["add"].scope == "layer1.0"
    layout = layout_graph(graph)
    drawn = {(s, d) for s, d, _ in layout.edges}
    assert ("relu1", "add") in drawn and ("layer2.0.relu2", "add_2") in drawn
    layer = dict(zip(layout.names, layout.layer, strict=True))
    for s, d, pts in layout.edges:
        assert layer[s] < layer[d]  # every edge points down
        assert len(pts) == layer[d] - layer[s] + 1  # one bend per crossed layer
    # The skip edge (relu1 -> add) spans the block, so it routes through dummy points.
    skip = next(p for s, d, p in layout.edges if (s, d) == ("relu1", "add"))
    assert len(skip) > 2


def test_collapsing_a_block_keeps_its_add_inside_and_the_chain_outside():
    graph = annotate_graph(build_resnet(), name="resnet", input_shape=(1, 8, 8))
    assert set(modules_at_depth(graph, 2)) == {"layer1.0", "layer2.0", "layer2.1"}
    folded = collapse(graph, modules_at_depth(graph, 2))
    names = [n.name for n in folded.nodes]
    assert "add" not in names and "layer1.0.conv1" not in names
    assert ("relu1", "layer1.0") in folded.edges and ("layer1.0", "layer2.0") in folded.edges
    node = folded.node("layer2.0")
    assert node.op == "collapsed" and node.n_params == sum(
        n.n_params for n in graph.nodes if (n.module_path or "").startswith("layer2.0."))
    assert node.shape == (32, 4, 4)
    layout_graph(folded)  # acyclic after folding


def test_untraceable_model_falls_back_to_module_tree_with_a_note():
    graph = annotate_graph(Untraceable(), name="u", input_shape=(1, 8, 8))
    assert graph.traced is False
    assert "could not trace" in graph.note and "module tree" in graph.note
    assert ("<model>", "fc1") in graph.edges and ("head", "head.0") in graph.edges
    by_name = {n.name: n for n in graph.nodes}
    assert by_name["fc1"].shape == (16,) and by_name["fc1"].n_params == 64 * 16 + 16
    layout = layout_graph(graph)
    assert len(layout.names) == len(graph.nodes)
    folded = collapse(graph, {"head"})
    assert folded.node("head").op == "collapsed" and "head.0" not in [n.name for n in
                                                                       folded.nodes]


def _random_dag(n: int, seed: int = 0) -> list[tuple[str, str]]:
    rng = np.random.default_rng(seed)
    edges = [(f"n{i}", f"n{i + 1}") for i in range(n - 1) if rng.random() < 0.7]
    for _ in range(n):  # forward edges of varied span: skips, branches, merges
        a = int(rng.integers(0, n - 1))
        b = int(min(n - 1, a + rng.integers(1, 12)))
        edges.append((f"n{a}", f"n{b}"))
    return edges


@pytest.mark.parametrize("seed", [0, 1])
def test_500_node_graph_lays_out_without_overlap_in_a_layer(seed):
    names = [f"n{i}" for i in range(500)]
    edges = _random_dag(500, seed)
    layout = layered_layout(names, edges)
    assert len(layout.names) == 500 and np.isfinite(layout.x).all()
    layer = dict(zip(names, layout.layer, strict=True))
    for s, d, _ in layout.edges:
        assert layer[s] < layer[d]
    for r in np.unique(layout.layer):
        idx = np.flatnonzero(layout.layer == r)
        order = idx[np.argsort(layout.x[idx])]
        gaps = np.diff(layout.x[order])
        need = (layout.width[order][:-1] + layout.width[order][1:]) / 2
        assert (gaps >= need - 1e-6).all(), f"overlap in layer {r}"
    assert len({(round(x), round(y)) for x, y in zip(layout.x, layout.y, strict=True)}) == 500


def test_cycles_and_unknown_names_do_not_break_the_layout():
    layout = layered_layout(["a", "b", "c"], [("a", "b"), ("b", "c"), ("c", "a"),
                                              ("a", "zz"), ("b", "b")])
    assert sorted(layout.layer.tolist()) == [0, 1, 2]
    assert len(layout.back_edges) == 1
