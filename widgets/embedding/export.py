"""Export the selected samples to CSV (figures go through ``widgets.common.export``)."""

from __future__ import annotations

import numpy as np


def export_selection_csv(layout, ids, path) -> str:
    """Write ``sample_id,label,prediction,confidence`` rows for ``ids`` (atomically)."""
    import csv
    import io

    from visualizer.workspace.atomic import atomic_write_text

    ids = np.asarray(ids, dtype=np.int64)
    buf = io.StringIO()
    writer = csv.writer(buf)
    writer.writerow(["sample_id", "label", "prediction", "confidence"])
    context = layout.context if layout is not None else None
    cols = [context.values_at(name, ids) if context is not None else None
            for name in ("label", "prediction", "confidence")]
    for i, sid in enumerate(ids):
        row = [int(sid)]
        for values, integer in zip(cols, (True, True, False), strict=True):
            v = None if values is None else values[i]
            row.append("" if v is None or not np.isfinite(v) else
                       (int(v) if integer else f"{v:.6g}"))
        writer.writerow(row)
    atomic_write_text(path, buf.getvalue())
    return str(path)
