"""Before Qt starts: are the system libraries of its X11 (xcb) platform plugin here?

Qt aborts the process (status 134) when it cannot load its platform plugin, after a
message that names at most one of the missing libraries. On a stock Debian or Ubuntu
machine the xcb plugin of the PySide6 wheel lacks ``libxcb-cursor0``,
``libxcb-icccm4``, ``libxcb-keysyms1`` and friends. ``missing_xcb_packages()`` reads the
shared libraries the plugin needs (its ELF ``DT_NEEDED`` entries, and those of
``libQt6XcbQpa``), tries to load each one that does not ship with PySide6, and maps the
missing ones to Debian package names, so DeepScope can say in one line what to install.
It reads two file headers and loads a few small libraries that Qt would load anyway:
a few milliseconds, nothing cached.
"""

from __future__ import annotations

import ctypes
import os
import re
import struct
import sys
from collections.abc import Callable, Iterable
from pathlib import Path

# What Qt 6.5+'s xcb plugin needs (readelf -d libqxcb.so libQt6XcbQpa.so.6), used when
# the plugin's own files cannot be read.
XCB_PLUGIN_LIBS = (
    "libGL.so.1", "libxkbcommon.so.0", "libxkbcommon-x11.so.0", "libxcb-cursor.so.0",
    "libxcb-icccm.so.4", "libxcb-util.so.1", "libxcb-image.so.0", "libxcb-keysyms.so.1",
    "libxcb-randr.so.0", "libxcb-render-util.so.0", "libxcb-shm.so.0", "libxcb-sync.so.1",
    "libxcb-xfixes.so.0", "libxcb-render.so.0", "libxcb-shape.so.0", "libxcb-xkb.so.1",
    "libxcb.so.1", "libX11-xcb.so.1", "libX11.so.6", "libglib-2.0.so.0",
)
# Debian packages whose names do not follow the soname (see ``debian_package``).
DEBIAN_PACKAGES = {
    "libGL.so.1": "libgl1",
    "libEGL.so.1": "libegl1",
    "libOpenGL.so.0": "libopengl0",
    "libglib-2.0.so.0": "libglib2.0-0",
    "libgthread-2.0.so.0": "libglib2.0-0",
    "libdbus-1.so.3": "libdbus-1-3",
    "libz.so.1": "zlib1g",
}
# Part of every system that runs Python: never reported.
_SYSTEM = re.compile(r"^(libc|libm|libdl|libpthread|librt|libgcc_s|libstdc\+\+|ld-linux.*)"
                     r"\.so")
_SONAME = re.compile(r"^(lib[\w.+-]*?)\.so\.(\d+)")


def debian_package(soname: str) -> str:
    """The Debian package that ships ``soname``: ``libxcb-icccm.so.4`` ->
    ``libxcb-icccm4``, ``libxkbcommon-x11.so.0`` -> ``libxkbcommon-x11-0`` (Debian
    policy: the library name and its major version, a hyphen between two digits)."""
    if soname in DEBIAN_PACKAGES:
        return DEBIAN_PACKAGES[soname]
    match = _SONAME.match(soname)
    if match is None:
        return soname
    name, version = match.group(1).lower(), match.group(2)
    return f"{name}-{version}" if name[-1].isdigit() else f"{name}{version}"


def elf_needed(path: str | os.PathLike) -> list[str]:
    """The ``DT_NEEDED`` sonames of a 64-bit ELF file; ``[]`` if it cannot be read."""
    try:
        data = Path(path).read_bytes()
    except OSError:
        return []
    if data[:4] != b"\x7fELF" or data[4] != 2:  # ELFCLASS64 only
        return []
    end = "<" if data[5] == 1 else ">"
    phoff, = struct.unpack_from(end + "Q", data, 0x20)
    phentsize, phnum = struct.unpack_from(end + "HH", data, 0x36)
    loads, dynamic = [], None
    for i in range(phnum):
        p_type, _, p_offset, p_vaddr, _, p_filesz = struct.unpack_from(
            end + "IIQQQQ", data, phoff + i * phentsize)
        if p_type == 1:  # PT_LOAD
            loads.append((p_vaddr, p_offset, p_filesz))
        elif p_type == 2:  # PT_DYNAMIC
            dynamic = (p_offset, p_filesz)
    if dynamic is None:
        return []
    needed, strtab = [], None
    for offset in range(dynamic[0], dynamic[0] + dynamic[1], 16):
        tag, value = struct.unpack_from(end + "qQ", data, offset)
        if tag == 0:  # DT_NULL
            break
        if tag == 1:  # DT_NEEDED: an offset into the string table
            needed.append(value)
        elif tag == 5:  # DT_STRTAB: a virtual address
            strtab = next((value - vaddr + off for vaddr, off, size in loads
                           if vaddr <= value < vaddr + size), None)
    if strtab is None:
        return []
    names = []
    for index in needed:
        start = strtab + index
        names.append(data[start:data.index(b"\0", start)].decode("ascii", "replace"))
    return names


def pyside_qt_dir() -> Path | None:
    """PySide6's bundled Qt (``.../PySide6/Qt``), found without importing PySide6."""
    import importlib.util

    try:
        spec = importlib.util.find_spec("PySide6")
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.submodule_search_locations:
        return None
    qt = Path(next(iter(spec.submodule_search_locations))) / "Qt"
    return qt if qt.is_dir() else None


def xcb_plugin_libs(qt_dir: Path | None) -> list[str]:
    """The system libraries the xcb plugin loads (Qt's own bundled ones left out)."""
    names: list[str] = []
    if qt_dir is not None:
        for path in (qt_dir / "plugins" / "platforms" / "libqxcb.so",
                     qt_dir / "lib" / "libQt6XcbQpa.so.6"):
            names += elf_needed(path)
    if not names:
        names = list(XCB_PLUGIN_LIBS)
    bundled = set(os.listdir(qt_dir / "lib")) if qt_dir is not None and \
        (qt_dir / "lib").is_dir() else set()
    seen: dict[str, None] = {}
    for name in names:
        if name.startswith("libQt6") or name in bundled or _SYSTEM.match(name):
            continue
        seen.setdefault(name)
    return list(seen)


def can_load(soname: str) -> bool:
    """Whether the dynamic loader finds ``soname`` (and everything it needs)."""
    try:
        ctypes.CDLL(soname, mode=os.RTLD_LAZY | os.RTLD_LOCAL)
    except OSError:
        return False
    return True


def missing_libraries(libs: Iterable[str], loadable: Callable[[str], bool] | None = None
                      ) -> list[str]:
    """The sonames in ``libs`` that ``loadable`` (default: ``can_load``) cannot load."""
    loadable = loadable or can_load
    return [lib for lib in libs if not loadable(lib)]


def missing_xcb_packages(loadable: Callable[[str], bool] | None = None,
                         qt_dir: Path | None = None) -> list[str]:
    """Debian packages to install before Qt's xcb plugin can load (``[]``: none).

    ``loadable(soname)`` says whether a library loads (default: ``can_load``);
    ``qt_dir`` is PySide6's Qt folder (default: found without importing PySide6).
    """
    qt_dir = qt_dir if qt_dir is not None else pyside_qt_dir()
    missing = missing_libraries(xcb_plugin_libs(qt_dir), loadable)
    return list(dict.fromkeys(debian_package(lib) for lib in missing))


def platform_is_xcb(environ=os.environ) -> bool:
    """Whether Qt will use its xcb (X11) platform plugin in this environment."""
    if not sys.platform.startswith("linux"):
        return False
    chosen = environ.get("QT_QPA_PLATFORM", "").split(";")[0].strip()
    if chosen:
        return chosen.startswith("xcb")
    if environ.get("WAYLAND_DISPLAY") and environ.get("XDG_SESSION_TYPE") == "wayland":
        return False  # Qt picks its wayland plugin first
    return bool(environ.get("DISPLAY"))


def missing_libraries_message(packages: list[str], what: str = "Qt's X11 libraries"
                              ) -> str:
    """One line saying what to install."""
    return (f"DeepScope needs {what} to open its window; install them with "
            f"`sudo apt-get install {' '.join(packages)}` (Debian/Ubuntu names), or use "
            "the CLI (`make demo`, `python main.py --help`).")


def missing_library_in(error: BaseException) -> str | None:
    """The soname an import error of a Qt module failed on, if it names one."""
    match = re.search(r"([\w.+-]+\.so(?:\.\d+)*): cannot open shared object file",
                      str(error))
    return match.group(1) if match else None
