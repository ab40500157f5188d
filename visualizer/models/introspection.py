"""Model introspection: layer list with output shapes, forward hooks, layer graph.

Everything here works on any ``nn.Module``; nothing is specific to the zoo.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import Tensor, nn

from visualizer.errors import NotFoundError

HookFn = Callable[[str, nn.Module, tuple[Any, ...], Any], None]

#: Name of the root module in the fallback module-tree graph.
ROOT_NAME = "<model>"


@dataclass(frozen=True)
class LayerInfo:
    """One named submodule, as seen in a forward pass.

    Attributes
    ----------
    name
        Module path (``layer1.0.conv1``).
    type_name
        Class name (``Conv2d``).
    output_shape
        Per-sample output shape (batch dimension removed), or ``None`` when the output
        is not a single tensor or the module did not run.
    n_params
        Parameters of the module including its children.
    depth
        Nesting depth; top-level children have depth 1.
    is_leaf
        Whether the module has no children.
    """

    name: str
    type_name: str
    output_shape: tuple[int, ...] | None
    n_params: int
    depth: int
    is_leaf: bool
    alias_of: str | None = None


@contextmanager
def hooks(model: nn.Module, names: Iterable[str], fn: HookFn) -> Iterator[None]:
    """Register forward hooks on named submodules for the duration of a ``with`` block.

    Parameters
    ----------
    model
        The model.
    names
        Module paths as in ``model.named_modules()``.
    fn
        Called as ``fn(name, module, inputs, output)`` after each named module runs.

    Raises
    ------
    NotFoundError
        If a name is not a submodule of the model (nothing is registered then).

    Notes
    -----
    The hooks are removed when the block exits, also when it raises, so a failed
    extraction never leaves a model that keeps recording.
    """
    modules = dict(model.named_modules())
    names = list(names)
    missing = [n for n in names if n not in modules]
    if missing:
        raise NotFoundError(
            f"no layer named {', '.join(map(repr, missing[:5]))} in the model",
            fix="pick layer names from the model's layer list.",
        )
    handles = []
    try:
        for name in names:
            # Bind name per hook; a plain closure over the loop variable would see the last.
            def _hook(module: nn.Module, inputs: tuple[Any, ...], output: Any, _n: str = name):
                fn(_n, module, inputs, output)

            handles.append(modules[name].register_forward_hook(_hook))
        yield
    finally:
        for handle in handles:
            handle.remove()


def describe_layers(model: nn.Module, example_input: Tensor) -> list[LayerInfo]:
    """List every named submodule in execution order, with its output shape.

    Parameters
    ----------
    model
        The model. It is run once in eval mode (its train/eval flags are restored),
        so batch-norm statistics are not updated.
    example_input
        One batch of input (a batch of one sample is enough).

    Returns
    -------
    list[LayerInfo]
        Modules in the order their forward started (a container before its children);
        modules that never ran come last with ``output_shape=None``. The root module
        itself is not listed.
    """
    from visualizer.models.fx_guard import running_modules

    named = [(n, m) for n, m in model.named_modules() if n]
    order: dict[str, int] = {}
    shapes: dict[str, tuple[int, ...] | None] = {}
    outputs: dict[str, Any] = {}  # held so that identity checks below are meaningful

    def _record_output(name: str, module: nn.Module, inputs: tuple, output: Any) -> None:
        if name in shapes:
            return  # a module called twice keeps its first output shape
        outputs[name] = output
        if isinstance(output, Tensor) and output.dim() >= 1:
            shapes[name] = tuple(int(s) for s in output.shape[1:])
        else:
            shapes[name] = None

    pre_handles = []

    def _make_pre(name: str):
        def _pre(module: nn.Module, inputs: tuple) -> None:
            order.setdefault(name, len(order))

        return _pre

    # Eval mode so the pass has no side effects (batch-norm running stats, dropout).
    training = {m: m.training for m in model.modules()}
    model.eval()
    try:
        for name, module in named:
            pre_handles.append(module.register_forward_pre_hook(_make_pre(name)))
        with running_modules(), hooks(model, [n for n, _ in named], _record_output), \
                torch.inference_mode():
            model(example_input)
    finally:
        for handle in pre_handles:
            handle.remove()
        for module, flag in training.items():
            module.training = flag

    # A container that returns its last child's tensor unchanged (Sequential, a block
    # ending in a ReLU module) would store the same values twice: note the child.
    alias: dict[str, str] = {}
    for name, out in outputs.items():
        if not isinstance(out, Tensor):
            continue
        same = [n for n, o in outputs.items() if o is out and n.startswith(name + ".")]
        if same:
            alias[name] = max(same, key=lambda n: (n.count("."), order.get(n, -1)))
    position = {n: i for i, (n, _) in enumerate(named)}
    # Modules that never ran go last, in definition order.
    ranked = sorted(named, key=lambda nm: order.get(nm[0], len(named) + position[nm[0]]))
    return [
        LayerInfo(
            name=name,
            type_name=type(module).__name__,
            output_shape=shapes.get(name),
            n_params=sum(p.numel() for p in module.parameters()),
            depth=name.count(".") + 1,
            is_leaf=next(iter(module.children()), None) is None,
            alias_of=alias.get(name),
        )
        for name, module in ranked
    ]


@dataclass(frozen=True)
class GraphNode:
    """A node of the layer graph.

    Attributes
    ----------
    name
        Unique node name: the module path for modules, the fx node name for functions
        (``add``, ``add_1``, ``flatten``), ``x`` style names for inputs.
    op
        ``placeholder``, ``call_module``, ``call_function``, ``call_method``, ``output``,
        or ``module`` in the untraced fallback.
    target
        Module class name for modules, function or method name otherwise.
    module_path
        Module path for module nodes, else ``None``.
    """

    name: str
    op: str
    target: str
    module_path: str | None = None


@dataclass
class LayerGraph:
    """Data-flow graph of a model at module granularity.

    Attributes
    ----------
    nodes
        Nodes in execution order (traced) or definition order (fallback).
    edges
        ``(source, destination)`` node names.
    traced
        ``True`` when edges are data flow from ``torch.fx``; ``False`` when tracing
        failed and edges are parent -> child containment of the module tree.
    note
        Why the graph is what it is; shown to the user when ``traced`` is False.
    """

    nodes: list[GraphNode] = field(default_factory=list)
    edges: list[tuple[str, str]] = field(default_factory=list)
    traced: bool = True
    note: str = ""


def layer_graph(model: nn.Module) -> LayerGraph:
    """Build the layer graph of a model.

    Parameters
    ----------
    model
        The model.

    Returns
    -------
    LayerGraph
        Traced with ``torch.fx.symbolic_trace`` (torch.nn layers are leaves; user
        blocks are traced through, so skip connections show as ``add`` nodes). When
        tracing fails, for example on data-dependent control flow, the module tree
        with ``traced=False`` and a note saying why.
    """
    from visualizer.models.fx_guard import tracing

    try:
        with tracing():  # fx patches Module.__call__ process-wide while it traces
            gm = torch.fx.symbolic_trace(model)
    except Exception as exc:  # noqa: BLE001 - fx raises many types; any means "untraceable"
        reason = f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"
        return _module_tree_graph(
            model,
            note=(
                "torch.fx could not trace this model's forward "
                f"({reason.strip()}); showing the module tree instead, so edges mean "
                "'contains', not data flow."
            ),
        )
    return _fx_graph(gm)


def _fx_graph(gm: torch.fx.GraphModule) -> LayerGraph:
    modules = dict(gm.named_modules())
    names: dict[torch.fx.Node, str] = {}
    used: set[str] = set()
    nodes: list[GraphNode] = []
    for node in gm.graph.nodes:
        if node.op == "get_attr":
            continue  # parameters read functionally; edges to them are noise here
        if node.op == "call_module":
            base, target = str(node.target), type(modules[node.target]).__name__
            path: str | None = str(node.target)
        elif node.op in ("call_function", "call_method"):
            base, path = node.name, None
            target = getattr(node.target, "__name__", str(node.target))
        else:  # placeholder, output
            base, target, path = node.name, str(node.target), None
        name, k = base, 1
        while name in used:  # a module called twice gets `path#2`, ...
            k += 1
            name = f"{base}#{k}"
        used.add(name)
        names[node] = name
        nodes.append(GraphNode(name=name, op=node.op, target=target, module_path=path))
    edges = [
        (names[src], names[node])
        for node in gm.graph.nodes
        if node in names
        for src in node.all_input_nodes
        if src in names
    ]
    return LayerGraph(nodes=nodes, edges=edges, traced=True, note="traced with torch.fx")


def _module_tree_graph(model: nn.Module, note: str) -> LayerGraph:
    nodes = [GraphNode(name=ROOT_NAME, op="module", target=type(model).__name__, module_path="")]
    edges: list[tuple[str, str]] = []
    for name, module in model.named_modules():
        if not name:
            continue
        nodes.append(
            GraphNode(name=name, op="module", target=type(module).__name__, module_path=name)
        )
        parent = name.rpartition(".")[0] or ROOT_NAME
        edges.append((parent, name))
    return LayerGraph(nodes=nodes, edges=edges, traced=False, note=note)


@dataclass(frozen=True)
class LayerSelection:
    """Result of :func:`default_layers`.

    Attributes
    ----------
    kept
        Layer names to extract, in forward order.
    dropped
        Layers left out to stay within the budget, largest first.
    total_bytes
        float32 bytes the kept layers need for all samples.
    budget_bytes
        The budget that was applied.
    """

    kept: list[str]
    dropped: list[str]
    total_bytes: int
    budget_bytes: int


def layer_bytes(info: LayerInfo, n_samples: int) -> int:
    """float32 bytes of one layer's output for ``n_samples`` samples (0 if no tensor)."""
    if info.output_shape is None:
        return 0
    return 4 * n_samples * math.prod(info.output_shape)


def default_layers(
    infos: list[LayerInfo], n_samples: int, budget_bytes: int, *, leaves_only: bool = False
) -> LayerSelection:
    """Choose the layers to extract by default within a memory/disk budget.

    Parameters
    ----------
    infos
        From :func:`describe_layers`, in forward order.
    n_samples
        Number of samples that will be extracted.
    budget_bytes
        Maximum float32 bytes for all kept layers together.
    leaves_only
        Keep only leaf modules. A container's output usually repeats its last child's,
        so this avoids storing the same tensor twice; off by default because a custom
        block's output (after a functional ``add``) may be no leaf's output.

    Returns
    -------
    LayerSelection
        Every layer with a tensor output (containers that merely return a child's tensor
        are left out: the child holds the same values), minus the largest per-sample layers dropped
        one by one until the total fits; ``dropped`` lists them for the log.
    """
    candidates = [
        i
        for i in infos
        if i.output_shape is not None and i.alias_of is None and (i.is_leaf or not leaves_only)
    ]
    sizes = {i.name: layer_bytes(i, n_samples) for i in candidates}
    total = sum(sizes.values())
    dropped: list[str] = []
    # Largest first; among equal sizes drop the later layer, keeping early ones visible.
    position = {i.name: k for k, i in enumerate(candidates)}
    for name in sorted(sizes, key=lambda n: (-sizes[n], -position[n])):
        if total <= budget_bytes:
            break
        dropped.append(name)
        total -= sizes[name]
    kept = [i.name for i in candidates if i.name not in set(dropped)]
    return LayerSelection(kept=kept, dropped=dropped, total_bytes=total, budget_bytes=budget_bytes)
