"""Samples of a dataset split, loaded once per process and shared by every view.

Views need the inputs behind sample ids (thumbnails, overlays, neighbours). Loading a
dataset can take a moment for imported data, so call ``split_samples`` from a job the
first time; later calls hit the cache.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from pathlib import Path

import numpy as np


@dataclass(frozen=True)
class SplitSamples:
    """Inputs and labels of one split; ``x[i]`` is the sample with ``sample_index == i``."""

    dataset: str
    split: str
    x: np.ndarray
    y: np.ndarray
    class_names: tuple[str, ...]
    kind: str  # "image" or "vector"
    input_range: tuple[float, float]
    # one name per column of x for named tabular data; None for images and unnamed data
    feature_names: tuple[str, ...] | None = None


_cache: dict[tuple[str, str, str], SplitSamples] = {}
_lock = threading.Lock()


def split_samples(workspace, dataset: str, split: str) -> SplitSamples:
    """The ``split`` of ``dataset`` in ``workspace`` (cached per workspace folder)."""
    key = (str(Path(workspace.root)), dataset, split)
    with _lock:
        if key in _cache:
            return _cache[key]
    data = workspace.load_dataset(dataset)
    x, y = data.arrays(split)
    feature_names = data.feature_names
    samples = SplitSamples(dataset, split, np.ascontiguousarray(x), y,
                           tuple(data.class_names), data.kind,
                           (float(data.input_range[0]), float(data.input_range[1])),
                           tuple(feature_names) if feature_names is not None else None)
    with _lock:
        _cache[key] = samples
    return samples


def cached_split_samples(workspace, dataset: str, split: str) -> SplitSamples | None:
    """The split if this process has loaded it already, else None (reads nothing)."""
    with _lock:
        return _cache.get((str(Path(workspace.root)), dataset, split))


def samples_of_run(workspace, run) -> SplitSamples:
    """The split a run was made from (``run.params['dataset']``, ``['split']``)."""
    return split_samples(workspace, run.params["dataset"], run.params.get("split", "test"))


def clear_cache() -> None:
    with _lock:
        _cache.clear()
