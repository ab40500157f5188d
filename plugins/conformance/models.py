"""Checks for architectures, model loaders and dataset sources."""

from __future__ import annotations

from plugins.api import Contribution
from plugins.conformance.core import Steps, leftover_hooks, require
from plugins.manager import PluginManager

KNOWN_MODEL_FORMATS = {"safetensors", "state_dict", "torchscript", "export", "pickled_module"}


def check_architecture(manager: PluginManager, c: Contribution,
                       steps: Steps | None = None) -> None:
    """Builds an ``nn.Module``; forward on ``input_shape`` is deterministic under a seed
    and leaves no hooks; the output has ``num_classes`` logits."""
    steps = steps or Steps(c, strict=True)
    with steps.step("builds") as note:
        import torch

        from visualizer.models.introspection import describe_layers

        shape = c.meta.get("input_shape")
        require(isinstance(shape, list) and all(isinstance(s, int) for s in shape),
                "declare input_shape = [C, H, W] (or [D]) in the manifest")
        outputs = []
        for _ in range(2):
            torch.manual_seed(0)
            model = manager.call(c, hook=f"{c.id} factory")
            require(isinstance(model, torch.nn.Module), "factory must return nn.Module")
            model.eval()
            x = torch.linspace(0, 1, 2 * int(torch.tensor(shape).prod())).reshape(2, *shape)
            with torch.no_grad():
                outputs.append(model(x))
        note.text = f"nn.Module, output {tuple(outputs[0].shape)} for input (2, *{shape})"
    with steps.step("seeded", fatal=False) as note:
        require(torch.equal(outputs[0], outputs[1]), "two builds under seed 0 differ")
        note.text = "two builds under one seed give the same output"
    with steps.step("classes", fatal=False) as note:
        n_classes = c.meta.get("num_classes")
        if n_classes is not None:
            require(tuple(outputs[0].shape) == (2, n_classes),
                    f"output shape {tuple(outputs[0].shape)} != (2, {n_classes})")
            note.text = f"{n_classes} logits"
        else:
            note.text = "no num_classes declared: output width not checked"
    with steps.step("hooks", fatal=False) as note:
        describe_layers(model, x[:1])
        left = leftover_hooks(model)
        require(not left, f"hooks left on the model: {', '.join(left[:5])}")
        note.text = "none left after a forward pass and layer introspection"


def check_dataset_source(manager: PluginManager, c: Contribution,
                         steps: Steps | None = None) -> None:
    """Built-in sources return valid ``DataArrays``; file sources declare what they read."""
    steps = steps or Steps(c, strict=True)
    if not c.meta.get("builtin"):
        with steps.step("declares") as note:
            require(bool(c.meta.get("suffixes")) or bool(c.meta.get("folder")),
                    "declare suffixes = [...] or folder = true")
            require(callable(manager.load(c)), "python_name must name a callable")
            reads = [*(c.meta.get("suffixes") or []), *(["folders"] if c.meta.get("folder")
                                                          else [])]
            note.text = (f"declares it reads {', '.join(reads)}; python_name is callable "
                         "(not run: it needs a file)")
        return
    with steps.step("reads") as note:
        import numpy as np

        from visualizer.data.arrays import DataArrays

        data = manager.call(c, hook=f"{c.id} read")
        require(isinstance(data, DataArrays), "must return visualizer.data.DataArrays")
        require(data.x.dtype == np.float32 and data.x.flags.c_contiguous,
                "x must be C-contiguous float32")
        require(len(data.x) == len(data.y) > 0, "x and y must be non-empty, same length")
        require(set(data.splits) >= {"train", "test"}, "splits need train and test")
        require(int(data.y.max()) < len(data.class_names), "labels beyond class_names")
        note.text = (f"{len(data.x)} samples of {tuple(data.x.shape[1:])}, "
                     f"{len(data.class_names)} classes, splits {sorted(data.splits)}")


def check_model_loader(manager: PluginManager, c: Contribution,
                       steps: Steps | None = None) -> None:
    """Declares known formats and whether they need trust; names a callable."""
    steps = steps or Steps(c, strict=True)
    with steps.step("declares") as note:
        formats = set(c.meta.get("formats", []))
        require(bool(formats), "declare formats = [...]")
        require(isinstance(c.meta.get("needs_trust"), bool),
                "declare needs_trust = true|false")
        unknown = formats - KNOWN_MODEL_FORMATS
        require(not unknown, f"unknown formats {sorted(unknown)}")
        require(callable(manager.load(c)), "python_name must name a callable")
        note.text = f"formats {sorted(formats)}, needs_trust={c.meta['needs_trust']}"
