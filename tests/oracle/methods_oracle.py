#!/usr/bin/python3
"""Independent float64 PyTorch implementations of the methods of
docs/methods.md, written with plain loops over references j and
steps k (no batching, no code shared with recal), plus re-derivations of
recal's seeded draws (the seed hash and the counter-based stream of
util/seed.h, which recal draws on the device and on the host alike) so that
the tests can also check the samplers.
"""
import numpy as np
import torch

MASK64 = (1 << 64) - 1
SEED_REFERENCES, SEED_RANDOM_ATTR, SEED_ALPHA, SEED_NOISE, SEED_EG_INDEX = 1, 2, 3, 4, 6


def splitmix(z):
    z = (z + 0x9E3779B97F4A7C15) & MASK64
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & MASK64
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & MASK64
    return z ^ (z >> 31)


def seed_for(run_seed, image_id, purpose):
    return splitmix(splitmix(splitmix(run_seed) ^ image_id) ^ purpose)


def _u64(v):
    return np.asarray(v, dtype=np.uint64)


def ctr_bits(key, n):
    """util/seed.h seed_ctr_bits: splitmix64's n-th output from state key,
    for an array of counters n (numpy uint64 arithmetic wraps mod 2^64)."""
    with np.errstate(over="ignore"):
        z = _u64(key) + (_u64(n) + _u64(1)) * _u64(0x9E3779B97F4A7C15)
        z = (z ^ (z >> _u64(30))) * _u64(0xBF58476D1CE4E5B9)
        z = (z ^ (z >> _u64(27))) * _u64(0x94D049BB133111EB)
        return z ^ (z >> _u64(31))


def ctr_uniform(key, n):
    """n float32 U[0, 1) draws of the counter-based stream (ts_ctr_rand)."""
    b = ctr_bits(key, np.arange(n, dtype=np.uint64)) >> _u64(40)
    return torch.from_numpy(b.astype(np.float32) * np.float32(2.0 ** -24))


def ctr_normal(key, n):
    """n float32 N(0, 1) draws of the counter-based stream: Box–Muller on the
    pair (2n, 2n + 1) in float64, u1 = (b + 1)·2^-24 in (0, 1]."""
    m = np.arange(n, dtype=np.uint64) * _u64(2)
    u1 = ((ctr_bits(key, m) >> _u64(40)) + _u64(1)).astype(np.float64) * 2.0 ** -24
    u2 = (ctr_bits(key, m + _u64(1)) >> _u64(40)).astype(np.float64) * 2.0 ** -24
    return torch.from_numpy((np.sqrt(-2.0 * np.log(u1)) * np.cos(2.0 * np.pi * u2)).astype(np.float32))


def seed_shuffle(n, seed):
    """recal's seed_shuffle (util/seed.h): Fisher–Yates driven by the splitmix
    stream that starts at seed; the data order of training and fine-tuning."""
    order = list(range(n))
    s = seed
    for i in range(n - 1, 0, -1):
        s = splitmix(s)
        j = s % (i + 1)
        order[i], order[j] = order[j], order[i]
    return order


def _chan(v):
    return torch.tensor(v, dtype=torch.float64).view(1, -1, 1, 1)


def random_attr(run_seed, image_id, n):
    """The random control: n U[0, 1) draws of the counter-based stream."""
    return ctr_uniform(seed_for(run_seed, image_id, SEED_RANDOM_ATTR), n)


def sampled_uniform(run_seed, image_id, r, shape, mean, std):
    """IG-Uniform: normalize(U[0,1]^{C×H×W})."""
    n = r * int(torch.tensor(shape).prod())
    u = ctr_uniform(seed_for(run_seed, image_id, SEED_REFERENCES), n)
    return (u.view(r, *shape).double() - _chan(mean)) / _chan(std)


def noise_sigma(x, mean, std, noise, sigma):
    """σ in pixel units: absolute, or noise × this image's pixel range."""
    if sigma > 0:
        return sigma
    px = x.double() * _chan(std)[0] + _chan(mean)[0]
    return noise * float(px.max() - px.min())


def sampled_gaussian(run_seed, image_id, x, r, mean, std, noise=0.15, sigma=0.0):
    """IG-SG / IG-SQ: normalize(clamp(x̃ + N(0, σ²), 0, 1))."""
    n = r * x.numel()
    e = ctr_normal(seed_for(run_seed, image_id, SEED_NOISE), n)
    s = noise_sigma(x, mean, std, noise, sigma)
    px = x.double() * _chan(std)[0] + _chan(mean)[0]
    ref = torch.clamp(px.unsqueeze(0) + s * e.view(r, *x.shape).double(), 0, 1)
    return (ref - _chan(mean)) / _chan(std)


def sampled_alpha(run_seed, image_id, r, k):
    """Expected Gradients: one U(0,1) α per (reference, step)."""
    return ctr_uniform(seed_for(run_seed, image_id, SEED_ALPHA), r * k).double().view(r, k)


def linspace_alpha(r, k):
    a = [1.0] if k == 1 else [i / (k - 1) for i in range(k)]
    return torch.tensor([a] * r, dtype=torch.float64)


def grad_at(model, z, label):
    z = z.clone().detach().requires_grad_(True)
    f = model(z.unsqueeze(0))[0, label]
    (g,) = torch.autograd.grad(f, z)
    return g


def f_at(model, z, label):
    with torch.no_grad():
        return float(model(z.unsqueeze(0))[0, label])


def idgi(model, x, label, refs, alpha):
    """IDGI (Yang, Wang & Bilgic, CVPR 2023, Algorithm 1) on each path
    z_k = r_j + α_k (x − r_j), k = 0 … K−1, averaged over the R paths:
    Σ_{k<K−1} g_k² / Σ g_k² · (F(z_{k+1}) − F(z_k)), g_k = ∇F(z_k)."""
    R, K = alpha.shape
    out = torch.zeros_like(x)
    for j in range(R):
        zs = [refs[j] + alpha[j, k] * (x - refs[j]) for k in range(K)]
        for k in range(K - 1):
            g = grad_at(model, zs[k], label)
            n2 = float((g * g).sum())
            if n2 > 0:
                out += g * g / n2 * (f_at(model, zs[k + 1], label) - f_at(model, zs[k], label))
    return out / R


def rule_grid(rule, k):
    """An α rule's points and weights as Captum 0.7 defines them
    (attr/_utils/approximation_methods.py), written out here with numpy:
    riemann steps 1/k (the trapezoid's two ends halved), Gauss–Legendre
    from numpy's leggauss mapped to [0, 1]."""
    if rule == "gausslegendre":
        x, w = np.polynomial.legendre.leggauss(k)
        return 0.5 * (1 + x), 0.5 * w
    w = np.full(k, 1.0 / k)
    a = {"riemann_left": np.arange(k) / k, "riemann_right": (np.arange(k) + 1) / k,
         "riemann_middle": (np.arange(k) + 0.5) / k, "riemann_trapezoid": np.arange(k) / (k - 1)}[rule]
    if rule == "riemann_trapezoid":
        w[0] /= 2
        w[-1] /= 2
    return a, w


def path_attr(model, x, label, refs, alpha, estimator, squared=False, weights=None):
    """x: C×H×W float64, refs: R×C×H×W, alpha: R×K. docs/methods.md's
    estimators; squared = IG-SQ; weights: the K steps' (an α rule's),
    default 1/K each. (The reference code's pairing, reference_compat, has
    its own oracle: reference_oracle.py.)"""
    R, K = alpha.shape
    w = [1.0 / K] * K if weights is None else [float(v) for v in weights]
    if estimator == "idgi":
        return idgi(model, x, label, refs, alpha)
    if estimator in ("vanilla", "valid_ref"):
        num, cnt = torch.zeros_like(x), torch.zeros_like(x)
        for j in range(R):
            gbar = sum(w[k] * grad_at(model, refs[j] + alpha[j, k] * (x - refs[j]), label) for k in range(K))
            m = (x - refs[j]) * gbar
            if estimator == "vanilla":
                num += (x - refs[j]) * gbar * gbar if squared else m
                cnt += 1
            else:
                keep = (m >= 0).double()
                num += keep * (m * m if squared else m)
                cnt += keep
        return num / torch.clamp(cnt, min=1)
    if estimator == "valid_ip":
        num, cnt = torch.zeros_like(x), torch.zeros_like(x)
        for j in range(R):
            for k in range(K):
                z = refs[j] + alpha[j, k] * (x - refs[j])
                # x − z written as (1 − α)(x − r_j): equal in exact math, and
                # exactly 0 at α = 1, where "x - z" would leave rounding
                # noise whose sign decides keep = [m >= 0] at random.
                m = (1 - alpha[j, k]) * (x - refs[j]) * grad_at(model, z, label) * w[k]
                keep = (m >= 0).double()
                num += keep * (m * m if squared else m)
                cnt += keep
        return num / torch.clamp(cnt, min=1)
    raise ValueError(estimator)


def ig_uniform(model, x, label, refs, steps, estimator):
    return path_attr(model, x, label, refs, linspace_alpha(refs.shape[0], steps), estimator)


def input_grad(model, x, label, times_input=False):
    g = grad_at(model, x, label)
    return x * g if times_input else g


def smoothgrad(model, x, label, run_seed, image_id, n, mean, std, noise=0.15, sigma=0.0):
    """(1/N) Σ g(x + ε_i), ε ~ N(0, σ²) in pixel units, i.e. ε/std in model space."""
    e = ctr_normal(seed_for(run_seed, image_id, SEED_NOISE), n * x.numel()).double().view(n, *x.shape)
    s = noise_sigma(x, mean, std, noise, sigma)
    return sum(grad_at(model, x + s * e[i] / _chan(std)[0], label) for i in range(n)) / n


SEED_AGI_TARGETS = 7


def _first_of_shuffle(pool, run_seed, image_id, t):
    """The first t of a partial Fisher–Yates of pool driven by the image's
    splitmix stream (recal's pick_targets)."""
    pool = list(pool)
    s = seed_for(run_seed, image_id, SEED_AGI_TARGETS)
    for i in range(t):
        s = splitmix(s)
        j = i + s % (len(pool) - i)
        pool[i], pool[j] = pool[j], pool[i]
    return pool[:t]


def agi_targets(run_seed, image_id, classes, label, t):
    """T distinct classes ≠ label."""
    return _first_of_shuffle([c for c in range(classes) if c != label], run_seed, image_id, t)


def agi_targets_compat(run_seed, image_id, classes, t):
    """reference_compat's T distinct classes of 0 … C−3 (the reference's
    candidates, its label included)."""
    return _first_of_shuffle(range(classes - 2), run_seed, image_id, t)


def agi(model, x, label, targets, steps, eps, mean, std, estimator):
    """AGI as docs/methods.md states it: per target class, K steps of
    x̃ ← clamp(x̃ + ε·sign(∂ log p_target/∂x̃), 0, 1) in pixel space, each adding
    g(step point) ⊙ (previous − step point) in model space."""
    m, s = _chan(mean)[0], _chan(std)[0]
    px = x * s + m
    van = torch.zeros_like(x)
    num_ref, cnt_ref = torch.zeros_like(x), torch.zeros_like(x)
    num_ip, cnt_ip = torch.zeros_like(x), torch.zeros_like(x)
    for t in targets:
        cur, per_target = px.clone(), torch.zeros_like(x)
        for _ in range(steps):
            z = ((cur - m) / s).detach().requires_grad_(True)
            lp = torch.log_softmax(model(z.unsqueeze(0)), 1)[0, t]
            (gt,) = torch.autograd.grad(lp, z)
            nxt = torch.clamp(cur + eps * torch.sign(gt), 0, 1)
            term = grad_at(model, (nxt - m) / s, label) * (cur - nxt) / s
            van += term
            per_target += term
            keep = (term >= 0).double()
            num_ip += keep * term
            cnt_ip += keep
            cur = nxt
        keep = (per_target >= 0).double()
        num_ref += keep * per_target
        cnt_ref += keep
    if estimator == "vanilla":
        return van / len(targets)
    if estimator == "valid_ref":
        return num_ref / torch.clamp(cnt_ref, min=1)
    return num_ip / torch.clamp(cnt_ip, min=1)
