"""What the Layer view says about a pruned model, read from the catalog alone.

A pruned model is a catalog model whose ``info["lineage"]`` names its parent, the
method, the sparsity reached, the schedule and, for channel pruning, the channels kept
per layer (see ``visualizer/analysis/pruning/derived.py``). Everything here reads one or
two catalog rows (the model and its parent): cheap enough for the GUI thread, and it
never imports torch or the pruning package.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

SCHEDULE_TEXT = {"oneshot": "one-shot"}


@dataclass(frozen=True)
class PruningInfo:
    """A pruned model's lineage, as the Layer view shows it.

    Attributes
    ----------
    model, parent, method
        The model, the model it was pruned from, the pruning method's name.
    sparsity
        Sparsity reached (fraction of the pruned layers' weights, or of their output
        channels for channel pruning); None when the lineage does not say.
    schedule
        ``oneshot``, ``finetune``, ``gradual``, ``imp`` ... (None when unknown).
    structured
        Channels removed (the model is smaller) rather than weights zeroed.
    layer_sparsity
        The lineage's sparsity per pruned module.
    kept_channels
        Output channels kept per module (channel pruning only).
    parent_channels
        Output channels of each module of the parent, from the parent's catalog layer
        table (empty when the parent is gone or has no table).
    parent_in_workspace
        Whether the parent is still in the catalog.
    accuracy, parent_accuracy
        Test accuracy of the pruned model and of its parent, when recorded.
    """

    model: str
    parent: str
    method: str
    sparsity: float | None = None
    schedule: str | None = None
    structured: bool = False
    layer_sparsity: dict[str, float] = field(default_factory=dict)
    kept_channels: dict[str, int] = field(default_factory=dict)
    parent_channels: dict[str, int] = field(default_factory=dict)
    parent_in_workspace: bool = True
    accuracy: float | None = None
    parent_accuracy: float | None = None

    def header(self) -> str:
        """``pruned from cnn by magnitude to 90% (finetune)``."""
        verb = "channel-pruned" if self.structured else "pruned"
        text = f"{verb} from {self.parent} by {self.method}"
        if self.sparsity is not None:
            text += f" to {percent(self.sparsity)}"
        if self.schedule:
            text += f" ({SCHEDULE_TEXT.get(self.schedule, self.schedule)})"
        return text

    def summary(self) -> str:
        """The header, plus accuracies and a missing parent, for the view's banner."""
        parts = [f"{self.model}: {self.header()}"]
        if not self.parent_in_workspace:
            parts.append(f"{self.parent} is no longer in this workspace")
        if self.accuracy is not None:
            acc = f"test accuracy {self.accuracy:.1%}"
            if self.parent_accuracy is not None:
                acc += f" ({self.parent} {self.parent_accuracy:.1%})"
            parts.append(acc)
        return " · ".join(parts)

    def channels(self, module: str | None) -> tuple[int, int | None] | None:
        """``(kept, parent's)`` output channels of ``module``, None if not channel-pruned."""
        if not module or module not in self.kept_channels:
            return None
        return self.kept_channels[module], self.parent_channels.get(module)

    def channels_text(self, module: str | None, short: bool = False) -> str | None:
        """``16 of 32 channels kept`` (``16 of 32 ch kept`` when ``short``)."""
        kept = self.channels(module)
        if kept is None:
            return None
        word = "ch" if short else "channels"
        n, total = kept
        return f"{n} of {total} {word} kept" if total else f"{n} {word} kept"


def percent(fraction: float) -> str:
    """``0.9 -> 90%``, ``0.9001 -> 90%``, ``0.955 -> 95.5%``: three significant digits."""
    return f"{fraction * 100:.3g}%"


def lineage_of(info: dict[str, Any] | None) -> dict[str, Any] | None:
    value = (info or {}).get("lineage")
    return value if isinstance(value, dict) else None


def is_pruned(lineage: dict[str, Any] | None) -> bool:
    """Whether a lineage describes pruning (a derived model could be fine-tuned only)."""
    if not lineage or not lineage.get("parent"):
        return False
    return any(lineage.get(k) is not None
               for k in ("sparsity", "target_sparsity", "layer_sparsity", "kept_channels"))


def pruning_info(models, model: str) -> PruningInfo | None:
    """The :class:`PruningInfo` of ``model`` (None when it is not a pruned model).

    ``models`` is a workspace's ``Catalog`` (anything with ``model(name)`` raising for an
    unknown name) or the records already read, by name (a view that lists the models
    anyway reads the catalog once).
    """
    def record(name: str):
        if isinstance(models, Mapping):
            return models[name]
        return models.model(name)

    try:
        rec = record(model)
    except Exception:  # noqa: BLE001 - a model removed meanwhile is simply not pruned
        return None
    lineage = lineage_of(rec.info)
    if not is_pruned(lineage):
        return None
    parent = str(lineage["parent"])
    parent_info: dict[str, Any] | None = None
    try:
        parent_info = record(parent).info or {}
    except Exception:  # noqa: BLE001 - the parent may have been removed
        parent_info = None
    sparsity = lineage.get("sparsity", lineage.get("target_sparsity"))
    # Only what the pruning recorded: a record copied from the parent would otherwise
    # show the parent's accuracy as the pruned model's.
    accuracy, parent_accuracy = lineage.get("accuracy"), lineage.get("parent_accuracy")
    return PruningInfo(
        model=model, parent=parent, method=str(lineage.get("method") or "unknown method"),
        sparsity=_float(sparsity), schedule=lineage.get("schedule") or None,
        structured=bool(lineage.get("structured")),
        layer_sparsity={str(k): float(v) for k, v in
                        (lineage.get("layer_sparsity") or {}).items() if _float(v) is not None},
        kept_channels={str(k): int(v) for k, v in (lineage.get("kept_channels") or {}).items()},
        parent_channels=layer_channels(parent_info),
        parent_in_workspace=parent_info is not None,
        accuracy=_float(accuracy), parent_accuracy=_float(parent_accuracy))


def layer_channels(info: dict[str, Any] | None) -> dict[str, int]:
    """Output channels (first output dimension) per layer from a model's catalog layer
    table (``info["layers"]``: ``[name, type, output shape, n_params]`` rows)."""
    out: dict[str, int] = {}
    for row in (info or {}).get("layers") or []:
        try:
            name, shape = row[0], row[2]
        except (IndexError, TypeError):
            continue
        if shape:
            out[str(name)] = int(shape[0])
    return out


def _float(value) -> float | None:
    try:
        return None if value is None else float(value)
    except (TypeError, ValueError):
        return None
