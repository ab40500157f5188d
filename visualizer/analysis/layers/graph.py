"""The layer graph of a model, annotated and laid out, as a job.

Nodes come from :func:`visualizer.models.introspection.layer_graph` (torch.fx, or the
module tree when the model does not trace) and carry what the view shows: type, output
shape, parameter count, weight norm, share of exactly-zero weights (where pruning removed
weights), and, from an activation run, mean activation and dead fraction. Collapsing a module folds all nodes under its path into one node; edges
into and out of the module are kept, edges inside it disappear.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np

from visualizer.analysis.layers.layout import NODE_W, Layout, layered_layout
from visualizer.jobs.contract import JobContext

#: Statistics a node can be coloured by: key -> (menu text, log scale).
COLOR_STATS: dict[str, tuple[str, bool]] = {
    "mean_activation": ("Mean activation", False),
    "dead_fraction": ("Dead units (fraction)", False),
    "weight_norm": ("Weight norm", False),
    "n_params": ("Parameter count", True),
    "zero_weights": ("Weight sparsity", False),
}

#: The colouring that shows where pruning removed weights (exactly-zero weights).
SPARSITY = "zero_weights"

#: Statistics drawn on a fixed scale instead of their range in the graph: a fraction of
#: zero weights means the same colour in every model (0 neutral, 1 the strongest), so an
#: unpruned model does not light up over its few accidental zeros.
FIXED_RANGE: dict[str, tuple[float, float]] = {SPARSITY: (0.0, 1.0)}


@dataclass
class LayerNode:
    """One node of the view's graph.

    Attributes
    ----------
    name
        Unique node name (module path for modules; fx name for functions).
    op
        fx op, ``module`` in the fallback, ``collapsed`` for a folded module.
    type_name
        Module class or function name.
    module_path
        Module path or None.
    shape
        Per-sample output shape, or None when unknown.
    n_params
        Parameters (a collapsed node: all of the module's).
    values
        Statistics for colouring (:data:`COLOR_STATS` keys); missing means unknown.
    members
        Number of original nodes folded into this one (1 for a plain node).
    layer
        The run's layer whose activations this node shows (None if not dumped).
    """

    name: str
    op: str
    type_name: str
    module_path: str | None
    shape: tuple[int, ...] | None
    n_params: int
    values: dict[str, float] = field(default_factory=dict)
    members: int = 1
    layer: str | None = None
    scope: str | None = None  # module whose forward called this function node


@dataclass
class ModelGraph:
    """A model's annotated graph (before layout)."""

    model: str
    nodes: list[LayerNode]
    edges: list[tuple[str, str]]
    traced: bool
    note: str
    containers: list[str] = field(default_factory=list)  # collapsible module paths

    def node(self, name: str) -> LayerNode | None:
        return next((n for n in self.nodes if n.name == name), None)


@dataclass
class GraphResult:
    """What the graph view draws: the (possibly collapsed) graph and its layout."""

    graph: ModelGraph
    layout: Layout
    collapsed: tuple[str, ...] = ()
    seconds: float = 0.0
    full: ModelGraph | None = None  # before collapsing, for re-layouts without the model


@dataclass(frozen=True)
class GraphRequest:
    """Build (and lay out) the graph of ``model``; statistics from ``run_id`` if given."""

    workspace: str
    model: str
    run_id: str | None = None
    collapsed: tuple[str, ...] = ()
    collapse_depth: int | None = None  # fold every module at this depth (1 = top level)
    expanded: tuple[str, ...] = ()  # modules kept open although at collapse_depth


@dataclass(frozen=True)
class RelayoutRequest:
    """Collapse an already annotated graph differently and lay it out again."""

    graph: ModelGraph
    collapsed: tuple[str, ...] = ()
    collapse_depth: int | None = None
    expanded: tuple[str, ...] = ()


def folded_modules(graph: ModelGraph, collapsed, depth: int | None, expanded) -> set[str]:
    """The modules to fold: ``collapsed`` plus those at ``depth``, minus ``expanded``."""
    out = set(collapsed)
    if depth:
        out |= set(modules_at_depth(graph, depth))
    return (out - set(expanded)) & set(graph.containers)


def relayout(request: RelayoutRequest, ctx: JobContext) -> GraphResult:
    """Job: collapse and lay out a graph (no model needed)."""
    import time

    started = time.perf_counter()
    folded = folded_modules(request.graph, request.collapsed, request.collapse_depth,
                            request.expanded)
    graph = collapse(request.graph, folded) if folded else request.graph
    ctx.status(f"laying out {len(graph.nodes)} nodes")
    layout = layout_graph(graph, ctx.check_cancelled)
    return GraphResult(graph=graph, layout=layout, collapsed=tuple(sorted(folded)),
                       seconds=time.perf_counter() - started, full=request.graph)


def annotate_graph(model, *, name: str = "model", input_shape: tuple[int, ...] | None = None,
                   run_arrays=None, check_cancelled=None) -> ModelGraph:
    """The layer graph of ``model`` with shapes, parameters, weights and run statistics."""
    import torch

    from visualizer.analysis.layers.units import layer_summary, unit_table
    from visualizer.analysis.layers.weights import module_weights
    from visualizer.models.introspection import ROOT_NAME, describe_layers, layer_graph

    lg = layer_graph(model)
    check = check_cancelled or (lambda: None)
    check()
    shapes: dict[str, tuple[int, ...] | None] = {}
    infos = {}
    example = None
    if input_shape:
        example = torch.zeros((1, *input_shape))
        try:
            infos = {i.name: i for i in describe_layers(model, example)}
            shapes = {k: v.output_shape for k, v in infos.items()}
        except Exception:  # noqa: BLE001 - shapes are a nicety; the graph still shows
            infos = {}
    scopes: dict[str, str] = {}
    if lg.traced:
        fx_shapes, scopes = _fx_shapes(model, example)
        shapes.update(fx_shapes)
    check()
    modules = dict(model.named_modules())
    run_layers = set(run_arrays.layers) if run_arrays is not None else set()
    nodes = []
    for gn in lg.nodes:
        path = gn.module_path
        module = modules.get(path) if path is not None else None
        if gn.name == ROOT_NAME:
            module = model
        n_params = sum(p.numel() for p in module.parameters()) if module is not None else 0
        values: dict[str, float] = {"n_params": float(n_params)}
        if module is not None and any(True for _ in module.parameters(recurse=False)):
            w = module_weights(model, path or "")
            values["weight_norm"] = w.norm
            values["zero_weights"] = w.zero_fraction
        layer = None
        if path and path in run_layers:
            layer = path
        elif path and path in infos and infos[path].alias_of in run_layers:
            layer = infos[path].alias_of  # a container that returns its child's tensor
        if layer is not None:
            summary = layer_summary(unit_table(run_arrays, layer))
            values["mean_activation"] = summary["mean_activation"]
            values["dead_fraction"] = summary["dead_fraction"]
        shape = shapes.get(path) if path else shapes.get(gn.name)
        nodes.append(LayerNode(name=gn.name, op=gn.op, type_name=gn.target, module_path=path,
                               shape=tuple(shape) if shape else None, n_params=int(n_params),
                               values=values, layer=layer,
                               scope=scopes.get(gn.name) if path is None else None))
    paths = [n.module_path or n.scope for n in nodes if n.module_path or n.scope]
    leaves = {n.module_path for n in nodes if n.module_path and n.op != "module"}
    containers = sorted((_ancestors(paths) | {n.scope for n in nodes if n.scope}) - leaves)
    return ModelGraph(model=name, nodes=nodes, edges=list(lg.edges), traced=lg.traced,
                      note=lg.note, containers=containers)


def _ancestors(paths) -> set[str]:
    out = set()
    for p in paths:
        parts = p.split(".")
        for k in range(1, len(parts)):
            out.add(".".join(parts[:k]))
    return out


def _fx_shapes(model, example=None):
    """Output shape and calling module of every fx node, by fx name.

    Shapes of functions (``add``, ``flatten``) come from fx's ShapeProp; the scope is the
    innermost module whose forward made the call (``nn_module_stack``).
    """
    import torch

    from visualizer.models.fx_guard import tracing

    try:
        with tracing():  # fx patches Module.__call__ process-wide while it traces
            gm = torch.fx.symbolic_trace(model)
    except Exception:  # noqa: BLE001 - layer_graph reports why
        return {}, {}
    scopes = {}
    for node in gm.graph.nodes:
        stack = node.meta.get("nn_module_stack")
        if node.op in ("call_function", "call_method") and stack:
            scopes[node.name] = str(next(reversed(stack)))
    out: dict[str, tuple[int, ...]] = {}
    if example is not None:
        # A plain Interpreter, not fx's ShapeProp: that one imports sympy (1.5 s).
        class _Shapes(torch.fx.Interpreter):
            def run_node(self, n):
                result = super().run_node(n)
                if isinstance(result, torch.Tensor) and result.dim() >= 1:
                    out[n.name] = tuple(int(s) for s in result.shape[1:])
                return result

        try:
            with torch.inference_mode():
                _Shapes(gm).run(example)
        except Exception:  # noqa: BLE001 - fall back to module shapes only
            return {}, scopes
    return out, scopes


def collapse(graph: ModelGraph, modules: set[str] | tuple[str, ...]) -> ModelGraph:
    """Fold every node under each module path in ``modules`` into one node.

    A module nested in another collapsed module folds into the outer one. The folded
    node shows the module's output (its last member's shape and run layer), the sum of
    parameters, and the mean of its members' statistics weighted by their units.
    """
    modules = set(modules)
    if not modules:
        return graph

    def owner(node: LayerNode) -> str | None:
        # A function called inside a module's forward (the `add` of a residual block)
        # belongs to that module: fx records the call's module stack as its scope.
        path = node.module_path or node.scope
        if not path:
            return None
        parts = path.split(".")
        for k in range(1, len(parts) + 1):  # the outermost collapsed ancestor wins
            prefix = ".".join(parts[:k])
            if prefix in modules:
                return prefix
        return None

    groups: dict[str, list[LayerNode]] = {}
    mapping: dict[str, str] = {}
    order: list[str] = []
    own = {n.name: owner(n) for n in graph.nodes}
    for n in graph.nodes:
        key = own[n.name] or n.name
        mapping[n.name] = key
        if key not in groups:
            groups[key] = []
            order.append(key)
        groups[key].append(n)
    nodes = []
    for key in order:
        members = groups[key]
        if len(members) == 1 and own[members[0].name] is None:
            nodes.append(members[0])
            continue
        nodes.append(_fold(key, members))
    edges = []
    seen = set()
    for s, d in graph.edges:
        a, b = mapping[s], mapping[d]
        if a != b and (a, b) not in seen:
            seen.add((a, b))
            edges.append((a, b))
    return replace(graph, nodes=nodes, edges=edges)


def _fold(path: str, members: list[LayerNode]) -> LayerNode:
    last = members[-1]
    n_params = sum(m.n_params for m in members)
    # In the module-tree fallback the container node itself is a member and already
    # counts its children's parameters: take it alone then.
    container = next((m for m in members if m.module_path == path), None)
    if container is not None and container.op == "module":
        n_params = container.n_params
    values: dict[str, float] = {"n_params": float(n_params)}
    for key in ("mean_activation", "dead_fraction"):
        vals = [m.values[key] for m in members if key in m.values]
        if vals:
            values[key] = float(np.mean(vals))
    norms = [m.values["weight_norm"] for m in members if "weight_norm" in m.values]
    if norms:
        values["weight_norm"] = float(np.sqrt(np.sum(np.square(norms))))
    zeros = [(m.values["zero_weights"], m.n_params) for m in members if "zero_weights" in m.values]
    if zeros and sum(w for _, w in zeros):
        values["zero_weights"] = float(np.average([z for z, _ in zeros],
                                                  weights=[w for _, w in zeros]))
    layer = next((m.layer for m in reversed(members) if m.layer), None)
    shape = next((m.shape for m in reversed(members) if m.shape), None)
    return LayerNode(name=path, op="collapsed", type_name=f"{len(members)} layers",
                     module_path=path, shape=shape or last.shape, n_params=n_params,
                     values=values, members=len(members), layer=layer)


def layout_graph(graph: ModelGraph, check_cancelled=None) -> Layout:
    """Layered layout of a :class:`ModelGraph` (collapsed nodes are a little wider)."""
    widths = {n.name: NODE_W * (1.15 if n.op == "collapsed" else 1.0) for n in graph.nodes}
    return layered_layout([n.name for n in graph.nodes], graph.edges, widths=widths,
                          check_cancelled=check_cancelled)


def modules_at_depth(graph: ModelGraph, depth: int) -> tuple[str, ...]:
    """Container module paths at nesting ``depth`` (1 = children of the root)."""
    return tuple(c for c in graph.containers if c.count(".") + 1 == depth)


def build_graph(request: GraphRequest, ctx: JobContext) -> GraphResult:
    """Job: load the model, annotate its graph with the run's statistics, lay it out."""
    import time

    from visualizer.workspace import model_pool
    from visualizer.workspace.workspace import Workspace

    started = time.perf_counter()
    ctx.status(f"loading {request.model}")
    ws = Workspace(request.workspace)
    with model_pool.borrow(ws, request.model) as model:
        graph = _traced_graph(request, ctx, ws, model)
    result = relayout(RelayoutRequest(graph, request.collapsed, request.collapse_depth,
                                      request.expanded), ctx)
    result.seconds = time.perf_counter() - started
    return result


def _traced_graph(request, ctx: JobContext, ws, model):
    import torch

    rec = ws.catalog.model(request.model)
    input_shape = tuple(rec.info.get("input_shape") or ()) or None
    ctx.check_cancelled()
    ctx.status("tracing the layer graph")
    arrays = None
    try:
        if request.run_id:
            run = ws.run(request.run_id)
            if input_shape is None:
                input_shape = _run_input_shape(ws, run)
            arrays = run.arrays()
        with torch.no_grad():
            graph = annotate_graph(model, name=request.model, input_shape=input_shape,
                                   run_arrays=arrays, check_cancelled=ctx.check_cancelled)
    finally:
        if arrays is not None:
            arrays.close()
    lineage = (rec.info or {}).get("lineage") or {}
    if lineage.get("structured"):
        # Removed channels are gone, not zero: a channel-pruned layer is coloured by the
        # share of its output channels removed, which is its sparsity (see its tooltip).
        removed = lineage.get("layer_sparsity") or {}
        for node in graph.nodes:
            if node.module_path in removed:
                node.values[SPARSITY] = float(removed[node.module_path])
    return graph


def _run_input_shape(ws, run) -> tuple[int, ...] | None:
    try:
        from visualizer.samples import samples_of_run

        return tuple(samples_of_run(ws, run).x.shape[1:])
    except Exception:  # noqa: BLE001 - only used for shapes
        return None
