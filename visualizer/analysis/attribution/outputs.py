"""The per-sample arrays of an attribution run, written as the batches come, and the
run's summary metrics."""

from __future__ import annotations

from typing import Any

import numpy as np


class Outputs:
    """Per-sample datasets, filled batch by batch.

    Batches are kept in memory and written in slabs of up to ``FLUSH_BYTES``: one HDF5
    write per dataset instead of one per batch (each costs ~0.2 ms, as much as a whole
    Saliency batch of small images), while a large run still streams to disk.
    """

    FLUSH_BYTES = 64 << 20

    def __init__(self, writer, n: int):
        self.w, self.n = writer, n
        self.ds: dict[str, Any] = {}
        self.values: dict[str, list] = {}
        self.pending: dict[str, list[tuple[int, np.ndarray]]] = {}
        self.pending_bytes = 0

    def write(self, start: int, result: dict[str, Any]) -> None:
        for name, value in result.items():
            if name in ("raw", "input_attr"):
                continue
            arr = np.asarray(value)
            if arr.dtype == np.float64:
                arr = arr.astype(np.float32)
            if arr.dtype == bool:
                arr = arr.astype(np.uint8)
            self.pending.setdefault(name, []).append((start, arr))
            self.pending_bytes += arr.nbytes
            if arr.ndim == 1:
                self.values.setdefault(name, []).append(arr)
        if self.pending_bytes >= self.FLUSH_BYTES:
            self.flush()

    def flush(self) -> None:
        """Write what is pending (batches of one dataset are consecutive samples)."""
        for name, parts in self.pending.items():
            slab = parts[0][1] if len(parts) == 1 else np.concatenate([a for _, a in parts])
            start = parts[0][0]
            if name not in self.ds and start == 0 and len(slab) == self.n:
                self.ds[name] = self.w.put(name, slab)  # the whole dataset in one call
                continue
            if name not in self.ds:
                self.ds[name] = self.w.create(name, self.n, slab.shape[1:], slab.dtype)
            self.ds[name][start:start + len(slab)] = slab
        self.pending.clear()
        self.pending_bytes = 0

    def column(self, name: str) -> np.ndarray | None:
        parts = self.values.get(name)
        return np.concatenate(parts) if parts else None

    def summary(self, spec, seconds: float, accuracy: float) -> dict[str, Any]:
        from visualizer.analysis.attribution.metrics import finite_mean

        m: dict[str, Any] = {"n_samples": self.n, "seconds": round(seconds, 3),
                             "samples_per_second": round(self.n / max(seconds, 1e-9), 1),
                             "accuracy": accuracy,
                             "n_nonfinite": int(self.column("n_nonfinite").sum())}
        for name in ("deletion_auc", "insertion_auc", "infidelity", "sensitivity"):
            col = self.column(name)
            if col is not None:
                m[name] = finite_mean(col)
        delta = self.column("delta")
        if delta is not None:
            m["mean_delta"] = finite_mean(np.abs(delta))
            m["completeness_gap"] = finite_mean(self.column("relative_delta"))
            conv = self.column("converged")
            if conv is not None:
                m["not_converged"] = int(len(conv) - conv.astype(bool).sum())
                m["max_n_steps"] = int(self.column("n_steps_used").max())
        return m
