"""Per-sample values a view can colour a projection by, found generically in the workspace.

Any complete run over the same dataset split that stores a one-dimensional float array
with one value per entry of its ``sample_index`` counts: an attribution run's per-sample
deletion AUC, another model's confidence, an OOD score. Values are mapped onto the
projection's samples by sample id; samples a run does not cover get NaN.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

SKIP_GROUPS = ("activations/", "stats/")
SKIP_NAMES = {"sample_index", "coords"}


@dataclass(frozen=True)
class ColourSource:
    run_id: str
    name: str  # dataset path inside the run file
    title: str

    @property
    def key(self) -> str:
        return f"{self.run_id}:{self.name}"


def per_sample_sources(ws, dataset: str, split: str, exclude: tuple[str, ...] = ()
                       ) -> list[ColourSource]:
    """Per-sample float arrays in complete runs over ``dataset``/``split``."""
    import h5py

    found: list[ColourSource] = []
    for run in ws.runs(status="complete"):
        p = run.params
        if (run.id in exclude or run.kind == "projection" or p.get("dataset") != dataset
                or p.get("split", "test") != split or run.path is None):
            continue
        try:
            with h5py.File(run.path, "r", locking=False) as f:
                if "sample_index" not in f:
                    continue
                n = f["sample_index"].shape[0]
                names: list[str] = []

                def visit(name, obj, n=n, names=names):
                    if (isinstance(obj, h5py.Dataset) and obj.ndim == 1 and obj.shape[0] == n
                            and obj.dtype.kind == "f" and name not in SKIP_NAMES
                            and not name.startswith(SKIP_GROUPS)):
                        names.append(name)

                f.visititems(visit)
        except OSError:
            continue  # a damaged file offers nothing to colour by
        who = p.get("model") or run.record.model or ""
        for name in names:
            short = name.rsplit("/", 1)[-1].replace("_", " ")
            found.append(ColourSource(run.id, name, f"{short} — {run.kind} {run.id} {who}"))
    return found


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
