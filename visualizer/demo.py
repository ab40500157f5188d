"""The built-in demo workspace: digits, the three zoo models, their activation runs.

Trained and extracted on first use in well under a minute on a laptop CPU, seeded, and
cached: running it again on a finished demo only adds what is missing.
"""

from __future__ import annotations

from dataclasses import dataclass

from visualizer.jobs.contract import JobContext

DEMO_MODELS = ("mlp", "cnn", "resnet")


@dataclass(frozen=True)
class DemoRequest:
    workspace: str
    models: tuple[str, ...] = DEMO_MODELS
    seed: int = 0
    device: str = "auto"


def build_demo(request: DemoRequest, ctx: JobContext) -> list[str]:
    """Job: create or complete the demo workspace; returns the new run ids."""
    from visualizer.analysis.activations import ExtractRequest, extract_activations
    from visualizer.workspace.workspace import Workspace

    ws = Workspace.create(request.workspace, exist_ok=True)
    if not any(d.name == "digits" for d in ws.datasets()):
        ctx.status("adding the digits dataset")
        ws.add_builtin_dataset("digits", "digits")
    steps = 2 * len(request.models)
    done = 0
    new_runs = []
    have_models = {m.name for m in ws.models()}
    for name in request.models:
        ctx.check_cancelled()
        if name not in have_models:
            ctx.status(f"training {name} on digits")
            ws.add_zoo_model(name, name, dataset="digits", seed=request.seed)
        done += 1
        ctx.progress(done, steps)
        ctx.check_cancelled()
        complete = [r for r in ws.runs(kind="activations", status="complete")
                    if r.params.get("model") == name and r.params.get("dataset") == "digits"]
        if not complete:
            ctx.status(f"extracting activations of {name}")
            new_runs.append(extract_activations(
                ExtractRequest(workspace=str(ws.root), model=name, dataset="digits",
                               split="test", device=request.device), _SubContext(ctx)))
        done += 1
        ctx.progress(done, steps)
    return new_runs


class _SubContext:
    """Pass cancellation and status through, keep the parent's step-level progress."""

    def __init__(self, parent: JobContext):
        self._parent = parent

    def progress(self, done, total=None):
        pass

    def status(self, text):
        self._parent.status(text)

    def partial(self, obj):
        pass

    @property
    def cancelled(self):
        return self._parent.cancelled

    def check_cancelled(self):
        self._parent.check_cancelled()
