"""The built-in demo workspace: digits, the three zoo models, their activation runs, and
a pruning lab on the cnn (a small sweep, a gradually pruned 90%-sparse model with its
activations, and the CKA between it and its parent).

Trained and extracted on first use in about a minute on a laptop CPU, seeded, and
cached: running it again on a finished demo only adds what is missing (the sweep keeps
its finished points).
"""

from __future__ import annotations

from dataclasses import dataclass

from visualizer.jobs.contract import JobContext

DEMO_MODELS = ("mlp", "cnn", "resnet")
PRUNING_METHODS = ("magnitude", "random", "snip")
PRUNING_SPARSITIES = (0.5, 0.8, 0.9, 0.95)


@dataclass(frozen=True)
class DemoRequest:
    workspace: str
    models: tuple[str, ...] = DEMO_MODELS
    seed: int = 0
    device: str = "auto"
    pruning: bool = True  # the pruning lab's sweep and 90%-sparse model on the cnn


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
    if request.pruning and "cnn" in request.models:
        new_runs += build_pruning_demo(ws, ctx, device=request.device)
    return new_runs


def build_pruning_demo(ws, ctx: JobContext, device: str = "cpu") -> list[str]:
    """What the Pruning view shows at first launch: three methods × four sparsities on the
    cnn (one-shot), a 90%-sparse cnn pruned gradually while fine-tuning, its activations
    on the same samples as the cnn's and the CKA between the two, and a cnn with half its
    channels removed (smaller and faster). Missing parts only."""
    from visualizer.analysis.activations import ExtractRequest, extract_activations
    from visualizer.analysis.pruning.api import build_request, build_sweep
    from visualizer.analysis.pruning.cka import CkaRequest, cka_job
    from visualizer.analysis.pruning.job import prune_job
    from visualizer.analysis.pruning.sweep import sweep_job

    new_runs = []
    ctx.status("pruning sweep on cnn (magnitude, random, SNIP)")
    sweep = build_sweep(ws, "cnn", "digits", PRUNING_METHODS, PRUNING_SPARSITIES, device=device)
    if not ws.runs(kind="prune_sweep", status="complete", params={"model": "cnn"}):
        new_runs.append(sweep_job(sweep, _SubContext(ctx)))
    gradual = "cnn-magnitude-90-gradual"
    if gradual not in {m.name for m in ws.models()}:
        ctx.status("pruning cnn gradually to 90% while fine-tuning")
        new_runs.append(prune_job(build_request(
            ws, "cnn", "digits", "magnitude", 0.9, schedule="gradual", epochs=8, lr=0.05,
            device=device, name=gradual), _SubContext(ctx)))
    channels = "cnn-ch-magnitude-50-finetune"
    if channels not in {m.name for m in ws.models()}:
        ctx.status("removing half the channels of cnn and fine-tuning it")
        new_runs.append(prune_job(build_request(
            ws, "cnn", "digits", "magnitude", 0.5, structured=True, schedule="finetune",
            epochs=3, lr=0.05, device=device, name=channels), _SubContext(ctx)))
    runs = {}
    for name in ("cnn", gradual):
        have = ws.runs(kind="activations", status="complete", params={"model": name})
        if have:
            runs[name] = have[-1].id
            continue
        ctx.status(f"extracting activations of {name}")
        runs[name] = extract_activations(ExtractRequest(
            workspace=str(ws.root), model=name, dataset="digits", split="test",
            device=device), _SubContext(ctx))
        new_runs.append(runs[name])
    if not ws.runs(kind="cka", status="complete", params={"run_a": runs["cnn"],
                                                          "run_b": runs[gradual]}):
        ctx.status(f"CKA between cnn and {gradual}")
        new_runs.append(cka_job(CkaRequest(str(ws.root), runs["cnn"], runs[gradual]),
                                _SubContext(ctx)))
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
