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


BROKEN_MODULE = '''
"""Attribution and projection methods, each breaking one rule (and two that keep them)."""
import numpy as np
import torch
from dataclasses import dataclass, field

from visualizer.analysis.attribution.table import MethodSpec, Param
from visualizer.analysis.projection.contract import ProjectionMethod
from visualizer.jobs.contract import JobCancelled


def _grad(model, inputs, target):
    x = inputs.detach().clone().requires_grad_(True)
    picked = model(x).gather(1, target[:, None]).sum()
    (g,) = torch.autograd.grad(picked, x)
    return g


def _gap(model, x, b, t):
    with torch.no_grad():
        return (model(x).gather(1, t[:, None]) - model(b).gather(1, t[:, None]))[:, 0]


class Method:
    def __init__(self, name, fn, family="gradient", **flags):
        self.spec = MethodSpec(name, name, None, family, **flags)
        self.fn = fn

    def __call__(self, model, inputs, target, *, baselines=None, layer=None, seed=None,
                 internal_batch_size=None, return_convergence_delta=False, smooth=None,
                 nt_samples=10, nt_stdevs=0.1, **params):
        self.spec.with_defaults(params)
        b = torch.zeros_like(inputs) if baselines is None else baselines
        return self.fn(model, inputs, target, b, return_convergence_delta)


def good(model, x, t, b, delta):
    # gradient x (input - baseline): integrated gradients, exactly, on a linear model
    attr = _grad(model, x, t) * (x - b)
    return (attr, attr.flatten(1).sum(1) - _gap(model, x, b, t)) if delta else attr


def wrong_shape(model, x, t, b, delta):
    return good(model, x, t, b, False)[..., :4]


def leaves_hook(model, x, t, b, delta):
    model.register_forward_hook(lambda module, inputs, output: None)
    return good(model, x, t, b, False)


def unseeded(model, x, t, b, delta):
    return good(model, x, t, b, False) + 1e-3 * torch.randn_like(x)


def ignores_baseline(model, x, t, b, delta):
    attr = _grad(model, x, t) * x
    return (attr, torch.zeros(len(x))) if delta else attr


def swallows_error(model, x, t, b, delta):
    try:
        return good(model, x, t, b, False)
    except RuntimeError:
        return torch.zeros_like(x)


GOOD = Method("good", good, has_delta=True, baselines="input")
WRONG_SHAPE = Method("wrong_shape", wrong_shape)
LEAVES_HOOK = Method("leaves_hook", leaves_hook)
UNSEEDED = Method("unseeded", unseeded)
IGNORES_BASELINE = Method("ignores_baseline", ignores_baseline, has_delta=True,
                          baselines="input")
SWALLOWS_ERROR = Method("swallows_error", swallows_error)
BAD_DEFAULT = Method("bad_default", good, params=(Param("steps", 0, "int", minimum=1),))
NEGATIVE_UNSIGNED = Method("negative_unsigned", good, signed=False)
IGNORES_SMOOTH = Method("ignores_smooth", good, gradient=True)  # takes smooth=, does nothing


@dataclass(frozen=True)
class Params:
    seed: int = field(default=0, metadata={"min": 0})


def _pca(x):
    xc = x - x.mean(0)
    _, _, vt = np.linalg.svd(xc, full_matrices=False)
    return (xc @ vt[:2].T).astype(np.float32)


def fit_good(x, params, *, ctx, report=None):
    ctx.check_cancelled()
    return _pca(x)


def fit_wrong_shape(x, params, *, ctx, report=None):
    ctx.check_cancelled()
    return np.zeros((len(x), 3), np.float32)


def fit_jitter(x, params, *, ctx, report=None):
    ctx.check_cancelled()
    return _pca(x) + np.random.default_rng().normal(scale=1e-3, size=(len(x), 2))


def fit_scrambled(x, params, *, ctx, report=None):
    ctx.check_cancelled()
    return np.random.default_rng(params.seed).permutation(_pca(x))


def fit_deaf(x, params, *, ctx, report=None):
    return _pca(x)


def fit_swallow(x, params, *, ctx, report=None):
    for _ in range(4):
        try:
            ctx.check_cancelled()
        except JobCancelled:
            pass
    return _pca(x)


P_GOOD = ProjectionMethod("good", "good", Params, fit_good, in_process=False)
P_WRONG_SHAPE = ProjectionMethod("wrong_shape", "w", Params, fit_wrong_shape, in_process=False)
P_JITTER = ProjectionMethod("jitter", "j", Params, fit_jitter, in_process=False)
P_SCRAMBLED = ProjectionMethod("scrambled", "s", Params, fit_scrambled, in_process=False)
P_DEAF = ProjectionMethod("deaf", "d", Params, fit_deaf, in_process=False)
P_SWALLOW = ProjectionMethod("swallow", "s", Params, fit_swallow, in_process=False)
P_SILENT = ProjectionMethod("silent", "s", Params, fit_good, in_process=False,
                            progressive=True)
'''

#: contribution id -> the checks that must fail for it (all its other checks pass)
BROKEN_EXPECTED = {
    "broken.good": set(),
    "broken.wrong_shape": {"shape"},
    "broken.leaves_hook": {"clean after success", "clean after error"},
    "broken.unseeded": {"seeded"},
    "broken.ignores_baseline": {"completeness"},
    "broken.swallows_error": {"clean after error"},
    "broken.bad_default": {"declares"},
    "broken.negative_unsigned": {"sign"},
    "broken.ignores_smooth": {"smoothing"},
    "broken.p_good": set(),
    "broken.p_wrong_shape": {"fit"},
    "broken.p_jitter": {"seeded"},
    "broken.p_scrambled": {"quality"},
    "broken.p_deaf": {"cancel"},
    "broken.p_swallow": {"cancel"},
    "broken.p_silent": {"progress reports"},
}


@pytest.fixture
def broken_dir(tmp_path, monkeypatch):
    """A plugin folder with ``broken`` (methods that each break one rule, and two good
    ones) and ``empty`` (a manifest without contributions)."""
    root = tmp_path / "broken-plugins"
    manifest = ['name = "broken"']
    for cid in BROKEN_EXPECTED:
        name = cid.split(".", 1)[1]
        kind = "projection_methods" if name.startswith("p_") else "attribution_methods"
        manifest += [f"[[{kind}]]", f'name = "{name}"',
                     f'python_name = "broken_methods_mod:{name.upper()}"']
    write_plugin(root, "broken", "\n".join(manifest) + "\n",
                 {"broken_methods_mod": BROKEN_MODULE})
    write_plugin(root, "empty", 'name = "empty"\n')
    monkeypatch.setenv(PLUGIN_PATH_ENV, str(root))
    return root
