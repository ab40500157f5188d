"""The Layer view's core for pruned models: lineage text, colour options, zero shares.

Pruning here is ``torch.nn.utils.prune`` called directly (the reference the pruning
package is tested against too), never the pruning package itself.
"""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest

from visualizer.analysis.layers.lineage import PruningInfo, layer_channels, percent, pruning_info
from visualizer.analysis.layers.view_state import (
    LayerViewState,
    colour_key,
    resolve_colour,
)


class FakeCatalog:
    def __init__(self, **infos):
        self.infos = infos

    def model(self, name):
        if name not in self.infos:
            raise KeyError(name)
        return SimpleNamespace(name=name, info=self.infos[name])


PARENT = {"test_accuracy": 0.98, "layers": [["conv1", "Conv2d", [16, 8, 8], 160],
                                            ["relu1", "ReLU", [16, 8, 8], 0],
                                            ["fc2", "Linear", [10], 650],
                                            ["odd", "Thing", None, 0]]}


def test_header_names_parent_method_sparsity_and_schedule():
    cat = FakeCatalog(cnn=PARENT, p90={"test_accuracy": 0.98, "lineage": {
        "parent": "cnn", "method": "magnitude", "sparsity": 0.9001, "schedule": "finetune",
        "structured": False, "layer_sparsity": {"conv1": 0.5, "fc2": 0.95}}},
        p95={"lineage": {"parent": "cnn", "method": "snip", "target_sparsity": 0.955,
                         "schedule": "oneshot"}})
    info = pruning_info(cat, "p90")
    assert info.header() == "pruned from cnn by magnitude to 90% (finetune)"
    assert info.layer_sparsity == {"conv1": 0.5, "fc2": 0.95}
    # The record's own test_accuracy may be a copy of the parent's: only the lineage's
    # accuracy is shown.
    assert info.accuracy is None and "accuracy" not in info.summary()
    assert pruning_info(cat, "p95").header() == "pruned from cnn by snip to 95.5% (one-shot)"
    # The records a view already read, by name, do as well as the catalog.
    records = {n: SimpleNamespace(name=n, info=i) for n, i in cat.infos.items()}
    assert pruning_info(records, "p90") == info
    assert pruning_info(cat, "cnn") is None  # not derived
    assert pruning_info(cat, "gone") is None


def test_channel_pruned_model_counts_its_channels_against_the_parent():
    cat = FakeCatalog(cnn=PARENT, ch={"lineage": {
        "parent": "cnn", "method": "magnitude", "sparsity": 0.5, "schedule": "oneshot",
        "structured": True, "kept_channels": {"conv1": 8}, "accuracy": 0.91,
        "parent_accuracy": 0.98}})
    info = pruning_info(cat, "ch")
    assert info.header() == "channel-pruned from cnn by magnitude to 50% (one-shot)"
    assert info.channels("conv1") == (8, 16)
    assert info.channels_text("conv1") == "8 of 16 channels kept"
    assert info.channels_text("conv1", short=True) == "8 of 16 ch kept"
    assert info.channels_text("fc2") is None
    assert "test accuracy 91.0% (cnn 98.0%)" in info.summary()
    # The parent removed: the lineage still shows, without the parent's counts.
    orphan = pruning_info(FakeCatalog(ch=cat.infos["ch"]), "ch")
    assert orphan.parent_in_workspace is False
    assert orphan.channels_text("conv1") == "8 channels kept"
    assert "no longer in this workspace" in orphan.summary()


def test_layer_channels_and_percent():
    assert layer_channels(PARENT) == {"conv1": 16, "relu1": 16, "fc2": 10}
    assert layer_channels(None) == {}
    assert [percent(f) for f in (0.9, 0.9001, 0.955, 0.0, 1.0)] == \
        ["90%", "90%", "95.5%", "0%", "100%"]


def test_colour_option_names_and_the_pruned_default():
    assert colour_key("sparsity") == "zero_weights"
    assert colour_key("Weight-Sparsity") == "zero_weights"
    assert colour_key("dead_fraction") == "dead_fraction"
    assert colour_key("type") == "type"
    with pytest.raises(ValueError, match="colour=red: not a colouring.*sparsity"):
        colour_key("red")
    assert LayerViewState.from_options({"colour": "sparsity"}).color_by == "zero_weights"
    assert LayerViewState.from_options({"color_by": "dead"}).color_by == "dead_fraction"
    with pytest.raises(ValueError):
        LayerViewState.from_options({"color_by": "nonsense"})
    state = LayerViewState()
    assert state.color_by == "auto"
    assert resolve_colour(state.color_by, pruned=True) == "zero_weights"
    assert resolve_colour(state.color_by, pruned=False) == "mean_activation"
    assert resolve_colour("type", pruned=True) == "type"  # the user's pick wins


def _pruned_net(amount=0.9):
    import torch
    from torch.nn.utils import prune

    torch.manual_seed(0)
    net = torch.nn.Sequential()
    net.add_module("conv", torch.nn.Conv2d(1, 8, 3, padding=1))
    net.add_module("relu", torch.nn.ReLU())
    net.add_module("flat", torch.nn.Flatten())
    net.add_module("fc", torch.nn.Linear(8 * 8 * 8, 10))
    params = [(net.conv, "weight"), (net.fc, "weight")]
    prune.global_unstructured(params, pruning_method=prune.L1Unstructured, amount=amount)
    for module, name in params:
        prune.remove(module, name)
    return net


def test_zero_share_of_a_pruned_layer_and_its_histogram_of_nonzero_values():
    from visualizer.analysis.layers.weights import module_weights

    net = _pruned_net()
    w = net.fc.weight.detach().numpy()
    info = module_weights(net, "fc")
    assert info.zero_fraction == (w == 0).sum() / w.size
    assert info.hist_nonzero
    counts, edges = np.histogram(w[w != 0].ravel(), bins=len(info.hist_counts))
    np.testing.assert_array_equal(info.hist_counts, counts)
    np.testing.assert_allclose(info.hist_edges, edges)
    dense = module_weights(_pruned_net(0.0), "fc")
    assert dense.zero_fraction == 0.0 and not dense.hist_nonzero


def test_graph_nodes_carry_the_zero_share_of_their_weights():
    from visualizer.analysis.layers.graph import FIXED_RANGE, SPARSITY, annotate_graph, collapse

    net = _pruned_net()
    graph = annotate_graph(net, input_shape=(1, 8, 8))
    values = {n.name: n.values.get(SPARSITY) for n in graph.nodes}
    for name in ("conv", "fc"):
        w = getattr(net, name).weight.detach().numpy()
        assert values[name] == (w == 0).sum() / w.size
    assert values["relu"] is None  # no weights: no value, drawn grey
    assert FIXED_RANGE[SPARSITY] == (0.0, 1.0)
    # A folded module averages its members' shares by their parameters.
    outer = type(net)()
    outer.add_module("body", net)
    folded = collapse(annotate_graph(outer, input_shape=(1, 8, 8)), {"body"})
    node = next(n for n in folded.nodes if n.name == "body")
    sizes = {m: sum(p.numel() for p in getattr(net, m).parameters()) for m in ("conv", "fc")}
    want = sum(values[m] * sizes[m] for m in sizes) / sum(sizes.values())
    assert node.values[SPARSITY] == pytest.approx(want)


def test_pruning_info_is_a_plain_value():
    info = PruningInfo(model="m", parent="p", method="random")
    assert info.header() == "pruned from p by random"
