"""The gallery's sanity warning is the verdict's short form: it says why a method failed
from what the method declares and the check measured (occlusion multiplies nothing in)."""

import pytest


@pytest.mark.parametrize("method, says, never", [
    ("occlusion", "follow where the input differs from the baseline", "multipl"),
    ("input_x_gradient", "follow the input it multiplies in", "baseline"),
    ("random", "is a control with no model dependence", "fails"),
])
def test_gallery_warning_follows_the_verdict(qtbot, demo_ws, method, says, never):
    from visualizer.analysis.attribution.api import sanity_check
    from visualizer.session import Session
    from widgets.attribution.data import load_attribution
    from widgets.attribution.qt_attribution_tabs import QtAttributionTabs
    from widgets.attribution.qt_panels import DisplayOptions

    run = demo_ws.attribute("cnn", "digits", method, limit=4, device="cpu", metrics=False)
    session = Session()
    session.open_workspace(demo_ws.root)
    tabs = QtAttributionTabs(session)
    qtbot.addWidget(tabs)
    tabs.show_summary(load_attribution(session.workspace, run.id), DisplayOptions())
    assert tabs.warning.text() == ""  # no sanity check yet: nothing to warn about
    sanity_check(demo_ws, "cnn", "digits", method, limit=8, device="cpu")
    tabs.show_summary(load_attribution(session.workspace, run.id), DisplayOptions())
    text = tabs.warning.text()
    assert text.startswith(f"⚠ {method} ") and text.endswith("See the Sanity check tab.")
    assert says in text and never not in text


def test_sanity_plot_reads_a_control_as_a_control(qtbot, demo_ws):
    """The random control has no verdict to pass or fail: the plot says what it is,
    neither a green tick nor a red failure."""
    from visualizer.analysis.attribution.api import sanity_check
    from widgets.attribution.data import load_sanity
    from widgets.attribution.qt_panels import QtSanityPlot

    plot = QtSanityPlot()
    qtbot.addWidget(plot)
    for method, mark in (("random", "ⓘ "), ("saliency", "✓ ")):
        run = sanity_check(demo_ws, "cnn", "digits", method, limit=8, device="cpu")
        data = load_sanity(demo_ws, run.id)
        assert data.control == (method == "random")
        plot.set_sanity(data)
        assert plot.verdict.text().startswith(mark)
