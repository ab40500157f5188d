"""Read a folder of images with one subfolder per class.

Layouts::

    folder/cat/001.png          folder/train/cat/001.png
    folder/dog/002.png    or    folder/test/cat/101.png
                                folder/test/dog/102.png

Class names are the sorted subfolder names. In the second layout (top-level folders
exactly ``train`` and/or ``test``) the split is kept; otherwise every image goes to
``"test"`` (see :mod:`visualizer.data.arrays`).

Images are decoded with Pillow, to one channel when every image is grayscale and to
RGB otherwise (alpha is dropped, grey images are repeated over the three channels),
and scaled to ``[0, 1]`` by their bit depth (8- or 16-bit; 32-bit float images keep
their values, and ``input_range`` records them). They are never resized: one image of another size is an error
that names it, because silently resizing would change what the model sees.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import numpy as np

from visualizer.data.arrays import DataArrays, make_data_arrays, validate_arrays
from visualizer.errors import InvalidDatasetError

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp")
# Pillow modes that hold one grey channel (possibly with alpha).
_GRAY_MODES = {"1", "L", "LA", "La", "I", "I;16", "I;16L", "I;16B", "I;16N", "F"}
_SPLIT_FOLDERS = {"train", "test"}
_LAYOUT_FIX = (
    "Put the images in one subfolder per class, e.g. folder/cat/001.png and "
    "folder/dog/001.png (optionally under folder/train/ and folder/test/)."
)


def read_image_folder(path: str | Path) -> DataArrays:
    """Read an image-folder dataset (layouts in the module docstring).

    Returns
    -------
    DataArrays
        ``x`` float32 ``N×C×H×W`` in ``[0, 1]`` with ``C`` 1 or 3; ``warnings`` lists
        the files that were skipped (non-image files, nested folders, stray files at
        the top level).

    Raises
    ------
    InvalidDatasetError
        No class subfolders, an empty class folder, an unreadable image (named), or
        images of different sizes (the first odd one is named with its size and the
        size most images have).
    """
    from PIL import Image  # heavy; not on the start-up path

    root = Path(path)
    if not root.is_dir():
        raise InvalidDatasetError(
            f"Image folder {root} does not exist or is not a folder.",
            path=root,
            fix="Check the path and try again.",
        )
    warnings: list[str] = []
    subdirs = _visible_dirs(root)
    stray = [p.name for p in _visible_files(root)]
    if stray:
        warnings.append(f"Ignored {len(stray)} files outside class folders: {_some(stray)}.")
    if not subdirs:
        raise InvalidDatasetError(
            f"Image folder {root} has no class subfolders"
            + (f" (only files: {_some(stray)})." if stray else "."),
            path=root,
            fix=_LAYOUT_FIX,
        )

    split_layout = {d.name for d in subdirs} <= _SPLIT_FOLDERS
    split_roots = subdirs if split_layout else [root]
    # (split name or None, class name, image path), in a stable sorted order.
    entries: list[tuple[str | None, str, Path]] = []
    for split_root in split_roots:
        split_name = split_root.name if split_layout else None
        class_dirs = _visible_dirs(split_root)
        if split_layout:
            files = [p.name for p in _visible_files(split_root)]
            if files:
                warnings.append(f"Ignored files in {split_root}: {_some(files)}.")
            if not class_dirs:
                raise InvalidDatasetError(
                    f"{split_root} has no class subfolders.", path=split_root, fix=_LAYOUT_FIX
                )
        for class_dir in class_dirs:
            images = _class_images(class_dir, warnings)
            entries.extend((split_name, class_dir.name, p) for p in images)

    class_names = sorted({cls for _, cls, _ in entries})
    sizes, gray = _probe(entries, Image)
    size = _common_size(entries, sizes, root)
    channels = 1 if all(gray) else 3
    x = _decode(entries, size, channels, Image)
    lookup = {name: i for i, name in enumerate(class_names)}
    y = np.array([lookup[cls] for _, cls, _ in entries], dtype=np.int64)
    x, y, class_names = validate_arrays(x, y, root, what="images", class_names=class_names)

    splits = None
    if split_layout:
        split_of = np.array([s for s, _, _ in entries])
        splits = {s: np.flatnonzero(split_of == s) for s in ("train", "test")}
    return make_data_arrays(
        x, y, class_names, source="image_folder", splits=splits, path=root, warnings=warnings
    )


def _class_images(class_dir: Path, warnings: list[str]) -> list[Path]:
    """The images in one class folder; other entries are reported, not read."""
    images, skipped = [], []
    for entry in sorted(class_dir.iterdir()):
        if entry.name.startswith("."):
            continue  # .DS_Store and friends: not worth a warning
        if entry.is_file() and entry.suffix.lower() in IMAGE_SUFFIXES:
            images.append(entry)
        else:
            skipped.append(entry.name + ("/" if entry.is_dir() else ""))
    if skipped:
        warnings.append(
            f"Ignored {len(skipped)} non-image entries in {class_dir}: {_some(skipped)}."
        )
    if not images:
        raise InvalidDatasetError(
            f"Class folder {class_dir} contains no images"
            + (f" (only {_some(skipped)})." if skipped else "."),
            path=class_dir,
            fix=f"Add images ({', '.join(IMAGE_SUFFIXES)}) or remove the folder.",
        )
    return images


def _probe(entries: list[tuple[str | None, str, Path]], image_module) -> tuple[list, list]:
    """Read every image's size and mode from its header, without decoding pixels."""
    sizes, gray = [], []
    for _, _, image_path in entries:
        try:
            with image_module.open(image_path) as im:
                sizes.append(im.size)
                gray.append(_is_gray(im))
        except Exception as exc:  # noqa: BLE001 - Pillow raises many types on bad files
            raise _unreadable(image_path, exc) from exc
    return sizes, gray


def _is_gray(im) -> bool:
    if im.mode in _GRAY_MODES:
        return True
    if im.mode == "P":
        # Palette images are grey when every palette entry has R == G == B.
        palette = np.asarray(im.getpalette() or [], dtype=np.int64).reshape(-1, 3)
        return bool(palette.size) and bool((palette == palette[:, :1]).all())
    return False


def _common_size(entries, sizes: list[tuple[int, int]], root: Path) -> tuple[int, int]:
    """The size every image must have; name the first image that differs."""
    counts = Counter(sizes)
    majority, _ = counts.most_common(1)[0]
    if len(counts) > 1:
        odd = next(i for i, s in enumerate(sizes) if s != majority)
        n_odd = sum(n for s, n in counts.items() if s != majority)
        w, h = sizes[odd]
        mw, mh = majority
        raise InvalidDatasetError(
            f"Image {entries[odd][2]} is {w}×{h} pixels but most images ({counts[majority]} "
            f"of {len(sizes)}) are {mw}×{mh}; {n_odd} images differ. All images must have "
            "one size.",
            path=entries[odd][2],
            fix=f"Resize or crop the images to {mw}×{mh} before loading (DeepScope does not "
            "resize, so the model sees exactly your pixels).",
        )
    return majority


def _decode(entries, size: tuple[int, int], channels: int, image_module) -> np.ndarray:
    """Decode all images into one preallocated N×C×H×W float32 array."""
    width, height = size
    x = np.empty((len(entries), channels, height, width), dtype=np.float32)
    for i, (_, _, image_path) in enumerate(entries):
        try:
            with image_module.open(image_path) as im:
                im.load()
                if _is_gray(im):
                    pixels = _gray_pixels(im)[None]  # broadcasts over RGB if needed
                else:
                    rgb = np.asarray(im.convert("RGB"), dtype=np.uint8)
                    pixels = rgb.transpose(2, 0, 1) / np.float32(255)
        except Exception as exc:  # noqa: BLE001 - truncated data surfaces only on load
            raise _unreadable(image_path, exc) from exc
        if pixels.shape[1:] != (height, width):
            # The header lied (it happens with damaged files): treat as unreadable.
            raise _unreadable(image_path, ValueError(f"decoded size {pixels.shape[1:]}"))
        x[i] = pixels
    return x


def _gray_pixels(im) -> np.ndarray:
    """One grey channel as float32 H×W, scaled by the mode's bit depth."""
    if im.mode.startswith("I;16") or im.mode == "I":
        # Pillow's conversion to "L" clips 16-bit values at 255; scale them instead.
        return np.clip(np.asarray(im, dtype=np.float32) / np.float32(65535), 0.0, 1.0)
    if im.mode == "F":
        return np.asarray(im, dtype=np.float32)  # float images keep their own scale
    return np.asarray(im.convert("L"), dtype=np.float32) / np.float32(255)


def _unreadable(image_path: Path, exc: BaseException) -> InvalidDatasetError:
    return InvalidDatasetError(
        f"Image {image_path} cannot be read ({type(exc).__name__}: {exc}).",
        path=image_path,
        fix="Replace or delete that image; it may be truncated or not an image.",
    )


def _visible_dirs(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.is_dir() and not p.name.startswith("."))


def _visible_files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.is_file() and not p.name.startswith("."))


def _some(names: list[str], limit: int = 5) -> str:
    """At most ``limit`` names, then how many more, so messages stay one line."""
    shown = ", ".join(names[:limit])
    return shown if len(names) <= limit else f"{shown} and {len(names) - limit} more"
