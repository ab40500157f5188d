"""What the Pruning view and its render choose to show, Qt-free: the model a first look
opens on, the models compared with it, the dense reference accuracy; and how the
controls read their input (sparsities, the methods plugins contribute)."""

from __future__ import annotations

import logging
import re

from visualizer.analysis.pruning.table import BY_ID

log = logging.getLogger("deepscope.pruning")
MAX_PEERS = 6  # bars per layer beyond which they are too thin to read


def default_model(points) -> str | None:
    """The sparsest pruned model (the best of those at that sparsity): where methods
    differ most, so where a first look says most."""
    if not points:
        return None
    return max(points, key=lambda p: (p.target_sparsity, p.accuracy, p.created_at)).model


def peers_of(point, points) -> list:
    """``point`` and the other models of its parent at the same target sparsity and in
    the same mode (channel sparsity and weight sparsity are not the same quantity)."""
    same = [p for p in points if abs(p.target_sparsity - point.target_sparsity) < 1e-9
            and p.structured == point.structured and p.model != point.model]
    return [point] + same[:MAX_PEERS - 1]


def dense_accuracy(ws, dense: str | None, points) -> float | None:
    """The parent's test accuracy as the pruning runs measured it, else its record's."""
    values = [p.parent_accuracy for p in points if p.parent_accuracy == p.parent_accuracy]
    if values:
        return float(sorted(values)[len(values) // 2])
    try:
        return float((ws.catalog.model(dense).info or {})["test_accuracy"])
    except Exception:  # noqa: BLE001 - no record or no accuracy: no reference line
        return None


DEFAULT_METHODS = ("magnitude", "random", "snip")
SCHEDULE_TIPS = {
    "oneshot": "prune once, no training",
    "finetune": "prune once, then fine-tune with the mask held fixed",
    "gradual": "prune step by step while training (Zhu & Gupta's cubic schedule)",
    "imp": "iterative magnitude pruning with rewinding (lottery tickets)",
}


def parse_sparsities(text: str) -> tuple[float, ...]:
    """``"0.5, 0.9"`` or ``"50% 90%"`` as fractions; a word that is no number raises
    ValueError naming it. Range checks are the core's (``check_sweep``)."""
    out = []
    for word in (w for w in re.split(r"[,;\s]+", text.strip()) if w):
        scale = 100.0 if word.endswith("%") else 1.0
        try:
            out.append(float(word.rstrip("%")) / scale)
        except ValueError:
            raise ValueError(f"{word!r} is not a number: give fractions such as 0.5, 0.9 "
                             "(or percentages, 90%).") from None
    return tuple(out)


def method_names() -> tuple[list[tuple[str, str]], str | None]:
    """``(short name, title)`` of every ``pruning_methods`` contribution (built-in or a
    plugin's), in manifest order, the table's titles when the manifest gives none; and
    why plugin methods could not be listed (None when they could). When the plugin
    manager fails, the built-in methods are offered and the failure is logged."""
    try:
        from plugins.manager import get_manager

        found = [(c.name, c.title or getattr(BY_ID.get(c.name), "title", c.name))
                 for c in get_manager().contributions("pruning_methods")]
    except Exception as exc:  # noqa: BLE001 - a broken plugin must not cost the view
        log.warning("pruning methods of plugins not listed: the plugin manager failed",
                    exc_info=True)
        return [(m.id, m.title) for m in BY_ID.values()], f"{type(exc).__name__}: {exc}"
    return found or [(m.id, m.title) for m in BY_ID.values()], None
