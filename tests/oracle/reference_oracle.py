#!/usr/bin/python3
"""The reference implementation's IG-Uniform / IG-SG / IG-SQ estimators
(ypeiyu/attribution_recalibration, saliency_methods/IG_SG.py and IG_SQ.py:
class IntGradSG and its shap_values), re-written in float64 for one image on
the CPU with the same tensor steps, and from the description below only; it
shares no code with recal's worker/methods/path.c.

Per image, with R references and K steps:
- the references are tiled `repeat(1, K, ...)`: flat point l = 0 ... R*K-1
  uses reference l mod R;
- the interpolation coefficients are linspace(0, 1, K) concatenated R times
  (K = 1: 1.0): point l has alpha = linspace(0, 1, K)[l mod K];
- gradients are taken point by point in the order l = b*K + k (b < R, k < K);
  valid_ip stores g(l)/K at [b, k]; vanilla and valid_ref add g(l)/K into
  slot b;
- valid_ip: (g/K) * (x - z_l), kept where >= 0 (squared for IG-SQ), summed
  over all R*K points / max(1, kept count);
- valid_ref: slot b's gradient times (x - r_b), kept where >= 0 (squared for
  IG-SQ), summed over slots / max(1, kept count);
- vanilla: the mean over slots of (x - r_b) * slot b's gradient (squared
  gradient for IG-SQ).
"""
import torch


def _grad(model, z, label):
    z = z.clone().detach().requires_grad_(True)
    out = model(z.unsqueeze(0))
    (g,) = torch.autograd.grad(out[0, label], z)
    return g


def intgrad_reference(model, x, label, refs, k, estimator, squared=False):
    """x: C x H x W float64; refs: R x C x H x W float64 (the drawn
    references); returns the C x H x W attribution of the reference code."""
    r = refs.shape[0]
    multi_ref = refs.repeat(k, 1, 1, 1)  # row l = refs[l % R]
    t = torch.cat([torch.linspace(0, 1, k, dtype=torch.float64) if k > 1
                   else torch.tensor([1.0], dtype=torch.float64) for _ in range(r)])
    coef = t.view(-1, 1, 1, 1)
    samples = coef * x.unsqueeze(0) + (1.0 - coef) * multi_ref
    if estimator == "valid_ip":
        grads = torch.zeros((r, k) + tuple(x.shape), dtype=torch.float64)
    else:
        grads = torch.zeros((r,) + tuple(x.shape), dtype=torch.float64)
    for b in range(r):
        for kk in range(k):
            g = _grad(model, samples[b * k + kk], label) / k
            if estimator == "valid_ip":
                grads[b, kk] = g
            else:
                grads[b] += g
    if estimator == "valid_ip":
        delta = x.unsqueeze(0) - samples
        mult = grads.reshape(delta.shape) * delta
    elif estimator == "valid_ref":
        mult = grads * (x.unsqueeze(0) - refs)
    else:
        g = grads ** 2 if squared else grads
        return ((x.unsqueeze(0) - refs) * g).mean(0)
    sign = (mult >= 0).double()
    kept = (mult ** 2 if squared else mult) * sign
    counts = sign.sum(0)
    return kept.sum(0) / torch.where(counts == 0, torch.ones_like(counts), counts)
