"""Intermediate UMAP layouts from umap-learn's own epoch loop.

umap-learn has no epoch callback, but its SGD loop (``layouts.optimize_layout_euclidean``)
iterates ``tqdm(range(n_epochs))`` over an embedding it updates in place. Two thin
wrappers, installed once per process, hand that array and the epoch number to the
callback registered by the current thread; without one they pass straight through, so
umap behaves (and performs) exactly as it does unwrapped.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Iterator

import numpy as np

_local = threading.local()
_install_lock = threading.Lock()
_installed = False

Callback = Callable[[np.ndarray, int, int], None]


def _install() -> None:
    global _installed
    with _install_lock:
        if _installed:
            return
        import umap.layouts as layouts
        import umap.umap_ as umap_

        original_optimize = umap_.optimize_layout_euclidean
        original_tqdm = layouts.tqdm

        def optimize(head_embedding, *args, **kwargs):
            previous = getattr(_local, "head", None)
            _local.head = head_embedding
            try:
                return original_optimize(head_embedding, *args, **kwargs)
            finally:
                _local.head = previous

        def tqdm(iterable, *args, **kwargs):
            callback = getattr(_local, "callback", None)
            head = getattr(_local, "head", None)
            if callback is None or head is None:
                return original_tqdm(iterable, *args, **kwargs)
            return _epochs(iterable, head, callback)

        umap_.optimize_layout_euclidean = optimize
        layouts.tqdm = tqdm
        _installed = True


def _epochs(iterable, head: np.ndarray, callback: Callback) -> Iterator[int]:
    total = len(iterable)
    for epoch in iterable:
        callback(head, epoch, total)  # ``epoch`` epochs are done when the next is asked
        yield epoch
    callback(head, total, total)


@contextlib.contextmanager
def epoch_callback(callback: Callback):
    """Call ``callback(embedding, epochs_done, total)`` around each UMAP epoch here."""
    _install()
    previous = getattr(_local, "callback", None)
    _local.callback = callback
    try:
        yield
    finally:
        _local.callback = previous
