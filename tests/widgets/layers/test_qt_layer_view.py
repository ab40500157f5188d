"""The Layers tab on the trained demo workspace: graph <-> selection, statistics, render."""

from __future__ import annotations

import textwrap
import xml.etree.ElementTree as ET

import numpy as np
import pytest
from PySide6.QtCore import QPoint, QPointF, Qt

from visualizer.analysis.layers.compare import newest_run

pytestmark = pytest.mark.usefixtures("qapp")


@pytest.fixture
def make_view(qtbot, session):
    from widgets.layers.qt_layer_view import QtLayerView
    from widgets.qt_job_runner import QtJobRunner

    views = []

    def make(ws, model="resnet"):
        session.workspace = ws
        session.selection.run_id = newest_run(ws, model)
        runner = QtJobRunner(session.jobs)
        view = QtLayerView(session, runner)
        qtbot.addWidget(view)
        view.resize(1400, 900)
        view.show()
        views.append((view, runner))
        try:
            qtbot.waitUntil(lambda: view.graph_result is not None and view.detail is not None
                            and not view.pending(), timeout=60_000)
        except Exception as exc:
            raise AssertionError(f"view did not load: {view.status.text()}") from exc
        return view

    yield make
    for _view, runner in views:
        runner.shutdown(wait=True)


def _click_node(qtbot, view, name):
    canvas = view.canvas
    canvas.ensure_visible(name)
    i = canvas.index[name]
    scene = canvas.vb.mapViewToScene(QPointF(float(canvas.layout.x[i]),
                                             float(canvas.layout.y[i])))
    pos = canvas.mapFromScene(scene)
    qtbot.mouseClick(canvas.viewport(), Qt.MouseButton.LeftButton, pos=QPoint(pos.x(), pos.y()))


def test_node_click_sets_the_layer_and_the_layer_highlights_the_node(qtbot, make_view,
                                                                     demo_ws, session):
    view = make_view(demo_ws)
    names = [n.name for n in view.canvas.nodes]
    assert {"add", "add_1", "add_2"} <= set(names)  # the skip connections' adds
    _click_node(qtbot, view, "layer1.0.conv1")
    assert session.selection.layer == "layer1.0.conv1"
    assert view.canvas.selected == "layer1.0.conv1"
    session.selection.layer = "layer2.1.bn2"  # model -> view
    assert view.canvas.selected == "layer2.1.bn2"
    qtbot.waitUntil(lambda: view.detail is not None and view.detail.layer == "layer2.1.bn2"
                    and not view.pending(), timeout=60_000)
    # Folded blocks: the layer highlights the module that holds it.
    view.collapse_box.setCurrentIndex(2)
    qtbot.waitUntil(lambda: "layer2.1" in view.canvas.index and not view.pending(),
                    timeout=60_000)
    assert view.canvas.selected == "layer2.1"
    view.search_box.setText("downsample")
    # Folded: the block that holds a matching layer matches.
    assert [view.canvas.nodes[i].name for i in view.canvas.matches] == ["layer2.0"]


def test_statistics_shown_equal_numpy_on_the_dump(qtbot, make_view, demo_ws, session):
    view = make_view(demo_ws, "cnn")
    session.selection.layer = "relu2"
    qtbot.waitUntil(lambda: view.detail is not None and view.detail.layer == "relu2"
                    and view.top is not None and view.top.layer == "relu2"
                    and not view.pending(), timeout=60_000)
    run = demo_ws.run(session.selection.run_id)
    with run.arrays() as arrays:
        dump = arrays["relu2"][()].astype(np.float64)
    np.testing.assert_allclose(view.units_panel.values("mean"), dump.mean(axis=(0, 2, 3)),
                               rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(view.units_panel.values("frac_zero"),
                               (dump == 0).mean(axis=(0, 2, 3)), atol=1e-6)
    np.testing.assert_array_equal(view.units_panel.table.dead, dump.max(axis=(0, 2, 3)) <= 0)
    # Top samples of the picked unit equal a numpy argsort; the gallery shows them.
    view.units_panel.unit_clicked.emit(4)
    qtbot.waitUntil(lambda: view.top.unit == 4 and not view.pending(), timeout=60_000)
    want = np.argsort(-dump[:, 4].mean(axis=(1, 2)), kind="stable")[:16]
    np.testing.assert_array_equal(view.top.rows, want)
    np.testing.assert_array_equal(view.top_panel.gallery.sample_ids, want)
    # Feature maps follow the selected sample.
    session.selection.hovered_sample = 11
    qtbot.waitUntil(lambda: view.features is not None and view.features.sample == 11
                    and not view.pending(), timeout=60_000)
    np.testing.assert_array_equal(view.features.values, dump[11].astype(np.float32))
    assert view.feature_grid.image.image.shape[:2] == (6 * 8 + 5, 6 * 8 + 5)  # 32 maps, 6x6
    view.color_box.setCurrentIndex(view.color_box.findData("dead_fraction"))
    assert view.canvas.color_by == "dead_fraction"


UNTRACEABLE = textwrap.dedent('''
    import torch
    from torch import nn

    class Untraceable(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc1 = nn.Linear(64, 16)
            self.relu = nn.ReLU()
            self.fc2 = nn.Linear(16, 10)

        def forward(self, x):
            h = self.relu(self.fc1(x.flatten(1)))
            if h.sum() > 0:  # data-dependent: torch.fx cannot trace this
                h = h * 2
            return self.fc2(h)

    def build():
        return Untraceable()
''')


def test_untraceable_model_shows_the_module_tree_with_a_note(qtbot, make_view, demo_ws,
                                                             tmp_path):
    import torch
    from safetensors.torch import save_file

    arch = tmp_path / "untraceable.py"
    arch.write_text(UNTRACEABLE)
    torch.manual_seed(0)
    net = torch.nn.Sequential()
    ns: dict = {}
    exec(UNTRACEABLE, ns)  # noqa: S102 - our own test source
    net = ns["build"]()
    weights = tmp_path / "u.safetensors"
    save_file(net.state_dict(), str(weights))
    demo_ws.import_model(weights, "untraceable", arch=f"{arch}:build")
    demo_ws.extract("untraceable", "digits", device="cpu")
    view = make_view(demo_ws, "untraceable")
    assert view.graph_result.graph.traced is False
    assert view.note.isVisibleTo(view) and "could not trace" in view.note.text()
    assert {"<model>", "fc1", "relu", "fc2"} <= set(view.canvas.index)


@pytest.mark.parametrize("suffix", ["png", "svg"])
def test_render_writes_png_and_svg(demo_ws, tmp_path, suffix):
    from widgets.layers.render import render

    out = render(demo_ws, run=newest_run(demo_ws, "resnet"), out=tmp_path / f"layers.{suffix}",
                 options={"layer": "relu2", "color_by": "dead_fraction", "tab": "sample",
                          "width": "1200", "height": "800"}
                 if suffix == "png" else {"width": "1000", "height": "700"})
    data = out.read_bytes()
    if suffix == "png":
        from PySide6.QtGui import QImage

        assert data[:8] == b"\x89PNG\r\n\x1a\n"
        image = QImage(str(out))
        assert (image.width(), image.height()) == (1200, 800)
        colours = {image.pixel(x, y) for x in range(0, 1200, 37) for y in range(0, 800, 29)}
        assert len(colours) > 20  # drawn content, not a blank page
    else:
        root = ET.fromstring(data)
        assert root.tag.endswith("svg")
        texts = [t.text for t in root.iter() if t.tag.endswith("text")]
        assert "layer2.1.relu2" in texts  # node labels are vector text
