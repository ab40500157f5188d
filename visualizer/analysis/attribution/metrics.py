"""Faithfulness metrics of attribution maps, batched (no per-sample Python loops).

- Deletion and insertion curves (Petsiuk et al., RISE; Nourelahi et al.): features are
  removed from the input (replaced by the baseline), or revealed on the baseline, in
  decreasing order of attribution; the curve is the softmax probability of the target
  class, its area under the curve over the removed fraction is the score (deletion:
  lower is better, insertion: higher is better). For images a feature is a pixel (all
  channels), for vectors one entry.
- ``infidelity`` and ``sensitivity_max`` from ``captum.metrics``, seeded.
- Completeness: for methods with a convergence delta, ``|delta|`` relative to
  ``|f(x) - f(baseline)|`` (= ``sum(attributions) - delta``).
"""

from __future__ import annotations

import numpy as np

MAX_STEPS = 64
FORWARD_ROWS = 4096


def feature_scores(attr):
    """Per-feature ranking scores: images ``(B, C, H, W)`` -> ``(B, H*W)`` (channel sum)."""
    import torch

    a = attr.detach().float()
    a = a.sum(dim=1) if a.dim() == 4 else a
    a = a.reshape(len(a), -1)
    return torch.nan_to_num(a, nan=-torch.inf)


def _apply(x, baseline, removed):
    """``x`` with the features where ``removed`` (B, F) is True taken from ``baseline``."""
    if x.dim() == 4:
        mask = removed.view(len(x), 1, x.shape[2], x.shape[3])
    else:
        mask = removed.view(x.shape)
    return torch_where(mask, baseline, x)


def torch_where(mask, a, b):
    import torch

    return torch.where(mask, a, b)


def deletion_insertion(model, x, attr, target, baseline, steps: int = MAX_STEPS):
    """Deletion and insertion curves ``(B, S+1)`` and their AUCs ``(B,)`` as numpy.

    Samples are processed in chunks of about ``FORWARD_ROWS`` perturbed inputs, so the
    memory stays bounded for large images.
    """
    import torch

    scores = feature_scores(attr).to(x.device)
    n_feat = scores.shape[1]
    s = int(min(steps, n_feat))
    counts = torch.round(torch.linspace(0, n_feat, s + 1)).long().to(x.device)
    chunk = max(1, FORWARD_ROWS // (s + 1))
    dels, inss = [], []
    with torch.no_grad():
        for start in range(0, len(x), chunk):
            sl = slice(start, start + chunk)
            d, i = _curves(model, x[sl], scores[sl], target[sl].to(x.device),
                           baseline[sl], counts)
            dels.append(d)
            inss.append(i)
    deletion, insertion = np.concatenate(dels), np.concatenate(inss)
    frac = (counts.cpu().numpy() / max(n_feat, 1)).astype(np.float64)
    return (deletion.astype(np.float32), insertion.astype(np.float32),
            np.trapezoid(deletion, frac, axis=1), np.trapezoid(insertion, frac, axis=1))


def _curves(model, x, scores, target, baseline, counts):
    import torch

    b, n_feat = scores.shape
    k = len(counts)
    order = torch.argsort(scores, dim=1, descending=True, stable=True)
    rank = torch.empty_like(order)
    rank.scatter_(1, order, torch.arange(n_feat, device=x.device).expand(b, n_feat))
    removed = (rank[:, None, :] < counts[None, :, None]).reshape(b * k, n_feat)
    shape = tuple(x.shape[1:])
    xs = x[:, None].expand(b, k, *shape).reshape(b * k, *shape)
    bs = baseline[:, None].expand(b, k, *shape).reshape(b * k, *shape)
    tgt = target.repeat_interleave(k)[:, None]
    out = []
    for batch in (_apply(xs, bs, removed), _apply(bs, xs, removed)):
        p = torch.softmax(model(batch).float(), dim=1).gather(1, tgt)[:, 0]
        out.append(p.view(b, k).cpu().numpy())
    return out


def infidelity(model, x, attr, target, *, seed: int, scale: float, n_perturb: int = 10):
    """captum's infidelity with Gaussian perturbations of std ``scale``; ``(B,)`` numpy."""
    import torch
    from captum.metrics import infidelity as captum_infidelity

    from visualizer.analysis.attribution.adapter import _seeded

    def perturb(inputs):
        noise = torch.randn_like(inputs) * scale
        return noise, inputs - noise

    attributions = torch.nan_to_num(attr.detach().to(x.device, x.dtype))
    with _seeded(seed), torch.no_grad():
        value = captum_infidelity(model, perturb, x, attributions, target=target,
                                  n_perturb_samples=n_perturb, normalize=True)
    return value.detach().float().cpu().numpy()


def sensitivity(explain, x, target, baselines, *, seed: int, radius: float,
                n_perturb: int = 5):
    """captum's ``sensitivity_max`` of ``explain(inputs, target=, baselines=)``."""
    from captum.metrics import sensitivity_max

    from visualizer.analysis.attribution.adapter import _seeded

    kwargs = {"target": target}
    if baselines is not None:
        kwargs["baselines"] = baselines
    with _seeded(seed):
        value = sensitivity_max(explain, x, perturb_radius=radius,
                                n_perturb_samples=n_perturb, **kwargs)
    return value.detach().float().cpu().numpy()


def relative_delta(attr, delta) -> np.ndarray:
    """``|delta| / |f(x) - f(b)|`` per sample, with ``f(x) - f(b) = sum(attr) - delta``."""
    a = attr.detach().double().reshape(len(attr), -1).sum(dim=1)
    d = delta.detach().double().reshape(-1)
    gap = (a - d).abs().clamp_min(1e-3)
    return (d.abs() / gap).cpu().numpy()


def finite_mean(values) -> float | None:
    arr = np.asarray(values, dtype=np.float64)
    arr = arr[np.isfinite(arr)]
    return float(arr.mean()) if arr.size else None
