#!/bin/sh
# The shim's deferred checks against its immediate ones (shim_checks.c):
# two small TorchScript models, one with NaN input gradients.
# Usage: shim_checks.sh SHIM_CHECKS WORK_DIR
set -eu
bin=$1 work=$2
mkdir -p "$work" && cd "$work"
/usr/bin/python3 - <<'PY'
import torch
torch.manual_seed(0)
class Good(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.f = torch.nn.Linear(48, 5)
    def forward(self, x):
        return self.f(torch.tanh(x.flatten(1)))
class NanGrad(torch.nn.Module):
    def forward(self, x):
        z = x.flatten(1)[:, :5]
        return z + torch.sqrt(z * 0.0)  # finite logits, NaN gradients
x = torch.zeros(2, 3, 4, 4)  # traced: a script read from stdin has no source for torch.jit.script
torch.jit.trace(Good().eval(), x).save("good.pt")
torch.jit.trace(NanGrad(), x).save("nangrad.pt")
PY
"$bin" good.pt nangrad.pt
