"""``projection`` runs: ``coords`` (N, 2) float32 and ``sample_index`` (N,), plus the
parameters they were made from, so that the same request finds the stored run again.
"""

from __future__ import annotations

import json
from typing import Any

import numpy as np

from visualizer.errors import DeepScopeError, NotFoundError
from visualizer.workspace.runfile import RunFileWriter

KIND = "projection"


def check_source(ws, run_id: str, layer: str):
    """The activation run ``run_id``, checked: complete, and it has ``layer``."""
    run = ws.run(run_id)
    if run.kind != "activations":
        raise DeepScopeError(f"run {run_id} is a {run.kind} run, not an activation run.",
                             fix="project an activation run (see `info`).")
    if run.status != "complete":
        raise DeepScopeError(f"activation run {run_id} is {run.status}.",
                             fix="pick a complete activation run, or extract again.")
    layers = list(run.params.get("layers", []))
    if layer not in layers:
        raise NotFoundError(f"run {run_id} has no layer {layer!r}.",
                            fix=f"choose one of: {', '.join(layers)}.")
    return run


def canonical(value: Any) -> Any:
    """Parameters as they come back from the catalog's JSON (for comparisons)."""
    return json.loads(json.dumps(value, sort_keys=True))


def find_stored(ws, source_run: str, layer: str, method_id: str, params: dict[str, Any]):
    """The newest complete projection made from exactly these inputs, or None."""
    wanted = canonical(params)
    for run in reversed(projections_of(ws, source_run=source_run, layer=layer)):
        if (run.params.get("method_id") == method_id
                and canonical(run.params.get("options")) == wanted):
            return run
    return None


def projections_of(ws, dataset: str | None = None, split: str | None = None,
                   source_run: str | None = None, layer: str | None = None,
                   newest: int | None = None) -> list:
    """Complete projection runs (oldest first), optionally only those of one dataset
    split, source run or layer, or the ``newest`` N (filtered by the catalog, not by
    reading every run)."""
    wanted = {"dataset": dataset, "split": split, "source_run": source_run, "layer": layer}
    return ws.runs(kind=KIND, status="complete", newest=newest,
                   params={k: v for k, v in wanted.items() if v is not None})


def store_projection(ws, source, layer: str, method_name: str, method_id: str,
                     options: dict[str, Any], coords: np.ndarray, sample_index: np.ndarray,
                     metrics: dict[str, Any], extra_params: dict[str, Any] | None = None) -> str:
    from visualizer.workspace.provenance import base_provenance, sha256_array

    params = {
        "model": source.params.get("model"), "dataset": source.params.get("dataset"),
        "split": source.params.get("split", "test"), "method": method_name,
        "method_id": method_id, "layer": layer, "source_run": source.id,
        "seed": options.get("seed"), "options": canonical(options),
        "n_samples": int(len(coords)), **(extra_params or {}),
    }
    provenance = base_provenance(seed=options.get("seed"),
                                 coords_sha256=sha256_array(coords))
    with ws.new_run(KIND, model=source.record.model, dataset=source.record.dataset,
                    params=params, provenance=provenance) as new_run, \
            RunFileWriter(new_run.path, KIND, {"run_id": new_run.id}) as writer:
        writer.put("coords", np.ascontiguousarray(coords, dtype=np.float32))
        writer.put("sample_index", np.asarray(sample_index, dtype=np.int64))
        new_run.metrics = metrics
        writer.publish()
    return new_run.id


def load_coords(run) -> tuple[np.ndarray, np.ndarray]:
    """``(coords, sample_index)`` of a projection run, read whole (N x 2 is small)."""
    if run.kind != KIND:
        raise DeepScopeError(f"run {run.id} is a {run.kind} run, not a projection.",
                             fix="pick a projection run.")
    with run.arrays() as arrays:
        return (np.ascontiguousarray(arrays["coords"][()], dtype=np.float32),
                np.asarray(arrays["sample_index"][()], dtype=np.int64))
