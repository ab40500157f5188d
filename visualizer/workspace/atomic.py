"""Atomic publish: a file appears under its final name complete, or not at all.

Write to a temp name in the same folder, flush and fsync it, ``os.replace`` it onto the
final name, then fsync the folder so the rename itself survives a power cut. A crash at
any moment leaves either the old file or the new one, plus at worst a temp file that
``stale_temp_files`` finds for clean-up.
"""

from __future__ import annotations

import contextlib
import os
import uuid
from collections.abc import Iterator
from pathlib import Path

TEMP_MARK = ".deepscope-tmp"


def temp_path_for(final: Path) -> Path:
    """A unique temp name beside ``final`` (same folder, so ``os.replace`` is atomic).

    It keeps ``final``'s suffix, for writers that pick the format by suffix, and carries
    the writer's pid, so a crashed writer's leftovers can be told from a live one's.
    """
    tag = f"{os.getpid()}-{uuid.uuid4().hex[:8]}"
    return final.with_name(f".{final.name}.{tag}{TEMP_MARK}{final.suffix}")


def fsync_file(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def fsync_dir(folder: Path) -> None:
    # Windows cannot open a folder for fsync; NTFS renames are journaled anyway.
    if os.name == "nt":
        return
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def publish(temp: Path, final: Path) -> None:
    """Move a fully written, closed ``temp`` onto ``final`` durably."""
    fsync_file(temp)
    os.replace(temp, final)
    fsync_dir(final.parent)


@contextlib.contextmanager
def atomic_path(final: str | Path) -> Iterator[Path]:
    """Yield a temp path to write; on success publish it as ``final``, on error remove it.

    The caller must have closed the file before the block ends (h5py, numpy and PIL
    writers all take a path and close it themselves).
    """
    final = Path(final)
    final.parent.mkdir(parents=True, exist_ok=True)
    temp = temp_path_for(final)
    try:
        yield temp
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            temp.unlink()
        raise
    publish(temp, final)


def atomic_write_bytes(final: str | Path, data: bytes) -> None:
    with atomic_path(final) as temp:
        with open(temp, "wb") as fh:
            fh.write(data)
            fh.flush()


def atomic_write_text(final: str | Path, text: str) -> None:
    atomic_write_bytes(final, text.encode("utf-8"))


def stale_temp_files(folder: str | Path) -> list[Path]:
    """Temp files left in ``folder`` (recursively) by writers that did not finish."""
    folder = Path(folder)
    if not folder.exists():
        return []
    return sorted(p for p in folder.rglob(f"*{TEMP_MARK}*") if p.is_file())
