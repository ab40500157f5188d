"""Conformance checks for plugin contributions, runnable by plugin authors.

``python main.py plugins --check [PLUGIN]`` runs them over every registered
contribution (or one plugin's); the test suite runs them over all built-ins. Each check
calls the contribution through the plugin manager, exactly as the app does, and raises
``ConformanceError`` saying what is wrong. Kinds without a check here bring their own
(attribution methods, projections) and register them in ``CHECKS``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from plugins.api import Contribution
from plugins.manager import PluginManager

KNOWN_MODEL_FORMATS = {"safetensors", "state_dict", "torchscript", "export", "pickled_module"}


class ConformanceError(AssertionError):
    """A contribution does not keep the plugin contract."""


@dataclass
class CheckResult:
    id: str
    kind: str
    ok: bool
    message: str = ""


def _require(condition: bool, message: str) -> None:
    if not condition:
        raise ConformanceError(message)


def check_architecture(manager: PluginManager, c: Contribution) -> None:
    """Builds an ``nn.Module``; forward on ``input_shape`` is deterministic under a seed
    and leaves no hooks; the output has ``num_classes`` logits."""
    import torch

    from visualizer.models.introspection import describe_layers

    shape = c.meta.get("input_shape")
    _require(isinstance(shape, list) and all(isinstance(s, int) for s in shape),
             f"{c.id}: declare input_shape = [C, H, W] (or [D]) in the manifest")
    outputs = []
    for _ in range(2):
        torch.manual_seed(0)
        model = manager.call(c, hook=f"{c.id} factory")
        _require(isinstance(model, torch.nn.Module), f"{c.id}: factory must return nn.Module")
        model.eval()
        x = torch.linspace(0, 1, 2 * int(torch.tensor(shape).prod())).reshape(2, *shape)
        with torch.no_grad():
            outputs.append(model(x))
    _require(torch.equal(outputs[0], outputs[1]), f"{c.id}: not deterministic under a seed")
    n_classes = c.meta.get("num_classes")
    if n_classes is not None:
        _require(tuple(outputs[0].shape) == (2, n_classes),
                 f"{c.id}: output shape {tuple(outputs[0].shape)} != (2, {n_classes})")
    describe_layers(model, x[:1])
    _require(all(not m._forward_hooks and not m._forward_pre_hooks for m in model.modules()),
             f"{c.id}: hooks left on the model")


def check_dataset_source(manager: PluginManager, c: Contribution) -> None:
    """Built-in sources return valid ``DataArrays``; file sources declare what they read."""
    if not c.meta.get("builtin"):
        _require(bool(c.meta.get("suffixes")) or bool(c.meta.get("folder")),
                 f"{c.id}: declare suffixes = [...] or folder = true")
        manager.load(c)
        return
    import numpy as np

    from visualizer.data.arrays import DataArrays

    data = manager.call(c, hook=f"{c.id} read")
    _require(isinstance(data, DataArrays), f"{c.id}: must return visualizer.data.DataArrays")
    _require(data.x.dtype == np.float32 and data.x.flags.c_contiguous,
             f"{c.id}: x must be C-contiguous float32")
    _require(len(data.x) == len(data.y) > 0, f"{c.id}: x and y must be non-empty, same length")
    _require(set(data.splits) >= {"train", "test"}, f"{c.id}: splits need train and test")
    _require(int(data.y.max()) < len(data.class_names), f"{c.id}: labels beyond class_names")


def check_model_loader(manager: PluginManager, c: Contribution) -> None:
    formats = set(c.meta.get("formats", []))
    _require(bool(formats), f"{c.id}: declare formats = [...]")
    _require(isinstance(c.meta.get("needs_trust"), bool),
             f"{c.id}: declare needs_trust = true|false")
    unknown = formats - KNOWN_MODEL_FORMATS
    _require(not unknown, f"{c.id}: unknown formats {sorted(unknown)}")
    _require(callable(manager.load(c)), f"{c.id}: python_name must name a callable")


CHECKS: dict[str, Callable[[PluginManager, Contribution], None]] = {
    "architectures": check_architecture,
    "dataset_sources": check_dataset_source,
    "model_loaders": check_model_loader,
}


def run_checks(manager: PluginManager, plugin: str | None = None) -> list[CheckResult]:
    """Check every contribution (of one plugin) that has a check; never raises."""
    results = []
    for info in manager.plugins.values():
        if plugin and info.name != plugin:
            continue
        for c in info.contributions:
            check = CHECKS.get(c.kind)
            if check is None:
                continue
            try:
                check(manager, c)
            except Exception as exc:  # noqa: BLE001 - report, go on with the next
                results.append(CheckResult(c.id, c.kind, False, f"{type(exc).__name__}: {exc}"))
            else:
                results.append(CheckResult(c.id, c.kind, True))
    return results
