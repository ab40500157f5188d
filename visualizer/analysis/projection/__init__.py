"""Embedding projections: 2-D layouts (PCA, UMAP, t-SNE) of one layer's activations.

``api.project`` is what ``Workspace.project`` and ``python main.py project`` call. The
pieces: ``contract`` (what a projection-method plugin provides), ``methods`` (the
built-in PCA, UMAP and t-SNE), ``job`` (the job function, progressive partial layouts),
``storage`` (``projection`` runs and their reuse), ``align`` (Procrustes),
``neighbors`` (nearest neighbours in activation space), ``colour_sources`` (per-sample
values a view can colour by) and ``numba_cache`` (UMAP's compiled code kept on disk).
"""
