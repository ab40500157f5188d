"""Pruned models in the workspace: saved, rebuilt and described like any model.

A pruned model is a row in the catalog's ``models`` whose ``info["lineage"]`` says where
it came from::

    lineage = {
        "parent": "cnn", "method": "magnitude", "method_id": "pruning.magnitude",
        "structured": False, "target_sparsity": 0.9, "sparsity": 0.9001,
        "layer_sparsity": {"conv1": 0.9, ...}, "layers": ["conv1", ...],
        "schedule": "finetune", "finetune": {"optimizer": "sgd", "lr": ..., ...} | None,
        "seed": 0, "parent_accuracy": ..., "accuracy_before_finetune": ... | None,
        "accuracy": ..., "curves": True | False, "cost": {"params": ..., "nonzero_params":
        ..., "macs": ..., "latency_ms": ..., "parent": {...}}, "run": "prun-...",
        "sweep": "psw-..." | None, "key": "<hash of the request>",
        "structured_ops": [[module, [pruned channel indices]], ...] | None,
        "kept_channels": {module: n_kept} | None,
    }

Weights are safetensors with the masks made permanent (pruned weights are stored as
exact zeros); the unstructured masks are kept in the model's pruning run file
(``masks/<layer>``, uint8), written in the same step as its per-sample columns, and so
are the fine-tuning curves (``curves/<name>``, float64; ``"curves"`` in the lineage only
says whether there are any): the catalog row stays small, so listing pruned models
parses no per-step arrays. The record always has ``input_shape`` (the job knows it from
the data), which rebuilding a channel-pruned model needs.
A structurally smaller model is stored as what rebuilds it: the parent architecture
plus ``structured_ops``, replayed through Torch-Pruning before the weights are loaded,
never a pickled module. ``structured_ops`` lists every channel removal from the base
architecture, so a pruned model pruned again still rebuilds from that architecture.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import re
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
        lineage_info: dict[str, Any], accuracy: float, input_shape, layer_table=None
        ) -> ModelRecord:
    """Add the pruned model to the catalog, describing it like its parent (``layer_table``:
    the parent's, when pruning kept every shape). ``input_shape`` (per sample, from the
    data the job ran on) is stored even when the parent's record lacks it (an imported
    model): rebuilding removed channels needs it (:func:`structured_factory`)."""
    info = {k: v for k, v in (parent.info or {}).items()
            if k in ("num_classes", "input_range", "trained_on", "torch")}
    info.update(input_shape=[int(d) for d in input_shape],
                n_params=int(sum(p.numel() for p in model.parameters())),
                trusted=False, test_accuracy=float(accuracy), lineage=lineage_info)
    if layer_table is not None:
        info["layers"] = layer_table
    else:
        from visualizer.workspace.model_store import layer_table as describe

        info["layers"] = describe(model, info["input_shape"])
    rec = ModelRecord(name=name, format="safetensors", path=rel_path, sha256=sha,
                      architecture=parent.architecture, info=info, created_at=time.time())
    ws.catalog.put_model(rec)
    return rec


def store(ws, new_run, name: str, parent: ModelRecord, model, *, metrics: dict[str, Any],
          info: dict[str, Any], columns: dict[str, Any], input_shape, layer_table=None) -> str:
    """Write a pruned model in the order that keeps the catalog whole: weights, the run
    file (``columns``: name -> array), the model row, then the run completes. Whatever
    fails on the way (an error, a cancel, Ctrl-C) takes back what was written
    (:func:`discard`); a kill leaves a ``running`` run that the next open interrupts and
    :func:`discard_unfinished` cleans. Returns the run id."""
    import numpy as np

    from visualizer.workspace.runfile import RunFileWriter

    try:
        with new_run:
            claim_name(ws, name)  # a model written meanwhile under this name is kept
            rel_path, sha = save(ws, name, model)
            try:
                with RunFileWriter(new_run.path, new_run.kind, {"run_id": new_run.id}) as w:
                    w.put("sample_index", np.arange(len(columns["label"]), dtype=np.int64))
                    for column, values in columns.items():
                        w.put(column, values)
                    w.publish()
                put(ws, name, parent, model, rel_path, sha, {**info, "run": new_run.id},
                    info["accuracy"], input_shape, layer_table=layer_table)
                new_run.metrics = metrics
            except BaseException:  # cancels and KeyboardInterrupt too: nothing orphaned
                discard(ws, name, new_run.id)
                raise
    except BaseException:
        # marking the run complete failed (in NewRun's exit): take the model back now
        # rather than at the next open, unless the run did complete
        with contextlib.suppress(Exception):  # the next open's recovery still does it
            if ws.catalog.run(new_run.id).status != "complete":
                discard(ws, name, new_run.id)
        raise
    return new_run.id


def remove(ws, name: str) -> None:
    """Take a pruned model out (a half-made one, see :func:`half_made`): row, then files."""
    ws.catalog.delete_model(name)
    with contextlib.suppress(FileNotFoundError):
        (ws.root / "models" / f"{name}.safetensors").unlink()


def discard(ws, name: str, run_id: str) -> None:
    """Undo what a job that is failing wrote under ``name``: its model row (only if that
    job wrote it) and its weights (the name was claimed by this job, so they are its)."""
    try:
        rec = ws.catalog.model(name)
    except DeepScopeError:
        rec = None
    if rec is not None and (lineage(rec) or {}).get("run") == run_id:
        ws.catalog.delete_model(name)
    elif rec is not None:
        return  # another model's files: not ours to touch
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


def half_made(ws, rec: ModelRecord) -> bool:
    """Whether ``rec`` is a derived model whose job did not finish and never will: its run
    is missing or not complete, and no live process is writing it. Only such a model may
    be removed or have its name reused; a trained, imported or complete one never."""
    from visualizer.workspace.runs import writer_is_alive

    info = lineage(rec)
    if info is None:
        return False
    try:
        run = ws.catalog.run(info.get("run") or "")
    except DeepScopeError:
        return True  # its run is gone: nothing will ever complete it
    if run.status == "complete":
        return False
    return not (run.status == "running" and writer_is_alive(ws.root, run))


def free_name(ws, wanted: str) -> str:
    """``wanted``, or ``wanted-2``, ``wanted-3`` ... : the first name that is free or
    holds a half-made model (:func:`half_made`). A complete model keeps its name."""
    existing = {m.name: m for m in ws.models()}
    for i in range(1, 10_000):
        suffix = "" if i == 1 else f"-{i}"
        name = wanted[:64 - len(suffix)] + suffix
        rec = existing.get(name)
        if rec is None or half_made(ws, rec):
            return name
    raise DeepScopeError(f"no free model name left after {wanted!r}-9999.",
                         fix="name the model with --name.")


def claim_name(ws, name: str) -> None:
    """Make ``name`` ready to be written: a half-made model there is removed; a model
    that is not half-made (taken while this job ran) is refused, never overwritten."""
    try:
        rec = ws.catalog.model(name)
    except DeepScopeError:
        return
    if not half_made(ws, rec):
        raise DeepScopeError(f"a model named {name!r} is already in this workspace.",
                             fix="choose another --name (or leave it out for a free one).")
    remove(ws, name)


def safe_name(text: str) -> str:
    """``text`` as an allowed model name: characters outside ``[A-Za-z0-9_.-]`` become
    ``_``, at most 64 characters, starting with a letter or digit (a plugin's method
    name is not checked, and it goes into automatic names)."""
    from visualizer.workspace.workspace import check_name

    name = re.sub(r"[^A-Za-z0-9_.-]", "_", text)
    if not name[:1].isalnum():
        name = "m" + name
    return check_name(name[:64], "model")


def auto_name(parent: str, method: str, sparsity: float, schedule: str,
              structured: bool) -> str:
    """``cnn-magnitude-90`` (one-shot), ``cnn-snip-95-gradual``, ``cnn-ch-magnitude-50``."""
    pct = f"{sparsity * 100:.3g}".replace(".", "_")
    parts = [parent, "ch" if structured else "", method, pct,
             "" if schedule == "oneshot" else schedule]
    return safe_name("-".join(p for p in parts if p))
