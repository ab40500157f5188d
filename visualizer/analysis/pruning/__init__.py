"""Pruning: prune any model by the standard methods, fine-tune it back, store the result
as a derived model, and measure what pruning changed.

The plugin contract (kind ``pruning_methods``)
----------------------------------------------
A manifest entry names an object with ``python_name``::

    [[pruning_methods]]
    name = "magnitude"
    python_name = "visualizer.analysis.pruning.builtin:magnitude"

The object declares itself with ``.spec`` (a :class:`~.table.PruningMethodSpec`) and
scores weights; DeepScope does the masking, always through ``torch.nn.utils.prune``
(unstructured) or Torch-Pruning (structured), so a method never writes masks itself:

``method.scores(model, weights, batches, generator, /, **params) -> dict[str, Tensor]``
    Unstructured importance: ``weights`` maps a prunable module name to its weight
    tensor; the answer has one tensor of the same shape per name, higher = keep.
    ``batches`` is a list of ``(x, y)`` training batches (empty unless
    ``spec.needs_data``); ``generator`` a seeded ``torch.Generator``. The four are
    positional-only: a method's own parameters (``**params``, e.g. ``batches``: how many
    batches to read) may reuse their names. Scoring must leave weights, gradients, hooks
    and the train/eval mode as they were (the conformance checks verify it).
``method.importance(**params) -> torch_pruning Importance``
    Structured importance (only where ``spec.structured``): a Torch-Pruning importance
    object (``MagnitudeImportance``, ``TaylorImportance`` ...).

Modules: ``table`` (the declarative method table), ``builtin`` (the objects the
manifest names), ``layers`` (which layers are prunable), ``unstructured`` (masks through
``torch.nn.utils.prune``), ``structured`` (Torch-Pruning: prune, record, replay),
``schedule`` (one-shot, Zhu & Gupta's cubic schedule, iterative magnitude pruning),
``finetune`` (training with masks held fixed), ``derived`` (pruned models in the
catalog: save, rebuild, lineage), ``job`` (the pruning job), ``sweep`` (methods ×
sparsities as a resumable parent run), ``cka`` (linear CKA between two activation
runs), ``forgotten`` (samples pruning changed), ``results`` (what the view reads),
``api`` (``Workspace.prune``, ``prune_sweep``, ``cka``).
"""
