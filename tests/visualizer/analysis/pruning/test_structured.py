"""Structured pruning through Torch-Pruning: outputs kept where the removed channels were
zero already, parameter counts by hand, replay on a fresh parent, residual consistency,
and a clear error for a model Torch-Pruning cannot prune."""

import copy

import pytest
import torch
from torch import nn

from visualizer.analysis.pruning import builtin, structured
from visualizer.analysis.pruning.layers import prunable_layers
from visualizer.analysis.pruning.structured import (
    LATENCY_RUNS,
    StructuredPruningError,
    compare_latency,
    cost,
    kept_channels,
    prune_structured,
    replay_structured,
)
from visualizer.errors import DeepScopeError
from visualizer.models.zoo import build_cnn, build_resnet


@pytest.fixture(autouse=True)
def _one_thread():
    # tiny tensors: OpenMP threads spinning side by side cost more than they give
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def seeded(build, seed=0, **kwargs):
    torch.manual_seed(seed)
    model = build(**kwargs).eval()
    if any(isinstance(m, nn.BatchNorm2d) for m in model.modules()):
        with torch.no_grad():  # non-trivial statistics, as after training
            for m in model.modules():
                if isinstance(m, nn.BatchNorm2d):
                    m.running_mean.uniform_(-0.2, 0.2)
                    m.running_var.uniform_(0.5, 1.5)
                    m.bias.uniform_(-0.1, 0.1)
    return model


def inputs(channels=1, size=8, n=4, seed=1):
    return torch.randn(n, channels, size, size, generator=torch.Generator().manual_seed(seed))


def n_params(model):
    return sum(p.numel() for p in model.parameters())


@torch.no_grad()
def zero_out(model, channels, convs, bns=()):
    named = dict(model.named_modules())
    for name in convs:
        named[name].weight[channels] = 0
        if named[name].bias is not None:
            named[name].bias[channels] = 0
    for name in bns:  # eval-mode BN of a zero input is beta - gamma*mean/std: zero both
        named[name].weight[channels] = 0
        named[name].bias[channels] = 0


def test_removing_zero_channels_keeps_the_outputs_of_the_cnn():
    model, x = seeded(build_cnn), inputs()
    zero_out(model, [1, 5, 9], ["conv1"])
    zero_out(model, [0, 31], ["conv2"])
    before = model(x)
    replay_structured(model, x[:1], [("conv1", [1, 5, 9]), ("conv2", [0, 31])])
    assert (model.conv1.out_channels, model.conv2.in_channels) == (13, 13)
    assert (model.conv2.out_channels, model.fc1.in_features) == (30, 30 * 16)
    torch.testing.assert_close(model(x), before, atol=1e-6, rtol=0)


def test_removing_zero_channels_keeps_the_outputs_of_the_resnet_across_residuals():
    model, x = seeded(build_resnet), inputs()
    # the stem's channels run through layer1's residual addition: zero them everywhere
    # they are added, and in a block's inner convolution
    zero_out(model, [2, 7], ["conv1", "layer1.0.conv2"], ["bn1", "layer1.0.bn2"])
    zero_out(model, [4], ["layer2.0.conv1"], ["layer2.0.bn1"])
    before = model(x)
    replay_structured(model, x[:1], [("conv1", [2, 7]), ("layer2.0.conv1", [4])])
    assert model.conv1.out_channels == model.layer1[0].conv2.out_channels == 14
    assert model.layer2[0].downsample[0].in_channels == 14
    assert model.layer2[0].conv1.out_channels == model.layer2[0].bn1.num_features == 31
    torch.testing.assert_close(model(x), before, atol=1e-6, rtol=0)


def test_parameter_count_drops_as_computed_by_hand():
    model = seeded(build_cnn)
    ops = prune_structured(model, inputs()[:1], prunable_layers(model),
                           builtin.magnitude_layer, 0.25)
    # layer scope: int(n * 0.75) channels stay in each of conv1 (16), conv2 (32), fc1 (64)
    c1, c2, f1 = 12, 24, 48
    expected = ((c1 * 1 * 9 + c1) + (c2 * c1 * 9 + c2) + (f1 * c2 * 16 + f1)
                + (10 * f1 + 10))
    assert n_params(model) == expected
    assert sorted((n, len(i)) for n, i in ops) == [("conv1", 4), ("conv2", 8), ("fc1", 16)]
    assert model.fc2.out_features == 10  # the classifier keeps its outputs


@pytest.mark.parametrize(("build", "channels", "size", "method_id"), [
    (build_cnn, 1, 8, "magnitude"),
    (build_resnet, 1, 8, "magnitude_layer"),
    (build_resnet, 3, 32, "taylor"),
], ids=["cnn", "resnet", "resnet-3x32x32"])
def test_replay_on_a_fresh_parent_gives_the_same_model(build, channels, size, method_id):
    parent = seeded(build, in_channels=channels)
    fresh = copy.deepcopy(parent)
    x = inputs(channels, size)
    model = copy.deepcopy(parent)
    ops = prune_structured(model, x[:1], prunable_layers(model), getattr(builtin, method_id),
                           0.3, batches=[(x, torch.arange(len(x)) % 10)])
    assert ops and n_params(model) < n_params(parent)
    assert all(p.grad is None for p in model.parameters())  # Taylor's grads are cleared
    assert not model.training

    replay_structured(fresh, x[:1], ops)
    fresh.load_state_dict(model.state_dict())  # shapes match, or this raises
    torch.testing.assert_close(fresh(x), model(x), atol=0, rtol=0)

    original = {n: m.out_channels if hasattr(m, "out_channels") else m.out_features
                for n, m in parent.named_modules() if n in dict(ops)}
    kept = kept_channels(ops, original)
    named = dict(model.named_modules())
    for name, survivors in kept.items():
        m = named[name]
        assert len(survivors) == (m.out_channels if hasattr(m, "out_channels")
                                  else m.out_features)


def test_resnet_residual_branches_stay_consistent():
    model = seeded(build_resnet, in_channels=3)
    x = inputs(3, 32)
    prune_structured(model, x[:1], prunable_layers(model), builtin.magnitude, 0.5)
    block0, block1 = model.layer2
    stream = {model.conv1.out_channels, model.bn1.num_features,
              model.layer1[0].conv2.out_channels, model.layer1[0].bn2.num_features,
              model.layer1[0].conv1.in_channels, block0.conv1.in_channels,
              block0.downsample[0].in_channels}
    assert len(stream) == 1
    wide = {block0.conv2.out_channels, block0.downsample[0].out_channels,
            block0.downsample[1].num_features, block1.conv2.out_channels,
            block1.conv1.in_channels, model.fc.in_features}
    assert len(wide) == 1 and wide.pop() < 32
    assert model(x).shape == (4, 10)


def test_random_structured_is_seeded():
    def ops(seed):
        model = seeded(build_cnn)
        return prune_structured(model, inputs()[:1], prunable_layers(model), builtin.random,
                                0.4, seed=seed)

    assert ops(3) == ops(3)
    assert ops(3) != ops(4)


def test_random_structured_leaves_the_global_generators_alone(monkeypatch):
    model = seeded(build_cnn)
    monkeypatch.setattr(torch, "manual_seed", lambda seed: pytest.fail("reseeds CUDA too"))
    state = torch.get_rng_state()
    prune_structured(model, inputs()[:1], prunable_layers(model), builtin.random, 0.4, seed=3)
    assert torch.equal(torch.get_rng_state(), state)


def test_kept_channels_follows_ops_in_order():
    ops = [("a", [1, 3]), ("b", [0]), ("a", [0])]
    assert kept_channels(ops, {"a": 5, "b": 2, "c": 3}) == {"a": [2, 4], "b": [1],
                                                             "c": [0, 1, 2]}


class HardCodedReshape(nn.Module):
    """Reshapes by a fixed channel count, which no dependency graph can follow."""

    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 4, 3, padding=1)
        self.conv2 = nn.Conv2d(4, 4, 3, padding=1)
        self.pool = nn.AdaptiveAvgPool2d(2)  # small: Torch-Pruning maps every index
        self.fc = nn.Linear(4 * 4, 10)

    def forward(self, x):
        x = self.pool(self.conv2(torch.relu(self.conv1(x))))
        return self.fc(x.reshape(len(x), 4, 4).reshape(len(x), 4 * 4))


class ChecksChannels(nn.Module):
    """Python control flow on a tensor's channel count."""

    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 8, 3, padding=1)
        self.fc = nn.Linear(8, 10)

    def forward(self, x):
        x = self.conv1(x)
        if x.shape[1] != 8:
            raise RuntimeError("this block expects 8 channels")
        return self.fc(x.mean((2, 3)))


@pytest.mark.parametrize("build", [HardCodedReshape, ChecksChannels])
def test_a_model_torch_pruning_cannot_prune_is_a_clear_error(build):
    torch.manual_seed(0)
    model = build()
    layers = [n for n in ("conv1", "conv2") if hasattr(model, n)]
    with pytest.raises(StructuredPruningError,
                       match="Torch-Pruning cannot prune channels of this model") as err:
        prune_structured(model, inputs()[:1], layers, builtin.magnitude, 0.5)
    assert "leave out --structured" in err.value.fix
    assert isinstance(err.value, DeepScopeError)


def test_replay_refuses_ops_that_do_not_fit():
    with pytest.raises(StructuredPruningError, match="do not fit layer 'conv1'"):
        replay_structured(seeded(build_cnn), inputs()[:1], [("conv1", [16])])
    with pytest.raises(StructuredPruningError, match="'relu1'"):
        replay_structured(seeded(build_cnn), inputs()[:1], [("relu1", [0])])


def test_refusals():
    model = seeded(build_cnn)
    with pytest.raises(DeepScopeError, match="cannot prune whole channels"):
        prune_structured(model, inputs()[:1], ["conv1"], builtin.lamp, 0.5)
    with pytest.raises(DeepScopeError, match="sparsity 1.0"):
        prune_structured(model, inputs()[:1], ["conv1"], builtin.magnitude, 1.0)
    with pytest.raises(DeepScopeError, match="needs training batches"):
        prune_structured(model, inputs()[:1], ["conv1"], builtin.taylor, 0.5)
    torch.nn.utils.prune.random_unstructured(model.conv1, "weight", amount=0.5)
    with pytest.raises(DeepScopeError, match="make the masks permanent"):
        prune_structured(model, inputs()[:1], ["conv1"], builtin.magnitude, 0.5)


def test_cost_counts_parameters_and_macs():
    model = seeded(build_cnn)
    c = cost(model, inputs())
    assert c["params"] == n_params(model)
    # conv1 + conv2 on 8x8, then the two linear layers (biases not counted as MACs here)
    assert c["macs"] >= 16 * 9 * 64 + 32 * 16 * 9 * 64 + 512 * 64 + 64 * 10
    assert c["latency_ms"] > 0
    assert cost(model, inputs(), latency=False)["latency_ms"] is None


def test_sync_waits_for_cuda_and_mps_only(monkeypatch):
    calls = []
    monkeypatch.setattr(torch.cuda, "synchronize", lambda device=None: calls.append(device))
    monkeypatch.setattr(torch.mps, "synchronize", lambda: calls.append("mps"))
    structured._sync(torch.device("cpu"))
    assert calls == []
    structured._sync(torch.device("cuda", 1))
    structured._sync(torch.device("mps"))
    assert calls == [torch.device("cuda", 1), "mps"]


def test_latency_waits_for_the_device_around_every_timed_pass(monkeypatch):
    # No GPU here: the model runs on the CPU while model_device says CUDA, and a fake
    # torch.cuda.synchronize records where the timing waits. Every pass is timed from
    # a drained queue to its last kernel: one wait before it starts, one after it ends.
    events = []
    monkeypatch.setattr(structured, "model_device",
                        lambda model, default=None: torch.device("cuda", 0))
    monkeypatch.setattr(torch.cuda, "synchronize",
                        lambda device=None: events.append(("sync", device)))

    class Counted(nn.Module):
        def __init__(self, inner, name):
            super().__init__()
            self.inner, self.name = inner, name

        def forward(self, x):
            events.append(("run", self.name))
            return self.inner(x)

    model = Counted(seeded(build_cnn), "dense")
    ms = cost(model, inputs())["latency_ms"]
    assert ms > 0
    timed = events[-3 * LATENCY_RUNS:]
    assert timed == [("sync", torch.device("cuda", 0)), ("run", "dense"),
                     ("sync", torch.device("cuda", 0))] * LATENCY_RUNS
    events.clear()
    pruned = Counted(seeded(build_cnn), "pruned")
    dense_ms, pruned_ms = compare_latency(model, pruned, inputs(), runs=4)
    assert dense_ms > 0 and pruned_ms > 0
    runs = [e for e in events if e[0] == "run"]
    assert len(runs) == 2 * 2 + 2 * 4  # warm-up, then both models per round
    timed = events[2 * 2:]
    assert len(timed) == 3 * 2 * 4
    assert all(timed[i][0] == "sync" and timed[i + 2][0] == "sync"
               for i in range(0, len(timed), 3))
    assert [e[1] for e in timed[1::3]] == ["dense", "pruned", "pruned", "dense"] * 2


def test_latency_on_the_cpu_does_not_synchronize(monkeypatch):
    monkeypatch.setattr(torch.cuda, "synchronize", lambda device=None: pytest.fail("cuda"))
    model, pruned = seeded(build_cnn), seeded(build_cnn)
    model.train()
    assert cost(model, inputs())["latency_ms"] > 0
    assert model.training  # the mode is given back
    dense_ms, pruned_ms = compare_latency(model, pruned, inputs(), runs=3)
    assert dense_ms > 0 and pruned_ms > 0 and model.training and not pruned.training
