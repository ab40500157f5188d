"""Models: safe loading, the demo zoo, introspection (layers, hooks, layer graph).

Submodules import torch at their top, so import them where they are needed, never on
the GUI start-up path: ``zoo``, ``loading`` (with ``pickle_scan`` and ``factory``),
``introspection``.
"""
