"""The core and the plugin API must import and work without Qt (DESIGN.md section 1)."""

import pkgutil
import subprocess
import sys

import visualizer


def test_core_modules_do_not_import_qt():
    modules = ["visualizer", "plugins.api", "plugins.manager"] + [
        m.name for m in pkgutil.walk_packages(visualizer.__path__, "visualizer.")]
    code = (
        "import importlib, sys\n"
        f"for name in {modules!r}:\n"
        "    importlib.import_module(name)\n"
        "bad = sorted(m for m in sys.modules if m.split('.')[0] in "
        "('PySide6', 'pyqtgraph', 'superqt', 'qtpy', 'widgets'))\n"
        "assert not bad, bad\n"
        "print(len(sys.modules))\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr


def test_importing_the_package_is_cheap():
    code = ("import sys, visualizer, main\n"
            "heavy = [m for m in ('torch', 'h5py', 'umap', 'captum', 'sklearn') if m in sys.modules]\n"
            "assert not heavy, heavy\n")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
