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


def agi_reference(model, x, label, targets, k, eps, mean, std, estimator, objective="logit"):
    """The reference implementation's AGI (saliency_methods/
    adv_grad_integration.py: AGI.pgd_step and AGI.shap_values) for one image
    x (C x H x W, model space, float64) and the given target classes. Per
    target: the image is unnormalized to u; K times, the gradient of the
    target's raw output is taken with the *unnormalized* current point fed to
    the model, the next point is clamp(u + eps * sign(gradient), 0, 1) (from
    the clean image every time), and the explained objective's gradient at
    the normalized next point, taken w.r.t. the unnormalized one, times
    u - next point is added (valid_ip: where >= 0, counted). vanilla sums
    the targets' totals; valid_ref keeps the totals >= 0 / their count."""
    m = torch.tensor(mean, dtype=torch.float64).view(-1, 1, 1)
    s = torch.tensor(std, dtype=torch.float64).view(-1, 1, 1)
    u = x * s + m
    c_agi = torch.zeros_like(x)
    c_ref, c_ip = torch.zeros_like(x), torch.zeros_like(x)
    for t in targets:
        cur = u.clone()
        agi, cmask = torch.zeros_like(x), torch.zeros_like(x)
        for _ in range(k):
            p = cur.clone().detach().requires_grad_(True)
            (d,) = torch.autograd.grad(model(p.unsqueeze(0))[0, t], p)
            nxt = torch.clamp(u + eps * d.sign(), 0, 1)
            delta = u - nxt
            q = nxt.clone().detach().requires_grad_(True)
            out = model(((q - m) / s).unsqueeze(0))
            if objective == "logit":
                f = out[0, label]
            elif objective == "prob":
                f = torch.log_softmax(out, 1)[0, label]
            else:
                raise ValueError(objective)
            (gl,) = torch.autograd.grad(f, q)
            term = gl * delta
            if estimator == "valid_ip":
                keep = (term >= 0).double()
                term = term * keep
                cmask += keep
            agi += term
            cur = nxt
        if estimator == "valid_ip":
            c_ip += cmask
        if estimator == "valid_ref":
            keep = (agi >= 0).double()
            agi = agi * keep
            c_ref += keep
        c_agi += agi
    if estimator == "valid_ref":
        return c_agi / torch.where(c_ref == 0, torch.ones_like(c_ref), c_ref)
    if estimator == "valid_ip":
        return c_agi / torch.where(c_ip == 0, torch.ones_like(c_ip), c_ip)
    return c_agi
