"""Targets: the class each map explains: ``pred`` (default), ``label`` or a class index."""

from __future__ import annotations

import numpy as np

from visualizer.errors import DeepScopeError


def parse_target(value) -> str | int:
    if value is None or value == "":
        return "pred"
    if isinstance(value, int | np.integer):
        return int(value)
    text = str(value).strip().lower()
    if text in ("pred", "predicted", "prediction"):
        return "pred"
    if text in ("label", "true", "truth"):
        return "label"
    try:
        return int(text)
    except ValueError:
        raise DeepScopeError(f"unknown target {value!r}.",
                             fix="use pred, label or a class index.") from None


def resolve_targets(target: str | int, predictions: np.ndarray, labels: np.ndarray,
                    n_classes: int) -> np.ndarray:
    if target == "pred":
        return predictions.astype(np.int64)
    if target == "label":
        return labels.astype(np.int64)
    if not 0 <= int(target) < n_classes:
        raise DeepScopeError(f"class {target} is out of range: the model has {n_classes} "
                             "outputs.", fix=f"choose a class in 0..{n_classes - 1}.")
    return np.full(len(predictions), int(target), dtype=np.int64)
