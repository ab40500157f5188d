"""Datasets inside a workspace: built-in sources, validated imports stored as HDF5."""

from __future__ import annotations

import json
import logging
import time
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from visualizer.errors import DeepScopeError, InvalidDatasetError, NotFoundError
from visualizer.workspace.catalog import DatasetRecord
from visualizer.workspace.provenance import sha256_array
from visualizer.workspace.runfile import RunFileWriter

log = logging.getLogger("deepscope.workspace")

if TYPE_CHECKING:
    from visualizer.data.arrays import DataArrays
    from visualizer.workspace.workspace import Workspace


def _info(data: DataArrays) -> dict:
    # feature_names is None for images and unnamed vectors; records written before it
    # existed lack the key, so readers use info.get("feature_names").
    feature_names = data.feature_names
    return {
        "kind": data.kind, "sample_shape": list(data.x.shape[1:]),
        "n_samples": int(len(data.x)), "class_names": list(data.class_names),
        "feature_names": list(feature_names) if feature_names is not None else None,
        "splits": {k: int(len(v)) for k, v in data.splits.items()},
        "input_range": [float(data.input_range[0]), float(data.input_range[1])],
    }


def add_builtin(ws: Workspace, name: str, source: str) -> DatasetRecord:
    from plugins.manager import get_manager

    manager = get_manager()
    contribution = manager.get("dataset_sources", source)
    if not contribution.meta.get("builtin"):
        raise DeepScopeError(f"{contribution.id} reads files; it is not a built-in dataset.",
                             fix="use import-data with a path.")
    data = manager.call(contribution, hook=f"{contribution.id} read")
    rec = DatasetRecord(name=name, source=contribution.id, path=None,
                        sha256=sha256_array(data.x, data.y), info=_info(data),
                        created_at=time.time())
    ws.catalog.put_dataset(rec)
    return rec


def source_for(path: Path):
    """The dataset-source contribution that reads ``path`` (by suffix, or folder)."""
    from plugins.manager import get_manager

    manager = get_manager()
    for c in manager.contributions("dataset_sources"):
        if path.is_dir() and c.meta.get("folder"):
            return c
        if path.is_file() and path.suffix.lower() in c.meta.get("suffixes", []):
            return c
    from visualizer.data.readers import detect_source

    try:  # no suffix matched: let the built-in readers sniff the content (zip, HDF5)
        return manager.get("dataset_sources", f"deepscope.{detect_source(path)}")
    except InvalidDatasetError:
        pass
    known = sorted({s for c in manager.contributions("dataset_sources")
                    for s in c.meta.get("suffixes", [])})
    raise InvalidDatasetError(
        "DeepScope has no reader for this kind of file.", path=path,
        fix=f"use an image folder (one subfolder per class) or one of {', '.join(known)}.")


def import_path(ws: Workspace, path: Path, name: str) -> DatasetRecord:
    from plugins.manager import get_manager

    if not path.exists():
        raise NotFoundError("dataset path not found.", path=path, fix="check the path.")
    if any(d.name == name for d in ws.datasets()):
        raise DeepScopeError(f"a dataset named {name!r} is already in this workspace.",
                             fix="choose another --name.")
    contribution = source_for(path)
    if contribution.meta.get("isolate") and contribution.plugin == "deepscope":
        # HDF5 parsing is native code: a malformed file must not take the app down.
        from visualizer.data.readers import read_dataset_isolated

        data = read_dataset_isolated(path)
    else:
        data = get_manager().call(contribution, path, hook=f"{contribution.id} read")
    for warning in data.warnings:
        log.warning("%s: %s", path, warning)
    if data.feature_names is not None:
        from visualizer.data.arrays import check_feature_names

        # a plugin's reader may build DataArrays by hand: names must still fit the data
        data.feature_names = check_feature_names(data.feature_names, data.x.shape[1:], path)
    dest = ws.root / "datasets" / f"{name}.h5"
    with RunFileWriter(dest, kind="dataset", attrs={"source": contribution.id}) as writer:
        writer.put("x", data.x.astype(np.float32, copy=False))
        writer.put("y", data.y.astype(np.int64, copy=False))
        for split, idx in data.splits.items():
            writer.put(f"split/{split}", np.asarray(idx, dtype=np.int64))
        writer.file.attrs["class_names"] = json.dumps(list(data.class_names))
        if data.feature_names is not None:
            writer.file.attrs["feature_names"] = json.dumps(list(data.feature_names))
        writer.file.attrs["kind"] = data.kind
        writer.file.attrs["input_range"] = np.asarray(data.input_range, dtype=np.float64)
        writer.publish()
    rec = DatasetRecord(name=name, source=contribution.id, path=f"datasets/{dest.name}",
                        sha256=sha256_array(data.x, data.y),
                        info={**_info(data), "source_path": str(path.resolve()),
                              "warnings": list(data.warnings)},
                        created_at=time.time())
    ws.catalog.put_dataset(rec)
    return rec


def load(ws: Workspace, rec: DatasetRecord) -> DataArrays:
    from plugins.manager import get_manager
    from visualizer.data.arrays import DataArrays

    if rec.path is None:
        manager = get_manager()
        contribution = manager.get("dataset_sources", rec.source)
        return manager.call(contribution, hook=f"{contribution.id} read")
    import h5py

    path = ws.root / rec.path
    try:
        with h5py.File(path, "r", locking=False) as f:
            splits = {k: f[f"split/{k}"][()] for k in f["split"]} if "split" in f else {}
            return DataArrays(
                x=f["x"][()], y=f["y"][()], splits=splits,
                class_names=json.loads(f.attrs["class_names"]), kind=str(f.attrs["kind"]),
                input_range=tuple(float(v) for v in f.attrs["input_range"]),
                source=rec.source, path=str(path),
                # absent in files imported before feature names were kept
                feature_names=(json.loads(f.attrs["feature_names"])
                               if "feature_names" in f.attrs else None),
            )
    except OSError as exc:
        raise InvalidDatasetError(f"the stored dataset {rec.name!r} cannot be read ({exc}).",
                                  path=path, fix="re-import it with import-data.") from exc
