"""``python main.py render --view overview``: a figure of an activation run, not a blank."""

from __future__ import annotations

import json

import numpy as np
import pytest

from tests.widgets.conftest import make_workspace

BAR = (0x4C, 0x78, 0xA8)
DEAD = (0xC6, 0x28, 0x28)


def run_main(capsys, *args):
    import main

    capsys.readouterr()
    rc = main.main([str(a) for a in args])
    out, err = capsys.readouterr()
    return rc, out, err


def pixels(path) -> np.ndarray:
    from PySide6.QtGui import QImage

    image = QImage(str(path)).convertToFormat(QImage.Format.Format_RGB888)
    assert not image.isNull()
    width, height = image.width(), image.height()
    data = np.frombuffer(image.constBits(), np.uint8, image.bytesPerLine() * height)
    # a copy: the array must not outlive the QImage whose memory it views
    return data.reshape(height, image.bytesPerLine())[:, :3 * width].reshape(
        height, width, 3).copy()


def near(rgb: np.ndarray, colour) -> int:
    return int((np.abs(rgb.astype(int) - np.array(colour)).sum(axis=2) < 30).sum())


def test_overview_renders_a_figure(qapp, tmp_path, capsys):
    ws, run_id = make_workspace(tmp_path / "ws")
    out = tmp_path / "overview.png"
    rc, stdout, err = run_main(capsys, "render", ws.root, "--view", "overview", "--out", out,
                               "--json")
    assert rc == 0, err
    assert json.loads(stdout) == {"view": "overview", "out": str(out)}
    rgb = pixels(out)
    assert rgb.shape[0] > 400 and rgb.shape[1] > 800
    # bars of both layers and of fc1's 16 units, and dead units marked red
    assert near(rgb, BAR) > 2000, near(rgb, BAR)
    assert near(rgb, DEAD) > 200, near(rgb, DEAD)
    assert len(np.unique(rgb.reshape(-1, 3), axis=0)) > 20  # text, axes, bars: not blank

    svg = tmp_path / "overview.svg"
    rc, _, err = run_main(capsys, "render", ws.root, "--view", "overview", "--run", run_id,
                          "--set", "layer=conv1", "--out", svg)
    assert rc == 0, err
    text = svg.read_text()
    assert text.lstrip().startswith("<?xml") and "<svg" in text
    assert "#4c78a8" in text.lower() and f"Activation run {run_id}" in text
    assert "conv1: mean activation of each of its 4 units" in text


@pytest.mark.parametrize("args, message", [
    (("--set", "layer=fc9"), "--set layer=fc9"),
    (("--set", "colour=red"), "--set colour"),
])
def test_overview_options_are_checked(qapp, tmp_path, capsys, args, message):
    ws, _ = make_workspace(tmp_path / "ws")
    out = tmp_path / "o.png"
    rc, _, err = run_main(capsys, "render", ws.root, "--view", "overview", *args, "--out", out)
    assert rc == 2 and message in err and "Traceback" not in err
    assert not out.exists()


def test_overview_of_an_empty_workspace_says_what_to_do(qapp, tmp_path, capsys):
    ws, _ = make_workspace(tmp_path / "ws", with_run=False)
    rc, _, err = run_main(capsys, "render", ws.root, "--view", "overview", "--out",
                          tmp_path / "o.png")
    assert rc == 2 and "no complete activation run" in err and "extract" in err


def test_help_lists_render_and_its_views(capsys):
    import main

    with pytest.raises(SystemExit) as exit_:
        main.main(["--help"])
    assert exit_.value.code == 0
    out = capsys.readouterr().out
    assert "render" in out and "overview" in out
    with pytest.raises(SystemExit):
        main.main(["render", "--help"])
    out = capsys.readouterr().out
    assert "overview" in out and "--view" in out
