"""Provenance recorded with every run: versions, host, device, seed, input hashes."""

from __future__ import annotations

import functools
import hashlib
import platform
import socket
import sys
from importlib import metadata
from typing import Any

import numpy as np

_PACKAGES = ("deepscope", "torch", "numpy", "h5py", "captum", "scikit-learn", "umap-learn")


@functools.cache
def _static_facts() -> tuple[tuple[tuple[str, str], ...], str, str]:
    # Reading package metadata costs ~18 ms (it parses every METADATA file), more
    # than a whole small attribution job: these facts are fixed for a process's life.
    return tuple(_read_package_versions().items()), socket.gethostname(), platform.platform()


def package_versions() -> dict[str, str]:
    return dict(_static_facts()[0])


def _read_package_versions() -> dict[str, str]:
    versions = {"python": sys.version.split()[0]}
    for name in _PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return versions


def base_provenance(**extra: Any) -> dict[str, Any]:
    return {
        "versions": package_versions(),
        "host": _static_facts()[1],
        "platform": _static_facts()[2],
        **{k: v for k, v in extra.items() if v is not None},
    }


def sha256_array(*arrays: np.ndarray) -> str:
    digest = hashlib.sha256()
    for array in arrays:
        array = np.ascontiguousarray(array)
        digest.update(str((array.dtype.str, array.shape)).encode())
        digest.update(memoryview(array).cast("B"))
    return digest.hexdigest()
