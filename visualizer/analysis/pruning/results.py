"""What the Pruning view and reports read: pruned models as points, their curves, and
the samples pruning changed. Qt-free; the catalog reads are cheap (one query for the
models, whose lineage holds no per-step arrays), the run-file reads (``curves``,
``forgotten_samples``) belong in a job.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from visualizer.analysis.pruning.derived import lineage
from visualizer.errors import DeepScopeError

RUN_KIND = "pruning"
SWEEP_KIND = "prune_sweep"


@dataclass(frozen=True)
class PrunedPoint:
    """One pruned model as the accuracy-vs-sparsity plot and the tables show it."""

    model: str
    parent: str
    method: str
    structured: bool
    schedule: str
    target_sparsity: float
    sparsity: float  # achieved, over the pruned layers' weights (structured: channels)
    accuracy: float  # on the test split, after the schedule
    parent_accuracy: float
    accuracy_before_finetune: float | None
    run: str | None
    sweep: str | None
    seed: int = 0
    layer_sparsity: dict[str, float] = field(default_factory=dict)
    cost: dict[str, Any] = field(default_factory=dict)
    forgotten: int | None = None
    gained: int | None = None
    created_at: float = 0.0

    @property
    def series(self) -> str:
        """The line this point belongs to: method, mode and schedule."""
        mode = "channels" if self.structured else ""
        return " · ".join(p for p in (self.method, mode, self.schedule) if p)

    @property
    def accuracy_drop(self) -> float:
        return self.parent_accuracy - self.accuracy


def pruned_points(ws, parent: str | None = None) -> list[PrunedPoint]:
    """Every pruned model (of ``parent``), oldest first."""
    points = []
    for rec in ws.models():
        info = lineage(rec)
        if info is None or (parent is not None and info.get("parent") != parent):
            continue
        points.append(PrunedPoint(
            model=rec.name, parent=info["parent"], method=info.get("method", "?"),
            structured=bool(info.get("structured")), schedule=info.get("schedule", "oneshot"),
            target_sparsity=float(info.get("target_sparsity", 0.0)),
            sparsity=float(info.get("sparsity", 0.0)),
            accuracy=float(info.get("accuracy", np.nan)),
            parent_accuracy=float(info.get("parent_accuracy", np.nan)),
            accuracy_before_finetune=info.get("accuracy_before_finetune"),
            run=info.get("run"), sweep=info.get("sweep"), seed=int(info.get("seed", 0)),
            layer_sparsity=dict(info.get("layer_sparsity") or {}),
            cost=dict(info.get("cost") or {}), forgotten=info.get("forgotten"),
            gained=info.get("gained"), created_at=rec.created_at))
    return points


def curves(ws, model: str) -> dict[str, list] | None:
    """The fine-tuning curves of a pruned model (None for one-shot pruning), as
    ``Curves.to_dict()`` gives them: read from its pruning run file (``curves/<name>``),
    so call it in a job, not on the GUI thread."""
    from visualizer.analysis.pruning.finetune import Curves

    info = lineage(ws.catalog.model(model)) or {}
    stored = info.get("curves")
    if isinstance(stored, dict):  # written before the curves moved to the run file
        return stored
    if not stored or not info.get("run"):
        return None
    with ws.run(info["run"]).arrays() as arrays:
        group = arrays.file.get("curves")
        if group is None:
            return None
        data = {k: group[k][()].tolist() for k in group}
    out = Curves.from_dict(data).to_dict()  # every key, in Curves' order
    out["step"] = [int(s) for s in out["step"]]  # stored as float64 with the rest
    return out


@dataclass(frozen=True)
class ForgottenSamples:
    """Test samples of one pruned model against its parent (Hooker et al., 2019)."""

    model: str
    parent: str
    split: str
    sample_index: np.ndarray  # positions in the dataset split
    label: np.ndarray
    parent_prediction: np.ndarray
    prediction: np.ndarray
    confidence: np.ndarray
    forgotten: np.ndarray  # bool: the parent was right, the pruned model is wrong
    gained: np.ndarray  # bool: the parent was wrong, the pruned model is right


def forgotten_samples(ws, model: str) -> ForgottenSamples:
    """Read the per-sample predictions stored by the pruning run of ``model``."""
    rec = ws.catalog.model(model)
    info = lineage(rec)
    if info is None or not info.get("run"):
        raise DeepScopeError(f"model {model!r} is not a pruned model of this workspace.",
                             fix="pick a pruned model (see the Pruning view or `info`).")
    run = ws.run(info["run"])
    with run.arrays() as arrays:
        get = {k: np.asarray(arrays[k][()]) for k in
               ("sample_index", "label", "parent_prediction", "prediction", "confidence",
                "forgotten", "gained")}
    return ForgottenSamples(model=model, parent=info["parent"],
                            split=run.params.get("split", "test"),
                            sample_index=get["sample_index"].astype(np.int64),
                            label=get["label"].astype(np.int64),
                            parent_prediction=get["parent_prediction"].astype(np.int64),
                            prediction=get["prediction"].astype(np.int64),
                            confidence=get["confidence"].astype(np.float32),
                            forgotten=get["forgotten"] > 0.5, gained=get["gained"] > 0.5)
