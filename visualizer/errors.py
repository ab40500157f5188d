"""User-facing errors.

Every error a user can cause (a bad file, a missing name, an unsafe model) is a
``DeepScopeError`` whose message says what failed, which file, and what to do. The CLI
prints it in one line and exits non-zero; the GUI shows it as a notification. Anything
else that escapes is a bug and is reported with its traceback.
"""

from __future__ import annotations

from pathlib import Path


class DeepScopeError(Exception):
    """An error with a message meant for the user.

    Parameters
    ----------
    message
        What failed.
    path
        The file or folder involved, if any; it is named in the message.
    fix
        What the user can do about it.
    """

    def __init__(self, message: str, *, path: str | Path | None = None, fix: str | None = None):
        self.message = message
        self.path = Path(path) if path is not None else None
        self.fix = fix
        super().__init__(self.__str__())

    def __str__(self) -> str:
        text = self.message
        if self.path is not None and str(self.path) not in text:
            text = f"{self.path}: {text}"
        if self.fix:
            text = f"{text} Fix: {self.fix}"
        return text


class NotFoundError(DeepScopeError):
    """A model, dataset, run or layer name that the workspace does not know."""


class UnsafeModelError(DeepScopeError):
    """A model file that would run code when loaded, refused without ``--trust``."""


class InvalidModelError(DeepScopeError):
    """A model file that is malformed, truncated, or does not fit its architecture."""


class InvalidDatasetError(DeepScopeError):
    """A dataset file or folder that cannot be read or fails validation."""


class WorkspaceError(DeepScopeError):
    """A workspace folder that is missing, not a workspace, or from a newer version."""
