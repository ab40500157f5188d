"""A channel-pruned model in the Layers view: coloured by the share of channels removed."""

import pytest

from visualizer.analysis.layers.graph import SPARSITY, GraphRequest, build_graph
from visualizer.jobs import NullContext


@pytest.mark.slow
def test_channel_pruned_layers_are_coloured_by_channels_removed(tmp_path):
    from visualizer.workspace.workspace import Workspace

    ws = Workspace.create(tmp_path / "ws")
    ws.add_builtin_dataset()
    ws.add_zoo_model("cnn", epochs=1)
    run = ws.prune("cnn", "digits", "magnitude_layer", 0.5, structured=True, name="cnn-ch")
    act = ws.extract("cnn-ch", "digits", limit=40)
    result = build_graph(GraphRequest(str(ws.root), "cnn-ch", act.id), NullContext())
    values = {n.module_path: n.values.get(SPARSITY) for n in result.graph.nodes
              if n.module_path}
    lineage = ws.catalog.model("cnn-ch").info["lineage"]
    for layer in run.params["layers"]:
        assert values[layer] == pytest.approx(lineage["layer_sparsity"][layer]) == 0.5
    assert values["fc2"] == 0.0  # the classifier keeps its channels and its weights
