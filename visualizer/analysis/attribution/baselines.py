"""Baselines (reference inputs) in the model's input space.

``zeros`` (the default), ``mean`` (per-feature mean of the training split), ``blur``
(the input under a Gaussian blur; vectors fall back to the mean) and ``noise``
(uniform noise in the data's input range, seeded). Distribution methods (DeepLIFT SHAP,
Gradient SHAP) take ``K`` draws shared by the batch: ``zeros``/``mean`` give one
reference, ``noise`` K noise draws, ``blur`` blurred copies of K training samples.
"""

from __future__ import annotations

import numpy as np

from visualizer.errors import DeepScopeError

KINDS = ("zeros", "mean", "blur", "noise")


class BaselineMaker:
    def __init__(self, kind: str, train_x: np.ndarray | None, input_range: tuple[float, float],
                 seed: int = 0, sigma: float | None = None):
        if kind not in KINDS:
            raise DeepScopeError(f"unknown baseline {kind!r}.", fix=f"use one of {', '.join(KINDS)}.")
        self.kind = kind
        self.train_x = train_x
        self.input_range = input_range
        self.seed = seed
        self.sigma = sigma
        self._mean = None

    def mean(self) -> np.ndarray:
        if self._mean is None:
            src = self.train_x
            self._mean = (src.mean(axis=0, dtype=np.float64).astype(np.float32)
                          if src is not None and len(src) else None)
        return self._mean

    def per_input(self, x, start: int):
        """Baselines for the batch ``x`` (a tensor) whose first sample is number ``start``."""
        import torch

        if self.kind == "zeros":
            return torch.zeros_like(x)
        if self.kind == "mean" or (self.kind == "blur" and x.dim() != 4):
            mean = self.mean()
            if mean is None:
                return torch.zeros_like(x)
            return torch.from_numpy(mean).to(x.device, x.dtype).expand_as(x).contiguous()
        if self.kind == "blur":
            return gaussian_blur(x, self.sigma or max(1.0, x.shape[-1] / 8))
        lo, hi = self.input_range
        g = torch.Generator().manual_seed(self.seed * 1_000_003 + start)
        noise = torch.rand(x.shape, generator=g, dtype=torch.float32) * (hi - lo) + lo
        return noise.to(x.device, x.dtype)

    def distribution(self, x, k: int):
        """``(K, *input shape)`` reference draws for distribution methods."""
        import torch

        if self.kind in ("zeros", "mean"):
            # one reference, twice: captum's distribution methods want more than one row
            return self.per_input(x[:1], 0).expand(2, *x.shape[1:]).contiguous()
        if self.kind == "noise":
            lo, hi = self.input_range
            g = torch.Generator().manual_seed(self.seed)
            noise = torch.rand((k, *x.shape[1:]), generator=g) * (hi - lo) + lo
            return noise.to(x.device, x.dtype)
        src = self.train_x
        rng = np.random.default_rng(self.seed)
        pick = rng.choice(len(src), size=min(k, len(src)), replace=False)
        draws = torch.from_numpy(np.ascontiguousarray(src[np.sort(pick)])).to(x.device, x.dtype)
        return self.per_input(draws, 0) if self.kind == "blur" else draws


def gaussian_blur(x, sigma: float):
    """Separable Gaussian blur of ``(B, C, H, W)`` images, reflect-padded."""
    import torch
    import torch.nn.functional as F

    radius = max(1, int(round(3 * sigma)))
    t = torch.arange(-radius, radius + 1, dtype=x.dtype, device=x.device)
    kernel = torch.exp(-(t**2) / (2 * sigma**2))
    kernel = kernel / kernel.sum()
    c = x.shape[1]
    pad_h = min(radius, x.shape[2] - 1)
    pad_w = min(radius, x.shape[3] - 1)
    k = kernel[radius - pad_w: radius + pad_w + 1] if pad_w < radius else kernel
    k = k / k.sum()
    out = F.pad(x, (pad_w, pad_w, 0, 0), mode="reflect")
    out = F.conv2d(out, k.view(1, 1, 1, -1).repeat(c, 1, 1, 1), groups=c)
    k = kernel[radius - pad_h: radius + pad_h + 1] if pad_h < radius else kernel
    k = k / k.sum()
    out = F.pad(out, (0, 0, pad_h, pad_h), mode="reflect")
    return F.conv2d(out, k.view(1, 1, -1, 1).repeat(c, 1, 1, 1), groups=c)
