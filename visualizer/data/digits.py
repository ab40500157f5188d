"""The built-in demo dataset: scikit-learn's handwritten digits.

Real data that ships inside scikit-learn, so the demo needs no download: 1,797 8×8
grayscale images of the digits 0–9.
"""

from __future__ import annotations

import numpy as np

from visualizer.data.arrays import DataArrays, make_data_arrays, validate_arrays

DIGITS_TEST_SIZE = 0.2
DIGITS_SEED = 0


def load_digits_arrays() -> DataArrays:
    """Load the digits as a :class:`DataArrays`.

    Returns
    -------
    DataArrays
        ``x`` float32 ``1797×1×8×8`` in ``[0, 1]`` (pixel counts 0–16 divided by 16),
        ``y`` int64 in ``0..9``, class names ``"0"``..``"9"``, and a fixed stratified
        split (scikit-learn ``train_test_split`` with ``test_size=0.2``,
        ``random_state=0``): 1,437 train and 360 test samples, indices sorted. The same
        split every time, so zoo models cached in a workspace stay comparable.
    """
    # Heavy imports stay inside the function: scikit-learn is not on the start-up path.
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    bunch = load_digits()
    x = (bunch.images / 16.0).astype(np.float32)[:, None, :, :]
    y = bunch.target.astype(np.int64)
    x, y, names = validate_arrays(
        x, y, None, what="digits", class_names=[str(i) for i in range(10)]
    )
    train, test = train_test_split(
        np.arange(len(y)), test_size=DIGITS_TEST_SIZE, random_state=DIGITS_SEED, stratify=y
    )
    return make_data_arrays(
        x, y, names, source="digits", splits={"train": np.sort(train), "test": np.sort(test)}
    )
