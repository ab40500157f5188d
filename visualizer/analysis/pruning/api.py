"""``Workspace.prune`` and ``Workspace.prune_sweep``: the Python API over the pruning
jobs (the CLI is a thin layer over these). Bad input is one ``DeepScopeError`` line
naming the option and the fix, before anything runs."""

from __future__ import annotations

from typing import Any

from visualizer.errors import DeepScopeError


def _options(options: dict[str, Any], request_type, fixed: tuple[str, ...], what: str
             ) -> dict[str, Any]:
    """Keyword options checked by name and type, before any request is built: an unknown
    name is said (with the nearest known one), a wrong type named, never a TypeError."""
    import difflib
    from dataclasses import fields

    from visualizer.analysis.pruning.job import WHOLE_OPTIONS, whole

    known = [f.name for f in fields(request_type) if f.name not in fixed]
    for name in options:
        if name not in known:
            near = difflib.get_close_matches(name, known, n=1)
            raise DeepScopeError(
                f"{what} has no option {name!r}"
                + (f" (did you mean {near[0]!r}?)." if near else "."),
                fix=f"its options: {', '.join(known)}.")
    out = dict(options)
    layers = out.get("layers")
    if isinstance(layers, str):  # one layer, not its letters
        out["layers"] = (layers,)
    elif layers is not None:
        try:
            out["layers"] = tuple(layers)
        except TypeError:
            raise DeepScopeError(f"layers must be a list of layer names (got {layers!r}).",
                                 fix="e.g. layers=[\"conv1\", \"fc1\"].") from None
    for name in ("structured", "include_classifier"):
        if name in out and not isinstance(out[name], bool):
            raise DeepScopeError(f"{name} must be True or False (got {out[name]!r}).",
                                 fix=f"pass {name}=True or leave it out.")
    for name in ("schedule", "optimizer", "device"):
        if name in out and not isinstance(out[name], str):
            raise DeepScopeError(f"{name} must be text (got {out[name]!r}).",
                                 fix="see ws.prune's docstring for the values.")
    for name, low in WHOLE_OPTIONS.items():
        if name in out:
            out[name] = whole(name, out[name], low)
    if "lr" in out:
        try:
            if isinstance(out["lr"], bool | str):
                raise TypeError
            out["lr"] = float(out["lr"])
        except (TypeError, ValueError):
            raise DeepScopeError(f"lr must be a number (got {out['lr']!r}).",
                                 fix="e.g. lr=0.01.") from None
    return out


def _check_new_name(ws, name: Any) -> None:
    """``name=`` for a new model: allowed characters, and not a model already there (a
    half-made one, left by a job that died, may be replaced)."""
    from visualizer.analysis.pruning.derived import half_made
    from visualizer.workspace.workspace import check_name

    if not isinstance(name, str):
        raise DeepScopeError(f"name must be text (got {name!r}).",
                             fix="name the model, e.g. name=\"cnn-pruned\".")
    check_name(name, "model")
    rec = next((m for m in ws.models() if m.name == name), None)
    if rec is not None and not half_made(ws, rec):
        raise DeepScopeError(f"a model named {name!r} is already in this workspace.",
                             fix="choose another --name (or leave it out for a free one).")


def build_request(ws, model: str, dataset: str, method: str, sparsity: float, *,
                  params: dict[str, Any] | None = None, **options: Any):
    """A checked ``PruneRequest`` (nothing runs, nothing is written)."""
    from visualizer.analysis.pruning.job import PruneRequest, check_request, resolve_method
    from visualizer.analysis.pruning.unstructured import check_sparsity

    ws.catalog.model(model)
    ws.catalog.dataset(dataset)
    options = _options(options, PruneRequest, _FIXED, "prune")
    spec = resolve_method(method)[1].spec
    request = PruneRequest(workspace=str(ws.root), model=model, dataset=dataset,
                           method=method, sparsity=check_sparsity(sparsity),
                           params=tuple(sorted(spec.check_params(params).items())), **options)
    check_request(request, spec)
    if request.name is not None:
        _check_new_name(ws, request.name)
    return request


_FIXED = ("workspace", "model", "dataset", "method", "sparsity", "params", "sweep")


def prune(ws, model: str, dataset: str, method: str = "magnitude", sparsity: float = 0.9, *,
          ctx=None, params: dict[str, Any] | None = None, **options: Any):
    """Prune ``model`` with ``method`` to ``sparsity``; returns the ``pruning`` run, whose
    ``params["model"]`` names the new model.

    Options: ``structured``, ``schedule`` (oneshot | finetune | gradual | imp), ``layers``
    (names, or one name), ``include_classifier``, ``optimizer``, ``lr``, ``epochs``,
    ``batch_size``, ``imp_rounds``, ``seed``, ``name`` (default: a free automatic name;
    a complete model is never replaced), ``device``; ``params`` the method's parameters.
    """
    from visualizer.analysis.pruning.job import prune_job
    from visualizer.jobs.thread_runner import run_sync

    request = build_request(ws, model, dataset, method, sparsity, params=params, **options)
    return ws.run(run_sync(prune_job, request, ctx=ctx))


def build_sweep(ws, model: str, dataset: str, methods, sparsities=None, **options: Any):
    """A checked ``SweepRequest``; ``params`` (a dict) goes to the methods that declare
    each parameter."""
    from visualizer.analysis.pruning.job import resolve_method
    from visualizer.analysis.pruning.sweep import SweepRequest, check_sweep
    from visualizer.analysis.pruning.table import DEFAULT_SPARSITIES
    from visualizer.analysis.pruning.unstructured import check_sparsity

    ws.catalog.model(model)
    ws.catalog.dataset(dataset)
    options = _options(options, SweepRequest,
                       ("workspace", "model", "dataset", "methods", "sparsities"), "prune_sweep")
    methods = (methods,) if isinstance(methods, str) else tuple(methods)
    if sparsities is None:
        sparsities = DEFAULT_SPARSITIES
    elif isinstance(sparsities, int | float | str):
        sparsities = (sparsities,)
    params = options.pop("params", None) or {}
    if not isinstance(params, dict):
        raise DeepScopeError(f"params must be a mapping of name to value (got {params!r}).",
                             fix="e.g. params={\"norm\": 2}.")
    specs = [resolve_method(m)[1].spec for m in methods]
    # each value in its parameter's type, as the first method that declares it reads it
    # (check_sweep names a parameter no method declares)
    clean = {k: next((s.check_params({k: v})[k] for s in specs if s.param(k)), v)
             for k, v in params.items()}
    request = SweepRequest(workspace=str(ws.root), model=model, dataset=dataset,
                           methods=methods,
                           sparsities=tuple(check_sparsity(s) for s in sparsities),
                           params=tuple(sorted(clean.items())), **options)
    check_sweep(request)
    return request


def prune_sweep(ws, model: str, dataset: str, methods, sparsities=None, *, ctx=None,
                **options: Any):
    """Methods × sparsities as one resumable ``prune_sweep`` run (finished points kept)."""
    from visualizer.analysis.pruning.sweep import sweep_job
    from visualizer.jobs.thread_runner import run_sync

    request = build_sweep(ws, model, dataset, methods, sparsities, **options)
    return ws.run(run_sync(sweep_job, request, ctx=ctx))
