"""The Layer view's analyses, all Qt-free job functions or pure numpy helpers.

- :mod:`.layout`: layered (Sugiyama-style) top-to-bottom layout of a DAG.
- :mod:`.graph`: the model's layer graph with shapes, parameters, weight norms, shares
  of zero weights (sparsity) and run statistics per node, collapsible by module, laid
  out in a job.
- :mod:`.units`: per-unit statistics of a layer (mean, std, zeros, dead, saturated),
  and the one definition of a dead unit (:func:`dead_units`).
- :mod:`.weights`: weight histograms, per-filter norms, first-convolution filters.
- :mod:`.samples`: one sample's feature maps (from the dump, or with hooks), and the
  top-k activating samples of a unit read from the dump chunk by chunk.
- :mod:`.compare`: two models' same-named layers side by side.
- :mod:`.lineage`: what a pruned model's catalog lineage says (parent, method,
  sparsity, kept channels), read without torch for the view's header and labels.
"""

from visualizer.analysis.layers.units import dead_units, saturated_units

__all__ = ["dead_units", "saturated_units"]
