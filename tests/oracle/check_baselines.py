#!/usr/bin/python3
"""The baselines of ig and guided_ig (docs/methods.md, "Baselines"): `blur`
(blur_sigma), `uniform` and a file ({path: base.npy}: one for all images or
one per image id). IG from each is computed here in float64 PyTorch
(methods_oracle.path_attr, plain loops) from baselines made here: the blur
as torch conv2d with a Gaussian written out from its definition (σ in
pixels, truncated at ⌊4σ + ½⌋, zero padding, on the normalized image;
scipy's gaussian_filter as a second check when present), the uniform noise
re-derived from recal's counter-based stream (util/seed.h, purpose 19) and
normalized here. Compared with `recal attribute` and with the maps a 2-rank
`recal run` saved (outputs.attributions; batches that do not align with
shards), ≤ 1e-4 relative L2. Also: on a linear model the map is
(x − b) ⊙ w, so Σ A = f(x) − f(b) (hand-derived completeness); the file is
in --resume's fingerprint (changed: refused naming it; restored: resumes);
and the refusals (shape, rows, dtype, flags).
usage: check_baselines.py RECAL SRC WORK_DIR MODEL"""
import glob
import json
import os
import shutil
import subprocess
import sys

import numpy as np
import torch
import torch.nn.functional as F

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import methods_oracle as oracle  # noqa: E402

N, K, SEED = 8, 8, 0
MEAN, STD = 0.2860, 0.3530  # fashion-mnist's normalization (docs/datasets.md)
SEED_BASELINE = 19  # util/seed.h
TOL = 1e-4
failures = []


def rel_l2(a, b):
    return float(np.linalg.norm(a - b) / max(np.linalg.norm(b), 1e-30))


def check(cond, what):
    print(("ok   " if cond else "FAIL ") + what)
    if not cond:
        failures.append(what)


def close(label, got, want, tol=TOL):
    err = rel_l2(np.asarray(got, np.float64), np.asarray(want, np.float64))
    check(err <= tol and np.linalg.norm(want) > 0, f"{label}: relative L2 {err:.2e} (tol {tol:g})")


def idx(path):
    import gzip
    data = gzip.open(path).read()
    nd = data[3]
    shape = [int.from_bytes(data[4 + 4 * i:8 + 4 * i], "big") for i in range(nd)]
    return np.frombuffer(data, np.uint8, offset=4 + 4 * nd).reshape(shape)


def blur(x, sigma):
    """x (C×H×W, float64) blurred per channel: the Gaussian exp(−t²/2σ²) on
    t = −r … r, r = ⌊4σ + ½⌋, normalized to sum 1, along H then W, zeros
    outside the image (conv2d's padding)."""
    r = int(4.0 * sigma + 0.5)
    t = torch.arange(-r, r + 1, dtype=torch.float64)
    k = torch.exp(-t * t / (2.0 * sigma * sigma))
    k = k / k.sum()
    c = x.shape[0]
    z = F.conv2d(x.unsqueeze(0), k.view(1, 1, -1, 1).repeat(c, 1, 1, 1), padding=(r, 0), groups=c)
    z = F.conv2d(z, k.view(1, 1, 1, -1).repeat(c, 1, 1, 1), padding=(0, r), groups=c)
    return z[0]


def uniform(image_id, shape):
    """normalize(U[0,1]^{C×H×W}) from image id's stream of purpose 19."""
    n = int(np.prod(shape))
    u = oracle.ctr_uniform(oracle.seed_for(SEED, image_id, SEED_BASELINE), n).double().view(*shape)
    return (u - MEAN) / STD


def recal_line(text):
    """recal's own message among mpirun's."""
    return next((ln for ln in text.splitlines() if "recal" in ln and "mpirun" not in ln), text.strip()[-200:])


def run(cmd, expect=0):
    p = subprocess.run(cmd, capture_output=True, text=True)
    if p.returncode != expect:
        sys.exit(f"{' '.join(cmd)}\nexited {p.returncode}, want {expect}:\n{p.stdout[-2000:]}\n{p.stderr[-3000:]}")
    return p


def attribute(recal, work, name, args, expect=0):
    out = os.path.join(work, name + ".npy")
    p = run([recal, "attribute", "--out", out, "--device", "cpu", "--threads", "1"] + args, expect)
    return np.load(out) if expect == 0 else p.stderr


def vanilla(model64, x, label, b):
    """IG from b to x at α = linspace(0, 1, K): (x − b) ⊙ Σ_k g(z_k) / K, the
    last point x itself (as recal defines it, docs/methods.md), not b + 1·(x − b):
    a max-pool over a flat background has ties, and the rounding of
    b + (x − b) breaks them another way, moving that gradient (by 6 % of the
    map on a random-init CNN)."""
    zs = [x if k == K - 1 else b + (k / (K - 1)) * (x - b) for k in range(K)]
    return (x - b) * sum(oracle.grad_at(model64, z, label) for z in zs) / K


def ig_oracle(model64, x64, labels, bases, estimators):
    """{estimator: N×C×H×W} of IG from bases[i] (C×H×W) to x64[i], K points;
    valid_ip and idgi by methods_oracle.path_attr (neither reads the gradient
    at α = 1: valid_ip's term there is 0, IDGI takes F, which has no ties)."""
    alpha = oracle.linspace_alpha(1, K)
    return {e: np.stack([(vanilla(model64, x64[i], int(labels[i]), bases[i]) if e == "vanilla" else
                          oracle.path_attr(model64, x64[i], int(labels[i]), bases[i].unsqueeze(0), alpha, e)).numpy()
                         for i in range(len(x64))]) for e in estimators}


def main():
    recal, src, work, model = sys.argv[1:5]
    shutil.rmtree(work, ignore_errors=True)
    os.makedirs(work)
    d = "/usr/share/datasets/fashion-mnist/"
    pix = idx(d + "t10k-images-idx3-ubyte.gz")[:N].astype(np.float32) / 255.0
    labels = idx(d + "t10k-labels-idx1-ubyte.gz")[:N].astype(np.int64)
    x = ((pix - np.float32(MEAN)) / np.float32(STD)).reshape(N, 1, 28, 28)
    x64 = torch.from_numpy(x).double()
    model64 = torch.jit.load(model).eval().double()
    rng = np.random.default_rng(5)
    per = rng.normal(size=(N, 1, 28, 28)).astype(np.float32)  # row i: image id i
    one = rng.normal(size=(1, 28, 28)).astype(np.float32)
    paths = {k: os.path.join(work, k + ".npy") for k in ("x", "labels", "per", "one", "one4", "one64")}
    np.save(paths["x"], x)
    np.save(paths["labels"], labels)
    np.save(paths["per"], per)
    np.save(paths["one"], one)
    np.save(paths["one4"], one[None])
    np.save(paths["one64"], one.astype(np.float64))

    # the blur written here against scipy's, when scipy is there
    try:
        from scipy import ndimage
        for s in (5.0, 3.5, 1.5):
            sp = ndimage.gaussian_filter(x64[0].numpy(), sigma=[0, s, s], mode="constant")
            close(f"this test's blur (sigma {s}) vs scipy.ndimage.gaussian_filter", blur(x64[0], s).numpy(), sp, 1e-12)
    except ImportError:
        print("skip scipy's gaussian_filter (not installed): the conv2d blur stands alone")

    bases = {
        "blur": [blur(x64[i], 5.0) for i in range(N)],
        "blur3.5": [blur(x64[i], 3.5) for i in range(N)],
        "uniform": [uniform(i, (1, 28, 28)) for i in range(N)],
        "file-per-image": [torch.from_numpy(per[i]).double() for i in range(N)],
        "file-shared": [torch.from_numpy(one).double()] * N,
    }
    flags = {"blur": ["--baseline", "blur"], "blur3.5": ["--baseline", "blur", "--blur-sigma", "3.5"],
             "uniform": ["--baseline", "uniform"], "file-per-image": ["--baseline", paths["per"]],
             "file-shared": ["--baseline", paths["one"]]}
    ests = ("vanilla", "valid_ip", "idgi")
    want = {b: ig_oracle(model64, x64, labels, bases[b], ests) for b in bases}

    # ---- recal attribute: every baseline, three estimators from one pass ----
    common = ["--model", model, "--input", paths["x"], "--labels", paths["labels"], "--mean", str(MEAN), "--std",
              str(STD), "--seed", str(SEED), "--method", "ig", "--steps", str(K)]
    for b in bases:
        got = attribute(recal, work, "attr-" + b, common + flags[b] + ["--estimator", ",".join(ests)])
        for k, e in enumerate(ests):
            close(f"recal attribute ig/{e}, baseline {b} vs float64 PyTorch", got[:, k], want[b][e])
    for name in ("one4", "one64"):  # 1×C×H×W and float64 files: the same shared baseline
        got = attribute(recal, work, "attr-" + name, common + ["--baseline", paths[name]])
        close(f"recal attribute ig, shared baseline saved as {name}", got, want["file-shared"]["vanilla"])

    # ---- completeness on a linear model: A = (x − b) ⊙ w_t, Σ A = f(x) − f(b) ----
    torch.manual_seed(3)
    lin = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(784, 10)).eval()
    lpath = os.path.join(work, "linear.pt")
    torch.jit.script(lin).save(lpath)
    w = lin[1].weight.detach().double().numpy()
    bias = lin[1].bias.detach().double().numpy()
    lcommon = [a if a != model else lpath for a in common]
    # the baseline itself, read back from the map: b = x − A / w_t. No max-pool here, so also blurs whose
    # window fits inside the 28 × 28 image (r = ⌊4σ + ½⌋ < 14): they leave the background flat, and on
    # the CNN its max-pools then have ties that float32 and float64 rounding break either way (1e-4 of
    # the map at σ = 2.5 on the trained CNN), so the CNN checks above take σ = 5 and 3.5.
    for s in (2.5, 1.5):
        bases[f"blur{s}"] = [blur(x64[i], s) for i in range(N)]
        flags[f"blur{s}"] = ["--baseline", "blur", "--blur-sigma", str(s)]
    wt = np.stack([w[labels[i]].reshape(1, 28, 28) for i in range(N)])
    for b in ("blur", "blur3.5", "blur2.5", "blur1.5", "uniform", "file-per-image", "file-shared"):
        got = attribute(recal, work, "lin-" + b, lcommon + flags[b])
        bb = np.stack([v.numpy() for v in bases[b]])
        keep = np.abs(wt) > 1e-3  # where dividing by w_t loses little
        close(f"linear model, baseline {b}: the baseline read back, x - A / w_t, vs this test's", (x - got / wt)[keep],
              bb[keep], 1e-5)
        hand = np.stack([(x[i] - bb[i]) * w[labels[i]].reshape(1, 28, 28) for i in range(N)])
        close(f"linear model, baseline {b}: A = (x - b) * w_t", got, hand, 1e-5)
        f = lambda z, i: float(z.reshape(-1) @ w[labels[i]] + bias[labels[i]])  # noqa: E731
        gap = max(abs(got[i].sum() - (f(x[i].astype(np.float64), i) - f(bb[i], i))) /
                  max(abs(f(x[i].astype(np.float64), i) - f(bb[i], i)), 1e-12) for i in range(N))
        check(gap <= 1e-4, f"linear model, baseline {b}: sum A = f(x) - f(b), worst relative gap {gap:.1e}")

    # ---- recal run, 2 ranks: the saved maps ----
    cfg = os.path.join(src, "tests", "data", "fashion-diffid.yaml")
    methods = (f"[{{name: ig, baseline: blur, steps: {K}, estimators: [vanilla, valid_ip, idgi], label: ig_blur}}, "
               f"{{name: ig, baseline: blur, blur_sigma: 3.5, steps: {K}, label: ig_blur35}}, "
               f"{{name: ig, baseline: uniform, steps: {K}, estimators: [vanilla, valid_ip], label: ig_unif}}, "
               f"{{name: ig, baseline: {{path: {paths['per']}}}, steps: {K}, label: ig_file}}, "
               "{name: guided_ig, baseline: uniform, steps: 20, label: gig_unif}]")
    sets = ["--set", f"model.path={model}", "--set", "batch_size=3", "--set", "shard_images=4", "--set", "threads=1",
            "--set", f"seed={SEED}", "--set", "outputs={attributions: true, figures: false}", "--set",
            f"methods={methods}"]
    rd = os.path.join(work, "run")
    base_cmd = ["mpirun", "--oversubscribe", "-n", "2", recal, "run", cfg, "--limit", str(N), "--run-dir", rd] + sets
    run(base_cmd)
    res = json.load(open(os.path.join(rd, "metrics.json")))["results"]
    maps = np.concatenate([np.load(f) for f in sorted(glob.glob(os.path.join(rd, "attributions", "*.npy")))])
    rows = {(r["method"], r["estimator"]): k for k, r in enumerate(res)}
    for label, b, e in (("ig_blur", "blur", "vanilla"), ("ig_blur", "blur", "valid_ip"), ("ig_blur", "blur", "idgi"),
                        ("ig_blur35", "blur3.5", "vanilla"), ("ig_unif", "uniform", "vanilla"),
                        ("ig_unif", "uniform", "valid_ip"), ("ig_file", "file-per-image", "vanilla")):
        close(f"recal run's saved map {label}/{e} vs float64 PyTorch", maps[:, rows[(label, e)]], want[b][e])
    gig = attribute(recal, work, "gig-unif", [a if a != "ig" else "guided_ig" for a in common[:-2]] +
                    ["--steps", "20", "--baseline", "uniform"])
    close("recal run's guided_ig from the uniform baseline = recal attribute's (the same draw per image id)",
          maps[:, rows[("gig_unif", "vanilla")]], gig, 1e-6)
    listed = open(os.path.join(rd, "data_files")).read()
    check(os.path.basename(paths["per"]) in listed, "RUN_DIR/data_files lists the baseline file")

    # ---- --resume: the baseline file is fingerprinted ----
    np.save(paths["per"], per[::-1].copy())  # same size, other content
    p = run(base_cmd + ["--resume"], expect=1)
    check("--resume refused" in p.stderr and "changed since this run started" in p.stderr and
          "per.npy" in p.stderr, "--resume with the baseline file changed refused, naming it: " +
          recal_line(p.stderr))
    np.save(paths["per"], per)
    run(base_cmd + ["--resume"])
    check(True, "--resume with the original baseline file back goes on")

    # ---- refusals ----
    short = os.path.join(work, "short.npy")
    np.save(short, per[:N - 1])
    p = run(["mpirun", "--oversubscribe", "-n", "1", recal, "run", cfg, "--limit", str(N), "--run-dir",
             os.path.join(work, "short")] + sets[:-2] +
            ["--set", f"methods=[{{name: ig, baseline: {{path: {short}}}}}]"], expect=1)
    check(f"methods.0 (ig) baseline: {short}: a baseline of shape 7 x 1 x 28 x 28 has 7 rows for 8 images" in p.stderr,
          "a file with too few rows refused at load: " + recal_line(p.stderr))
    wrong = os.path.join(work, "wrong.npy")
    np.save(wrong, np.zeros((N, 27, 28), np.float32))
    err = attribute(recal, work, "out-wrong", common + ["--baseline", wrong], expect=1)
    check("a baseline of shape 8 x 27 x 28 does not fit images of 1 x 28 x 28: save 1 x 28 x 28 (one for all images) "
          "or N x 1 x 28 x 28" in err, "a file of another shape refused: " + err.strip()[:160])
    ints = os.path.join(work, "ints.npy")
    np.save(ints, np.zeros((1, 28, 28), np.int64))
    err = attribute(recal, work, "out-ints", common + ["--baseline", ints], expect=1)
    check("a baseline of dtype int64: save it as float32" in err, "an int64 file refused: " + err.strip()[:120])
    err = attribute(recal, work, "bad-name", common + ["--baseline", "grey"], expect=1)
    check("--baseline 'grey': want dataset_mean" in err, "an unknown --baseline refused naming it: " + err.strip())
    err = attribute(recal, work, "bad-sigma", common + ["--blur-sigma", "2"], expect=1)
    check("--blur-sigma 2 applies to baseline: blur only" in err, "--blur-sigma without blur refused: " + err.strip())
    if failures:
        sys.exit(f"{len(failures)} check(s) failed")
    print("all baseline checks passed")


if __name__ == "__main__":
    main()
