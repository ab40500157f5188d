"""Importing the data package stays cheap and Qt-free (heavy libraries load lazily)."""

from __future__ import annotations

import subprocess
import sys


def test_import_loads_no_heavy_or_qt_modules() -> None:
    code = (
        "import sys, visualizer.data; "
        "print(sorted(m for m in ('h5py', 'PIL', 'sklearn', 'torch', 'PySide6') "
        "if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
