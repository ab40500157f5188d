"""Architecture specs (--arch): module:attr, file.py:attr, zoo names, and their errors."""

from __future__ import annotations

from pathlib import Path

import pytest
from torch import nn

from visualizer.errors import DeepScopeError
from visualizer.models.loading import resolve_factory
from visualizer.models.zoo import build_cnn, build_resnet


def test_module_attr_and_zoo_name() -> None:
    assert resolve_factory("visualizer.models.zoo:build_cnn") is build_cnn
    assert resolve_factory("visualizer.models.zoo:SmallResNet.__init__") is not None
    assert resolve_factory("resnet") is build_resnet


def test_file_spec(tmp_path: Path) -> None:
    file = tmp_path / "my_arch.py"
    file.write_text(
        "from torch import nn\n"
        "def build():\n    return nn.Linear(3, 2)\n"
        "class Nets:\n    @staticmethod\n    def tiny():\n        return nn.Linear(2, 1)\n"
    )
    factory = resolve_factory(f"{file}:build")
    assert isinstance(factory(), nn.Linear)
    assert resolve_factory(f"{file}:Nets.tiny")().out_features == 1


@pytest.mark.parametrize(
    "spec, pattern",
    [
        ("no_such_module_xyz:build", "no module named 'no_such_module_xyz'"),
        ("visualizer.models.zoo:build_vit", "has no attribute 'build_vit'.*build_cnn"),
        ("visualizer.models.zoo:ZOO", "'ZOO'.*not callable"),
        ("visualizer.models.zoo:build_cnn.nope", "no attribute 'build_cnn.nope'"),
        ("vit", "cannot read the architecture 'vit'.*mlp"),
        ("visualizer.models.zoo:", "cannot read the architecture"),
    ],
)
def test_errors(spec: str, pattern: str) -> None:
    with pytest.raises(DeepScopeError, match=pattern):
        resolve_factory(spec)


def test_file_errors(tmp_path: Path) -> None:
    with pytest.raises(DeepScopeError, match="not found") as info:
        resolve_factory(f"{tmp_path / 'missing.py'}:build")
    assert "missing.py" in str(info.value)
    broken = tmp_path / "broken.py"
    broken.write_text("raise ImportError('needs a GPU')\n")
    with pytest.raises(DeepScopeError, match="importing the architecture file failed.*needs a GPU"):
        resolve_factory(f"{broken}:build")
    ok = tmp_path / "ok.py"
    ok.write_text("VALUE = 3\n")
    with pytest.raises(DeepScopeError, match="'VALUE'.*not callable"):
        resolve_factory(f"{ok}:VALUE")


def test_missing_dependency_is_named(tmp_path: Path, monkeypatch) -> None:
    (tmp_path / "needs_dep_mod.py").write_text("import not_installed_dep_xyz\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    with pytest.raises(DeepScopeError, match="imports 'not_installed_dep_xyz'"):
        resolve_factory("needs_dep_mod:build")
