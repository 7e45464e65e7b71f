#!/usr/bin/python3
"""Expected Gradients through `recal run`, with recal's own reference
sampler: the oracle re-derives which training images each test image draws
(the splitmix stream of seed_for(seed, image id, SEED_EG_INDEX), modulo the
train split's size) and its α (torch's generator on SEED_ALPHA), reads those
images straight from the IDX files, and computes EG in float64 with the loop
of methods_oracle.path_attr; recal's saved maps (outputs.attributions) must
match to a relative L2 error of 1e-4, for vanilla and valid_ip, on 2 ranks.

usage: check_eg_run.py RECAL SRC_DIR WORK_DIR MODEL"""
import glob
import os
import subprocess
import sys

import numpy as np
import torch

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, "..", "integration"))
import methods_oracle as mo  # noqa: E402
from check_diffid import idx  # noqa: E402

N, R, K, SEED = 5, 3, 2, 11
SEED_EG_INDEX = 6
MEAN, STD = 0.2860, 0.3530
TOL = 1e-4


def main():
    recal, src, work, model_path = sys.argv[1:5]
    run = os.path.join(work, "eg-run")
    subprocess.run(["rm", "-rf", run], check=True)
    cfg = os.path.join(src, "tests", "data", "fashion-diffid.yaml")
    subprocess.run(["mpirun", "-n", "2", recal, "run", cfg, "--limit", str(N), "--set", f"model.path={model_path}",
                    "--set", f"methods=[{{name: eg, estimators: [vanilla, valid_ip], refs: {R}, steps: {K}}}]",
                    "--set", f"seed={SEED}", "--set", "shard_images=2", "--set", "outputs.attributions=true",
                    "--set", "outputs.figures=false", "--run-dir", run], check=True, stdout=subprocess.DEVNULL)
    maps = np.concatenate([np.load(f) for f in sorted(glob.glob(os.path.join(run, "attributions", "*.npy")))])

    root = "/usr/share/datasets/fashion-mnist"

    def load(prefix, n=None):
        pix = idx(f"{root}/{prefix}-images-idx3-ubyte.gz")
        pix = pix if n is None else pix[:n]
        x = (torch.from_numpy(pix.copy()).float().unsqueeze(1) / 255.0 - MEAN) / STD  # float32 like recal
        return x.double(), idx(f"{root}/{prefix}-labels-idx1-ubyte.gz").astype(np.int64)

    x_test, y_test = load("t10k", N)
    x_train, _ = load("train")
    model = torch.jit.load(model_path).double().eval()
    bad = 0
    for i in range(N):
        s = mo.seed_for(SEED, i, SEED_EG_INDEX)
        ids = []
        for _ in range(R):
            s = mo.splitmix(s)
            ids.append(s % len(x_train))
        refs = x_train[ids]
        alpha = mo.sampled_alpha(SEED, i, R, K)
        for e, est in enumerate(["vanilla", "valid_ip"]):
            want = mo.path_attr(model, x_test[i], int(y_test[i]), refs, alpha, est).numpy()
            got = maps[i, e]
            err = float(np.linalg.norm(got - want) / max(np.linalg.norm(want), 1e-30))
            ok = err <= TOL
            bad += not ok
            print(f"{'ok  ' if ok else 'FAIL'} image {i} eg/{est} (train images {ids}): relative L2 {err:.2e}")
    if bad:
        sys.exit(f"{bad} EG maps differ from the oracle")
    print("EG with recal's dataset sampler matches the float64 oracle")


if __name__ == "__main__":
    main()
