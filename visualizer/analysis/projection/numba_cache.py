"""Keep UMAP's numba-compiled code on disk, so a fresh worker process skips compilation.

umap-learn compiles its layout and graph code with numba on first use (20-60 s on a
small CPU) and, unlike pynndescent, does not ask numba to cache it, so every new
process paid that again. Before umap is imported, ``enable()`` points
``NUMBA_CACHE_DIR`` at a DeepScope folder and makes ``numba.njit``/``numba.jit`` default
to ``cache=True``; later processes load the machine code in well under a second.
``warm_up`` (a job, run in a background process after the window shows) fills the cache
once per umap/numba version.
"""

from __future__ import annotations

import json
import os
import sys
import threading
import warnings
from dataclasses import dataclass
from pathlib import Path

ENV = "DEEPSCOPE_NUMBA_CACHE"
_lock = threading.Lock()
_enabled = False


def cache_dir() -> Path:
    env = os.environ.get(ENV)
    if env:
        return Path(env).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "deepscope" / "numba"


def enable() -> Path:
    """Send numba's cache to ``cache_dir()`` and default jit caching on (idempotent)."""
    global _enabled
    with _lock:
        folder = cache_dir()
        if _enabled:
            return folder
        folder.mkdir(parents=True, exist_ok=True)
        os.environ.setdefault("NUMBA_CACHE_DIR", str(folder))
        import numba
        from numba.core import config

        if not getattr(config, "CACHE_DIR", ""):
            config.CACHE_DIR = os.environ["NUMBA_CACHE_DIR"]
        if "umap" not in sys.modules:  # decorators already applied cannot change
            numba.njit = _caching(numba.njit)
            numba.jit = _caching(numba.jit)
        # Functions numba cannot cache (dynamic globals) just compile, as before.
        warnings.filterwarnings("ignore", message=".*cannot cache.*")
        warnings.filterwarnings("ignore", category=numba.NumbaWarning)
        _enabled = True
        return folder


def _caching(decorator):
    if getattr(decorator, "_deepscope_caching", False):
        return decorator

    def wrapped(*args, **kwargs):
        if len(args) == 1 and callable(args[0]) and not kwargs:
            return decorator(cache=True)(args[0])
        kwargs.setdefault("cache", True)
        return decorator(*args, **kwargs)

    wrapped._deepscope_caching = True
    wrapped.__wrapped__ = decorator
    return wrapped


def import_umap():
    """``import umap`` with the disk cache on."""
    enable()
    import umap

    return umap


def _marker() -> Path:
    return cache_dir() / "deepscope-warm.json"


def _versions() -> dict[str, str]:
    from importlib import metadata

    out = {"python": sys.version.split()[0]}
    for name in ("umap-learn", "numba", "pynndescent", "numpy"):
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = "?"
    return out


def is_warm() -> bool:
    try:
        return json.loads(_marker().read_text()) == _versions()
    except (OSError, ValueError):
        return False


@dataclass(frozen=True)
class WarmUpRequest:
    force: bool = False


def warm_up(request: WarmUpRequest, ctx) -> dict:
    """Job: compile UMAP's code paths once (exact and approximate neighbours) into the cache.

    Cheap when already warm. Run it in a worker process: it holds the GIL for seconds.
    """
    if is_warm() and not request.force:
        return {"skipped": True, "cache": str(cache_dir())}
    import numpy as np

    ctx.status("preparing UMAP (first time only)")
    umap = import_umap()
    rng = np.random.default_rng(0)
    # Under 4,096 points umap uses exact neighbours, above it NN-descent: warm both.
    for n in (300, 4200):
        ctx.check_cancelled()
        x = rng.normal(size=(n, 8)).astype(np.float32)
        umap.UMAP(n_epochs=3, random_state=0, init="random").fit_transform(x)
        ctx.progress(1 if n == 300 else 2, 2)
    # Spectral initialisation is the default; warm it on a small graph too.
    umap.UMAP(n_epochs=2, random_state=0).fit_transform(
        rng.normal(size=(200, 8)).astype(np.float32))
    _marker().write_text(json.dumps(_versions()))
    return {"skipped": False, "cache": str(cache_dir())}
