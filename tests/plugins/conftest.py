import textwrap

import pytest

from plugins.manager import PLUGIN_PATH_ENV, PluginManager


def write_plugin(root, folder, manifest, modules=None):
    d = root / folder
    d.mkdir(parents=True)
    (d / "deepscope.toml").write_text(textwrap.dedent(manifest))
    for name, code in (modules or {}).items():
        (d / f"{name}.py").write_text(textwrap.dedent(code))
    return d


@pytest.fixture
def chaos_dir(tmp_path, monkeypatch):
    """A plugin folder with a plugin that raises on import, one whose hook raises,
    one with a broken manifest and one that works."""
    root = tmp_path / "plugins"
    write_plugin(root, "chaos_import", """
        name = "chaos_import"
        [[architectures]]
        name = "boom_arch"
        python_name = "chaos_import_mod:build"
    """, {"chaos_import_mod": "raise RuntimeError('chaos on import')\n"})
    write_plugin(root, "chaos_hook", """
        name = "chaos_hook"
        [[dataset_sources]]
        name = "boom_source"
        python_name = "chaos_hook_mod:read"
        suffixes = [".chaos"]
    """, {"chaos_hook_mod": "def read(path):\n    raise ZeroDivisionError('chaos in hook')\n"})
    write_plugin(root, "broken_manifest", "name = [this is not toml\n")
    write_plugin(root, "friendly", """
        name = "friendly"
        display_name = "<b>Friendly</b>"
        [[architectures]]
        name = "tiny"
        python_name = "friendly_mod:build"
        input_shape = [4]
    """, {"friendly_mod": """
        import torch
        def build(in_channels=1, num_classes=3):
            return torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(4, num_classes))
    """})
    monkeypatch.setenv(PLUGIN_PATH_ENV, str(root))
    return root


@pytest.fixture
def manager(chaos_dir):
    m = PluginManager()
    m.discover()
    return m
