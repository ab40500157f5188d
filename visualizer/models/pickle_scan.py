"""Static inspection of torch.save files: format detection and pickle globals.

Nothing here unpickles or imports anything from the file. The pickle opcodes are read
with :func:`pickletools.genops`, which only decodes them. This is the check that runs
before ``torch.load(weights_only=True)``, so a checkpoint that names ``os.system`` is
refused even where an environment variable such as ``TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD``
or an old torch would make ``torch.load`` use the full unpickler.
"""

from __future__ import annotations

import io
import json
import pickletools
import struct
import zipfile
import zlib
from pathlib import Path

from visualizer.errors import InvalidModelError

#: The magic number that starts a legacy (non-zip) torch.save file.
LEGACY_MAGIC = 0x1950A86A20F9469CFC6C
#: Reported for a STACK_GLOBAL whose module/name cannot be read statically.
UNRESOLVED_GLOBAL = "<unresolved STACK_GLOBAL>"

_STRING_OPS = {
    "STRING", "BINSTRING", "SHORT_BINSTRING", "UNICODE", "BINUNICODE",
    "SHORT_BINUNICODE", "BINUNICODE8",
}  # fmt: skip
_GET_OPS = {"GET", "BINGET", "LONG_BINGET"}
_PUT_OPS = {"PUT", "BINPUT", "LONG_BINPUT"}
# Ops that push nothing and leave the top of the stack alone.
_NEUTRAL_OPS = {"PROTO", "FRAME", "MEMOIZE", *_PUT_OPS}
_MAX_SAFETENSORS_HEADER = 100 * 1024 * 1024  # safetensors' own limit


def _source(path: Path, data: bytes | None) -> io.BufferedIOBase | io.BytesIO:
    return io.BytesIO(data) if data is not None else open(path, "rb")


def _zip_names(path: Path) -> list[str]:
    try:
        with zipfile.ZipFile(path) as zf:
            return zf.namelist()
    except (zipfile.BadZipFile, zlib.error, OSError, ValueError, EOFError, RuntimeError) as exc:
        raise InvalidModelError(
            f"the zip archive is truncated or corrupt ({exc})",
            path=path,
            fix="re-save or re-download the file.",
        ) from exc


def _read_pickles(path: Path, data: bytes | None) -> list[bytes]:
    """Every ``.pkl`` member of a zip archive (torch reads ``<root>/data.pkl``; a crafted
    archive could hold several, so all are scanned)."""
    try:
        with _source(path, data) as fh, zipfile.ZipFile(fh) as zf:
            members = [zf.read(n) for n in zf.namelist() if n.endswith(".pkl")]
    except (zipfile.BadZipFile, zlib.error, OSError, ValueError, EOFError, RuntimeError) as exc:
        raise InvalidModelError(
            f"the zip archive is truncated or corrupt ({exc})",
            path=path,
            fix="re-save or re-download the file.",
        ) from exc
    if not members:
        raise InvalidModelError("the archive has no data.pkl", path=path)
    return members


def _pickle_globals(stream: io.BufferedIOBase, path: Path
                    ) -> tuple[list[tuple[str, str]], object]:
    """Globals referenced by the one pickle at the stream position as ``(module, name)``
    pairs (``(marker, "")`` for one that cannot be named), plus its value if it is a
    bare integer (to recognise the legacy magic number)."""
    found: list[tuple[str, str]] = []
    memo: dict[int, object] = {}
    # Values pushed by recent ops (None = not a string we can follow). STACK_GLOBAL is
    # resolved only when its two operands were pushed right before it; anything more
    # indirect is reported as unresolved, which counts as unsafe.
    pushed: list[object] = []
    first_int: object = None
    n_ops = 0
    try:
        for op, arg, _pos in pickletools.genops(stream):
            n_ops += 1
            name = op.name
            if name in _STRING_OPS:
                pushed.append(arg if isinstance(arg, str) else None)
            elif name in _GET_OPS:
                pushed.append(memo.get(arg))
            elif name in _PUT_OPS:
                memo[arg] = pushed[-1] if pushed else None
            elif name == "MEMOIZE":
                memo[len(memo)] = pushed[-1] if pushed else None
            elif name in ("GLOBAL", "INST"):
                module, _, attr = str(arg).partition(" ")
                found.append((module, attr))
                pushed.append(None)
            elif name == "STACK_GLOBAL":
                if len(pushed) >= 2 and all(isinstance(v, str) for v in pushed[-2:]):
                    found.append((str(pushed[-2]), str(pushed[-1])))
                else:
                    found.append((UNRESOLVED_GLOBAL, ""))
                pushed.append(None)
            elif name in ("EXT1", "EXT2", "EXT4"):
                # copyreg's extension registry maps a code to any global.
                found.append((f"<copyreg extension {arg}>", ""))
                pushed.append(None)
            elif name in ("LONG1", "LONG4", "INT", "BININT", "BININT1", "BININT2", "LONG"):
                if n_ops <= 2:
                    first_int = arg
                pushed.append(None)
            elif name not in _NEUTRAL_OPS:
                pushed.append(None)
    except (ValueError, EOFError, struct.error, UnicodeDecodeError) as exc:
        raise InvalidModelError(
            f"the pickle data is truncated or corrupt ({exc})",
            path=path,
            fix="re-save or re-download the file.",
        ) from exc
    return found, first_int


def scan_pickle_globals(path: str | Path, data: bytes | None = None) -> list[str]:
    """List the ``module.name`` globals a torch.save file's pickle refers to.

    See :func:`scan_pickle_global_pairs`, which keeps module and name apart."""
    return list(dict.fromkeys(f"{m}.{n}" if n else m
                              for m, n in scan_pickle_global_pairs(path, data)))


def pickle_modules(path: str | Path, data: bytes | None = None) -> dict[str, list[str]]:
    """The modules a torch.save file's pickle imports when it is loaded, each with the
    names it takes from them (``{"mynet": ["Net"], "torch.nn.modules.linear":
    ["Linear"]}``); globals that cannot be named statically are left out."""
    out: dict[str, list[str]] = {}
    for module, name in scan_pickle_global_pairs(path, data):
        if name and not module.startswith("<"):
            out.setdefault(module, [])
            if name not in out[module]:
                out[module].append(name)
    return out


def scan_pickle_global_pairs(path: str | Path, data: bytes | None = None
                             ) -> list[tuple[str, str]]:
    """List the ``(module, name)`` globals a torch.save file's pickle refers to.

    Parameters
    ----------
    path
        A torch.save file: a zip archive (its ``data.pkl`` is scanned) or a legacy
        pickle stream (its header pickles and object pickle are scanned).
    data
        The file's bytes, if already read; then ``path`` only names the file in errors.
        Scanning the same bytes that are then loaded leaves no window in which the file
        could be swapped.

    Returns
    -------
    list[tuple[str, str]]
        Distinct globals in order of first appearance; ``("<unresolved STACK_GLOBAL>",
        "")`` or ``("<copyreg extension N>", "")`` for references that cannot be named
        statically.

    Raises
    ------
    InvalidModelError
        If the file is not a readable zip or pickle.
    """
    path = Path(path)
    with _source(path, data) as fh:
        head = fh.read(4)
    found: list[tuple[str, str]]
    if head.startswith(b"PK"):
        found = []
        for member in _read_pickles(path, data):
            found.extend(_pickle_globals(io.BytesIO(member), path)[0])
    else:
        found = []
        with _source(path, data) as fh:
            first, magic = _pickle_globals(fh, path)
            found.extend(first)
            # A legacy torch.save file is 5 pickles (magic, protocol, sys info, object,
            # storage keys) then raw storage bytes; torch.load unpickles all five.
            if magic == LEGACY_MAGIC:
                for _ in range(4):
                    found.extend(_pickle_globals(fh, path)[0])
    return list(dict.fromkeys(found))


def weights_only_allowed_globals() -> set[str]:
    """Globals that ``torch.load(weights_only=True)`` accepts (default and user lists)."""
    try:
        from torch import _weights_only_unpickler as wou

        allowed = set(wou._get_allowed_globals().keys())
        allowed |= set(wou._get_user_allowed_globals().keys())
        return allowed
    except Exception:  # noqa: BLE001 - private API; fall back to a conservative list
        import torch

        allowed = {"collections.OrderedDict", "torch.Size", "torch.device"}
        allowed |= {f"torch._utils.{n}" for n in ("_rebuild_tensor", "_rebuild_tensor_v2",
                                                 "_rebuild_parameter")}  # fmt: skip
        allowed |= {f"torch.{n}" for n in dir(torch) if n.endswith("Storage")}
        return allowed


def unsafe_globals(path: str | Path, data: bytes | None = None) -> list[str]:
    """Globals of a torch.save file that ``weights_only=True`` loading would not allow.

    Parameters
    ----------
    path
        A torch.save file (zip or legacy).
    data
        The file's bytes, if already read (see :func:`scan_pickle_globals`).

    Returns
    -------
    list[str]
        Empty for a plain state dict; otherwise the offending globals (for example
        ``posix.system``), sorted.
    """
    path = Path(path)
    allowed = weights_only_allowed_globals()
    unsafe = {g for g in scan_pickle_globals(path, data) if g not in allowed}
    # torch's own static check, where it can read the file, as a second opinion.
    try:
        from torch.serialization import get_unsafe_globals_in_checkpoint

        unsafe |= set(get_unsafe_globals_in_checkpoint(io.BytesIO(data) if data else str(path)))
    except Exception:  # noqa: BLE001 - legacy files, unsupported opcodes: ours decides
        pass
    return sorted(unsafe)


def _looks_like_safetensors(head: bytes) -> bool:
    if len(head) < 9:
        return False
    (header_len,) = struct.unpack("<Q", head[:8])
    return 0 < header_len <= _MAX_SAFETENSORS_HEADER and head[8:9] == b"{"


def check_safetensors(path: str | Path) -> None:
    """Raise :class:`InvalidModelError` if a safetensors file is truncated or malformed."""
    path = Path(path)
    size = path.stat().st_size
    with open(path, "rb") as fh:
        raw = fh.read(8)
        (header_len,) = struct.unpack("<Q", raw) if len(raw) == 8 else (0,)
        header = fh.read(header_len) if 0 < header_len <= _MAX_SAFETENSORS_HEADER else b""
    fix = "re-save or re-download the file."
    if len(header) != header_len or header_len == 0:
        raise InvalidModelError("the safetensors header is truncated", path=path, fix=fix)
    try:
        meta = json.loads(header)
    except (UnicodeDecodeError, ValueError) as exc:
        raise InvalidModelError(f"the safetensors header is not valid JSON ({exc})",
                                path=path, fix=fix) from exc  # fmt: skip
    ends = [
        int(v["data_offsets"][1])
        for k, v in (meta.items() if isinstance(meta, dict) else [])
        if k != "__metadata__" and isinstance(v, dict) and "data_offsets" in v
    ]
    if not isinstance(meta, dict) or (ends and 8 + header_len + max(ends) > size):
        raise InvalidModelError(
            f"the safetensors file is truncated ({size} bytes on disk, header expects "
            f"{8 + header_len + max(ends, default=0)})",
            path=path,
            fix=fix,
        )


def detect_format(path: str | Path) -> str:
    """Tell what kind of model file ``path`` is, from its bytes alone.

    Parameters
    ----------
    path
        The file.

    Returns
    -------
    str
        ``"safetensors"``, ``"state_dict"`` (a torch.save file whose pickle uses only
        what ``weights_only`` loading allows), ``"torchscript"``, ``"export"`` (a
        ``torch.export`` .pt2 archive) or ``"pickled_module"`` (a torch.save file whose
        pickle names other globals, such as a full ``nn.Module``).

    Raises
    ------
    InvalidModelError
        If the file is empty, truncated, or not a recognised model format.
    """
    path = Path(path)
    try:
        size = path.stat().st_size
        with open(path, "rb") as fh:
            head = fh.read(16)
    except OSError as exc:
        raise InvalidModelError(f"cannot read the file ({exc.strerror or exc})", path=path) from exc
    if size == 0:
        raise InvalidModelError("the file is empty", path=path, fix="re-save the model.")
    if head.startswith(b"PK"):
        names = _zip_names(path)
        leaves = {n.split("/", 1)[-1] for n in names}
        if "constants.pkl" in leaves or any(n.startswith("code/") for n in leaves):
            return "torchscript"
        if "archive_format" in leaves or any(n.startswith("models/") for n in leaves):
            return "export"
        if "data.pkl" in leaves:
            return "pickled_module" if unsafe_globals(path) else "state_dict"
        raise InvalidModelError(
            "the zip archive is not a torch.save, TorchScript or torch.export file",
            path=path,
            fix="save the model with safetensors or torch.save(model.state_dict()).",
        )
    if _looks_like_safetensors(head):
        return "safetensors"
    if head[:1] == b"\x80":  # pickle PROTO opcode: a legacy torch.save stream
        return "pickled_module" if unsafe_globals(path) else "state_dict"
    raise InvalidModelError(
        "not a recognised model file (expected safetensors, a torch.save state dict, "
        "TorchScript or a torch.export .pt2 archive)",
        path=path,
        fix="save the model with safetensors or torch.save(model.state_dict()).",
    )
