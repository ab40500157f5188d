"""Before Qt starts: the libraries of its xcb plugin, mapped to the Debian packages to
install, and run_gui saying so in one line instead of letting Qt abort."""

import os

import pytest

from widgets import platform_libs as pl

STOCK_DEBIAN_MISSING = {"libxcb-cursor.so.0", "libxcb-icccm.so.4", "libxcb-keysyms.so.1"}


def test_sonames_map_to_debian_packages():
    expected = {
        "libxcb-cursor.so.0": "libxcb-cursor0", "libxcb-icccm.so.4": "libxcb-icccm4",
        "libxcb-keysyms.so.1": "libxcb-keysyms1", "libxcb-render-util.so.0":
        "libxcb-render-util0", "libxkbcommon-x11.so.0": "libxkbcommon-x11-0",
        "libX11-xcb.so.1": "libx11-xcb1", "libX11.so.6": "libx11-6", "libxcb.so.1": "libxcb1",
        "libGL.so.1": "libgl1", "libglib-2.0.so.0": "libglib2.0-0",
        "libEGL.so.1": "libegl1", "libfontconfig.so.1": "libfontconfig1",
    }
    assert {so: pl.debian_package(so) for so in expected} == expected


def test_the_real_plugin_needs_what_a_stock_debian_lacks():
    qt_dir = pl.pyside_qt_dir()
    assert qt_dir is not None and (qt_dir / "plugins" / "platforms" / "libqxcb.so").exists()
    libs = pl.xcb_plugin_libs(qt_dir)
    assert STOCK_DEBIAN_MISSING <= set(libs)
    assert not [so for so in libs if so.startswith(("libQt6", "libc.so", "libstdc++"))]
    assert len(libs) == len(set(libs))


def test_missing_libraries_become_one_line_of_packages():
    def loadable(soname):
        return soname not in STOCK_DEBIAN_MISSING

    packages = pl.missing_xcb_packages(loadable)
    assert packages == ["libxcb-cursor0", "libxcb-icccm4", "libxcb-keysyms1"]
    assert pl.missing_xcb_packages(lambda soname: True) == []
    line = pl.missing_libraries_message(packages)
    assert "\n" not in line
    assert "sudo apt-get install libxcb-cursor0 libxcb-icccm4 libxcb-keysyms1" in line


def test_the_fallback_list_when_the_plugin_cannot_be_read(tmp_path):
    assert pl.elf_needed(tmp_path / "nothing.so") == []
    (tmp_path / "not-elf.so").write_bytes(b"#!/bin/sh\n")
    assert pl.elf_needed(tmp_path / "not-elf.so") == []
    assert STOCK_DEBIAN_MISSING <= set(pl.xcb_plugin_libs(tmp_path))


def test_the_check_agrees_with_the_dynamic_loader():
    """On any machine: no package is reported missing exactly when the plugin loads."""
    plugin = pl.pyside_qt_dir() / "plugins" / "platforms" / "libqxcb.so"
    assert (pl.missing_xcb_packages() == []) == pl.can_load(str(plugin))


@pytest.mark.parametrize("environ, expected", [
    ({"DISPLAY": ":0"}, True),
    ({"DISPLAY": ":0", "QT_QPA_PLATFORM": "offscreen"}, False),
    ({"QT_QPA_PLATFORM": "xcb"}, True),
    ({"DISPLAY": ":0", "QT_QPA_PLATFORM": "wayland;xcb"}, False),
    ({"DISPLAY": ":0", "WAYLAND_DISPLAY": "wayland-0", "XDG_SESSION_TYPE": "wayland"}, False),
    ({}, False),
])
def test_platform_is_xcb(environ, expected):
    assert pl.platform_is_xcb(environ) is expected


def test_run_gui_names_the_packages_in_one_line_and_exits_4_without_loading_qt():
    """As on a stock Debian under Xvfb: the dynamic loader lacks three libraries."""
    import subprocess
    import sys

    code = ("import sys; import widgets.platform_libs as pl; "
            f"pl.can_load = lambda soname: soname not in {sorted(STOCK_DEBIAN_MISSING)!r}; "
            "from widgets.app import run_gui; rc = run_gui(None, 'x'); "
            "assert 'PySide6' not in sys.modules; raise SystemExit(rc)")
    env = {k: v for k, v in os.environ.items()
           if k not in ("QT_QPA_PLATFORM", "WAYLAND_DISPLAY")}
    env["DISPLAY"] = ":0"
    proc = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True,
                          text=True, timeout=60)
    assert proc.returncode == 4, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("DeepScope needs Qt's X11 libraries")
    assert "sudo apt-get install libxcb-cursor0 libxcb-icccm4 libxcb-keysyms1" in lines[0]


def test_the_makefile_treats_status_4_as_handled():
    from pathlib import Path

    makefile = (Path(__file__).resolve().parents[2] / "Makefile").read_text()
    run = makefile.split("\nrun:", 1)[1].split("\n\n", 1)[0]
    assert "[ $$rc -eq 4 ]" in run and "[ $$rc -eq 3 ]" in run
