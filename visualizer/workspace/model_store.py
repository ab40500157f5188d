"""Models inside a workspace: zoo training, safe import, loading by name.

Architectures are named by a zoo/plugin id (``cnn``, ``deepscope.cnn``) or by
``module:factory`` / ``path/to/file.py:factory``. A factory given as a file is copied
into the workspace so that the workspace keeps working after the file moves.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from visualizer.errors import DeepScopeError, InvalidModelError, NotFoundError
from visualizer.workspace.atomic import atomic_path
from visualizer.workspace.catalog import ModelRecord

if TYPE_CHECKING:
    import torch

    from visualizer.workspace.workspace import Workspace

SAFE_FORMATS = ("safetensors", "state_dict")
SUFFIX = {"safetensors": ".safetensors", "state_dict": ".pt", "torchscript": ".pt",
          "export": ".pt2", "pickled_module": ".pt"}


def resolve_architecture(spec: str, root: Path | None = None) -> tuple[Callable, dict[str, Any]]:
    """A factory and its manifest metadata from a zoo/plugin id or a ``module:factory``."""
    if ":" in spec:
        from visualizer.models.loading import resolve_factory

        module, _, attr = spec.rpartition(":")
        if root is not None and module.endswith(".py") and not Path(module).is_absolute():
            spec = f"{root / module}:{attr}"
        return resolve_factory(spec), {}
    from plugins.manager import get_manager

    manager = get_manager()
    contribution = manager.get("architectures", spec)
    return manager.load(contribution), dict(contribution.meta, id=contribution.id)


def layer_table(model, input_shape) -> list[list]:
    """``[name, type, output shape, n_params]`` per layer, for pickers that must not
    load the model (the GUI's layer boxes read it from the catalog)."""
    import torch

    from visualizer.models.introspection import describe_layers

    example = torch.zeros(1, *input_shape)
    return [[i.name, i.type_name, list(i.output_shape) if i.output_shape else None, i.n_params]
            for i in describe_layers(model, example)]


def add_zoo_model(ws: Workspace, name: str, architecture: str, *, dataset: str, seed: int,
                  epochs: int | None, progress=None) -> ModelRecord:
    import torch
    from safetensors.torch import save_file

    from visualizer.models.fx_guard import running_modules
    from visualizer.models.loading import sha256_file
    from visualizer.models.zoo import evaluate_accuracy, train_zoo_model

    factory, meta = resolve_architecture(architecture)
    data = ws.load_dataset(dataset)
    x_train, y_train = data.arrays("train")
    x_test, y_test = data.arrays("test")
    started = time.perf_counter()
    zoo_name = meta.get("id", architecture).split(".")[-1]
    with running_modules():  # never while torch.fx traces (it patches Module.__call__)
        model = train_zoo_model(zoo_name, x_train, y_train, seed=seed, epochs=epochs,
                                progress=progress)
        seconds = time.perf_counter() - started
        accuracy = evaluate_accuracy(model, x_test, y_test)
    dest = ws.root / "models" / f"{name}.safetensors"
    with atomic_path(dest) as temp:
        save_file({k: v.contiguous() for k, v in model.state_dict().items()}, str(temp))
    n_params = sum(p.numel() for p in model.parameters())
    info = {
        "input_shape": list(x_train.shape[1:]), "num_classes": int(len(data.class_names)),
        "trained_on": dataset, "seed": seed, "train_seconds": round(seconds, 2),
        "test_accuracy": float(accuracy), "n_params": int(n_params), "trusted": False,
        "input_range": [0.0, 1.0], "torch": torch.__version__,
        "layers": layer_table(model, x_train.shape[1:]),
    }
    rec = ModelRecord(name=name, format="safetensors", path=f"models/{dest.name}",
                      sha256=sha256_file(dest), architecture=meta.get("id", architecture),
                      info=info, created_at=time.time())
    ws.catalog.put_model(rec)
    return rec


def import_model(ws: Workspace, path: Path, name: str, *, arch: str | None, trust: bool,
                 input_shape: tuple[int, ...] | None) -> ModelRecord:
    from visualizer.models.loading import detect_format, load_model_file, sha256_file

    if not path.is_file():
        raise NotFoundError("model file not found.", path=path, fix="check the path.")
    if any(m.name == name for m in ws.models()):
        raise DeepScopeError(f"a model named {name!r} is already in this workspace.",
                             fix="choose another --name.")
    fmt = detect_format(path)
    factory = None
    arch_spec = arch
    if fmt in SAFE_FORMATS:
        if not arch:
            raise InvalidModelError(
                f"this file holds only weights ({fmt}); DeepScope needs the architecture "
                "to build the model.", path=path,
                fix="name it with --arch: a zoo name (mlp, cnn, resnet) or module:factory "
                    "(or path/to/file.py:factory).")
        factory, _ = resolve_architecture(arch)
    model = load_model_file(path, factory=factory, trust=trust)  # refuses unsafe files
    info: dict[str, Any] = {
        "n_params": int(sum(p.numel() for p in model.parameters())),
        "trusted": fmt not in SAFE_FORMATS, "source_path": str(path.resolve()),
    }
    warnings = import_warnings(path, fmt)
    if warnings:
        info["warnings"] = warnings
    if input_shape:
        info["input_shape"] = list(input_shape)
        try:
            info["layers"] = layer_table(model, input_shape)
        except Exception as exc:  # noqa: BLE001 - any failure here means a wrong shape
            raise InvalidModelError(
                f"the model does not run on inputs of shape {tuple(input_shape)} ({exc}).",
                path=path, fix="check --input-shape (per sample, without the batch).") from exc
    sha = sha256_file(path)
    # Everything is checked: copy in last, and take the copies back if a later step fails,
    # so a failed import leaves the workspace as it was.
    copied: list[Path] = []
    try:
        dest = ws.copy_in(path, f"models/{name}{SUFFIX.get(fmt, path.suffix)}")
        copied.append(dest)
        module, _, attr = (arch or "").rpartition(":")
        if module.endswith(".py"):
            copied.append(ws.copy_in(Path(module), f"models/{name}_arch.py"))
            arch_spec = f"models/{copied[-1].name}:{attr}"
        rec = ModelRecord(name=name, format=fmt, path=f"models/{dest.name}", sha256=sha,
                          architecture=arch_spec, info=info, created_at=time.time())
        ws.catalog.put_model(rec)
    except BaseException:
        for copy in copied:
            copy.unlink(missing_ok=True)
        raise
    return rec


def import_warnings(path: Path, fmt: str) -> list[str]:
    """What the user should hear about a model that imported: views that will not work
    with it, code it needs that lives outside the workspace. Shown by the CLI (and in
    its JSON as ``warnings``) and by the GUI as a notification; kept in the model's
    ``info["warnings"]``."""
    from visualizer.models.loading import (
        TORCHSCRIPT_WARNING,
        check_pickle_imports,
        local_module_warning,
    )

    if fmt == "torchscript":
        return [TORCHSCRIPT_WARNING]
    if fmt == "pickled_module":  # already loaded: the modules it names are imported
        warning = local_module_warning(check_pickle_imports(path))
        return [warning] if warning else []
    return []


def load(ws: Workspace, rec: ModelRecord, device: str = "cpu") -> torch.nn.Module:
    from visualizer.models.loading import load_model_file, sha256_file

    path = ws.root / rec.path
    if not path.is_file():
        raise NotFoundError(f"the file of model {rec.name!r} is missing from the workspace.",
                            path=path, fix="re-import the model.")
    trusted = rec.format not in SAFE_FORMATS
    if trusted and sha256_file(path) != rec.sha256:
        # The user trusted one exact file; a swapped file must not run.
        raise InvalidModelError(
            f"model {rec.name!r} changed since it was trusted (SHA-256 differs).", path=path,
            fix="re-import it with --trust if you trust the new file.")
    factory = None
    if rec.format in SAFE_FORMATS:
        from visualizer.analysis.pruning.derived import structured_factory

        factory, _ = resolve_architecture(rec.architecture or "", root=ws.root)
        factory = structured_factory(factory, rec)  # a pruned model: rebuild its channels
    model = load_model_file(path, factory=factory, trust=trusted)
    return model.to(device).eval()
