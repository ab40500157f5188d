"""Reading image folders made with Pillow."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from visualizer.data import read_dataset, read_image_folder
from visualizer.errors import InvalidDatasetError


def _gray(path: Path, value: int, size: tuple[int, int] = (6, 4)) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    pixels = np.full((size[1], size[0]), value, np.uint8)
    pixels[0, 0] = 255 - value  # one odd pixel, to check orientation
    Image.fromarray(pixels, "L").save(path)
    return path


def _error(path: Path) -> InvalidDatasetError:
    with pytest.raises(InvalidDatasetError) as info:
        read_dataset(path)
    assert "Fix:" in str(info.value)
    return info.value


def test_two_grayscale_classes(tmp_path: Path) -> None:
    _gray(tmp_path / "dog" / "a.png", 0)
    _gray(tmp_path / "cat" / "b.png", 51)
    _gray(tmp_path / "cat" / "a.PNG", 102)
    (tmp_path / "README.txt").write_text("hello")
    (tmp_path / "cat" / "notes.txt").write_text("hi")
    (tmp_path / "cat" / ".DS_Store").write_bytes(b"\0")
    data = read_dataset(tmp_path)
    assert data.source == "image_folder" and data.kind == "image"
    assert data.class_names == ["cat", "dog"]
    assert data.x.shape == (3, 1, 4, 6) and data.x.dtype == np.float32
    # Sorted by class folder, then by file name: cat/a.PNG, cat/b.png, dog/a.png.
    assert data.y.tolist() == [0, 0, 1]
    np.testing.assert_allclose(data.x[:, 0, 1, 1], [102 / 255, 51 / 255, 0.0], atol=1e-6)
    np.testing.assert_allclose(data.x[2, 0, 0, 0], 1.0)
    assert data.input_range == (0.0, 1.0)
    assert data.splits["test"].tolist() == [0, 1, 2] and data.splits["train"].size == 0
    assert any("README.txt" in w for w in data.warnings)
    assert any("notes.txt" in w for w in data.warnings)
    assert not any("DS_Store" in w for w in data.warnings)


def test_mixed_modes_become_rgb(tmp_path: Path) -> None:
    _gray(tmp_path / "a" / "g.png", 10)
    rgb = np.zeros((4, 6, 3), np.uint8)
    rgb[..., 0] = 255
    (tmp_path / "b").mkdir()
    Image.fromarray(rgb, "RGB").save(tmp_path / "b" / "r.png")
    data = read_image_folder(tmp_path)
    assert data.x.shape == (2, 3, 4, 6)
    np.testing.assert_allclose(data.x[1, :, 2, 2], [1.0, 0.0, 0.0])
    np.testing.assert_allclose(data.x[0, :, 2, 2], [10 / 255] * 3, atol=1e-6)


def test_train_test_folders_keep_their_split(tmp_path: Path) -> None:
    _gray(tmp_path / "train" / "a" / "1.png", 1)
    _gray(tmp_path / "train" / "b" / "1.png", 2)
    _gray(tmp_path / "test" / "b" / "1.png", 3)
    data = read_image_folder(tmp_path)
    assert data.class_names == ["a", "b"]
    # test/ sorts before train/.
    assert data.splits["test"].tolist() == [0] and data.splits["train"].tolist() == [1, 2]
    assert data.y.tolist() == [1, 0, 1]


def test_corrupt_image_is_named(tmp_path: Path) -> None:
    _gray(tmp_path / "a" / "ok.png", 1)
    bad = tmp_path / "a" / "broken.png"
    bad.write_bytes(b"\x89PNG\r\n\x1a\n this is not really a png")
    err = _error(tmp_path)
    assert str(bad) in str(err) and err.path == bad


def test_truncated_image_is_named(tmp_path: Path) -> None:
    src = tmp_path / "src.jpg"
    Image.fromarray(np.random.default_rng(0).integers(0, 255, (64, 64), np.uint8)).save(src)
    _gray(tmp_path / "data" / "a" / "ok.png", 1, size=(64, 64))
    bad = tmp_path / "data" / "a" / "z.jpg"
    bad.write_bytes(src.read_bytes()[:300])
    err = _error(tmp_path / "data")
    assert str(bad) in str(err)


def test_mismatched_sizes_name_the_odd_image(tmp_path: Path) -> None:
    for i in range(3):
        _gray(tmp_path / "a" / f"{i}.png", 1, size=(8, 8))
    odd = _gray(tmp_path / "b" / "odd.png", 1, size=(10, 7))
    text = str(_error(tmp_path))
    assert str(odd) in text and "10×7" in text and "8×8" in text and "Resize" in text


def test_empty_class_folder(tmp_path: Path) -> None:
    _gray(tmp_path / "a" / "1.png", 1)
    (tmp_path / "empty").mkdir()
    err = _error(tmp_path)
    assert "empty" in str(err) and "contains no images" in str(err)


def test_no_class_subfolders(tmp_path: Path) -> None:
    _gray(tmp_path / "1.png", 1)
    text = str(_error(tmp_path))
    assert "no class subfolders" in text and "1.png" in text and "one subfolder per class" in text
    empty = tmp_path / "nothing"
    empty.mkdir()
    assert "no class subfolders" in str(_error(empty))


def test_sixteen_bit_images_keep_their_depth(tmp_path: Path) -> None:
    (tmp_path / "a").mkdir()
    Image.fromarray(np.full((3, 3), 40000, np.uint16)).save(tmp_path / "a" / "deep.png")
    data = read_image_folder(tmp_path)
    np.testing.assert_allclose(data.x, 40000 / 65535, rtol=1e-6)
