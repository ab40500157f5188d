"""The Layers tab on a pruned model: weight-sparsity colouring by default, lineage header,
the parent's weights beside the layer's, and ``render --set colour=sparsity``.

The pruned model is made here with ``torch.nn.utils.prune`` (90% global magnitude
pruning of the zoo cnn) and put in the catalog the way the pruning package stores its
models (safetensors plus a ``lineage``), so this test does not depend on that package.
"""

from __future__ import annotations

import dataclasses
import time
import xml.etree.ElementTree as ET

import numpy as np
import pytest

from tests.widgets.test_render_overview import pixels, run_main
from visualizer.analysis.layers.compare import newest_run

pytestmark = pytest.mark.usefixtures("qapp")

PRUNED = "cnn-p90"


@pytest.fixture(scope="module")
def pruned_ws_path(tmp_path_factory):
    import torch
    from safetensors.torch import save_file
    from torch.nn.utils import prune

    from visualizer.models.loading import sha256_file
    from visualizer.workspace.workspace import Workspace

    root = tmp_path_factory.mktemp("pruned") / "ws"
    ws = Workspace.create(root)
    ws.add_builtin_dataset()
    parent = ws.add_zoo_model("cnn", epochs=2)
    model = ws.load_model("cnn")
    modules = dict(model.named_modules())
    layers = [n for n, m in modules.items() if isinstance(m, (torch.nn.Conv2d, torch.nn.Linear))]
    prune.global_unstructured([(modules[n], "weight") for n in layers],
                              pruning_method=prune.L1Unstructured, amount=0.9)
    for n in layers:
        prune.remove(modules[n], "weight")
    dest = root / "models" / f"{PRUNED}.safetensors"
    save_file({k: v.contiguous() for k, v in model.state_dict().items()}, str(dest))
    info = dict(parent.info)
    info["lineage"] = {"parent": "cnn", "method": "magnitude", "sparsity": 0.9,
                       "layer_sparsity": {n: float((modules[n].weight == 0).float().mean())
                                          for n in layers},
                       "schedule": "oneshot", "structured": False}
    ws.catalog.put_model(dataclasses.replace(
        parent, name=PRUNED, path=f"models/{dest.name}", sha256=sha256_file(dest), info=info,
        created_at=time.time()))
    ws.extract("cnn", "digits", limit=100, device="cpu")
    ws.extract(PRUNED, "digits", limit=100, device="cpu")
    return root


@pytest.fixture
def pruned_ws(pruned_ws_path):
    from visualizer.workspace.workspace import Workspace

    return Workspace.open(pruned_ws_path)


def zero_fractions(ws, name: str) -> dict[str, float]:
    """Share of exactly-zero weights of every module with a weight, straight from torch."""
    model = ws.load_model(name)
    return {n: int((m.weight == 0).sum()) / m.weight.numel()
            for n, m in model.named_modules() if getattr(m, "weight", None) is not None}


@pytest.fixture
def make_view(qtbot, session):
    from widgets.layers.qt_layer_view import QtLayerView
    from widgets.qt_job_runner import QtJobRunner

    made = []

    def make(ws, model):
        session.workspace = ws
        session.selection.run_id = newest_run(ws, model)
        runner = QtJobRunner(session.jobs)
        view = QtLayerView(session, runner)
        qtbot.addWidget(view)
        view.resize(1400, 900)
        view.show()
        made.append(runner)
        wait_loaded(qtbot, view)
        return view

    yield make
    for runner in made:
        runner.shutdown(wait=True)


def wait_loaded(qtbot, view):
    try:
        qtbot.waitUntil(lambda: view.graph_result is not None and view.detail is not None
                        and not view.pending(), timeout=60_000)
    except Exception as exc:
        raise AssertionError(f"view did not load: {view.status.text()}") from exc


def test_pruned_model_opens_coloured_by_weight_sparsity(qtbot, make_view, pruned_ws, session):
    from widgets.layers import colors

    view = make_view(pruned_ws, PRUNED)
    want = zero_fractions(pruned_ws, PRUNED)
    assert want["fc1"] > 0.5  # global magnitude pruning did prune
    # The default colouring of a pruned model, chosen by the view (not by the user).
    assert view.state.color_by == "auto"
    assert view.color_box.currentData() == "zero_weights"
    assert view.canvas.color_by == "zero_weights"
    assert (view.color_bar.key, view.color_bar.title) == ("zero_weights", "Weight sparsity")
    assert view.canvas.range == (0.0, 1.0)  # a fixed scale: 0 neutral, 1 strongest
    # Node values and colours are the zero shares of the weights themselves.
    canvas = view.canvas
    for name, fraction in want.items():
        i = canvas.index[name]
        assert canvas.nodes[i].values["zero_weights"] == pytest.approx(fraction, abs=1e-12)
        np.testing.assert_array_equal(
            canvas.fill[i], colors.colours(np.array([fraction]), colors.SPARSITY)[0])
        assert canvas.lines[i][2].endswith(f"{fraction:.1%} zero")
        assert f"{fraction:.1%} of the weights are exactly zero" in canvas.tooltip(i)
    # Layers without weights are drawn as "no value".
    assert tuple(canvas.fill[canvas.index["relu1"]]) == colors.NO_VALUE
    # The header names the parent, the method, the sparsity and the schedule.
    assert view.lineage.isVisibleTo(view)
    assert view.lineage.full_text.startswith("pruned from cnn by magnitude to 90% (one-shot)")
    assert "cnn" in view.lineage.text() and "magnitude" in view.lineage.text()

    # The weights panel sets the layer beside the parent's.
    session.selection.layer = "fc1"
    view.tabs.setCurrentWidget(view.weights_panel)
    qtbot.waitUntil(lambda: view.detail.layer == "fc1" and not view.pending(), timeout=60_000)
    assert view.detail.weights.zero_fraction == pytest.approx(want["fc1"], abs=1e-12)
    assert view.detail.parent == "cnn"
    parent_zero = zero_fractions(pruned_ws, "cnn")["fc1"]
    assert view.detail.parent_weights.zero_fraction == pytest.approx(parent_zero, abs=1e-12)
    text = view.weights_panel.info.text()
    assert f"{want['fc1']:.1%} exactly zero" in text
    assert f"Parent cnn: {parent_zero:.1%} exactly zero" in text
    assert view.detail.weights.hist_nonzero  # a 90% spike at zero would flatten the rest

    # The unpruned parent's run in the same view: its default colouring again, no header.
    session.selection.run_id = newest_run(pruned_ws, "cnn")
    wait_loaded(qtbot, view)
    assert view.canvas.color_by == "mean_activation"
    assert view.color_box.currentData() == "mean_activation"
    assert not view.lineage.isVisibleTo(view)
    # A colouring the user picks stays when a pruned model comes back.
    view.color_box.setCurrentIndex(view.color_box.findData("type"))
    session.selection.run_id = newest_run(pruned_ws, PRUNED)
    wait_loaded(qtbot, view)
    assert view.canvas.color_by == "type" and view.lineage.isVisibleTo(view)


def test_unpruned_model_keeps_the_old_default_and_offers_sparsity(qtbot, make_view,
                                                                  pruned_ws):
    view = make_view(pruned_ws, "cnn")
    assert view.canvas.color_by == "mean_activation"
    assert view.color_box.currentData() == "mean_activation"
    assert not view.lineage.isVisibleTo(view)
    view.color_box.setCurrentIndex(view.color_box.findData("zero_weights"))
    assert view.state.color_by == "zero_weights"
    want = zero_fractions(pruned_ws, "cnn")
    for name, fraction in want.items():
        assert view.canvas.nodes[view.canvas.index[name]].values["zero_weights"] == \
            pytest.approx(fraction, abs=1e-12)
    # Dense weights stay near the neutral end of the fixed scale.
    assert view.canvas.range == (0.0, 1.0)
    assert view.detail.parent is None


def test_render_colour_sparsity_draws_the_colour_bar(pruned_ws, tmp_path, capsys):
    from widgets.layers import colors

    png = tmp_path / "sparsity.png"
    # The unpruned cnn: its nodes are all near-white, so the colour bar alone has the
    # scale's dark end.
    rc, _, err = run_main(capsys, "render", pruned_ws.root, "--view", "layers", "--run",
                          newest_run(pruned_ws, "cnn"), "--set", "colour=sparsity",
                          "--set", "width=1200", "--set", "height=800", "--out", png)
    assert rc == 0, err
    rgb = pixels(png).astype(int)
    assert rgb.shape[:2] == (800, 1200)
    dark = np.abs(rgb - colors.SPARSITY[250].astype(int)).sum(axis=2) < 12
    assert 0 < dark.sum() < 2000, dark.sum()
    rows = np.flatnonzero(dark.any(axis=1))
    assert rows.min() > 700  # at the bottom, under the graph

    svg = tmp_path / "sparsity.svg"
    rc, _, err = run_main(capsys, "render", pruned_ws.root, "--view", "layers", "--run",
                          newest_run(pruned_ws, PRUNED), "--set", "colour=sparsity", "--out", svg)
    assert rc == 0, err
    texts = [t.text or "" for t in ET.fromstring(svg.read_bytes()).iter()
             if t.tag.endswith("text")]
    joined = " ".join(texts)
    assert "Weight sparsity:" in joined and "100%" in joined
    fc1 = zero_fractions(pruned_ws, PRUNED)["fc1"]
    assert any(t.endswith(f"{fc1:.1%} zero") for t in texts)
    assert "pruned from cnn by magnitude" in joined

    rc, _, err = run_main(capsys, "render", pruned_ws.root, "--view", "layers",
                          "--set", "colour=red", "--out", tmp_path / "bad.png")
    assert rc == 2 and "--set colour=red" in err and "sparsity" in err
    assert not (tmp_path / "bad.png").exists()


def test_channel_pruned_nodes_say_how_many_channels_they_kept():
    from visualizer.analysis.layers.graph import LayerNode
    from visualizer.analysis.layers.lineage import PruningInfo
    from widgets.layers.qt_graph_canvas import node_lines

    info = PruningInfo(model="cnn-ch", parent="cnn", method="magnitude", sparsity=0.5,
                       structured=True, layer_sparsity={"conv2": 0.5},
                       kept_channels={"conv2": 16}, parent_channels={"conv2": 32})
    node = LayerNode(name="conv2", op="call_module", type_name="Conv2d", module_path="conv2",
                     shape=(16, 8, 8), n_params=2320, values={"zero_weights": 0.0})
    assert node_lines(node, "zero_weights", info) == (
        "conv2", "Conv2d · 16×8×8", "16 of 32 ch kept · 0.0% zero")
    assert node_lines(node, "n_params", info)[2] == "2.32k params"
    assert node_lines(node, "zero_weights")[2] == "2.32k params · 0.0% zero"
