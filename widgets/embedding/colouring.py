"""The colouring of a layout for a colour mode (Qt-free): label, prediction, correct /
incorrect, confidence, source model, or any per-sample value another run stores."""

from __future__ import annotations

import numpy as np

from widgets.embedding import colors
from widgets.embedding.state import COLOUR_TITLES


def colouring_for(layout, mode: str, workspace=None, model_index: int = 0) -> colors.Colouring:
    ctx, ids = layout.context, layout.ids
    n = len(ids)
    names = list(ctx.class_names) or None
    if mode in ("label", "prediction"):
        values = ctx.values_at(mode, ids)
        if values is None:
            return colors.single(COLOUR_TITLES[mode], n, f"no {mode}s stored")
        missing = ~np.isfinite(values)
        out = colors.categorical(COLOUR_TITLES[mode], np.where(missing, 0, values)
                                 .astype(np.int64), names)
        return out
    if mode == "correct":
        label, pred = ctx.values_at("label", ids), ctx.values_at("prediction", ids)
        if label is None or pred is None:
            return colors.single(COLOUR_TITLES[mode], n, "no predictions stored")
        return colors.correctness(label, pred)
    if mode == "confidence":
        values = ctx.values_at("confidence", ids)
        if values is None:
            return colors.single(COLOUR_TITLES[mode], n, "no confidence stored")
        return colors.continuous("confidence", values)
    if mode == "model":
        return colors.single("source model", n, ctx.model or "model", model_index)
    # "<run_id>:<path>": a per-sample value of another run
    from visualizer.analysis.projection.colour_sources import load_source

    source = next((s for s in ctx.sources if s.key == mode), None)
    if source is None or workspace is None:
        return colors.single(mode, n, "not available")
    return colors.continuous(source.title, load_source(workspace, source, ids))
