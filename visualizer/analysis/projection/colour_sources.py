"""Per-sample values a view can colour a projection by, found generically in the workspace.

Any complete run over the same dataset split that stores a one-dimensional float array
with one value per entry of its ``sample_index`` counts: an attribution run's per-sample
deletion AUC, another model's confidence, an OOD score. Values are mapped onto the
projection's samples by sample id; samples a run does not cover get NaN.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class ColourSource:
    run_id: str
    name: str  # dataset path inside the run file
    title: str

    @property
    def key(self) -> str:
        return f"{self.run_id}:{self.name}"


def per_sample_sources(ws, dataset: str, split: str, exclude: tuple[str, ...] = (),
                       text: str = "", limit: int | None = None,
                       check_cancelled=None) -> list[ColourSource]:
    """Per-sample float arrays in complete runs over ``dataset``/``split``, newest first.

    Read from the catalog's column index (one query, whatever the number of runs);
    runs completed before the index existed are scanned once and indexed. ``text``
    filters, ``limit`` caps the list (see ``count_sources`` for the total).
    """
    from visualizer.workspace.runs import index_columns

    for rec in ws.catalog.runs_without_columns(dataset):  # once, for pre-index runs
        if check_cancelled is not None:
            check_cancelled()
        index_columns(ws, rec)
    rows, _ = ws.catalog.run_columns(dataset, split, text,
                                     None if limit is None else limit + len(exclude))
    found = [ColourSource(run_id, name, _title(name, kind, run_id, model))
             for run_id, name, kind, model in rows if run_id not in exclude]
    return found if limit is None else found[:limit]


def count_sources(ws, dataset: str, split: str, text: str = "") -> int:
    """How many sources ``per_sample_sources`` lists without ``exclude`` and ``limit``."""
    return ws.catalog.run_columns(dataset, split, text, limit=0)[1]


def _title(name: str, kind: str, run_id: str, model: str | None) -> str:
    short = name.rsplit("/", 1)[-1].replace("_", " ")
    return f"{short} — {kind} {run_id} {model or ''}".rstrip()


def load_source(ws, source: ColourSource, sample_ids: np.ndarray) -> np.ndarray:
    """The source's values at ``sample_ids`` (float64, NaN where the run has none)."""
    import h5py

    run = ws.run(source.run_id)
    with h5py.File(run.path, "r", locking=False) as f:
        values = np.asarray(f[source.name][()], dtype=np.float64)
        ids = np.asarray(f["sample_index"][()], dtype=np.int64)
    return align_values(ids, values, sample_ids)


def align_values(ids: np.ndarray, values: np.ndarray, wanted: np.ndarray) -> np.ndarray:
    out = np.full(len(wanted), np.nan)
    order = np.argsort(ids, kind="stable")
    pos = np.searchsorted(ids[order], wanted)
    pos = np.clip(pos, 0, max(len(ids) - 1, 0))
    if len(ids):
        hit = ids[order][pos] == wanted
        out[hit] = values[order][pos[hit]]
    return out
