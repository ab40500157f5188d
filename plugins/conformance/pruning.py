"""Checks for pruning methods on a tiny seeded conv net.

Each method scores the weights of a net built here (two convolutions with batch norm,
two linear layers; eval mode, seeded training batches) as the pruning job calls it, and
is checked for: a valid ``spec`` (a ``PruningMethodSpec`` with known scope, modes and
well-formed parameters), one finite score per weight, the same scores for the same seed,
nothing left behind (weights, buffers, ``.grad``, hooks, ``requires_grad``, mode), the
same on a model that already carries ``torch.nn.utils.prune`` masks (a second round of
gradual pruning), and that DeepScope's own masking reaches the target: 50% through
``prune_unstructured`` within one weight per layer, and for structured methods 25% of
channels through Torch-Pruning, which must shrink the net and leave it running.
"""

from __future__ import annotations

from typing import Any

from plugins.api import Contribution
from plugins.conformance.core import Steps, require, seeded_torch
from plugins.manager import PluginManager

SEED = 11
N_CLASSES = 3
INPUT_SHAPE = (1, 8, 8)
BATCH, N_BATCHES = 8, 2
SCOPES = ("global", "layer")
PARAM_KINDS = {"int": int, "float": (int, float), "choice": object}
HOOK_KINDS = ("_forward_hooks", "_forward_pre_hooks", "_backward_hooks",
              "_backward_pre_hooks")


def tiny_net():
    """``(model, example, batches)``: conv(1→4)+BN → conv(4→8)+BN → linear(512→16) →
    linear(16→3), seeded, in eval mode; a one-sample example and two ``(x, y)`` batches."""
    import torch
    from torch import nn

    with seeded_torch(SEED):
        model = nn.Sequential()
        model.add_module("conv1", nn.Conv2d(1, 4, 3, padding=1))
        model.add_module("bn1", nn.BatchNorm2d(4))
        model.add_module("relu1", nn.ReLU())
        model.add_module("conv2", nn.Conv2d(4, 8, 3, padding=1))
        model.add_module("bn2", nn.BatchNorm2d(8))
        model.add_module("relu2", nn.ReLU())
        model.add_module("flatten", nn.Flatten())
        model.add_module("fc1", nn.Linear(8 * 8 * 8, 16))
        model.add_module("relu3", nn.ReLU())
        model.add_module("fc2", nn.Linear(16, N_CLASSES))
        for bn in (model.bn1, model.bn2):  # non-trivial statistics, so a change shows
            bn.running_mean.uniform_(-0.5, 0.5)
            bn.running_var.uniform_(0.5, 1.5)
        batches = [(torch.randn(BATCH, *INPUT_SHAPE), torch.randint(0, N_CLASSES, (BATCH,)))
                   for _ in range(N_BATCHES)]
    return model.eval(), batches[0][0][:1].clone(), batches


def validate_spec(spec) -> list[str]:
    """Problems with a method's ``spec`` (empty when it is valid)."""
    from visualizer.analysis.pruning.table import Param, PruningMethodSpec

    if not isinstance(spec, PruningMethodSpec):
        return [f"method.spec must be a PruningMethodSpec, got {type(spec).__name__}"]
    problems = []
    if not (isinstance(spec.id, str) and spec.id.isidentifier()):
        problems.append(f"spec.id {spec.id!r} is not an identifier")
    if not (isinstance(spec.criterion, str) and spec.criterion):
        problems.append("spec.criterion must name the criterion")
    if spec.scope not in SCOPES:
        problems.append(f"spec.scope {spec.scope!r} not one of {SCOPES}")
    if not (spec.unstructured or spec.structured):
        problems.append("the method declares neither unstructured nor structured")
    seen = set()
    for p in spec.params:
        where = f"parameter {getattr(p, 'name', p)!r}"
        if not isinstance(p, Param) or not str(p.name).isidentifier() or p.name in seen:
            problems.append(f"{where}: must be a table.Param with a new identifier name")
            continue
        seen.add(p.name)
        if p.kind not in PARAM_KINDS:
            problems.append(f"{where}: kind {p.kind!r} not one of {sorted(PARAM_KINDS)}")
        elif p.kind == "choice" and p.default not in p.choices:
            problems.append(f"{where}: default {p.default!r} not among {list(p.choices)}")
        elif p.kind != "choice" and (isinstance(p.default, bool)
                                     or not isinstance(p.default, PARAM_KINDS[p.kind])):
            problems.append(f"{where}: default {p.default!r} is not a {p.kind}")
    return problems


def _snapshot(model) -> dict[str, Any]:
    return {"state": {k: v.detach().clone() for k, v in model.state_dict().items()},
            "grads": [n for n, p in model.named_parameters() if p.grad is not None],
            "requires_grad": [p.requires_grad for p in model.parameters()],
            "hooks": {f"{n or '<model>'}.{k}": len(getattr(m, k, {}))
                      for n, m in model.named_modules() for k in HOOK_KINDS},
            "training": model.training}


def _differences(before: dict[str, Any], model) -> list[str]:
    import torch

    after = _snapshot(model)
    found = [f"tensor {k} changed" for k, v in after["state"].items()
             if k not in before["state"] or not torch.equal(v, before["state"][k])]
    found += [f".grad left on {n}" for n in after["grads"] if n not in before["grads"]]
    if after["requires_grad"] != before["requires_grad"]:
        found.append("requires_grad changed")
    found += [f"{where}: {count} hooks, {before['hooks'].get(where, 0)} before"
              for where, count in after["hooks"].items()
              if count != before["hooks"].get(where, 0)]
    if after["training"] != before["training"]:
        found.append("the model's train/eval mode changed")
    return found


def _scores(method, model, layers, batches, spec):
    import torch

    from visualizer.analysis.pruning.unstructured import effective_weight

    modules = dict(model.named_modules())
    weights = {n: effective_weight(modules[n]) for n in layers}
    params = {p.name: p.default for p in spec.params}
    with torch.enable_grad():
        out = method.scores(model, weights, batches, torch.Generator().manual_seed(SEED),
                            **params)
    require(isinstance(out, dict), f"scores() must return a dict, got {type(out).__name__}")
    require(set(out) == set(layers),
            f"scores for {sorted(out)}, expected one per layer {sorted(layers)}")
    for n in layers:
        s = out[n]
        require(isinstance(s, torch.Tensor), f"the score of {n} is a {type(s).__name__}")
        require(s.shape == weights[n].shape,
                f"the score of {n} has shape {tuple(s.shape)}, its weight "
                f"{tuple(weights[n].shape)}")
    return out


def check_pruning_method(manager: PluginManager, c: Contribution,
                         steps: Steps | None = None) -> None:
    """Run every pruning check on one contribution (see the module docstring)."""
    steps = steps or Steps(c, strict=True)
    with steps.step("declares") as note:
        method = manager.load(c)
        spec = getattr(method, "spec", None)
        problems = validate_spec(spec)
        require(not problems, "; ".join(problems))
        require(callable(getattr(method, "scores", None)), "the method lacks scores()")
        require(not spec.structured or callable(getattr(method, "importance", None)),
                "declared structured but lacks importance()")
        n = len(spec.params)
        note.text = f"{spec.modes}, scope {spec.scope}, {n} parameter{'s' * (n != 1)} valid"

    import torch

    model, example, batches = tiny_net()
    layers = ["conv1", "conv2", "fc1", "fc2"]
    before = _snapshot(model)
    with steps.step("scores") as note:
        first = _scores(method, model, layers, batches, spec)
        note.text = "one tensor per weight, of its shape, for conv, linear and classifier"
    with steps.step("finite", fatal=False) as note:
        bad = {n: int((~torch.isfinite(s)).sum()) for n, s in first.items()}
        bad = {n: k for n, k in bad.items() if k}
        require(not bad, f"NaN or inf scores: {bad}")
        note.text = "no NaN or inf"
    with steps.step("seeded", fatal=False) as note:
        again = _scores(method, model, layers, batches, spec)
        differ = [n for n in layers if not torch.equal(first[n], again[n])]
        require(not differ, f"two calls with seed={SEED} differ on {', '.join(differ)}")
        note.text = f"two calls with seed={SEED} give the same scores"
    with steps.step("clean", fatal=False) as note:
        left = _differences(before, model)
        require(not left, "; ".join(left[:4]))
        note.text = "weights, buffers, grads, hooks and mode unchanged"
    with steps.step("masked model", fatal=False) as note:
        note.text = check_masked(method, spec, layers, batches)
    if spec.unstructured:
        with steps.step("unstructured 0.5", fatal=False) as note:
            note.text = check_unstructured(method, layers, batches)
    if spec.structured:
        with steps.step("structured 0.25", fatal=False) as note:
            note.text = check_structured(method, example, batches)


def check_masked(method, spec, layers, batches) -> str:
    """A second round: the model carries torch.nn.utils.prune masks on every layer."""
    import torch
    from torch.nn.utils import prune

    model, _, _ = tiny_net()
    modules = dict(model.named_modules())
    for n in layers:
        prune.random_unstructured(modules[n], "weight", amount=0.3)
    before = _snapshot(model)
    scores = _scores(method, model, layers, batches, spec)
    require(all(bool(torch.isfinite(s).all()) for s in scores.values()),
            "NaN or inf scores on a masked model")
    left = _differences(before, model)
    require(not left, "on a masked model: " + "; ".join(left[:4]))
    return "scores a model carrying masks; masks, weights and hooks unchanged"


def check_unstructured(method, layers, batches) -> str:
    from visualizer.analysis.pruning.unstructured import prune_unstructured, sparsity

    model, _, _ = tiny_net()
    prune_unstructured(model, layers, method, 0.5, batches=batches, seed=SEED)
    overall, per_layer = sparsity(model, layers)
    modules = dict(model.named_modules())
    sizes = {n: modules[n].weight.numel() for n in layers}
    total = sum(sizes.values())
    if method.spec.scope == "layer":
        off = {n: abs(per_layer[n] * k - round(0.5 * k)) for n, k in sizes.items()}
        require(all(v <= 1 for v in off.values()),
                f"per-layer sparsity {per_layer} is not 0.5 within one weight")
    else:
        require(abs(overall * total - round(0.5 * total)) <= len(layers),
                f"sparsity {overall:.4f} is not 0.5 within one weight per layer")
    return f"50% target: sparsity {overall:.4f} over {total} weights"


def check_structured(method, example, batches) -> str:
    import torch

    from visualizer.analysis.pruning.structured import prune_structured

    model, _, _ = tiny_net()
    count = sum(p.numel() for p in model.parameters())
    ops = prune_structured(model, example, ["conv1", "conv2", "fc1"], method, 0.25,
                           batches=batches, seed=SEED)
    after = sum(p.numel() for p in model.parameters())
    require(after < count, f"25% of channels removed nothing ({count} parameters)")
    with torch.no_grad():
        out = model(batches[0][0])
    require(tuple(out.shape) == (BATCH, N_CLASSES),
            f"the pruned model outputs {tuple(out.shape)}, expected ({BATCH}, {N_CLASSES})")
    return (f"{count} -> {after} parameters in {len(ops)} groups; the pruned model runs")
