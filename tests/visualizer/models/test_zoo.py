"""The demo zoo: accuracy on held-out digits, determinism, larger inputs, hook-friendliness."""

from __future__ import annotations

import contextlib
import dataclasses
import threading

import numpy as np
import pytest
import torch
from torch import nn

from visualizer.errors import NotFoundError
from visualizer.models.evaluation import evaluate, model_device, seeded
from visualizer.models.zoo import (
    ZOO,
    ZooEntry,
    build_cnn,
    build_mlp,
    build_resnet,
    evaluate_accuracy,
    train_zoo_model,
)

THRESHOLDS = {"mlp": 0.93, "cnn": 0.95, "resnet": 0.95}


def test_zoo_lists_the_three_models() -> None:
    assert set(ZOO) == {"mlp", "cnn", "resnet"}
    for name, entry in ZOO.items():
        assert isinstance(entry, ZooEntry) and entry.name == name
        assert entry.title and entry.description and entry.epochs > 0
    with pytest.raises(dataclasses.FrozenInstanceError):
        ZOO["mlp"].epochs = 1  # type: ignore[misc]


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(THRESHOLDS))
def test_held_out_accuracy(trained, name: str) -> None:
    result = trained[name]
    print(f"{name}: {result.seconds:.2f} s, test accuracy {result.test_accuracy:.4f}")
    assert result.test_accuracy >= THRESHOLDS[name]
    assert not result.model.training  # returned in eval mode


@pytest.mark.parametrize("name", sorted(ZOO))
def test_training_is_deterministic_under_the_seed(digits, name: str) -> None:
    x, y = digits.x_train[:256], digits.y_train[:256]
    a = train_zoo_model(name, x, y, seed=3, epochs=1).state_dict()
    b = train_zoo_model(name, x, y, seed=3, epochs=1).state_dict()
    c = train_zoo_model(name, x, y, seed=4, epochs=1).state_dict()
    assert a.keys() == b.keys()
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert any(not torch.equal(a[k], c[k]) for k in a if a[k].is_floating_point())


def test_progress_is_called_per_epoch(digits) -> None:
    calls: list[tuple[int, int]] = []
    train_zoo_model("mlp", digits.x_train[:64], digits.y_train[:64], epochs=3,
                    progress=lambda done, total: calls.append((done, total)))  # fmt: skip
    assert calls == [(1, 3), (2, 3), (3, 3)]


def test_training_works_under_no_grad_and_in_a_thread(digits) -> None:
    x, y = digits.x_train[:64], digits.y_train[:64]
    torch.manual_seed(0)
    before = build_mlp()  # same seed-0 init as the training run
    with torch.no_grad():
        model = train_zoo_model("mlp", x, y, seed=0, epochs=1)
    assert not torch.equal(model.fc1.weight, before.fc1.weight)

    result: dict[str, nn.Module] = {}
    thread = threading.Thread(
        target=lambda: result.update(m=train_zoo_model("cnn", x, y, epochs=1))
    )
    thread.start()
    thread.join()
    assert isinstance(result["m"], nn.Module)


def test_unknown_zoo_name(digits) -> None:
    with pytest.raises(NotFoundError, match="unknown zoo model 'vit'"):
        train_zoo_model("vit", digits.x_train, digits.y_train)


@pytest.mark.parametrize("factory", [build_mlp, build_cnn, build_resnet])
def test_factories_run_on_3x32x32(factory) -> None:
    model = factory(in_channels=3, num_classes=7).eval()
    with torch.inference_mode():
        assert model(torch.rand(2, 3, 32, 32)).shape == (2, 7)


def test_resnet_has_readable_names_and_a_projection_shortcut() -> None:
    names = dict(build_resnet().named_modules())
    for expected in ("conv1", "bn1", "relu1", "layer1.0.conv1", "layer1.0.relu2",
                     "layer2.0.downsample.0", "avgpool", "fc"):  # fmt: skip
        assert expected in names
    proj = names["layer2.0.downsample.0"]
    assert isinstance(proj, nn.Conv2d) and proj.kernel_size == (1, 1) and proj.stride == (2, 2)
    assert names["layer1.0"].downsample is None  # identity skip in the first block


@pytest.mark.parametrize("factory", [build_mlp, build_cnn, build_resnet])
def test_every_module_runs_at_most_once_and_nothing_is_inplace(factory) -> None:
    model = factory().eval()
    calls: dict[str, int] = {}
    handles = [
        m.register_forward_hook(lambda *_, n=n: calls.__setitem__(n, calls.get(n, 0) + 1))
        for n, m in model.named_modules()
    ]
    try:
        model(torch.rand(2, 1, 8, 8))
    finally:
        for h in handles:
            h.remove()
    assert calls and max(calls.values()) == 1
    for module in model.modules():
        assert getattr(module, "inplace", False) is False


def test_evaluate_accuracy_matches_a_manual_count(trained, digits) -> None:
    model = trained["cnn"].model
    x = torch.from_numpy(digits.x_test)
    with torch.no_grad():
        manual = (model(x).argmax(1).numpy() == digits.y_test).mean()
    assert evaluate_accuracy(model, digits.x_test, digits.y_test, batch_size=7) == pytest.approx(
        manual
    )
    assert evaluate_accuracy(model, digits.x_test[:0], digits.y_test[:0]) == 0.0


def test_evaluate_counts_exactly_and_restores_the_mode() -> None:
    # A "model" that predicts class 0 for its first 353 of 360 samples: 353/360 exactly,
    # in float64 (a float32 mean reads 0.98055553...).
    model = nn.Sequential(nn.Flatten(), nn.Linear(1, 2), nn.Dropout(0.5)).train()
    with torch.no_grad():
        model[1].weight.copy_(torch.tensor([[-1.0], [1.0]]))
        model[1].bias.zero_()
    x = np.where(np.arange(360) < 353, -1.0, 1.0).astype(np.float32).reshape(360, 1)
    y = np.zeros(360, np.int64)
    accuracy, predictions, confidences = evaluate(model, x, y, batch_size=50)
    assert type(accuracy) is float and accuracy == 353 / 360
    assert model.training  # dropout was off while evaluating, the mode is given back
    assert predictions.dtype == np.int64 and confidences.dtype == np.float32
    assert list(predictions) == [0] * 353 + [1] * 7
    assert evaluate_accuracy(model, x, y, batch_size=7) == 353 / 360 and model.training
    with pytest.raises(ValueError, match="360 inputs but 359 labels"):
        evaluate(model, x, y[:-1])


def test_model_device() -> None:
    assert model_device(build_mlp()) == torch.device("cpu")
    assert model_device(nn.ReLU(), "meta") == torch.device("meta")


def test_training_leaves_the_global_generator_alone(digits, monkeypatch) -> None:
    def reseeds_every_device(seed):
        raise AssertionError("torch.manual_seed reseeds CUDA too, which fork_rng keeps")

    monkeypatch.setattr(torch, "manual_seed", reseeds_every_device)
    state = torch.get_rng_state()
    untrained = train_zoo_model("mlp", digits.x_train[:64], digits.y_train[:64], seed=5,
                                epochs=0)
    assert torch.equal(torch.get_rng_state(), state)  # the caller's stream did not move
    torch.random.default_generator.manual_seed(5)
    fresh = build_mlp()  # the init is still that of the seed, on the CPU generator
    assert torch.equal(untrained.fc1.weight, fresh.fc1.weight)


def test_seeded_forks_and_restores_the_cpu_generator() -> None:
    torch.random.default_generator.manual_seed(123)
    state = torch.get_rng_state()
    with seeded(7):
        first = torch.rand(3)
    assert torch.equal(torch.get_rng_state(), state)
    with seeded(7, "cpu"):
        assert torch.equal(torch.rand(3), first)


class _Generator:
    def __init__(self) -> None:
        self.seeds: list[int] = []

    def manual_seed(self, seed: int) -> None:
        self.seeds.append(seed)


@pytest.fixture
def cpu_rng():
    """The CPU generator's state, given back: a faked fork_rng does not restore it."""
    state = torch.get_rng_state()
    yield
    torch.set_rng_state(state)


def _fake_fork(calls):
    @contextlib.contextmanager
    def fork_rng(devices=None, enabled=True, device_type="cuda", **_):
        calls.append((list(devices), device_type))
        yield

    return fork_rng


def test_seeded_on_cuda_forks_and_seeds_that_device_only(monkeypatch, cpu_rng) -> None:
    # No GPU here: fake the parts of torch.cuda that seeded() touches.
    calls: list = []
    gens = (_Generator(), _Generator())
    monkeypatch.setattr(torch.random, "fork_rng", _fake_fork(calls))
    monkeypatch.setattr(torch.cuda, "default_generators", gens)
    monkeypatch.setattr(torch.cuda, "current_device", lambda: 0)
    monkeypatch.setattr(torch, "manual_seed", lambda seed: pytest.fail("reseeds all"))
    with seeded(9, torch.device("cuda", 1)):
        pass
    with seeded(4, "cuda"):
        pass
    assert calls == [([1], "cuda"), ([0], "cuda")]
    assert gens[0].seeds == [4] and gens[1].seeds == [9]


def test_seeded_on_mps_forks_and_seeds_mps(monkeypatch, cpu_rng) -> None:
    calls: list = []
    seeds: list = []
    monkeypatch.setattr(torch.random, "fork_rng", _fake_fork(calls))
    monkeypatch.setattr(torch.mps, "manual_seed", seeds.append)
    with seeded(3, "mps"):
        pass
    assert calls == [([torch.device("mps")], "mps")] and seeds == [3]
