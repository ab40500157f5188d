"""Qt-free loading of attribution and sanity runs for the view (read once, small).

The view shows at most ``MAX_SAMPLES`` samples of a run; the arrays of those are read
into memory here (a run of 8x8 digits is kilobytes; large images are capped).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

MAX_SAMPLES = 1024
MAX_BYTES = 256 << 20  # at most this much of a run's maps is held for the view
SYNC_LOAD_BYTES = 8 << 20  # smaller runs load at once; larger ones in a job
PER_SAMPLE = ("sample_index", "label", "prediction", "confidence", "target", "top_classes",
              "top_probs", "delta", "relative_delta", "converged", "n_steps_used",
              "n_nonfinite", "deletion_auc", "insertion_auc", "deletion_curve",
              "insertion_curve", "infidelity", "sensitivity")


@dataclass
class AttributionData:
    run_id: str
    method: str
    model: str
    dataset: str
    split: str
    signed: bool
    params: dict
    metrics: dict
    attributions: np.ndarray
    arrays: dict[str, np.ndarray] = field(default_factory=dict)

    @property
    def sample_index(self) -> np.ndarray:
        return self.arrays["sample_index"]

    def row_of(self, sample_id: int) -> int | None:
        hits = np.flatnonzero(self.sample_index == sample_id)
        return int(hits[0]) if len(hits) else None

    @property
    def title(self) -> str:
        layer = self.params.get("layer")
        return f"{self.method} · {self.model}" + (f" · {layer}" if layer else "")


def shown_rows(ws, run_id: str, limit: int = MAX_SAMPLES) -> tuple[int, int]:
    """``(rows, bytes)`` of a run's maps the view would hold (metadata only, no data)."""
    with ws.run(run_id).arrays() as a:
        ds = a["attributions"]
        per_sample = int(np.prod(ds.shape[1:])) * ds.dtype.itemsize
        rows = min(limit, ds.shape[0], max(1, MAX_BYTES // max(per_sample, 1)))
        return rows, rows * per_sample


def load_attribution(ws, run_id: str, limit: int = MAX_SAMPLES) -> AttributionData:
    run = ws.run(run_id)
    n, _ = shown_rows(ws, run_id, limit)
    with run.arrays() as a:
        arrays = {k: a[k][:n] for k in PER_SAMPLE if k in a}
        attributions = a["attributions"][:n]
    p = run.params
    return AttributionData(run.id, p.get("method", "?"), p.get("model", "?"),
                           p.get("dataset", "?"), p.get("split", "test"),
                           bool(p.get("signed", True)), p, run.metrics, attributions, arrays)


@dataclass(frozen=True)
class LoadRequest:
    workspace: str
    run_id: str


def load_for_view(request: LoadRequest, ctx):
    """Job: an attribution run, its dataset split and its method's latest sanity check
    (``(data, samples, sanity or None)``), for what is not to be read on the GUI thread."""
    from visualizer.samples import split_samples
    from visualizer.workspace.workspace import Workspace

    ws = Workspace(request.workspace)
    ctx.status("reading the attribution run")
    data = load_attribution(ws, request.run_id)
    ctx.check_cancelled()
    samples = split_samples(ws, data.dataset, data.split)
    sanity_run = latest_sanity(ws, data.model, data.method)
    return data, samples, load_sanity(ws, sanity_run.id) if sanity_run else None


@dataclass(frozen=True)
class ColumnsRequest:
    workspace: str
    run_ids: tuple[str, ...]


def load_columns(request: ColumnsRequest, ctx) -> dict[str, AttributionData | str]:
    """Job: runs for the comparison grid; a run that cannot be read maps to the reason."""
    from visualizer.workspace.workspace import Workspace

    ws = Workspace(request.workspace)
    out: dict[str, AttributionData | str] = {}
    for k, run_id in enumerate(request.run_ids):
        ctx.check_cancelled()
        try:
            out[run_id] = load_attribution(ws, run_id)
        except Exception as exc:  # noqa: BLE001 - a damaged run costs its column only
            out[run_id] = str(exc)
        ctx.progress(k + 1, len(request.run_ids))
    return out


@dataclass
class SanityData:
    run_id: str
    method: str
    layers: list[str]
    spearman_abs: np.ndarray
    spearman: np.ndarray
    passed: bool
    verdict: str  # one sentence (visualizer.analysis.attribution.sanity.verdict_text)
    verdict_layers: int  # how many layers were random when the verdict was read
    control: bool = False  # a control method (random): no verdict to pass or fail


def load_sanity(ws, run_id: str) -> SanityData:
    from visualizer.analysis.attribution.sanity import is_control, verdict_text

    run = ws.run(run_id)
    with run.arrays() as a:
        layers = [b.decode() for b in a["layers"][()]]
        rho_abs, rho = a["spearman_abs"][()], a["spearman"][()]
    method = run.params.get("method", "?")
    return SanityData(run.id, method, layers, rho_abs, rho, bool(run.metrics.get("passed")),
                      verdict_text(method, run.metrics, run.params.get("properties")),
                      int(run.metrics.get("verdict_layers", len(layers))),
                      is_control(method, run.params.get("properties")))


def latest_sanity(ws, model: str, method: str):
    runs = [r for r in ws.runs(kind="sanity", status="complete")
            if r.params.get("model") == model and r.params.get("method") == method]
    return runs[-1] if runs else None
