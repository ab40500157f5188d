"""Device selection: ``auto`` picks CUDA, then MPS, then CPU; a user can pin one."""

from __future__ import annotations

from visualizer.errors import DeepScopeError

CHOICES = ("auto", "cpu", "cuda", "mps")


def resolve_device(name: str = "auto") -> str:
    """Return a concrete torch device string for ``auto|cpu|cuda|cuda:N|mps``."""
    import torch

    name = (name or "auto").lower()
    if name == "auto":
        if torch.cuda.is_available():
            return "cuda"
        mps = getattr(torch.backends, "mps", None)
        if mps is not None and mps.is_available():
            return "mps"
        return "cpu"
    if name.startswith("cuda"):
        if not torch.cuda.is_available():
            raise DeepScopeError(
                f"device {name!r} was requested but this torch build sees no CUDA GPU.",
                fix="use --device auto or --device cpu.",
            )
        return name
    if name == "mps":
        mps = getattr(torch.backends, "mps", None)
        if mps is None or not mps.is_available():
            raise DeepScopeError("device 'mps' is not available here.", fix="use --device auto.")
        return name
    if name == "cpu":
        return name
    raise DeepScopeError(f"unknown device {name!r}.", fix=f"use one of {', '.join(CHOICES)}.")
