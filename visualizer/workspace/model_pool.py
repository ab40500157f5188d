"""Loaded models kept for reuse between the jobs of one process.

Loading a model (reading its file, building the module, moving it to the device) costs
a few milliseconds for the zoo models and seconds for large ones, and a researcher runs
job after job on the same model. A job *borrows* a model: it gets a module no other job
is using (two jobs never share one: captum and the extraction hooks attach to modules),
and hands it back when it ends.

A module comes back into the pool only if it is as it was lent: the same parameter and
buffer tensors, none changed in place (torch counts in-place writes per tensor), the
same ``requires_grad`` flags and no hooks left behind. Anything else (a pruning
experiment, a training step, a plugin that forgot a hook) drops it, so no job ever sees
another's edits. At most ``MAX_IDLE`` idle modules are kept, least recently used first
out, which bounds the memory (and GPU memory) the pool holds.
"""

from __future__ import annotations

import contextlib
import threading
from collections import OrderedDict
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from visualizer.models.fx_guard import running_modules

if TYPE_CHECKING:
    import torch

    from visualizer.workspace.workspace import Workspace

MAX_IDLE = 3
# a module's hook registries (attributes of torch.nn.Module)
HOOK_KINDS = ("_forward_hooks", "_forward_pre_hooks", "_backward_hooks",
              "_backward_pre_hooks")

_lock = threading.Lock()
_idle: OrderedDict[tuple, Any] = OrderedDict()  # key -> one idle module


def fingerprint(model: torch.nn.Module) -> tuple:
    """What must be unchanged for a returned module to be lent again."""
    tensors = tuple(
        (name, t.data_ptr(), t._version, t.requires_grad)
        for name, t in (*model.named_parameters(), *model.named_buffers()))
    hooks = sum(len(getattr(m, kind, {})) for m in model.modules() for kind in HOOK_KINDS)
    return tensors, hooks


@contextlib.contextmanager
def borrow(ws: Workspace, name: str, device: str = "cpu") -> Iterator[torch.nn.Module]:
    """The model ``name`` on ``device`` in eval mode, for this caller alone."""
    from visualizer.workspace import model_store

    record = ws.catalog.model(name)
    # The stored file never changes under one SHA-256, so the key says which bytes
    # the module was built from.
    key = (str(ws.root.resolve()), name, record.sha256, str(device))
    with _lock:
        entry = _idle.pop(key, None)
    if entry is None:
        model = model_store.load(ws, record, device)
        lent = fingerprint(model)
    else:
        model, lent = entry
    try:
        with running_modules():  # never while torch.fx traces (it patches Module.__call__)
            yield model
    finally:
        model.eval()
        if fingerprint(model) == lent:
            with _lock:
                _idle[key] = (model, lent)
                _idle.move_to_end(key)
                while len(_idle) > MAX_IDLE:
                    _idle.popitem(last=False)


def clear() -> None:
    """Forget every idle module (frees their memory once nothing else holds them)."""
    with _lock:
        _idle.clear()
