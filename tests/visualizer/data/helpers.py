"""What every dataset test checks of a refused file."""

from __future__ import annotations

from pathlib import Path

import pytest

from visualizer.data import read_dataset
from visualizer.errors import InvalidDatasetError


def error_text(path: Path, reader=read_dataset) -> str:
    """The message ``reader`` refuses ``path`` with; it must name the file and a fix."""
    with pytest.raises(InvalidDatasetError) as info:
        reader(path)
    text = str(info.value)
    assert str(path) in text and "Fix:" in text, text
    assert Path(info.value.path) == path
    return text
