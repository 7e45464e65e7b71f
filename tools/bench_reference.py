#!/usr/bin/python3
"""Timing baselines for `recal bench`, on the same TorchScript model and
sample counts: the reference implementation's loop re-created (IG-family:
one forward + `.backward()` per (reference, step) slice of a batch, with the
model's parameters requiring gradients as in the original; DiffID: one
forward per (ratio, mode) of a batch, perturbed copies built image by image),
and Captum's IntegratedGradients when it is importable.

Prints one JSON object: {"reference_loop_images_per_s": ..., "captum_images_per_s": ...}.
usage: bench_reference.py --model M.pt --shape C,H,W --images N --case ig|diffid|e2e [--refs R --steps K]
                          [--estimators E]
                          [--device cpu|cuda] [--precision fp32|tf32|bf16]
On CUDA every timing waits for the device (torch.cuda.synchronize) and the
object also holds peak_gpu_mb (torch.cuda.max_memory_allocated).
--precision bf16 runs the baselines under torch.autocast(bfloat16), as recal's
`precision: bf16` runs its forwards.
"""
import argparse
import json
import time

import torch


def ig_reference_batch(model, xb, lb, R, K):
    """valid_ip IG-Uniform of one batch as the reference computes it: R·K
    slices, each one forward + backward (parameter gradients included)."""
    alphas = (torch.linspace(0, 1, K) if K > 1 else torch.ones(1)).tolist()
    refs = torch.rand((xb.shape[0], R) + tuple(xb.shape[1:]), device=xb.device)
    num = torch.zeros_like(xb)
    cnt = torch.zeros_like(xb)
    for j in range(R):
        for k in range(K):
            z = (refs[:, j] + alphas[k] * (xb - refs[:, j])).detach().requires_grad_(True)
            out = model(z)
            f = out.gather(1, lb.view(-1, 1)).sum()
            model.zero_grad()
            f.backward()
            m = z.grad * (xb - z.detach()) / K
            keep = (m >= 0).float()
            num += keep * m
            cnt += keep
    return num / torch.clamp(cnt, min=1)


def ig_reference_loop(model, x, labels, R, K, batch):
    for b0 in range(0, x.shape[0], batch):
        ig_reference_batch(model, x[b0:b0 + batch], labels[b0:b0 + batch], R, K)


def diffid_reference_batch(model, xb, sal, ratios):
    """One batch of DiffID: the clean forward, then per (ratio, mode) the
    perturbed copies built image by image and one forward."""
    with torch.no_grad():
        model(xb)
        for r in ratios:
            for top in (False, True):
                q = 1 - r if top else r
                thr = torch.quantile(sal.reshape(sal.shape[0], -1), q=q, dim=1, interpolation="midpoint")
                pert = torch.zeros_like(xb)
                for i in range(xb.shape[0]):
                    keep = sal[i] < thr[i] if top else sal[i] >= thr[i]
                    kept = torch.where(keep, xb[i], torch.zeros_like(xb[i]))
                    fill = kept.sum() / (torch.count_nonzero(kept) + 1e-10)
                    pert[i] = torch.where(keep, xb[i], fill)
                model(pert)


def diffid_reference_loop(model, x, labels, ratios, batch):
    for b0 in range(0, x.shape[0], batch):
        xb = x[b0:b0 + batch]
        diffid_reference_batch(model, xb, torch.rand(xb.shape[0], 1, *xb.shape[2:], device=xb.device), ratios)


def e2e_reference_loop(model, x, labels, R, K, estimators, ratios, batch):
    """The reference's evaluation of `estimators` estimators: one run per
    estimator (its main.py takes one -est_method), each computing a batch's
    attribution and then that batch's DiffID."""
    for _ in range(estimators):
        for b0 in range(0, x.shape[0], batch):
            xb, lb = x[b0:b0 + batch], labels[b0:b0 + batch]
            a = ig_reference_batch(model, xb, lb, R, K)
            diffid_reference_batch(model, xb, a.abs().sum(1, keepdim=True), ratios)


def captum_ig(model, x, labels, R, K, batch):
    from captum.attr import IntegratedGradients
    ig = IntegratedGradients(model)
    for b0 in range(0, x.shape[0], batch):
        xb, lb = x[b0:b0 + batch], labels[b0:b0 + batch]
        for _ in range(R):
            ref = torch.rand_like(xb)
            ig.attribute(xb, baselines=ref, target=lb, n_steps=K, method="riemann_trapezoid",
                         internal_batch_size=batch)


def sync(x):
    if x.is_cuda:
        torch.cuda.synchronize()


def timed(fn, *args):
    sync(args[1])
    t = time.perf_counter()
    fn(*args)
    sync(args[1])
    return time.perf_counter() - t


def measure(args, model, x, labels):
    """The baselines' images/s for args.case (reference loop, Captum)."""
    res = {}
    if args.case == "ig":
        ig_reference_loop(model, x[:2], labels[:2], 1, 2, args.batch)  # warm-up
        t = timed(ig_reference_loop, model, x, labels, args.refs, args.steps, args.batch)
        res["reference_loop_images_per_s"] = args.images / t
        try:
            import captum  # noqa: F401
            captum_ig(model, x[:2], labels[:2], 1, 2, args.batch)
            t = timed(captum_ig, model, x, labels, args.refs, args.steps, args.batch)
            res["captum_images_per_s"] = args.images / t
        except ImportError:
            res["captum_images_per_s"] = None
    elif args.case == "e2e":
        ratios = [0.1 * i for i in range(1, 10)]
        e2e_reference_loop(model, x[:2], labels[:2], 1, 2, 1, ratios[:1], args.batch)
        t = timed(e2e_reference_loop, model, x, labels, args.refs, args.steps, args.estimators, ratios, args.batch)
        res["reference_loop_images_per_s"] = args.images / t
    else:
        ratios = [0.1 * i for i in range(1, 10)]
        diffid_reference_loop(model, x[:2], labels[:2], ratios[:1], args.batch)
        t = timed(diffid_reference_loop, model, x, labels, ratios, args.batch)
        res["reference_loop_images_per_s"] = args.images / t
    return res


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", required=True)
    ap.add_argument("--shape", required=True, help="C,H,W")
    ap.add_argument("--images", type=int, required=True)
    ap.add_argument("--case", choices=["ig", "diffid", "e2e"], required=True)
    ap.add_argument("--refs", type=int, default=10)
    ap.add_argument("--steps", type=int, default=5)
    ap.add_argument("--estimators", type=int, default=1, help="e2e: estimators evaluated (one run each)")
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--threads", type=int, default=0)
    ap.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    ap.add_argument("--precision", default="fp32", choices=["fp32", "tf32", "bf16"])
    args = ap.parse_args()
    dev = torch.device(args.device)
    if dev.type == "cuda":  # the same numerics as recal's --precision
        torch.backends.cudnn.allow_tf32 = args.precision == "tf32"
        torch.backends.cuda.matmul.allow_tf32 = args.precision == "tf32"
    if args.threads > 0:
        torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    model = torch.jit.load(args.model, map_location=dev).eval()
    for p in model.parameters():
        p.requires_grad_(True)  # as in the reference: a trainable model in eval mode
    c, h, w = (int(v) for v in args.shape.split(","))
    x = torch.randn(args.images, c, h, w, device=dev)
    with torch.no_grad():
        labels = model(x[:1]).shape[1]
    labels = torch.randint(0, labels, (args.images,), device=dev)
    with torch.autocast(dev.type, dtype=torch.bfloat16, enabled=args.precision == "bf16"):
        res = measure(args, model, x, labels)
    if dev.type == "cuda":
        res["peak_gpu_mb"] = torch.cuda.max_memory_allocated() / 2**20
    print(json.dumps(res))


if __name__ == "__main__":
    main()
