"""The declarative table of built-in attribution methods.

One row per method id: which ``captum.attr`` class implements it, whether it works on
a layer, has a convergence delta, takes baselines, is gradient-based (so NoiseTunnel
applies), and its parameters with defaults and GUI hints. The generic adapter reads
only this table; adding a captum method is adding a row.

Each row also declares how its maps come about, which the sanity check's verdict
(:mod:`.sanity`) turns into an explanation: ``family`` (``gradient``: read from the
model's backward pass; ``perturbation``: outputs compared with parts of the input
replaced by the baseline; ``layer``: attributions of a hidden layer; ``control``: maps
that never read the model), ``multiplies`` (``input``: the map is the input minus the
baseline times a gradient term, so it is zero wherever the input equals the baseline;
``activation``: a layer's activations, or their change from the baseline's, times a
gradient term; empty: neither) and ``modified_backward`` (the method replaces the
gradient of the nonlinearities by a rule of its own).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Param:
    """One method parameter as the GUI and the CLI see it.

    ``kind`` is ``int``, ``float``, ``bool`` or ``choice``; ``target`` says where the value
    goes: ``attribute`` (a keyword of captum's ``attribute``), ``init`` (of the
    constructor), ``block`` (feature-group side in pixels, turned into a feature mask or
    a sliding window), ``samples`` (number of random draws for the job).
    """

    name: str
    default: Any
    kind: str = "int"
    help: str = ""
    minimum: float | None = None
    maximum: float | None = None
    choices: tuple[str, ...] = ()
    target: str = "attribute"


@dataclass(frozen=True)
class MethodSpec:
    id: str
    title: str
    captum: str | None  # class name in captum.attr; None for the controls
    family: str  # gradient | perturbation | layer | control (see the module docstring)
    layer: bool = False  # takes a layer; returns layer-shaped attributions
    layer_output: bool = True  # layer methods: False when the result is input-shaped
    at_input: bool = False  # evaluates the model once, at the inputs (predictions.py)
    has_delta: bool = False
    baselines: str = "none"  # none | input (same shape as inputs) | distribution
    gradient: bool = False  # NoiseTunnel may wrap it
    stochastic: bool = False  # needs a seed for determinism
    signed: bool = True  # maps have both signs (diverging colour map)
    multiplies: str = ""  # input | activation | "": what the map multiplies in
    modified_backward: bool = False  # its own backward rule in place of the gradient
    params: tuple[Param, ...] = field(default_factory=tuple)
    note: str = ""

    def defaults(self) -> dict[str, Any]:
        return {p.name: p.default for p in self.params}

    def param(self, name: str) -> Param | None:
        return next((p for p in self.params if p.name == name), None)

    def with_defaults(self, params: dict[str, Any]) -> dict[str, Any]:
        """``params`` over the declared defaults; an undeclared name is a user error."""
        from visualizer.errors import DeepScopeError

        unknown = set(params) - {p.name for p in self.params}
        if unknown:
            raise DeepScopeError(
                f"{self.id} has no parameter {', '.join(sorted(map(repr, unknown)))}.",
                fix=f"its parameters: {', '.join(p.name for p in self.params) or 'none'}.")
        return {**self.defaults(), **params}


N_STEPS = Param("n_steps", 50, "int", "Riemann/Gauss-Legendre steps along the path", 2, 5000)
IG_METHOD = Param("method", "gausslegendre", "choice", "integral approximation",
                  choices=("gausslegendre", "riemann_trapezoid", "riemann_left",
                           "riemann_right", "riemann_middle"))
BLOCK = Param("block", 1, "int", "feature group side in pixels (1 = every pixel)", 1, 64,
              target="block")
N_BASELINES = Param("n_baselines", 8, "int", "baseline draws for the distribution", 1, 256,
                    target="samples")

METHODS: tuple[MethodSpec, ...] = (
    MethodSpec("integrated_gradients", "Integrated Gradients", "IntegratedGradients",
               "gradient", has_delta=True, baselines="input", gradient=True,
               multiplies="input", params=(N_STEPS, IG_METHOD)),
    MethodSpec("saliency", "Saliency", "Saliency", "gradient", gradient=True, signed=False,
               at_input=True,
               params=(Param("abs", True, "bool", "absolute gradients"),)),
    MethodSpec("input_x_gradient", "Input × Gradient", "InputXGradient", "gradient",
               gradient=True, at_input=True, multiplies="input"),
    MethodSpec("deeplift", "DeepLIFT", "DeepLift", "gradient", has_delta=True,
               baselines="input", gradient=True, multiplies="input", modified_backward=True),
    MethodSpec("deeplift_shap", "DeepLIFT SHAP", "DeepLiftShap", "gradient", has_delta=True,
               baselines="distribution", multiplies="input", modified_backward=True,
               params=(N_BASELINES,)),
    MethodSpec("gradient_shap", "Gradient SHAP", "GradientShap", "gradient", has_delta=True,
               baselines="distribution", stochastic=True, multiplies="input",
               params=(Param("n_samples", 5, "int", "random points per input", 1, 1000),
                       Param("stdevs", 0.0, "float", "noise on the inputs", 0.0, 10.0),
                       N_BASELINES)),
    MethodSpec("guided_backprop", "Guided Backprop", "GuidedBackprop", "gradient",
               gradient=True, at_input=True, modified_backward=True,
               note="known to fail the model-randomisation sanity check"),
    MethodSpec("deconvolution", "Deconvolution", "Deconvolution", "gradient", gradient=True,
               at_input=True, modified_backward=True),
    MethodSpec("occlusion", "Occlusion", "Occlusion", "perturbation", baselines="input",
               params=(Param("window", 2, "int", "sliding window side in pixels", 1, 64,
                             target="block"),
                       Param("stride", 1, "int", "window stride in pixels", 1, 64,
                             target="block"))),
    MethodSpec("feature_ablation", "Feature Ablation", "FeatureAblation", "perturbation",
               baselines="input", params=(BLOCK,)),
    MethodSpec("shapley_value_sampling", "Shapley Value Sampling", "ShapleyValueSampling",
               "perturbation", baselines="input", stochastic=True,
               params=(Param("n_samples", 25, "int", "feature permutations", 1, 1000),
                       Param("block", 2, "int", BLOCK.help, 1, 64, target="block"))),
    MethodSpec("lime", "LIME", "Lime", "perturbation", baselines="input", stochastic=True,
               params=(Param("n_samples", 50, "int", "perturbed samples", 1, 10000),
                       Param("block", 2, "int", BLOCK.help, 1, 64, target="block"))),
    MethodSpec("kernel_shap", "Kernel SHAP", "KernelShap", "perturbation", baselines="input",
               stochastic=True,
               params=(Param("n_samples", 50, "int", "coalitions sampled", 1, 10000),
                       Param("block", 2, "int", BLOCK.help, 1, 64, target="block"))),
    MethodSpec("layer_gradcam", "Grad-CAM", "LayerGradCam", "layer", layer=True, at_input=True,
               multiplies="activation",
               params=(Param("relu_attributions", True, "bool", "keep positive evidence only"),),
               signed=True),
    MethodSpec("guided_gradcam", "Guided Grad-CAM", "GuidedGradCam", "layer", layer=True,
               layer_output=False, at_input=True, multiplies="activation",
               modified_backward=True, note="known to fail the model-randomisation sanity check"),
    MethodSpec("layer_conductance", "Layer Conductance", "LayerConductance", "layer",
               layer=True, has_delta=True, baselines="input", multiplies="activation",
               params=(N_STEPS,)),
    MethodSpec("layer_integrated_gradients", "Layer Integrated Gradients",
               "LayerIntegratedGradients", "layer", layer=True, has_delta=True,
               baselines="input", multiplies="activation", params=(N_STEPS, IG_METHOD)),
    MethodSpec("random", "Random (control)", None, "control", stochastic=True, signed=False,
               note="uniform noise maps: the floor every faithfulness metric must beat"),
)

BY_ID = {m.id: m for m in METHODS}

#: What :func:`properties` reads, with the value a spec that lacks it gets.
PROPERTIES = {"family": "", "multiplies": "", "modified_backward": False,
              "baselines": "none", "signed": True}


def properties(spec: Any) -> dict[str, Any]:
    """The declared properties the sanity verdict explains a method by, as plain JSON.

    Works on any spec a plugin hands over: a property it does not declare gets the value
    that claims nothing (no family, multiplies nothing, the true gradient)."""
    return {name: getattr(spec, name, default) for name, default in PROPERTIES.items()}


def find(method: str) -> MethodSpec | None:
    """The built-in row of ``method`` (an id, or a plugin id ``<plugin>.<id>``)."""
    return BY_ID.get(method) or BY_ID.get(method.rpartition(".")[2])
SMOOTH_TYPES = ("smoothgrad", "smoothgrad_sq", "vargrad")
