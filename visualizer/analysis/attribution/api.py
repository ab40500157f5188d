"""``Workspace.attribute`` and ``sanity_check``: the Python API over the jobs."""

from __future__ import annotations

from typing import Any

from visualizer.errors import DeepScopeError

_REQUEST_KEYS = ("split", "limit", "sample_ids", "target", "baseline", "layer", "smooth",
                 "nt_samples", "nt_stdevs", "device", "batch_size", "seed", "metrics",
                 "sensitivity_samples", "escalate", "progressive")


def build_request(ws, model: str, dataset: str, method: str, **options: Any):
    """An ``AttributeRequest``; options not of the request are the method's parameters."""
    from plugins.manager import get_manager
    from visualizer.analysis.attribution.job import AttributeRequest

    params = dict(options.pop("params", None) or {})
    fields = {k: options.pop(k) for k in list(options) if k in _REQUEST_KEYS}
    if fields.get("sample_ids") is not None:
        fields["sample_ids"] = tuple(int(i) for i in fields["sample_ids"])
    manager = get_manager()
    spec = manager.load(manager.get("attribution_methods", method)).spec
    for key, value in options.items():
        if value is None:
            continue
        if spec.param(key) is None:
            raise DeepScopeError(f"{spec.id} has no option {key!r}.",
                                 fix="its parameters: "
                                     f"{', '.join(p.name for p in spec.params) or 'none'}.")
        params[key] = value
    params = {k: _coerce(spec.param(k), v) for k, v in params.items()}
    check_params(spec, params)
    request = AttributeRequest(workspace=str(ws.root), model=model, dataset=dataset,
                               method=method, params=tuple(sorted(params.items())), **fields)
    from visualizer.analysis.attribution.job import check_request

    check_request(request)  # limit, batch size ...: said now, not when the job starts
    return request


class ParamError(DeepScopeError):
    """A method parameter the method does not take, or a value outside its range."""

    def __init__(self, param: str, message: str, *, fix: str | None = None):
        self.param = param
        super().__init__(message, fix=fix)


def check_params(spec, params: dict[str, Any]) -> None:
    """Every parameter is declared by the method and within its range or choices."""
    for name, value in params.items():
        p = spec.param(name)
        if p is None:
            raise ParamError(name, f"{spec.id} has no parameter {name!r}.",
                             fix="its parameters: "
                                 f"{', '.join(q.name for q in spec.params) or 'none'}.")
        if p.choices and value not in p.choices:
            raise ParamError(name, f"{name} of {spec.id} must be one of "
                                   f"{', '.join(p.choices)} (got {value!r}).")
        if p.kind in ("int", "float") and not isinstance(value, bool):
            if p.minimum is not None and value < p.minimum:
                raise ParamError(name, f"{name} of {spec.id} must be at least "
                                       f"{p.minimum:g} (got {value}).")
            if p.maximum is not None and value > p.maximum:
                raise ParamError(name, f"{name} of {spec.id} must be at most "
                                       f"{p.maximum:g} (got {value}).")


def _coerce(param, value):
    if param is None:
        return value
    try:
        if param.kind == "int":
            return int(value)
        if param.kind == "float":
            return float(value)
    except (TypeError, ValueError):
        raise ParamError(param.name, f"{param.name} must be a{'n integer' if param.kind == 'int' else ' number'} "
                                     f"(got {value!r}).") from None
    if param.kind == "bool" and isinstance(value, str):
        return value.strip().lower() in ("1", "true", "yes", "on")
    return value


def attribute(ws, model: str, dataset: str, method: str = "integrated_gradients", *,
              ctx=None, **options: Any):
    """Run ``method`` on ``dataset`` with ``model``; returns the new ``Run``."""
    from visualizer.analysis.attribution.job import attribute_job
    from visualizer.jobs.thread_runner import run_sync

    request = build_request(ws, model, dataset, method, **options)
    return ws.run(run_sync(attribute_job, request, ctx=ctx))


def sanity_check(ws, model: str, dataset: str, method: str = "integrated_gradients", *,
                 ctx=None, **options: Any):
    """Model-randomisation check of ``method``; returns the new ``sanity`` run."""
    from visualizer.analysis.attribution.sanity import SanityRequest, sanity_job
    from visualizer.jobs.thread_runner import run_sync

    base = build_request(ws, model, dataset, method, **options)
    request = SanityRequest.from_attribute(base, n_samples=options.get("limit") or 8)
    return ws.run(run_sync(sanity_job, request, ctx=ctx))
