"""``python main.py render WS --view pruning``: a figure, in PNG and SVG, of the right size
and with its axis labels, choosing the dense model and the pruned model as asked."""

from __future__ import annotations

import pytest

from tests.widgets.pruning.conftest import FINETUNED

pytestmark = pytest.mark.usefixtures("qapp")


def test_png_has_the_asked_size(pruning_ws, tmp_path):
    from PySide6.QtGui import QImage

    from widgets.pruning.render import render

    out = render(pruning_ws, out=tmp_path / "p.png",
                 options={"width": "1000", "height": "700", "dense": "cnn"})
    image = QImage(str(out))
    assert (image.width(), image.height()) == (2000, 1400)  # exported at scale 2
    # not blank: the figure has coloured series on white
    colours = {image.pixelColor(x, y).name() for x in range(0, 2000, 37)
               for y in range(0, 1400, 37)}
    assert len(colours) > 5


def test_svg_has_the_axis_labels_and_the_chosen_model(pruning_ws, tmp_path):
    from widgets.pruning.render import render

    out = render(pruning_ws, out=tmp_path / "p.svg", options={"model": "cnn-snip-90"})
    text = out.read_text()
    for label in ("Achieved sparsity (%)", "Test accuracy (%)", "Weights removed (%)",
                  "dense cnn", "snip · oneshot", "outlined: cnn-snip-90"):
        assert label in text, label
    assert "Fine-tuning of" not in text  # one-shot: no curves


def test_default_model_is_the_sparsest_and_its_curves_are_drawn(pruning_ws, tmp_path):
    from widgets.pruning.render import render

    text = render(pruning_ws, out=tmp_path / "d.svg", options={}).read_text()
    assert f"Fine-tuning of {FINETUNED}" in text and "Epoch" in text


def test_cli_renders_and_refuses_bad_options(pruning_ws, tmp_path, capsys):
    from widgets.render_cli import main

    out = tmp_path / "x.png"
    assert main([str(pruning_ws.root), "--view", "pruning", "--out", str(out)]) == 0
    assert out.stat().st_size > 10_000
    sweep = pruning_ws.runs(kind="prune_sweep")[-1].id
    assert main([str(pruning_ws.root), "--view", "pruning", "--run", sweep,
                 "--out", str(tmp_path / "s.png")]) == 0
    capsys.readouterr()
    assert main([str(pruning_ws.root), "--view", "pruning", "--out", str(tmp_path / "y.png"),
                 "--set", "model=nope"]) == 2
    assert "not a pruned model" in capsys.readouterr().err
    assert main([str(pruning_ws.root), "--view", "pruning", "--out", str(tmp_path / "z.png"),
                 "--set", "dense=cnn-snip-50"]) == 2
    assert "no pruned descendants" in capsys.readouterr().err
    assert not (tmp_path / "y.png").exists() and not (tmp_path / "z.png").exists()
