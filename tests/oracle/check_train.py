#!/usr/bin/python3
"""Training oracle: `recal train` on 1 process and data-parallel under
`mpirun -n 2` against torch.optim.SGD in PyTorch on the same TorchScript
init, the same images and the same seeded order (re-derived from the seed
hash). After 2 epochs of 6 steps the weights must agree to float rounding,
and the 2-rank model must equal the 1-rank one to the same tolerance (the
only difference is the order of the gradient sums).

usage: check_train.py RECAL SRC_DIR WORK_DIR"""
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

N, EPOCHS, BS, LR, MOM, WD, SEED = 360, 2, 64, 0.02, 0.9, 1e-4, 4
SEED_TRAIN_SHUFFLE = 5
TOL = 1e-4


def flat(model):
    return torch.cat([p.detach().double().reshape(-1) for p in model.parameters()])


def main():
    recal, src, work = sys.argv[1:4]
    os.makedirs(work, exist_ok=True)
    init = os.path.join(work, "init.pt")
    subprocess.run(["/usr/bin/python3", os.path.join(src, "tools", "export_fashion_cnn.py"), init, "--seed", "3"],
                   check=True, stdout=subprocess.DEVNULL)
    sets = ["--set", f"model.path={init}", "--set", f"dataset.limit={N}", "--set", f"train.epochs={EPOCHS}",
            "--set", f"train.batch_size={BS}", "--set", f"train.lr={LR}", "--set", f"train.momentum={MOM}",
            "--set", f"train.weight_decay={WD}", "--set", f"seed={SEED}"]
    cfg = os.path.join(src, "configs", "fashion-mnist-train.yaml")
    outs = {}
    for n in (1, 2):
        outs[n] = os.path.join(work, f"trained-{n}.pt")
        r = subprocess.run(["mpirun", "-n", str(n), recal, "train", cfg] + sets + ["--set", f"train.out={outs[n]}"],
                           capture_output=True, text=True)
        print(r.stdout.strip())
        if r.returncode != 0:
            print(r.stderr[-3000:])
            sys.exit(f"recal train on {n} rank(s) failed")

    root = "/usr/share/datasets/fashion-mnist"
    pix = torch.from_numpy(idx(f"{root}/train-images-idx3-ubyte.gz")[:N].copy()).float().unsqueeze(1)
    x = (pix / 255.0 - 0.2860) / 0.3530
    y = torch.from_numpy(idx(f"{root}/train-labels-idx1-ubyte.gz")[:N].astype(np.int64))
    m = torch.jit.load(init)
    m.train()
    for p in m.parameters():
        p.requires_grad_(True)
    opt = torch.optim.SGD(m.parameters(), lr=LR, momentum=MOM, weight_decay=WD)
    for ep in range(EPOCHS):
        order = mo.seed_shuffle(N, mo.seed_for(SEED, ep, SEED_TRAIN_SHUFFLE))
        for b0 in range(0, N, BS):
            b = order[b0:b0 + BS]
            loss = torch.nn.functional.cross_entropy(m(x[b]), y[b])
            opt.zero_grad()
            loss.backward()
            opt.step()
    want = flat(m)
    init_w = flat(torch.jit.load(init))
    bad = 0
    got = {n: flat(torch.jit.load(outs[n])) for n in outs}
    for label, a, b in (("1 process vs PyTorch", got[1], want), ("2 ranks vs PyTorch", got[2], want),
                        ("2 ranks vs 1 process", got[2], got[1])):
        err = float(torch.linalg.vector_norm(a - b) / torch.linalg.vector_norm(b - init_w))
        ok = err <= TOL
        bad += not ok
        print(f"{'ok  ' if ok else 'FAIL'} {label}: relative L2 of the weight change {err:.2e} (bound {TOL})")
    if bad:
        sys.exit(f"{bad} training check(s) failed")
    print("recal train (1 process and data-parallel) matches torch.optim.SGD")


if __name__ == "__main__":
    main()
