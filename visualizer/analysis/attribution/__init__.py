"""Attribution: Captum methods as plugin contributions, run as jobs, stored as runs.

The plugin contract (kind ``attribution_methods``)
--------------------------------------------------
A manifest entry names an object with ``python_name``::

    [[attribution_methods]]
    name = "integrated_gradients"
    python_name = "visualizer.analysis.attribution.builtin:integrated_gradients"

The object is a callable shaped like captum's ``attribute`` plus a declaration:

``method(model, inputs, target, **params) -> Tensor``
    ``model`` an ``nn.Module`` in eval mode, ``inputs`` a ``(B, *input shape)`` tensor
    in the model's input space with ``requires_grad`` free to be set, ``target`` a
    ``(B,)`` long tensor of class indices. ``params`` are the names the method
    declares in ``method.spec.params`` plus the common ones: ``baselines`` (a tensor
    broadcastable to ``inputs``, or ``(K, *input shape)`` for distribution methods),
    ``layer`` (a module path, for layer methods), ``return_convergence_delta``
    (methods with ``spec.has_delta``: returns ``(attributions, delta)``), ``smooth``
    (``smoothgrad|smoothgrad_sq|vargrad``, gradient methods only) with ``nt_samples``
    and ``nt_stdevs``, and ``seed`` for stochastic methods. Layer methods return the
    layer's attribution (``(B, *layer output shape)``); others return input-shaped
    attributions. The method must leave no hooks on the model, also when it raises.
``method.spec``
    A :class:`~visualizer.analysis.attribution.table.MethodSpec`: parameters with
    defaults and GUI hints, and flags (layer, has_delta, baselines, gradient, signed;
    family, multiplies, modified_backward: what the sanity check's verdict explains a
    method by, see ``table``; a property left out claims nothing).

The host loads and calls it through the plugin manager only
(``spec = manager.load(c).spec``; ``manager.call(c, model, inputs, target, **params)``),
so a failing third-party method is contained like any plugin hook.

Modules: ``table`` (the declarative method table), ``adapter`` (one generic adapter over
``captum.attr``), ``builtin`` (the objects the manifest names), ``baselines``,
``targets``, ``job`` (the attribution job), ``metrics`` (deletion/insertion AUC,
infidelity, sensitivity, completeness), ``sanity`` (model randomisation check, a run of
kind ``sanity``), ``api`` (``Workspace.attribute``).
"""
