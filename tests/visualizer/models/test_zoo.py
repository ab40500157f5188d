"""The demo zoo: accuracy on held-out digits, determinism, larger inputs, hook-friendliness."""

from __future__ import annotations

import dataclasses
import threading

import pytest
import torch
from torch import nn

from visualizer.errors import NotFoundError
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
