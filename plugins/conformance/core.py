"""What every conformance check shares: results, named steps, hook counting."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from plugins.api import Contribution

#: A check shows its time when it takes longer than this (seconds), and says it is slow.
SLOW_SECONDS = 5.0


class ConformanceError(AssertionError):
    """A contribution does not keep the plugin contract."""


@dataclass
class CheckResult:
    """One named check of one contribution: passed or failed, and why, in one line."""

    id: str  # the contribution id ("plugin.name"), or the plugin name for its manifest
    kind: str  # the contribution kind, or "manifest"
    check: str  # what was checked ("shape", "seeded", ...)
    ok: bool
    message: str = ""
    seconds: float = 0.0

    def line(self) -> str:
        took = f" ({self.seconds:.1f} s{', slow' if self.seconds >= SLOW_SECONDS else ''})" \
            if self.seconds >= 1.0 else ""
        text = f"{'ok  ' if self.ok else 'FAIL'} {self.id} {self.check}{took}"
        return f"{text}: {self.message}" if self.message else text

    def to_json(self) -> dict[str, Any]:
        return {"id": self.id, "kind": self.kind, "check": self.check, "ok": self.ok,
                "message": self.message, "seconds": round(self.seconds, 3)}


class Stop(Exception):
    """A fatal step failed: the remaining checks of this contribution cannot run."""


class Note:
    """What a passing step says about itself (``note.text = ...``)."""

    text = ""


def one_line(exc: BaseException, limit: int = 300) -> str:
    text = str(exc) if isinstance(exc, ConformanceError) else f"{type(exc).__name__}: {exc}"
    text = " ".join(text.split())
    return text if len(text) <= limit else text[:limit - 3] + "..."


class Steps:
    """Runs and records the named checks of one contribution.

    ``with steps.step("shape") as note: ...`` records a pass (with ``note.text``) or a
    failure with its one-line reason. A failed *fatal* step stops this contribution's
    remaining checks (they depend on it); a failed non-fatal one lets them go on.
    ``strict`` (the default for a check function called on its own) raises
    ``ConformanceError`` at the first failure instead.
    """

    def __init__(self, c: Contribution, *, strict: bool = False,
                 on_result: Callable[[CheckResult], None] | None = None):
        self.c = c
        self.strict = strict
        self.on_result = on_result
        self.results: list[CheckResult] = []

    def add(self, result: CheckResult) -> None:
        self.results.append(result)
        if self.on_result is not None:
            self.on_result(result)

    @contextlib.contextmanager
    def step(self, name: str, *, fatal: bool = True) -> Iterator[Note]:
        note = Note()
        started = time.perf_counter()
        try:
            yield note
        except Stop:
            raise
        except Exception as exc:  # noqa: BLE001 - a failing check is a result
            seconds = time.perf_counter() - started
            reason = one_line(exc)
            if self.strict:
                raise ConformanceError(f"{self.c.id} {name}: {reason}") from exc
            self.add(CheckResult(self.c.id, self.c.kind, name, False, reason, seconds))
            if fatal:
                raise Stop(name) from exc
        else:
            self.add(CheckResult(self.c.id, self.c.kind, name, True, note.text,
                                 time.perf_counter() - started))


def require(condition: bool, message: str) -> None:
    if not condition:
        raise ConformanceError(message)


def leftover_hooks(model) -> list[str]:
    """Hooks on the model's modules and torch's global module hooks, by where they are."""
    from torch.nn.modules import module as torch_module

    from visualizer.workspace.model_pool import HOOK_KINDS

    found = [f"{name or '<model>'}.{kind}" for name, m in model.named_modules()
             for kind in HOOK_KINDS if getattr(m, kind, None)]
    found += [kind for kind in ("_global_forward_hooks", "_global_forward_pre_hooks",
                                "_global_backward_hooks", "_global_backward_pre_hooks")
              if getattr(torch_module, kind, None)]
    return found


@contextlib.contextmanager
def seeded_torch(seed: int) -> Iterator[None]:
    """Seed torch inside the block and give the caller's random state back after."""
    import torch

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        yield
