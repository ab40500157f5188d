"""The Embedding view: projections of a layer as a linked scatter plot.

Qt-free helpers (``geometry``, ``density``, ``colors``, ``data``, ``state``) sit beside
the Qt modules (``qt_scatter``, ``qt_embedding_view``, ``qt_compare``, ``qt_side_panel``)
so the numeric parts are tested without a display.
"""
