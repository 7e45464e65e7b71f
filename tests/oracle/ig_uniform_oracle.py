#!/usr/bin/python3
"""Independent float64 PyTorch implementation of IG-Uniform and its three
estimators, written from ../shared/spec/METHODS.md with plain loops over
references j and steps k (no batching, no shared code with recal).

As a module: ig_uniform(model, x, label, refs, steps, estimator) -> A.
Also the per-image reference sampler (seed hash + torch's CPU generator) so
the test can check recal's seeded references too.
"""
import torch

MASK64 = (1 << 64) - 1
SEED_REFERENCES = 1


def splitmix(z):
    z = (z + 0x9E3779B97F4A7C15) & MASK64
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & MASK64
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & MASK64
    return z ^ (z >> 31)


def seed_for(run_seed, image_id, purpose):
    return splitmix(splitmix(splitmix(run_seed) ^ image_id) ^ purpose)


def sampled_references(run_seed, image_id, r, shape, mean, std):
    """normalize(U[0,1]^{C×H×W}) from the image's own generator."""
    g = torch.Generator()
    s = seed_for(run_seed, image_id, SEED_REFERENCES)
    # torch.Generator.manual_seed takes a signed 64-bit value
    g.manual_seed(s - (1 << 64) if s >= (1 << 63) else s)
    u = torch.rand((r * int(torch.tensor(shape).prod()),), generator=g, dtype=torch.float32)
    u = u.view(r, *shape).double()
    m = torch.tensor(mean, dtype=torch.float64).view(1, -1, 1, 1)
    sd = torch.tensor(std, dtype=torch.float64).view(1, -1, 1, 1)
    return (u - m) / sd


def grad_at(model, z, label):
    z = z.clone().detach().requires_grad_(True)
    f = model(z.unsqueeze(0))[0, label]
    (g,) = torch.autograd.grad(f, z)
    return g


def ig_uniform(model, x, label, refs, steps, estimator):
    """x: C×H×W float64; refs: R×C×H×W float64."""
    K = steps
    alphas = [1.0] if K == 1 else [k / (K - 1) for k in range(K)]
    R = refs.shape[0]
    if estimator == "vanilla":
        total = torch.zeros_like(x)
        for j in range(R):
            gbar = sum(grad_at(model, refs[j] + a * (x - refs[j]), label) for a in alphas) / K
            total += (x - refs[j]) * gbar
        return total / R
    if estimator == "valid_ref":
        num, cnt = torch.zeros_like(x), torch.zeros_like(x)
        for j in range(R):
            gbar = sum(grad_at(model, refs[j] + a * (x - refs[j]), label) for a in alphas) / K
            m = (x - refs[j]) * gbar
            keep = (m >= 0).double()
            num += keep * m
            cnt += keep
        return num / torch.clamp(cnt, min=1)
    if estimator == "valid_ip":
        num, cnt = torch.zeros_like(x), torch.zeros_like(x)
        for j in range(R):
            for a in alphas:
                z = refs[j] + a * (x - refs[j])
                # x − z written as (1 − α)(x − r_j): equal in exact math, and
                # exactly 0 at α = 1, where "x - z" would leave rounding
                # noise whose sign decides keep = [m >= 0] at random.
                m = (1 - a) * (x - refs[j]) * grad_at(model, z, label) / K
                keep = (m >= 0).double()
                num += keep * m
                cnt += keep
        return num / torch.clamp(cnt, min=1)
    raise ValueError(estimator)
