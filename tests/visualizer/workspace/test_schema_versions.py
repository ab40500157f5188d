"""Workspaces written by earlier schema versions open, migrate and keep their runs.

``tests/fixtures/workspace-schema-N`` is a workspace as version N wrote it. A schema
change adds a migration in ``catalog.MIGRATIONS`` and a new fixture; the old fixtures
stay, so every upgrade path keeps being tested.
"""

import shutil
from pathlib import Path

import numpy as np
import pytest

from visualizer.workspace.catalog import SCHEMA_VERSION
from visualizer.workspace.workspace import Workspace

FIXTURES = sorted((Path(__file__).parents[2] / "fixtures").glob("workspace-schema-*"))


@pytest.mark.parametrize("fixture", FIXTURES, ids=lambda p: p.name)
def test_old_workspace_opens_and_migrates(fixture, tmp_path):
    ws_dir = tmp_path / fixture.name
    shutil.copytree(fixture, ws_dir)
    ws = Workspace.open(ws_dir)
    assert ws.catalog.schema_version() == SCHEMA_VERSION
    assert [d.name for d in ws.datasets()] == ["digits"]
    assert [m.name for m in ws.models()] == ["tiny"]
    (run,) = ws.runs()
    assert run.status == "complete" and run.params["layers"] == ["fc"]
    assert run.metrics == {"accuracy": 0.5}
    with run.arrays() as arrays:
        np.testing.assert_array_equal(arrays["fc"][()], np.arange(12).reshape(4, 3))
        np.testing.assert_allclose(arrays.stats("fc")["mean"], [4.5, 5.5, 6.5])


def test_there_is_a_fixture_for_every_older_schema():
    versions = {int(p.name.rsplit("-", 1)[1]) for p in FIXTURES}
    assert versions == set(range(1, SCHEMA_VERSION + 1))
