"""The Embedding view: projections of a layer as a linked scatter plot.

Qt-free helpers (``geometry``, ``density``, ``colors``, ``colouring``, ``data``,
``state``) sit beside the Qt modules (``qt_scatter``, ``qt_side_panel``,
``qt_params_form``, and ``qt_embedding_view`` with the parts it composes:
``qt_embedding_controls``, ``qt_source_picker``, ``qt_projection_jobs``, ``qt_compare``,
``qt_selection_links``) so the numeric parts are tested without a display.
"""
