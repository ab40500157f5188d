"""``Workspace.prune``, ``Workspace.prune_sweep`` and ``Workspace.cka``: the Python API
over the pruning jobs (the CLI is a thin layer over these)."""

from __future__ import annotations

from typing import Any

from visualizer.errors import DeepScopeError


def _method_params(method: str, options: dict[str, Any]) -> tuple[tuple[str, Any], ...]:
    """The method's own parameters, checked against its table row."""
    from visualizer.analysis.pruning.job import resolve_method

    _, obj = resolve_method(method)
    spec = obj.spec
    out = {}
    for name, value in (options or {}).items():
        param = spec.param(name)
        if param is None:
            known = ", ".join(p.name for p in spec.params) or "none"
            raise DeepScopeError(f"{spec.id} has no parameter {name!r}.",
                                 fix=f"its parameters: {known}.")
        if param.kind == "int":
            value = int(value)
        elif param.choices:
            value = type(param.default)(value)
            if value not in param.choices:
                raise DeepScopeError(f"{name} of {spec.id} must be one of "
                                     f"{', '.join(map(str, param.choices))} (got {value!r}).")
        out[name] = value
    return tuple(sorted(out.items()))


def build_request(ws, model: str, dataset: str, method: str, sparsity: float, *,
                  params: dict[str, Any] | None = None, **options: Any):
    """A checked ``PruneRequest`` (nothing runs, nothing is written)."""
    from visualizer.analysis.pruning.job import PruneRequest, check_request, resolve_method

    ws.catalog.model(model)
    ws.catalog.dataset(dataset)
    if options.get("layers") is not None:
        options["layers"] = tuple(options["layers"])
    request = PruneRequest(workspace=str(ws.root), model=model, dataset=dataset,
                           method=method, sparsity=float(sparsity),
                           params=_method_params(method, params), **options)
    check_request(request, resolve_method(method)[1].spec)
    if request.name is not None:
        from visualizer.workspace.workspace import check_name

        check_name(request.name, "model")
        if any(m.name == request.name for m in ws.models()):
            raise DeepScopeError(f"a model named {request.name!r} is already in this "
                                 "workspace.", fix="choose another --name.")
    return request


def prune(ws, model: str, dataset: str, method: str = "magnitude", sparsity: float = 0.9, *,
          ctx=None, params: dict[str, Any] | None = None, **options: Any):
    """Prune ``model`` with ``method`` to ``sparsity``; returns the ``pruning`` run, whose
    ``params["model"]`` names the new model.

    Options: ``structured``, ``schedule`` (oneshot | finetune | gradual | imp), ``layers``,
    ``include_classifier``, ``optimizer``, ``lr``, ``epochs``, ``batch_size``,
    ``imp_rounds``, ``seed``, ``name``, ``device``; ``params`` the method's parameters.
    """
    from visualizer.analysis.pruning.job import prune_job
    from visualizer.jobs.thread_runner import run_sync

    request = build_request(ws, model, dataset, method, sparsity, params=params, **options)
    return ws.run(run_sync(prune_job, request, ctx=ctx))


def build_sweep(ws, model: str, dataset: str, methods, sparsities=None, **options: Any):
    """A checked ``SweepRequest``."""
    from visualizer.analysis.pruning.sweep import SweepRequest, check_sweep
    from visualizer.analysis.pruning.table import DEFAULT_SPARSITIES

    ws.catalog.model(model)
    ws.catalog.dataset(dataset)
    if options.get("layers") is not None:
        options["layers"] = tuple(options["layers"])
    request = SweepRequest(workspace=str(ws.root), model=model, dataset=dataset,
                           methods=tuple(methods),
                           sparsities=tuple(float(s) for s in (sparsities or DEFAULT_SPARSITIES)),
                           **options)
    check_sweep(request)
    return request


def prune_sweep(ws, model: str, dataset: str, methods, sparsities=None, *, ctx=None,
                **options: Any):
    """Methods × sparsities as one resumable ``prune_sweep`` run (finished points kept)."""
    from visualizer.analysis.pruning.sweep import sweep_job
    from visualizer.jobs.thread_runner import run_sync

    request = build_sweep(ws, model, dataset, methods, sparsities, **options)
    return ws.run(run_sync(sweep_job, request, ctx=ctx))
