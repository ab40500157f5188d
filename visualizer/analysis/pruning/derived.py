"""Pruned models in the workspace: saved, rebuilt and described like any model.

A pruned model is a row in the catalog's ``models`` whose ``info["lineage"]`` says where
it came from::

    lineage = {
        "parent": "cnn", "method": "magnitude", "method_id": "pruning.magnitude",
        "structured": False, "target_sparsity": 0.9, "sparsity": 0.9001,
        "layer_sparsity": {"conv1": 0.9, ...}, "layers": ["conv1", ...],
        "schedule": "finetune", "finetune": {"optimizer": "sgd", "lr": ..., ...} | None,
        "seed": 0, "parent_accuracy": ..., "accuracy_before_finetune": ... | None,
        "accuracy": ..., "curves": {...} | None, "cost": {"params": ..., "nonzero_params":
        ..., "macs": ..., "latency_ms": ..., "parent": {...}}, "run": "prun-...",
        "sweep": "psw-..." | None, "key": "<hash of the request>",
        "structured_ops": [[module, [pruned channel indices]], ...] | None,
        "kept_channels": {module: n_kept} | None,
    }

Weights are safetensors with the masks made permanent (pruned weights are stored as
exact zeros); the unstructured masks are kept in the model's pruning run file
(``masks/<layer>``, uint8), written in the same step as its per-sample columns.
A structurally smaller model is stored as what rebuilds it: the parent architecture
plus ``structured_ops``, replayed through Torch-Pruning before the weights are loaded,
never a pickled module. ``structured_ops`` lists every channel removal from the base
architecture, so a pruned model pruned again still rebuilds from that architecture.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import time
from typing import Any

from visualizer.errors import DeepScopeError
from visualizer.workspace.atomic import atomic_path
from visualizer.workspace.catalog import ModelRecord


def lineage(rec: ModelRecord) -> dict[str, Any] | None:
    """The lineage of a derived model (None for a model trained or imported as is)."""
    value = (rec.info or {}).get("lineage")
    return value if isinstance(value, dict) else None


def request_key(fields: dict[str, Any]) -> str:
    """A stable hash of what a pruned model is made from: the same request gives the
    same key in any process, so a sweep finds the points it already finished."""
    text = json.dumps(fields, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def structured_factory(factory, rec: ModelRecord):
    """Wrap the base architecture's factory so that it replays the channel removals."""
    info = lineage(rec) or {}
    ops = info.get("structured_ops")
    if not ops:
        return factory
    shape = (rec.info or {}).get("input_shape")
    if not shape:
        raise DeepScopeError(f"pruned model {rec.name!r} has no input shape in its record, "
                             "which rebuilding its channels needs.",
                             fix="prune the parent model again.")

    def build():
        import torch

        from visualizer.analysis.pruning.structured import replay_structured

        model = factory()
        return replay_structured(model, torch.zeros(1, *shape), [tuple(op) for op in ops])

    return build


def save(ws, name: str, model) -> tuple[str, str]:
    """Write the weights atomically; returns ``(relative path, sha256)``."""
    from safetensors.torch import save_file

    from visualizer.models.loading import sha256_file

    dest = ws.root / "models" / f"{name}.safetensors"
    state = {k: v.detach().contiguous() for k, v in model.state_dict().items()}
    with atomic_path(dest) as temp:
        save_file(state, str(temp))
    return f"models/{dest.name}", sha256_file(dest)


def load_masks(ws, name: str) -> dict:
    """The unstructured masks of a pruned model (bool tensors by module name; empty for
    channel pruning), read from its pruning run."""
    import torch

    info = lineage(ws.catalog.model(name)) or {}
    if not info.get("run") or info.get("structured"):
        return {}
    with ws.run(info["run"]).arrays() as arrays:
        group = arrays.file.get("masks")
        if group is None:
            return {}
        return {k: torch.from_numpy(group[k][()].astype(bool)) for k in group}


def put(ws, name: str, parent: ModelRecord, model, rel_path: str, sha: str,
        lineage_info: dict[str, Any], accuracy: float, layer_table=None) -> ModelRecord:
    """Add the pruned model to the catalog, describing it like its parent (``layer_table``:
    the parent's, when pruning kept every shape)."""
    info = {k: v for k, v in (parent.info or {}).items()
            if k in ("input_shape", "num_classes", "input_range", "trained_on", "torch")}
    info.update(n_params=int(sum(p.numel() for p in model.parameters())),
                trusted=False, test_accuracy=float(accuracy), lineage=lineage_info)
    if layer_table is not None:
        info["layers"] = layer_table
    elif info.get("input_shape"):
        from visualizer.workspace.model_store import layer_table as describe

        info["layers"] = describe(model, info["input_shape"])
    rec = ModelRecord(name=name, format="safetensors", path=rel_path, sha256=sha,
                      architecture=parent.architecture, info=info, created_at=time.time())
    ws.catalog.put_model(rec)
    return rec


def remove(ws, name: str) -> None:
    """Take a pruned model out (a sweep point redone after a crash): row, then files."""
    ws.catalog.delete_model(name)
    with contextlib.suppress(FileNotFoundError):
        (ws.root / "models" / f"{name}.safetensors").unlink()


def discard_unfinished(ws, run_rec) -> None:
    """A pruning run that died between writing its model and completing: the model it
    wrote goes too, so that no derived model is left without a complete run behind it."""
    name = run_rec.model
    try:
        rec = ws.catalog.model(name) if name else None
    except DeepScopeError:
        rec = None
    if rec is not None and (lineage(rec) or {}).get("run") == run_rec.id:
        remove(ws, name)


def free_name(ws, wanted: str, key: str) -> str:
    """``wanted`` if it is free (or holds a point with this key), else with the key."""
    existing = {m.name: m for m in ws.models()}
    rec = existing.get(wanted)
    if rec is None or (lineage(rec) or {}).get("key") == key:
        return wanted
    return f"{wanted}-{key[:6]}"


def auto_name(parent: str, method: str, sparsity: float, schedule: str,
              structured: bool) -> str:
    """``cnn-magnitude-90`` (one-shot), ``cnn-snip-95-gradual``, ``cnn-ch-magnitude-50``."""
    pct = f"{sparsity * 100:.3g}".replace(".", "_")
    parts = [parent, "ch" if structured else "", method, pct,
             "" if schedule == "oneshot" else schedule]
    return "-".join(p for p in parts if p)
