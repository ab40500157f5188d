"""HDF5 run files: one file per run, written once, published atomically, read lazily.

Layout: per-sample arrays at the root (``sample_index``, ``label``, ...), activations in
the group ``activations/<layer>``, per-layer statistics in ``stats/<layer>/<stat>``.
Datasets are chunked by whole samples (about 1 MiB a chunk, never ``chunks=True``) and
carry ``fletcher32`` checksums, so a flipped bit is an error instead of a wrong picture.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import numpy as np

from visualizer.errors import WorkspaceError
from visualizer.workspace.atomic import publish, temp_path_for

RUN_FILE_SCHEMA = 1
CHUNK_TARGET_BYTES = 1 << 20
ACTIVATIONS = "activations"
STATS = "stats"


def sample_chunks(n: int, sample_shape: tuple[int, ...], itemsize: int) -> tuple[int, ...]:
    """Chunk shape that holds whole samples, about ``CHUNK_TARGET_BYTES`` per chunk."""
    sample_bytes = max(1, math.prod(sample_shape) * itemsize)
    rows = max(1, min(n, CHUNK_TARGET_BYTES // sample_bytes))
    return (rows, *sample_shape)


# Per-sample columns: 1-D float arrays with one value per ``sample_index`` entry, outside
# the activation and statistics groups (deletion AUC, confidence, an OOD score ...).
_NOT_COLUMNS = {"sample_index", "coords"}


def per_sample_columns(path: str | Path) -> list[str]:
    """Names of the per-sample float columns in a run file ([] for a damaged file)."""
    import h5py

    names: list[str] = []
    try:
        with h5py.File(path, "r", locking=False) as f:
            if "sample_index" not in f:
                return []
            n = f["sample_index"].shape[0]

            def visit(name, obj):
                if (isinstance(obj, h5py.Dataset) and obj.ndim == 1 and obj.shape[0] == n
                        and obj.dtype.kind == "f" and name not in _NOT_COLUMNS
                        and not name.startswith((f"{ACTIVATIONS}/", f"{STATS}/", "curves/"))):
                    names.append(name)

            f.visititems(visit)
    except OSError:
        return []
    return names


class RunFileWriter:
    """Write a run's arrays to a temp file; ``publish()`` moves it to its final name.

    Use as a context manager: leaving the block with an exception (including
    ``JobCancelled`` or Ctrl-C) removes the temp file, so nothing partial ever sits
    under a final name.
    """

    def __init__(self, final_path: str | Path, kind: str, attrs: Mapping[str, Any] | None = None):
        import h5py

        self.final_path = Path(final_path)
        self.temp_path = temp_path_for(self.final_path)
        # "w-" fails if the file exists: never truncate a file we did not just create.
        self.file = h5py.File(self.temp_path, "w-")
        self.file.attrs["deepscope_schema"] = RUN_FILE_SCHEMA
        self.file.attrs["kind"] = kind
        for key, value in (attrs or {}).items():
            self.file.attrs[key] = value
        self._published = False

    def create(
        self,
        name: str,
        n: int,
        sample_shape: tuple[int, ...] = (),
        dtype: Any = np.float32,
        compression: str | None = None,
    ):
        """Create an ``(n, *sample_shape)`` dataset chunked by whole samples."""
        dtype = np.dtype(dtype)
        return self.file.create_dataset(
            name,
            shape=(n, *sample_shape),
            dtype=dtype,
            chunks=sample_chunks(max(n, 1), tuple(sample_shape), dtype.itemsize) if n else None,
            fletcher32=bool(n),
            compression=compression,
        )

    def put(self, name: str, array: np.ndarray, compression: str | None = None):
        """Write a whole array at once (small per-run arrays such as statistics)."""
        array = np.ascontiguousarray(array)
        if not array.ndim:
            self.file[name] = array
            return self.file[name]
        if not array.shape[0]:
            return self.create(name, 0, array.shape[1:], array.dtype, compression)
        # created with its data: half the time of creating, then writing (h5py)
        return self.file.create_dataset(
            name, data=array, compression=compression, fletcher32=True,
            chunks=sample_chunks(array.shape[0], array.shape[1:], array.dtype.itemsize))

    def publish(self) -> Path:
        self.file.flush()
        self.file.close()
        publish(self.temp_path, self.final_path)
        self._published = True
        return self.final_path

    def abort(self) -> None:
        with contextlib.suppress(Exception):
            self.file.close()
        with contextlib.suppress(FileNotFoundError):
            self.temp_path.unlink()

    def __enter__(self) -> RunFileWriter:
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is not None or not self._published:
            self.abort()


class RunArrays(Mapping):
    """Name -> h5py dataset of one run file, opened read-only and read lazily.

    Activation layers appear under their layer names next to the per-sample arrays.
    Close it (or use ``with``) when done; slicing a dataset reads only that slice.
    """

    def __init__(self, path: str | Path):
        import h5py

        self.path = Path(path)
        try:
            # Published run files are never written again, so no HDF5 file locking is
            # needed (it also fails on some network file systems).
            self.file = h5py.File(self.path, "r", locking=False)
        except (OSError, FileNotFoundError) as exc:
            raise WorkspaceError(
                f"the run file cannot be opened ({exc}).",
                path=self.path,
                fix="the run may have been deleted or damaged; re-run it.",
            ) from exc
        self._index: dict[str, str] = {}
        for key, item in self.file.items():
            if key in (ACTIVATIONS, STATS):
                continue
            if hasattr(item, "shape"):
                self._index[key] = key
        if ACTIVATIONS in self.file:
            for layer in self.file[ACTIVATIONS]:
                self._index.setdefault(layer, f"{ACTIVATIONS}/{layer}")

    @property
    def layers(self) -> list[str]:
        if ACTIVATIONS not in self.file:
            return []
        return list(self.file[ACTIVATIONS].attrs.get("order", list(self.file[ACTIVATIONS])))

    def stats(self, layer: str) -> dict[str, np.ndarray]:
        """Per-unit statistics of ``layer`` (mean, std, frac_zero, max) as numpy arrays."""
        group = self.file[f"{STATS}/{layer}"]
        return {name: group[name][()] for name in group}

    @property
    def attrs(self) -> dict[str, Any]:
        return dict(self.file.attrs)

    def __getitem__(self, name: str):
        return self.file[self._index[name]]

    def __iter__(self) -> Iterator[str]:
        return iter(self._index)

    def __len__(self) -> int:
        return len(self._index)

    def close(self) -> None:
        self.file.close()

    def __enter__(self) -> RunArrays:
        return self

    def __exit__(self, *exc) -> None:
        self.close()
