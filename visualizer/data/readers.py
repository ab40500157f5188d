"""Readers for user datasets: ``.npz``, HDF5 and image folders, and the dispatcher.

Array files use one of two layouts (the same names in ``.npz`` and HDF5):

- ``x`` and ``y``: all samples, no split of their own (everything goes to ``"test"``;
  see :mod:`visualizer.data.arrays`);
- ``x_train``, ``y_train``, ``x_test``, ``y_test``: an explicit split, kept as is
  (either pair may be missing or empty).

An optional ``class_names`` array (HDF5: a dataset or a root attribute) names the
classes in label order. Labels may also be strings, which are then the class names.
An optional ``feature_names`` array (stored the same way) names the columns of ``N×D``
feature vectors (tabular data), one per feature; image data cannot have one.

Every failure raises :class:`~visualizer.errors.InvalidDatasetError` naming the file and
the fix. Reading HDF5 runs native code that a corrupt file can crash, so callers in the
GUI use :func:`read_dataset_isolated`, which reads in a child process.
"""

from __future__ import annotations

import zipfile
import zlib
from collections.abc import Callable
from pathlib import Path

import numpy as np

from visualizer.data.arrays import (
    DataArrays,
    check_inputs,
    check_label_shape,
    check_labels,
    make_data_arrays,
    validate_arrays,
)
from visualizer.data.image_folder import read_image_folder
from visualizer.errors import InvalidDatasetError
from visualizer.jobs.isolation import IsolatedCrashError, IsolatedTimeoutError, run_isolated

__all__ = [
    "detect_source",
    "read_dataset",
    "read_dataset_isolated",
    "read_hdf5",
    "read_image_folder",
    "read_npz",
]

NPZ_SUFFIXES = (".npz",)
HDF5_SUFFIXES = (".h5", ".hdf5", ".hdf", ".he5")
_HDF5_SIGNATURE = b"\x89HDF\r\n\x1a\n"
# HDF5 files may start with a user block; the signature then sits at one of these.
_HDF5_OFFSETS = (0, 512, 1024, 2048, 4096)
_ZIP_SIGNATURES = (b"PK\x03\x04", b"PK\x05\x06")
_SPLIT_PARTS = (("train", "x_train", "y_train"), ("test", "x_test", "y_test"))
_NAME_LISTS = ("class_names", "feature_names")
_KNOWN_NAMES = {"x", "y", "x_train", "y_train", "x_test", "y_test", *_NAME_LISTS}
_FORMATS = "an .npz file, an HDF5 file (.h5/.hdf5) or a folder with one subfolder per class"

_NPZ_SAVE_HINT = (
    "Save it with np.savez(path, x=inputs, y=labels), or with x_train, y_train, "
    "x_test, y_test for an explicit split."
)
_HDF5_SAVE_HINT = (
    "Create root datasets 'x' and 'y' (or x_train, y_train, x_test, y_test for an "
    "explicit split), e.g. h5py.File(path, 'w').create_dataset('x', data=inputs)."
)


def detect_source(path: str | Path) -> str:
    """Say which reader handles ``path``: ``"npz"``, ``"hdf5"`` or ``"image_folder"``.

    Folders are image folders. For files the content decides (zip or HDF5 signature),
    so a misnamed file still opens; a file with neither signature falls back to its
    suffix, so that a damaged ``.npz`` or ``.h5`` gets its reader's specific error.

    Raises
    ------
    InvalidDatasetError
        If ``path`` does not exist or is not a format DeepScope reads.
    """
    path = Path(path)
    if not path.exists():
        raise InvalidDatasetError(
            f"Dataset {path} does not exist.", path=path, fix="Check the path and try again."
        )
    if path.is_dir():
        return "image_folder"
    head = _read_head(path)
    if head[:4] in _ZIP_SIGNATURES:
        return "npz"
    if any(head[off : off + 8] == _HDF5_SIGNATURE for off in _HDF5_OFFSETS):
        return "hdf5"
    suffix = path.suffix.lower()
    if suffix in NPZ_SUFFIXES:
        return "npz"
    if suffix in HDF5_SUFFIXES:
        return "hdf5"
    fix = f"Use {_FORMATS}."
    if suffix == ".npy":
        fix = "Store inputs and labels together: np.savez('data.npz', x=inputs, y=labels)."
    raise InvalidDatasetError(
        f"{path} is not a dataset format DeepScope reads (suffix {suffix or 'none'!r}).",
        path=path,
        fix=fix,
    )


def read_dataset(path: str | Path) -> DataArrays:
    """Read any supported dataset, choosing the reader with :func:`detect_source`.

    Runs in the calling process; see :func:`read_dataset_isolated` for untrusted files.
    """
    source = detect_source(path)
    reader = {"npz": read_npz, "hdf5": read_hdf5, "image_folder": read_image_folder}[source]
    return reader(path)


def read_dataset_isolated(path: str | Path, timeout: float = 120.0) -> DataArrays:
    """Read a dataset in a child process, so a crash in native code is only an error.

    Parameters
    ----------
    path
        The dataset file or folder.
    timeout
        Seconds before the child is killed (including its start-up, about a second).

    Raises
    ------
    InvalidDatasetError
        Everything :func:`read_dataset` raises, plus a crash of the child (a segfault
        in HDF5 or an image decoder) or a timeout.
    """
    path = Path(path)
    try:
        return run_isolated(read_dataset, path, timeout=timeout)
    except IsolatedCrashError as exc:
        raise InvalidDatasetError(
            f"The reader crashed while reading {path} ({exc.description}).",
            path=path,
            fix="The file is probably damaged or truncated: export or copy it again.",
        ) from exc
    except IsolatedTimeoutError as exc:
        raise InvalidDatasetError(
            f"Reading {path} did not finish within {timeout:g} s and was stopped.",
            path=path,
            fix="The file may be damaged; if it is just very large, raise the timeout.",
        ) from exc


def read_npz(path: str | Path) -> DataArrays:
    """Read an ``.npz`` archive (layouts in the module docstring).

    Always opened with ``allow_pickle=False``: unpickling a data file can run code, so
    object arrays are refused with an error that says how to save plain arrays.
    """
    path = Path(path)
    _require_file(path)
    try:
        npz = np.load(path, allow_pickle=False)
    except ValueError as exc:
        # np.load falls back to unpickling when the file is neither .npy nor zip.
        raise InvalidDatasetError(
            f"{path} is not an .npz archive (it looks like a pickle, which DeepScope never "
            "loads because unpickling can run code).",
            path=path,
            fix=_NPZ_SAVE_HINT,
        ) from exc
    except (zipfile.BadZipFile, EOFError, OSError, zlib.error) as exc:
        raise InvalidDatasetError(
            f"{path} is not a readable .npz archive ({exc}); it may be truncated or damaged.",
            path=path,
            fix="Copy or save the file again. " + _NPZ_SAVE_HINT,
        ) from exc
    if not isinstance(npz, np.lib.npyio.NpzFile):
        raise InvalidDatasetError(
            f"{path} holds a single .npy array, not an .npz archive of named arrays.",
            path=path,
            fix=_NPZ_SAVE_HINT,
        )
    with npz:
        names = set(npz.files)

        def get(name: str) -> np.ndarray:
            try:
                return npz[name]
            except ValueError as exc:
                if "allow_pickle" not in str(exc):
                    raise _damaged(path, name, exc) from exc
                raise InvalidDatasetError(
                    f"Array {name!r} in {path} is stored as Python objects (pickled); "
                    "DeepScope never unpickles data files because that can run code.",
                    path=path,
                    fix="Save numeric arrays instead, e.g. np.savez(path, "
                    "x=np.asarray(x, dtype=np.float32), y=np.asarray(y, dtype=np.int64)); "
                    "string labels, class_names and feature_names must be str arrays, "
                    "not object arrays.",
                ) from exc
            except (zipfile.BadZipFile, EOFError, OSError, zlib.error) as exc:
                raise _damaged(path, name, exc) from exc

        lists = {key: get(key) for key in _NAME_LISTS if key in names}
        return _assemble(names, get, path, "npz", lists, _NPZ_SAVE_HINT)


def read_hdf5(path: str | Path) -> DataArrays:
    """Read an HDF5 file with root datasets in the layouts of the module docstring.

    ``class_names`` and ``feature_names`` may each be a dataset or an attribute of the
    root group (a dataset wins when both exist). Native HDF5
    code runs here: prefer :func:`read_dataset_isolated` for files from elsewhere.
    """
    import h5py  # heavy; not on the start-up path

    path = Path(path)
    _require_file(path)
    try:
        h5 = h5py.File(path, "r")
    except OSError as exc:
        raise InvalidDatasetError(
            f"{path} is not a readable HDF5 file ({exc}); it may be truncated, damaged or "
            "in another format.",
            path=path,
            fix="Copy or export the file again. " + _HDF5_SAVE_HINT,
        ) from exc
    with h5:
        names = set(h5.keys())

        def get(name: str) -> np.ndarray:
            try:
                node = h5[name]
            except (KeyError, OSError, ValueError) as exc:  # e.g. a dangling link
                raise _damaged(path, name, exc) from exc
            if not isinstance(node, h5py.Dataset):
                raise InvalidDatasetError(
                    f"{name!r} in {path} is a group, not a dataset.",
                    path=path,
                    fix=_HDF5_SAVE_HINT,
                )
            try:
                if h5py.check_string_dtype(node.dtype) is not None:
                    return np.array(node.asstr()[()], dtype=str)
                data = node[()]
            except (OSError, ValueError, TypeError, UnicodeDecodeError) as exc:
                raise _damaged(path, name, exc) from exc
            return np.asarray(data)

        lists = {}
        for key in _NAME_LISTS:
            if key in names:
                lists[key] = get(key)
            elif key in h5.attrs:
                try:
                    lists[key] = np.asarray(h5.attrs[key])
                except (OSError, ValueError, TypeError) as exc:
                    raise _damaged(path, key, exc) from exc
        return _assemble(names, get, path, "hdf5", lists, _HDF5_SAVE_HINT)


def _assemble(
    names: set[str],
    get: Callable[[str], np.ndarray],
    path: Path,
    source: str,
    name_lists: dict[str, np.ndarray],
    save_hint: str,
) -> DataArrays:
    """Validate the arrays of either layout and build the :class:`DataArrays`.

    ``name_lists`` holds the ``class_names`` and ``feature_names`` arrays the file has.
    """
    lists = {key: _string_list(arr, key, path) for key, arr in name_lists.items()}
    names_list = lists.get("class_names")
    feature_names = lists.get("feature_names")
    warnings = []
    ignored = sorted(names - _KNOWN_NAMES)
    if ignored:
        warnings.append(f"Ignored arrays in {path.name}: {', '.join(ignored)}.")
    flat = names & {"x", "y"}
    split = names & {"x_train", "y_train", "x_test", "y_test"}
    if flat and split:
        raise InvalidDatasetError(
            f"{path} has both x/y and x_train/x_test arrays; it is unclear which to use.",
            path=path,
            fix="Keep either x and y, or x_train, y_train, x_test, y_test.",
        )
    if not flat and not split:
        found = ", ".join(sorted(names)) or "nothing"
        raise InvalidDatasetError(
            f"{path} has no arrays named x and y (found: {found}).", path=path, fix=save_hint
        )
    if flat:
        _require_names(names, ("x", "y"), path, save_hint)
        x, y, names_out = validate_arrays(
            get("x"), get("y"), path, what="x/y", class_names=names_list
        )
        return make_data_arrays(x, y, names_out, source=source, path=path, warnings=warnings,
                                feature_names=feature_names)

    xs, ys, splits, start = [], [], {}, 0
    for split_name, x_name, y_name in _SPLIT_PARTS:
        if x_name not in names and y_name not in names:
            splits[split_name] = np.empty(0, dtype=np.int64)
            continue
        _require_names(names, (x_name, y_name), path, save_hint)
        what = f"{x_name}/{y_name}"
        x_part = check_inputs(get(x_name), path, what=what, allow_empty=True)
        y_part = check_label_shape(get(y_name), x_part.shape[0], path, what=what)
        if xs and x_part.shape[1:] != xs[0].shape[1:]:
            raise InvalidDatasetError(
                f"Samples in x_train and x_test differ in shape: {xs[0].shape[1:]} and "
                f"{x_part.shape[1:]}.",
                path=path,
                fix="Store train and test inputs with the same sample shape.",
            )
        if ys and (ys[0].dtype.kind in "SU") != (y_part.dtype.kind in "SU"):
            raise InvalidDatasetError(
                "y_train and y_test mix string and numeric labels.",
                path=path,
                fix="Use class-name strings in both, or class indices in both.",
            )
        xs.append(x_part)
        ys.append(y_part)
        splits[split_name] = np.arange(start, start + x_part.shape[0], dtype=np.int64)
        start += x_part.shape[0]
    if start == 0:
        raise InvalidDatasetError(
            f"{path} has train and test arrays but no samples in either.",
            path=path,
            fix="Store at least one sample.",
        )
    x = xs[0] if len(xs) == 1 else np.concatenate(xs)
    y_out, names_out = check_labels(
        np.concatenate(ys), path, what="y_train/y_test", class_names=names_list
    )
    return make_data_arrays(
        x, y_out, names_out, source=source, splits=splits, path=path, warnings=warnings,
        feature_names=feature_names,
    )


_ONE_PER = {"class_names": "one per class in label order",
            "feature_names": "one per feature (column of x) in column order"}


def _string_list(names: np.ndarray, key: str, path: Path) -> list[object]:
    """``class_names`` or ``feature_names`` must be a 1-D array of strings (the entries
    of object arrays, and the names against the data, are checked in arrays.py)."""
    arr = np.asarray(names)
    fix = f"Store {key} as an array of UTF-8 strings, {_ONE_PER[key]}."
    if arr.ndim != 1 or arr.dtype.kind not in "SUO":
        raise InvalidDatasetError(
            f"{key} in {path} must be a 1-D array of strings; got dtype {arr.dtype}, "
            f"shape {arr.shape}.",
            path=path,
            fix=fix,
        )
    try:
        return [n.decode("utf-8") if isinstance(n, bytes) else n for n in arr.tolist()]
    except UnicodeDecodeError as exc:
        raise InvalidDatasetError(
            f"{key} in {path} holds byte strings that are not valid UTF-8 ({exc}).",
            path=path,
            fix=fix,
        ) from exc


def _require_names(names: set[str], required: tuple[str, ...], path: Path, hint: str) -> None:
    missing = [n for n in required if n not in names]
    if missing:
        raise InvalidDatasetError(
            f"{path} has {', '.join(n for n in required if n in names)} but no "
            f"{', '.join(missing)}.",
            path=path,
            fix=hint,
        )


def _require_file(path: Path) -> None:
    if not path.is_file():
        raise InvalidDatasetError(
            f"Dataset file {path} does not exist or is not a file.",
            path=path,
            fix="Check the path and try again.",
        )


def _damaged(path: Path, name: str, exc: BaseException) -> InvalidDatasetError:
    return InvalidDatasetError(
        f"Could not read array {name!r} from {path} ({exc}); the file may be truncated or damaged.",
        path=path,
        fix="Copy or save the file again.",
    )


def _read_head(path: Path, size: int = 4104) -> bytes:
    try:
        with open(path, "rb") as fh:
            return fh.read(size)
    except OSError as exc:
        raise InvalidDatasetError(
            f"Cannot open {path} ({exc}).", path=path, fix="Check that the file is readable."
        ) from exc
