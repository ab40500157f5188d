"""Job functions behind the GUI's dialogs. Qt-free, so they can run in a child process.

Each takes a frozen request made on the GUI thread and returns plain data; errors the
user can fix are ``DeepScopeError``s and reach the GUI as job failures.
"""

from __future__ import annotations

from dataclasses import dataclass

from visualizer.jobs.contract import JobContext

CODE_FORMATS = ("torchscript", "export", "pickled_module")


@dataclass(frozen=True)
class InspectModelRequest:
    path: str


@dataclass(frozen=True)
class ModelFileInfo:
    path: str
    format: str
    sha256: str | None  # hashed only where the user must confirm trust


def inspect_model_file(request: InspectModelRequest, ctx: JobContext) -> ModelFileInfo:
    """Detect a model file's format; hash it when it would run code (trust dialog)."""
    from visualizer.models.loading import detect_format, sha256_file

    ctx.status("detecting the format")
    fmt = detect_format(request.path)
    sha = None
    if fmt in CODE_FORMATS:
        ctx.status("computing SHA-256")
        sha = sha256_file(request.path)
    return ModelFileInfo(request.path, fmt, sha)


@dataclass(frozen=True)
class ImportModelRequest:
    workspace: str
    path: str
    name: str
    arch: str | None = None
    trust: bool = False


def import_model(request: ImportModelRequest, ctx: JobContext) -> str:
    from visualizer.workspace.workspace import Workspace

    ctx.status("checking and copying the model")
    rec = Workspace(request.workspace).import_model(
        request.path, request.name, arch=request.arch or None, trust=request.trust)
    return rec.name


@dataclass(frozen=True)
class ImportDataRequest:
    workspace: str
    path: str
    name: str


def import_dataset(request: ImportDataRequest, ctx: JobContext) -> str:
    from visualizer.workspace.workspace import Workspace

    ctx.status("reading and validating the data")
    rec = Workspace(request.workspace).import_dataset(request.path, request.name)
    return rec.name


@dataclass(frozen=True)
class ListLayersRequest:
    workspace: str
    model: str
    input_shape: tuple[int, ...]


def list_model_layers(request: ListLayersRequest, ctx: JobContext) -> list[tuple[str, str, str]]:
    """``(name, type, output shape)`` of every leaf layer that produces a tensor."""
    import torch

    from visualizer.models.introspection import describe_layers
    from visualizer.workspace import model_pool
    from visualizer.workspace.workspace import Workspace

    ctx.status("loading the model")
    with model_pool.borrow(Workspace(request.workspace), request.model) as model, \
            torch.inference_mode():
        infos = describe_layers(model, torch.zeros((1, *request.input_shape)))
    return [(i.name, i.type_name, "×".join(map(str, i.output_shape)))
            for i in infos if i.output_shape is not None and i.is_leaf]
