"""Everything the layer detail shows about one layer, gathered in one job."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from visualizer.analysis.layers.units import UnitTable, unit_table
from visualizer.analysis.layers.weights import WeightInfo
from visualizer.jobs.contract import JobContext

log = logging.getLogger("deepscope.layers")


@dataclass(frozen=True)
class DetailRequest:
    """Statistics of ``layer`` in activation run ``run_id`` and its model's weights."""

    workspace: str
    run_id: str
    layer: str


@dataclass
class LayerDetail:
    """Per-unit statistics (None when the layer was not dumped) and weights.

    Attributes
    ----------
    units
        From the run.
    weights
        The module's own weights (None for parameter-free layers or no model).
    first_conv
        Weights of the model's first convolution (its filters are drawn as images),
        also when another layer is selected.
    note
        Why something is missing, for the view to show (also why the parent's weights
        are missing when loading the parent failed).
    parent, parent_weights
        For a pruned model: the model it was pruned from and the same layer's weights
        there (None when the parent is gone, has no such layer or could not be loaded:
        then ``note`` says why), to set side by side.
    parent_note
        Why ``parent_weights`` is None when the parent failed to load ("" otherwise);
        also part of ``note``.
    """

    layer: str
    model: str
    units: UnitTable | None
    weights: WeightInfo | None
    first_conv: WeightInfo | None
    note: str = ""
    parent: str | None = None
    parent_weights: WeightInfo | None = None
    parent_note: str = ""


def layer_detail(request: DetailRequest, ctx: JobContext) -> LayerDetail:
    """Job: unit statistics from the run, weights from the (cached) model."""
    from visualizer.workspace import model_pool
    from visualizer.workspace.workspace import Workspace

    ws = Workspace(request.workspace)
    run = ws.run(request.run_id)
    model_name = run.params.get("model") or run.record.model
    notes = []
    units = None
    with run.arrays() as arrays:
        if request.layer in arrays.layers:
            ctx.status(f"statistics of {request.layer}")
            units = unit_table(arrays, request.layer, ctx.check_cancelled)
        else:
            notes.append(f"{request.layer} was not recorded in run {run.id}, so it has no "
                         "unit statistics; extract it to see them.")
    ctx.check_cancelled()
    weights = conv = None
    try:
        with model_pool.borrow(ws, model_name) as model:
            weights, conv = _weights(model, request.layer)
    except Exception as exc:  # noqa: BLE001 - statistics still show without the model
        log.warning("could not load model %r for layer %r", model_name, request.layer,
                    exc_info=True)
        notes.append(f"the model {model_name!r} could not be loaded: {exc}")
    parent = parent_weights = None
    why = ""
    if weights is not None:
        parent, parent_weights, why = _parent_weights(ws, model_name, request.layer, ctx)
        if why:
            notes.append(why)
    return LayerDetail(request.layer, model_name, units, weights, conv, " ".join(notes),
                       parent=parent, parent_weights=parent_weights, parent_note=why)


def _parent_weights(ws, model_name: str, layer: str, ctx: JobContext):
    """``(parent name, its weights of layer, why they are missing)`` for a pruned model,
    else ``(None, None, "")``.

    The parent comes from the model pool (loaded once, then cached), so clicking
    through the layers of a pruned model stays as fast as for any model. A parent that
    is not in the workspace, or lacks the layer, leaves ``why`` empty (the view says
    so itself); a parent that fails to load is logged and ``why`` gives the reason.
    """
    from visualizer.analysis.layers.lineage import is_pruned, lineage_of
    from visualizer.workspace import model_pool

    try:
        lineage = lineage_of(ws.catalog.model(model_name).info)
    except Exception:  # noqa: BLE001 - removed meanwhile
        log.debug("no lineage for model %r", model_name, exc_info=True)
        return None, None, ""
    if not is_pruned(lineage):
        return None, None, ""
    parent = str(lineage["parent"])
    ctx.check_cancelled()
    try:
        if parent not in {rec.name for rec in ws.catalog.models()}:
            return parent, None, ""  # removed: the view says "not available"
        with model_pool.borrow(ws, parent) as model:
            modules = dict(model.named_modules())
            if layer in modules and any(True for _ in modules[layer].parameters(recurse=False)):
                from visualizer.analysis.layers.weights import module_weights

                return parent, module_weights(model, layer), ""
    except Exception as exc:  # noqa: BLE001 - the parent is a nicety: the layer still shows
        log.warning("could not load %r, the parent of %r, for layer %r", parent, model_name,
                    layer, exc_info=True)
        reason = " ".join(f"{type(exc).__name__}: {exc}".split())[:300]
        return parent, None, f"the parent model {parent!r} could not be loaded: {reason}"
    return parent, None, ""


def _weights(model, layer: str):
    """The layer's own weights (if it has parameters) and the first convolution's."""
    from visualizer.analysis.layers.weights import first_conv, module_weights

    modules = dict(model.named_modules())
    weights = conv = None
    if layer in modules and any(True for _ in modules[layer].parameters(recurse=False)):
        weights = module_weights(model, layer)
    path = first_conv(model)
    if path is not None:
        conv = module_weights(model, path)
    return weights, conv
