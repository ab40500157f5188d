"""Dataset sources: the built-in digits, ``.npz``, HDF5 and image folders.

Every source produces a validated :class:`DataArrays`. Heavy libraries (h5py, Pillow,
scikit-learn) are imported inside the readers, so importing this package is cheap.
"""

from visualizer.data.arrays import DataArrays, default_split, validate_arrays
from visualizer.data.digits import load_digits_arrays
from visualizer.data.image_folder import read_image_folder
from visualizer.data.readers import (
    detect_source,
    read_dataset,
    read_dataset_isolated,
    read_hdf5,
    read_npz,
)

__all__ = [
    "DataArrays",
    "default_split",
    "detect_source",
    "load_digits_arrays",
    "read_dataset",
    "read_dataset_isolated",
    "read_hdf5",
    "read_image_folder",
    "read_npz",
    "validate_arrays",
]
