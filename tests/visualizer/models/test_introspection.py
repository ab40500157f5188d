"""Layer list, hooks, layer graph and the default layer selection."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from visualizer.errors import NotFoundError
from visualizer.models.introspection import (
    ROOT_NAME,
    LayerInfo,
    default_layers,
    describe_layers,
    hooks,
    layer_graph,
)
from visualizer.models.zoo import build_cnn, build_resnet


class Boom(nn.Module):
    """Fails halfway through its forward, after some hooks have fired."""

    def __init__(self) -> None:
        super().__init__()
        self.fc1 = nn.Linear(4, 4)
        self.relu = nn.ReLU()
        self.fc2 = nn.Linear(4, 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.relu(self.fc1(x))
        raise RuntimeError("boom")


class DataDependent(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.fc = nn.Linear(4, 4)
        self.head = nn.Sequential(nn.ReLU(), nn.Linear(4, 2))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.fc(x)
        if x.sum() > 0:  # data-dependent control flow: fx cannot trace it
            x = -x
        return self.head(x)


class TupleOut(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.lstm = nn.LSTM(4, 3, batch_first=True)
        self.fc = nn.Linear(3, 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out, _ = self.lstm(x)
        return self.fc(out[:, -1])


def _no_hooks_left(model: nn.Module) -> bool:
    return all(not m._forward_hooks and not m._forward_pre_hooks for m in model.modules())


def test_describe_layers_cnn_matches_a_manual_forward() -> None:
    model = build_cnn().eval()
    x = torch.rand(3, 1, 8, 8)
    infos = describe_layers(model, x)
    expected = {}
    with torch.no_grad():
        out = x
        for name, child in model.named_children():
            out = child(out)
            expected[name] = tuple(out.shape[1:])
    assert [i.name for i in infos] == list(expected)
    assert {i.name: i.output_shape for i in infos} == expected
    by_name = {i.name: i for i in infos}
    assert by_name["conv1"] == LayerInfo("conv1", "Conv2d", (16, 8, 8), 16 * 9 + 16, 1, True)
    assert by_name["fc2"].n_params == 64 * 10 + 10
    assert _no_hooks_left(model)


def test_describe_layers_resnet_order_and_shapes() -> None:
    model = build_resnet()
    model.train()
    running = model.bn1.running_mean.clone()
    x = torch.rand(2, 1, 8, 8)
    infos = describe_layers(model, x)
    names = [i.name for i in infos]
    assert len(names) == len(set(names)) == len([n for n, _ in model.named_modules() if n])
    # Containers come before their children; the stem before the blocks, fc last.
    assert names.index("layer1") < names.index("layer1.0") < names.index("layer1.0.conv1")
    assert names.index("relu1") < names.index("layer1") < names.index("layer2") < names.index("fc")
    with torch.no_grad():
        model.eval()
        stem = model.relu1(model.bn1(model.conv1(x)))
        block2 = model.layer2[0](model.layer1(stem))
        expected = {
            "relu1": stem.shape[1:],
            "layer2.0": block2.shape[1:],
            "layer2.0.conv1": model.layer2[0].conv1(model.layer1(stem)).shape[1:],
            "avgpool": (32, 1, 1),
            "fc": (10,),
        }
    by_name = {i.name: i for i in infos}
    for name, shape in expected.items():
        assert by_name[name].output_shape == tuple(shape)
    assert by_name["layer2.0.downsample"].depth == 3 and not by_name["layer2.0"].is_leaf
    # the pass ran in eval mode and restored the flags: no running-stat update
    model.train()
    assert torch.equal(model.bn1.running_mean, running)
    assert _no_hooks_left(model)


def test_describe_layers_non_tensor_output_and_unused_modules() -> None:
    model = TupleOut()
    model.unused = nn.Linear(2, 2)
    infos = describe_layers(model, torch.rand(2, 5, 4))
    by_name = {i.name: i for i in infos}
    assert by_name["lstm"].output_shape is None  # a tuple, not a tensor
    assert by_name["fc"].output_shape == (2,)
    assert infos[-1].name == "unused" and infos[-1].output_shape is None


def test_no_hooks_left_after_an_exception() -> None:
    model = Boom()
    with pytest.raises(RuntimeError, match="boom"):
        describe_layers(model, torch.rand(2, 4))
    assert _no_hooks_left(model)

    seen: list[str] = []
    with pytest.raises(RuntimeError, match="boom"):
        with hooks(model, ["fc1", "relu"], lambda name, *_: seen.append(name)):
            model(torch.rand(2, 4))
    assert seen == ["fc1", "relu"]
    assert _no_hooks_left(model)


def test_hooks_passes_outputs_and_rejects_unknown_names() -> None:
    model = build_cnn().eval()
    captured: dict[str, torch.Tensor] = {}
    with hooks(model, ["relu1", "fc2"], lambda n, m, i, o: captured.__setitem__(n, o)):
        logits = model(torch.rand(2, 1, 8, 8))
    assert torch.equal(captured["fc2"], logits)
    assert captured["relu1"].shape == (2, 16, 8, 8)
    assert _no_hooks_left(model)
    with pytest.raises(NotFoundError, match="'nope'"):
        with hooks(model, ["relu1", "nope"], lambda *a: None):
            pass
    assert _no_hooks_left(model)


def test_resnet_graph_has_skip_connections() -> None:
    graph = layer_graph(build_resnet())
    assert graph.traced
    preds: dict[str, set[str]] = {}
    for src, dst in graph.edges:
        preds.setdefault(dst, set()).add(src)
    adds = [n for n in graph.nodes if n.op == "call_function" and n.target == "add"]
    assert len(adds) == 3
    for block in ("layer1.0", "layer2.0", "layer2.1"):
        # the add that feeds this block's final ReLU
        (add,) = preds[f"{block}.relu2"]
        inputs = preds[add]
        assert len(inputs) == 2 and f"{block}.bn2" in inputs
        (block_input,) = preds[f"{block}.conv1"]
        if block == "layer2.0":  # projection shortcut: 1x1 conv on the block input
            assert f"{block}.downsample.1" in inputs
            assert preds[f"{block}.downsample.0"] == {block_input}
        else:
            assert block_input in inputs
    modules = {n.name: n for n in graph.nodes if n.op == "call_module"}
    assert modules["layer1.0.conv1"].target == "Conv2d"
    assert modules["layer1.0.conv1"].module_path == "layer1.0.conv1"
    assert any(n.target == "flatten" for n in graph.nodes)


def test_untraceable_model_falls_back_to_the_module_tree() -> None:
    graph = layer_graph(DataDependent())
    assert graph.traced is False
    assert "torch.fx" in graph.note and "module tree" in graph.note
    assert {n.name for n in graph.nodes} == {ROOT_NAME, "fc", "head", "head.0", "head.1"}
    assert set(graph.edges) == {
        (ROOT_NAME, "fc"), (ROOT_NAME, "head"), ("head", "head.0"), ("head", "head.1"),
    }  # fmt: skip


def _info(name: str, shape: tuple[int, ...] | None, leaf: bool = True) -> LayerInfo:
    return LayerInfo(name, "X", shape, 0, 1, leaf)


def test_default_layers_fits_the_budget_by_dropping_the_largest() -> None:
    infos = [
        _info("a", (16, 8, 8)),  # 1024 floats
        _info("b", None),
        _info("c", (32, 4, 4)),  # 512
        _info("d", (64,)),  # 64
        _info("block", (64,), leaf=False),  # 64
    ]
    everything = default_layers(infos, n_samples=10, budget_bytes=10**9)
    assert everything.kept == ["a", "c", "d", "block"] and everything.dropped == []
    assert everything.total_bytes == 4 * 10 * (1024 + 512 + 64 + 64)

    tight = default_layers(infos, n_samples=10, budget_bytes=4 * 10 * 700)
    assert tight.kept == ["c", "d", "block"] and tight.dropped == ["a"]
    assert tight.total_bytes <= tight.budget_bytes

    tiny = default_layers(infos, n_samples=10, budget_bytes=0)
    assert tiny.kept == [] and set(tiny.dropped) == {"a", "c", "d", "block"}

    leaves = default_layers(infos, n_samples=10, budget_bytes=10**9, leaves_only=True)
    assert leaves.kept == ["a", "c", "d"]


def test_default_layers_on_a_real_model() -> None:
    infos = describe_layers(build_resnet(), torch.rand(1, 1, 8, 8))
    selection = default_layers(infos, n_samples=100, budget_bytes=100 * 4 * 2000)
    assert selection.total_bytes <= 100 * 4 * 2000
    assert "fc" in selection.kept and selection.dropped
    order = [i.name for i in infos]
    assert selection.kept == sorted(selection.kept, key=order.index)
