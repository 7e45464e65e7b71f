#!/usr/bin/python3
"""recal's quickshift superpixels (LIME / KernelSHAP; VLFeat's density, the
ICML 2023 settings kernel_size 1, max_dist 200, ratio 0.1) against
scikit-image's `quickshift`, which lime_image calls with those settings
(Debian's python3-skimage; the partitions compared with scikit-learn's
adjusted Rand index).

Only density ties can differ: skimage breaks them with N(0, 1e-5) noise
from NumPy's generator (random_seed, 42 by default), recal with noise of
that scale from a hash. So recal is held to skimage's own spread across
seeds: for each image, recal's mean ARI against skimage with random_seed
1..5 must be at least skimage(42)'s mean ARI against the same five minus
0.05, and recal's superpixel count must lie within theirs ± 2.
Images: photos from skimage.data (astronaut, coffee, chelsea, rocket) at
32 and 64 pixels and astronaut at 224 (RGB → Lab; small photos have no
ties: ARI 1 there), and 8 Fashion-MNIST images (gray, flat black
backgrounds: large ties, skimage's seeds disagree up to ARI ~0.5).

usage: check_superpixels.py RECAL WORKDIR
"""
import os
import subprocess
import sys

import numpy as np
import skimage.data
import skimage.transform
import torch
from skimage.segmentation import quickshift
from sklearn.metrics import adjusted_rand_score

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "integration"))
from check_diffid import idx  # noqa: E402

QS = dict(kernel_size=1, max_dist=200, ratio=0.1)
TOL_ARI = 0.05
failures = []


class Tiny(torch.nn.Module):
    """Any model will do: only the superpixels are read."""

    def __init__(self, c):
        super().__init__()
        self.conv, self.fc = torch.nn.Conv2d(c, 4, 3), torch.nn.Linear(4, 10)

    def forward(self, x):
        return self.fc(torch.relu(self.conv(x)).mean((2, 3)))


def recal_segments(recal, work, pix, name):
    """pix: N×C×H×W in [0,1]; recal gets them with mean 0, std 1."""
    n, c = pix.shape[:2]
    model = os.path.join(work, f"tiny{c}.pt")
    torch.jit.script(Tiny(c).eval()).save(model)
    x, y = os.path.join(work, name + "-x.npy"), os.path.join(work, name + "-y.npy")
    np.save(x, pix.astype(np.float32))
    np.save(y, np.zeros(n, np.int64))
    seg = os.path.join(work, name + "-seg.npy")
    zeros, ones = ",".join(["0"] * c), ",".join(["1"] * c)
    cmd = [recal, "attribute", "--model", model, "--input", x, "--labels", y, "--method", "lime", "--samples", "2",
           "--out", os.path.join(work, name + "-a.npy"), "--segments-out", seg, "--mean", zeros, "--std", ones]
    r = subprocess.run(cmd, capture_output=True, text=True)
    if r.returncode != 0:
        print("FAILED:", " ".join(cmd), "\n", r.stderr)
        sys.exit(1)
    return np.load(seg)


def ari(a, b):
    return adjusted_rand_score(a.ravel(), b.ravel())


def report(ok, text):
    print(f"{'ok  ' if ok else 'FAIL'} {text}")
    if not ok:
        failures.append(text)


def main():
    recal, work = sys.argv[1:3]
    os.makedirs(work, exist_ok=True)

    sets = []
    for size in (32, 64, 224):
        names = ["astronaut", "coffee", "chelsea", "rocket"] if size < 224 else ["astronaut"]
        rgb = [skimage.transform.resize(getattr(skimage.data, nm)(), (size, size), anti_aliasing=True)
               .astype(np.float32) for nm in names]
        seg = recal_segments(recal, work, np.stack([im.transpose(2, 0, 1) for im in rgb]), f"photo{size}")
        sets += [(f"{nm} {size}x{size}", im, sg) for nm, im, sg in zip(names, rgb, seg)]
    gray = idx("/usr/share/datasets/fashion-mnist/t10k-images-idx3-ubyte.gz")[:8].astype(np.float32) / 255.0
    seg = recal_segments(recal, work, gray[:, None], "fashion")
    sets += [(f"fashion image {i}", np.dstack([g, g, g]), sg) for i, (g, sg) in enumerate(zip(gray, seg))]

    for label, im, s in sets:
        im = im.astype(np.float64)
        ref = quickshift(im, random_seed=42, **QS)
        others = [quickshift(im, random_seed=sd, **QS) for sd in range(1, 6)]
        spread = np.mean([ari(ref, o) for o in others])
        ours = np.mean([ari(s, o) for o in others])
        counts = [int(o.max()) + 1 for o in others]
        m = int(s.max()) + 1
        ok = ours >= spread - TOL_ARI and min(counts) - 2 <= m <= max(counts) + 2
        report(ok, f"{label}: recal {m} superpixels (skimage seeds {min(counts)}..{max(counts)}); "
                   f"mean ARI vs skimage seeds 1..5: recal {ours:.4f}, skimage seed 42 {spread:.4f}")

    if failures:
        print(f"{len(failures)} superpixel check(s) failed")
        sys.exit(1)
    print("all superpixel checks passed")


if __name__ == "__main__":
    main()
