"""What the Embedding view shows, loaded off the GUI thread (Qt-free).

``SourceContext`` holds the per-sample facts of an activation run (labels, predictions,
confidence, thumbnails' source images, the per-sample values other runs offer);
``Layout`` is one set of 2-D coordinates (a stored projection, a preview, an
intermediate UMAP epoch) with the context it belongs to.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np


@dataclass
class SourceContext:
    run_id: str
    model: str
    dataset: str
    split: str
    layers: list[str]
    ids: np.ndarray  # sample ids of the activation run
    label: np.ndarray | None
    prediction: np.ndarray | None
    confidence: np.ndarray | None
    class_names: tuple[str, ...]
    images: np.ndarray | None  # the split's inputs, indexed by sample id
    value_range: tuple[float, float]
    sources: list = field(default_factory=list)  # ColourSource

    def values_at(self, name: str, ids: np.ndarray) -> np.ndarray | None:
        from visualizer.analysis.projection.colour_sources import align_values

        values = getattr(self, name)
        if values is None:
            return None
        return align_values(self.ids, values.astype(np.float64), ids)


@dataclass
class Layout:
    coords: np.ndarray  # (N, 2) float32
    ids: np.ndarray  # (N,) int64
    context: SourceContext
    run_id: str | None = None  # None: not stored (preview, intermediate)
    method: str = ""
    layer: str = ""
    stage: str = "final"  # "preview" | "layout" | "final"
    done: int = 0
    total: int = 0
    metrics: dict[str, Any] = field(default_factory=dict)

    @property
    def title(self) -> str:
        c = self.context
        what = f"{self.method.upper() if self.method in ('pca', 'umap') else self.method}"
        if self.stage == "preview":
            what = "PCA preview"
        elif self.stage == "layout":
            what = f"{what} epoch {self.done}/{self.total}"
        return f"{c.model} · {self.layer} · {what}"


@dataclass(frozen=True)
class ContextRequest:
    workspace: str
    run_id: str  # an activation run


@dataclass(frozen=True)
class LayoutRequest:
    workspace: str
    run_id: str  # a projection run


MAX_COLOUR_SOURCES = 200


def load_context(request: ContextRequest, ctx) -> SourceContext:
    """Job: labels, predictions, confidence, images and colour sources of a run."""
    from visualizer.analysis.projection.colour_sources import per_sample_sources
    from visualizer.samples import split_samples
    from visualizer.workspace.workspace import Workspace

    ws = Workspace(request.workspace)
    run = ws.run(request.run_id)
    p = run.params
    with run.arrays() as arrays:
        ids = np.asarray(arrays["sample_index"][()], dtype=np.int64)

        def get(name, dtype):
            return np.asarray(arrays[name][()], dtype=dtype) if name in arrays else None

        label, prediction = get("label", np.int64), get("prediction", np.int64)
        confidence = get("confidence", np.float32)
    ctx.check_cancelled()
    images, class_names, value_range = None, (), (0.0, 1.0)
    try:
        samples = split_samples(ws, p["dataset"], p.get("split", "test"))
        images, class_names = samples.x, samples.class_names
        value_range = samples.input_range
        if label is None:
            label = np.asarray(samples.y, dtype=np.int64)[ids]
    except Exception:  # noqa: BLE001 - thumbnails are optional; the layout still shows
        pass
    ctx.check_cancelled()
    # the newest sources: a sweep can publish thousands, more than a menu can hold
    sources = per_sample_sources(ws, p["dataset"], p.get("split", "test"), exclude=(run.id,),
                                 limit=MAX_COLOUR_SOURCES, check_cancelled=ctx.check_cancelled)
    return SourceContext(run.id, p.get("model", ""), p["dataset"], p.get("split", "test"),
                         list(p.get("layers", [])), ids, label, prediction, confidence,
                         tuple(class_names), images, value_range, sources)


def load_layout(request: LayoutRequest, ctx) -> Layout:
    """Job: a stored projection with the context of its source run."""
    from visualizer.analysis.projection.storage import load_coords
    from visualizer.workspace.workspace import Workspace

    ws = Workspace(request.workspace)
    run = ws.run(request.run_id)
    coords, ids = load_coords(run)
    context = load_context(ContextRequest(request.workspace, run.params["source_run"]), ctx)
    return Layout(coords, ids, context, run.id, run.params.get("method", ""),
                  run.params.get("layer", ""), metrics=dict(run.metrics))


def projection_label(run) -> str:
    p, m = run.params, run.metrics
    trust = m.get("trustworthiness_k10")
    extra = f" · T={trust:.2f}" if trust is not None else ""
    return f"{p.get('method', '?')} · {p.get('model', '?')} · {p.get('layer', '?')}" \
           f" · {run.id}{extra}"
