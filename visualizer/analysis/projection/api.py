"""``Workspace.project``: return the stored projection for identical inputs, else make it."""

from __future__ import annotations

from typing import Any

from visualizer.analysis.projection.job import ProjectRequest, project_job, resolve_method


def request_for(ws, run_id: str, layer: str, method: str, **options: Any):
    """``(request, method_id, params)`` after checking the run, layer and options."""
    from visualizer.analysis.projection.contract import params_dict
    from visualizer.analysis.projection.storage import check_source

    check_source(ws, run_id, layer)
    contribution, impl = resolve_method(method)
    params = params_dict(impl.make_params(**options))
    request = ProjectRequest(workspace=str(ws.root), source_run=run_id, layer=layer,
                             method=contribution.id, options=tuple(sorted(params.items())))
    return request, contribution.id, params


def project_ex(ws, run_id: str, layer: str, method: str = "umap", *, force: bool = False,
               ctx=None, **options: Any):
    """``(run, reused)``; see ``project``."""
    from visualizer.analysis.projection.storage import find_stored
    from visualizer.jobs.thread_runner import run_sync

    request, method_id, params = request_for(ws, run_id, layer, method, **options)
    if not force:
        stored = find_stored(ws, run_id, layer, method_id, params)
        if stored is not None:
            return stored, True
    return ws.run(run_sync(project_job, request, name=f"project {method}", ctx=ctx)), False


def project(ws, run_id: str, layer: str, method: str = "umap", *, force: bool = False,
            ctx=None, **options: Any):
    """A 2-D projection of ``layer`` in activation run ``run_id`` as a ``projection`` run.

    Parameters
    ----------
    ws
        The workspace.
    run_id, layer
        A complete activation run and one of its layers.
    method
        ``"pca"``, ``"umap"``, ``"tsne"`` or any projection-method plugin id.
    force
        Compute again even if a projection with identical inputs is stored.
    ctx
        A job context for progress and cancellation (default: none).
    **options
        The method's parameters (``n_neighbors``, ``min_dist``, ``metric``,
        ``perplexity``, ``seed``, ``pca_dims`` ...); missing ones take their defaults.

    Returns
    -------
    Run
        With ``arrays()["coords"]`` (N, 2) and ``arrays()["sample_index"]``.
    """
    return project_ex(ws, run_id, layer, method, force=force, ctx=ctx, **options)[0]
