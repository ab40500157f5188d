"""The validated, in-memory form of a dataset, and the checks every reader shares.

Every source (the built-in digits, ``.npz``, HDF5, image folders) ends in one
:class:`DataArrays`: float32 inputs, int64 labels, explicit train/test index arrays,
class names and, for feature vectors, optional feature names. Readers hand raw arrays
to :func:`validate_arrays` so that every source fails the same way, with a message that
names the file and says how to fix it.

Split rule
----------
If a source provides a train/test split (``x_train``/``x_test`` arrays, ``train/`` and
``test/`` folders), it is kept as is. Otherwise every sample goes into ``"test"`` and
``"train"`` is empty: data a user brings is evaluation data for a model trained
elsewhere, and silently holding some of it back would change every metric.
:func:`default_split` exists for the cases that do need a training split of such data
(for example fitting a zoo model on it); it is never applied implicitly.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from visualizer.errors import InvalidDatasetError, NotFoundError

SPLITS = ("train", "test", "all")
KINDS = ("image", "vector")

# Channels-first images rarely have more than 4 channels while their width is rarely
# that small: an array whose axis 1 is larger than this and whose last axis is not is
# almost certainly channels-last (N×H×W×C, the Keras/TensorFlow layout).
_MAX_CHANNELS_LAST = 4


@dataclass
class DataArrays:
    """A dataset that passed validation, held in memory.

    Attributes
    ----------
    x
        Inputs, float32, C-contiguous: ``N×C×H×W`` for images, ``N×D`` for vectors.
    y
        Integer class labels in ``[0, len(class_names))``, int64, shape ``(N,)``.
    splits
        Sorted int64 index arrays into ``x`` for ``"train"`` and ``"test"``. Both keys
        are always present; either may be empty (see the module's split rule).
    class_names
        One name per class, in label order.
    kind
        ``"image"`` (4-D ``x``) or ``"vector"`` (2-D ``x``).
    input_range
        Observed ``(min, max)`` of ``x``, recorded so attribution baselines and attack
        budgets can later be expressed in the model's input space.
    source
        Where the arrays came from: ``"digits"``, ``"npz"``, ``"hdf5"``,
        ``"image_folder"``.
    path
        The file or folder read, if any.
    warnings
        Things the reader skipped or changed that the user should hear about (ignored
        files, ignored arrays); empty when there was nothing to say.
    feature_names
        One name per feature (column of ``x``) for vector data whose source names them
        (tabular data); ``None`` otherwise, and always ``None`` for images.
    """

    x: np.ndarray
    y: np.ndarray
    splits: dict[str, np.ndarray]
    class_names: list[str]
    kind: str
    input_range: tuple[float, float]
    source: str
    path: str | None = None
    warnings: list[str] = field(default_factory=list)
    feature_names: list[str] | None = None

    @property
    def n_samples(self) -> int:
        """Number of samples, train and test together."""
        return int(self.x.shape[0])

    @property
    def n_classes(self) -> int:
        """Number of classes (``len(class_names)``)."""
        return len(self.class_names)

    @property
    def sample_shape(self) -> tuple[int, ...]:
        """Shape of one input: ``(C, H, W)`` or ``(D,)``."""
        return tuple(int(s) for s in self.x.shape[1:])

    def arrays(self, split: str = "all") -> tuple[np.ndarray, np.ndarray]:
        """Return ``(x, y)`` for one split.

        Parameters
        ----------
        split
            ``"train"``, ``"test"`` or ``"all"``. ``"all"`` returns views of the full
            arrays; the others return copies (fancy indexing).

        Raises
        ------
        NotFoundError
            If ``split`` is not one of the names above.
        """
        if split == "all":
            return self.x, self.y
        if split not in ("train", "test"):
            raise NotFoundError(
                f"Unknown split {split!r}; valid splits are {', '.join(SPLITS)}.",
                fix=f"Use one of: {', '.join(SPLITS)}.",
            )
        # .get: arrays built by hand (or stored by older code) may lack a split key.
        index = self.splits.get(split, np.empty(0, dtype=np.int64))
        return self.x[index], self.y[index]


def validate_arrays(
    x: object,
    y: object,
    path: str | Path | None,
    *,
    what: str = "dataset",
    class_names: Sequence[str] | None = None,
) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """Check and normalise one pair of input and label arrays.

    Parameters
    ----------
    x
        Inputs: numeric, ``N×D`` (vectors), ``N×C×H×W`` (images) or ``N×H×W``
        (grayscale images; a channel axis is added, giving ``N×1×H×W``).
    y
        Labels, 1-D with ``N`` entries: integers (or integer-valued floats) in
        ``[0, n_classes)``, or strings, which are class names.
    path
        The file the arrays came from; named in every error.
    what
        How the arrays are called in the file (``"x/y"``, ``"x_train/y_train"``),
        named in errors so the user knows which array to fix.
    class_names
        Known class names, if the file provides them. Integer labels must then be
        below ``len(class_names)``; string labels must be among them.

    Returns
    -------
    x, y, class_names
        ``x`` as C-contiguous float32 (2-D or 4-D), ``y`` as int64, and the class
        names: the given ones, else the sorted distinct string labels, else
        ``"0" .. str(max(y))``.

    Raises
    ------
    InvalidDatasetError
        On any failed check; the message names the file, the array and the fix.
    """
    x_arr = np.asarray(x)
    if x_arr.ndim >= 1:
        # Lengths first: a mismatch is the likeliest mistake and cheap to spot.
        check_label_shape(y, x_arr.shape[0], path, what=what)
    x_out = check_inputs(x_arr, path, what=what)
    y_arr = check_label_shape(y, x_out.shape[0], path, what=what)
    y_out, names = check_labels(y_arr, path, what=what, class_names=class_names)
    return x_out, y_out, names


def check_label_shape(y: object, n: int, path: str | Path | None, *, what: str) -> np.ndarray:
    """Check that ``y`` is 1-D with one label per sample (``n``); return it as an array."""
    y_arr = np.asarray(y)
    if y_arr.ndim != 1:
        raise InvalidDatasetError(
            f"Labels in {what} have shape {y_arr.shape}; expected one label per sample, "
            f"shape ({n},).",
            path=path,
            fix="Store class indices as a 1-D array (one-hot labels: y.argmax(axis=1); "
            "a column: y.ravel()).",
        )
    if y_arr.shape[0] != n:
        raise InvalidDatasetError(
            f"Inputs and labels in {what} differ in length: x has {n} samples, "
            f"y has {y_arr.shape[0]} labels.",
            path=path,
            fix="Store exactly one label per sample.",
        )
    return y_arr


def check_inputs(
    x: object, path: str | Path | None, *, what: str = "dataset", allow_empty: bool = False
) -> np.ndarray:
    """Validate inputs alone and return them as C-contiguous float32.

    ``allow_empty`` lets one part of a split file (say ``x_test``) have no samples;
    :func:`validate_arrays` never allows an empty dataset.
    """
    arr = np.asarray(x)
    if arr.dtype == object or arr.dtype.kind not in "biuf":
        raise InvalidDatasetError(
            f"Inputs in {what} have dtype {arr.dtype}; expected numbers.",
            path=path,
            fix="Store x as a numeric array (float32 or uint8), not strings or objects.",
        )
    if arr.ndim == 3:
        # N×H×W grayscale images: the models and views expect a channel axis.
        arr = arr[:, None, :, :]
    if arr.ndim not in (2, 4):
        raise InvalidDatasetError(
            f"Inputs in {what} have shape {arr.shape} ({arr.ndim} dims); expected N×D "
            "feature vectors, N×H×W grayscale images or N×C×H×W images.",
            path=path,
            fix="Reshape x to N×D or N×C×H×W.",
        )
    if arr.shape[0] == 0 and not allow_empty:
        raise InvalidDatasetError(
            f"Inputs in {what} have no samples (shape {arr.shape}).",
            path=path,
            fix="Store at least one sample.",
        )
    if any(s == 0 for s in arr.shape[1:]):
        raise InvalidDatasetError(
            f"Inputs in {what} have shape {arr.shape}: a sample has no values.",
            path=path,
            fix="Check the array's shape; every axis after the first must be non-empty.",
        )
    if arr.ndim == 4 and arr.shape[1] > _MAX_CHANNELS_LAST >= arr.shape[3]:
        raise InvalidDatasetError(
            f"Inputs in {what} have shape {arr.shape}, which looks channels-last "
            "(N×H×W×C); DeepScope expects channels-first N×C×H×W.",
            path=path,
            fix="Transpose before saving: x = x.transpose(0, 3, 1, 2).",
        )
    # Cast first, then check: float64 values beyond float32's range become inf here
    # and are caught by the same test.
    with np.errstate(over="ignore", invalid="ignore"):
        out = np.ascontiguousarray(arr, dtype=np.float32)
    finite = np.isfinite(out)
    if not finite.all():
        bad_per_sample = (~finite).reshape(out.shape[0], -1).sum(axis=1)
        first = int(np.flatnonzero(bad_per_sample)[0])
        raise InvalidDatasetError(
            f"Inputs in {what} contain {int(bad_per_sample.sum())} non-finite values "
            f"(NaN or ±inf, or beyond float32's range) in {np.count_nonzero(bad_per_sample)} "
            f"samples; the first is sample {first}.",
            path=path,
            fix="Remove or impute those samples (np.isfinite(x) finds them) and save again.",
        )
    return out


def check_labels(
    y: np.ndarray,
    path: str | Path | None,
    *,
    what: str = "dataset",
    class_names: Sequence[str] | None = None,
) -> tuple[np.ndarray, list[str]]:
    """Validate 1-D labels and return them as int64 with the class names.

    See :func:`validate_arrays` for the rules.
    """
    names = _check_class_names(class_names, path) if class_names is not None else None
    if y.dtype.kind in "SU":
        return _labels_from_strings(y, path, what=what, class_names=names)
    if y.dtype == object or y.dtype.kind not in "biuf":
        raise InvalidDatasetError(
            f"Labels in {what} have dtype {y.dtype}; expected integers or strings.",
            path=path,
            fix="Store y as integer class indices (int64) or class-name strings.",
        )
    if y.dtype.kind == "f":
        if not np.isfinite(y).all() or not np.array_equal(y, np.round(y)):
            bad = int(np.flatnonzero(~np.isfinite(y) | (y != np.round(y)))[0])
            raise InvalidDatasetError(
                f"Labels in {what} are not whole numbers (label {bad} is {y[bad]!r}).",
                path=path,
                fix="Store class indices as integers (0, 1, 2, ...).",
            )
    out = y.astype(np.int64)
    if out.size and out.min() < 0:
        bad = int(np.flatnonzero(out < 0)[0])
        raise InvalidDatasetError(
            f"Labels in {what} must be >= 0; label {bad} is {out[bad]}.",
            path=path,
            fix="Number classes from 0 to n_classes - 1.",
        )
    if names is None:
        n_classes = int(out.max()) + 1 if out.size else 0
        names = [str(i) for i in range(n_classes)]
    elif out.size and out.max() >= len(names):
        bad = int(np.flatnonzero(out >= len(names))[0])
        raise InvalidDatasetError(
            f"Labels in {what} must be below the number of class names ({len(names)}); "
            f"label {bad} is {out[bad]}.",
            path=path,
            fix="Add the missing class names or fix the labels.",
        )
    return out, names


def _labels_from_strings(
    y: np.ndarray, path: str | Path | None, *, what: str, class_names: list[str] | None
) -> tuple[np.ndarray, list[str]]:
    """Turn string labels into indices; without known names, classes sort by name."""
    if y.dtype.kind == "S":
        try:
            y = np.array([v.decode("utf-8") for v in y.tolist()], dtype=str)
        except UnicodeDecodeError as exc:
            raise InvalidDatasetError(
                f"Labels in {what} are byte strings that are not valid UTF-8 ({exc}).",
                path=path,
                fix="Store labels as UTF-8 strings or integer class indices.",
            ) from exc
    names = class_names if class_names is not None else sorted(set(y.tolist()))
    lookup = {name: i for i, name in enumerate(names)}
    unknown = sorted(set(y.tolist()) - lookup.keys())
    if unknown:
        raise InvalidDatasetError(
            f"Labels in {what} name classes that are not in class_names: "
            f"{', '.join(repr(u) for u in unknown[:5])}{' ...' if len(unknown) > 5 else ''}.",
            path=path,
            fix="Add them to class_names or fix the labels.",
        )
    return np.fromiter((lookup[v] for v in y.tolist()), dtype=np.int64, count=y.shape[0]), names


def _check_class_names(class_names: Sequence[object], path: str | Path | None) -> list[str]:
    """Class names must be distinct strings (bytes are decoded as UTF-8)."""
    names = [n.decode("utf-8") if isinstance(n, bytes) else n for n in class_names]
    if not all(isinstance(n, str) for n in names):
        raise InvalidDatasetError(
            "class_names must be strings.",
            path=path,
            fix="Store class_names as an array of strings, one per class.",
        )
    if len(set(names)) != len(names):
        dupes = sorted({n for n in names if names.count(n) > 1})
        raise InvalidDatasetError(
            f"class_names has duplicates: {', '.join(repr(d) for d in dupes[:5])}.",
            path=path,
            fix="Give every class a distinct name.",
        )
    return list(names)


def check_feature_names(
    feature_names: Sequence[object], sample_shape: tuple[int, ...], path: str | Path | None
) -> list[str]:
    """Validate feature names against the samples they name and return them as strings.

    Parameters
    ----------
    feature_names
        One name per feature, in column order; bytes are decoded as UTF-8.
    sample_shape
        The shape of one (validated) input: names fit only ``(D,)`` vectors, and there
        must be exactly ``D`` of them.
    path
        The file the names came from; named in every error.

    Raises
    ------
    InvalidDatasetError
        If the samples are not vectors, the count is not ``D``, or a name is not a
        non-empty string or repeats another.
    """
    if len(sample_shape) != 1:
        raise InvalidDatasetError(
            f"feature_names names the columns of N×D feature vectors, but the inputs are "
            f"images (sample shape {tuple(sample_shape)}).",
            path=path,
            fix="Remove feature_names from the file, or store x as N×D feature vectors.",
        )
    try:
        names = [n.decode("utf-8") if isinstance(n, bytes) else n for n in feature_names]
    except UnicodeDecodeError as exc:
        raise InvalidDatasetError(
            f"feature_names holds byte strings that are not valid UTF-8 ({exc}).",
            path=path,
            fix="Store feature_names as UTF-8 strings, one per feature.",
        ) from exc
    if not all(isinstance(n, str) and n.strip() for n in names):
        bad = next(i for i, n in enumerate(names) if not (isinstance(n, str) and n.strip()))
        raise InvalidDatasetError(
            f"feature_names must be non-empty strings; entry {bad} is {names[bad]!r}.",
            path=path,
            fix="Store feature_names as an array of strings, one per column of x.",
        )
    n_features = int(sample_shape[0])
    if len(names) != n_features:
        raise InvalidDatasetError(
            f"feature_names has {len(names)} names but the inputs have {n_features} "
            "features per sample.",
            path=path,
            fix="Store exactly one name per column of x, in column order.",
        )
    if len(set(names)) != len(names):
        # Counter, not list.count: tabular data can have thousands of features.
        dupes = sorted(n for n, k in Counter(names).items() if k > 1)
        raise InvalidDatasetError(
            f"feature_names has duplicates: {', '.join(repr(d) for d in dupes[:5])}.",
            path=path,
            fix="Give every feature a distinct name.",
        )
    return list(names)


def make_data_arrays(
    x: np.ndarray,
    y: np.ndarray,
    class_names: list[str],
    *,
    source: str,
    splits: dict[str, np.ndarray] | None = None,
    path: str | Path | None = None,
    warnings: list[str] | None = None,
    feature_names: Sequence[str] | None = None,
) -> DataArrays:
    """Assemble a :class:`DataArrays` from already validated arrays.

    Without ``splits``, every sample goes to ``"test"`` (the module's split rule).
    ``feature_names``, if given, are checked against ``x`` with
    :func:`check_feature_names`.
    """
    if feature_names is not None:
        feature_names = check_feature_names(feature_names, tuple(x.shape[1:]), path)
    n = int(x.shape[0])
    if splits is None:
        splits = {"train": np.empty(0, dtype=np.int64), "test": np.arange(n, dtype=np.int64)}
    splits = {name: np.sort(np.asarray(splits[name], dtype=np.int64)) for name in ("train", "test")}
    return DataArrays(
        x=x,
        y=y,
        splits=splits,
        class_names=list(class_names),
        kind="image" if x.ndim == 4 else "vector",
        input_range=(float(x.min()), float(x.max())),
        source=source,
        path=str(path) if path is not None else None,
        warnings=list(warnings or []),
        feature_names=feature_names,
    )


def default_split(
    n: int, seed: int = 0, test_fraction: float = 0.2, y: np.ndarray | None = None
) -> dict[str, np.ndarray]:
    """A seeded train/test split, stratified by ``y`` when given.

    Used only when a caller explicitly needs a training split of data that came without
    one (see the module's split rule); readers never apply it.

    Parameters
    ----------
    n
        Number of samples.
    seed
        Seed for :func:`numpy.random.default_rng`; the same seed gives the same split.
    test_fraction
        Fraction of each class (or of all samples, without ``y``) that goes to test,
        rounded per class.
    y
        Labels of length ``n``; when given, each class is split separately so both
        splits keep the class proportions.

    Returns
    -------
    dict
        ``{"train": idx, "test": idx}``, sorted int64 indices that partition
        ``range(n)``.
    """
    if not 0.0 <= test_fraction <= 1.0:
        raise ValueError(f"test_fraction must be in [0, 1], got {test_fraction}")
    rng = np.random.default_rng(seed)
    # numpy rather than scikit-learn: a stored split must not change when a library
    # upgrade changes its shuffling.
    groups = [np.arange(n)] if y is None else [np.flatnonzero(y == c) for c in np.unique(y)]
    test_parts = []
    for group in groups:
        k = int(round(test_fraction * len(group)))
        test_parts.append(rng.permutation(group)[:k])
    test = np.sort(np.concatenate(test_parts)).astype(np.int64) if test_parts else np.empty(0)
    mask = np.ones(n, dtype=bool)
    mask[test] = False
    return {"train": np.flatnonzero(mask).astype(np.int64), "test": test.astype(np.int64)}
