#!/usr/bin/env python3
"""Export a PyTorch model for recal: TorchScript (.pt) or an AOTInductor
package (.pt2) with the input gradient compiled in (docs/install.md, "Export a
model"; docs/limits.md, "After TorchScript").

usage: export_model.py MODEL --input-shape C,H,W --out FILE [--format torchscript|aoti]
                       [--batch B] [--device cpu|cuda] [--classes N] [--seed S]

MODEL is one of
  torchvision:NAME           a torchvision model with random weights (seeded), e.g. torchvision:vit_b_16
  torchvision:NAME:DEFAULT   ... with torchvision's pretrained weights (downloads them)
  FILE.py:FUNCTION           FUNCTION() from FILE.py returns the nn.Module
  tools:preact_resnet18 | tools:resnet50   the benchmark architectures of tools/export_models.py

--format torchscript (default for .pt): torch.jit.trace in eval mode with
gradients on (under no_grad, nn.MultiheadAttention records an inference-only
kernel with no gradient) and check_trace=False (the checker re-runs under
no_grad and then sees that other kernel).

--format aoti (default for .pt2): f(x, w) = (logits, d sum(logits * w) / dx) is
traced with make_fx into one graph of aten ops (forward and backward), then
torch.export(strict=False) and torch._inductor.aoti_compile_and_package compile
it for a fixed batch B (recal pads the last piece of a chunk). recal runs it
with libtorch >= 2.6, the same version that exported it. Compiling takes a
minute (PreActResNet-18) to several (ResNet-50) on a CPU.

Run it with the python whose torch recal was built against
(tools/build.sh --torch).
"""
import argparse
import importlib.util
import os
import sys
import time
import warnings

import torch


def load_model(spec, classes, seed):
    torch.manual_seed(seed)
    parts = spec.split(":")
    if parts[0] == "torchvision":
        import torchvision
        weights = parts[2] if len(parts) > 2 else None
        kw = {} if weights or classes is None else {"num_classes": classes}
        m = getattr(torchvision.models, parts[1])(weights=weights, **kw)
        # torchvision zero-initialises some heads (ViT): all logits 0, all
        # gradients 0 with random weights. Give them the scale of the others.
        if not weights:
            with torch.no_grad():
                for mod in m.modules():
                    if isinstance(mod, torch.nn.Linear) and not mod.weight.any():
                        mod.weight.normal_(0, 0.02)
        return m
    if parts[0] == "tools":
        sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
        import export_models
        if parts[1] == "preact_resnet18":
            return export_models.PreActResNet18(classes=classes or 10)
        if parts[1] == "resnet50":
            import torchvision
            return torchvision.models.resnet50(weights=None, num_classes=classes or 1000)
        sys.exit(f"export_model.py: unknown tools model '{parts[1]}' (preact_resnet18, resnet50)")
    if len(parts) == 2 and parts[0].endswith(".py"):
        s = importlib.util.spec_from_file_location("user_model", parts[0])
        mod = importlib.util.module_from_spec(s)
        s.loader.exec_module(mod)
        return getattr(mod, parts[1])()
    sys.exit(f"export_model.py: MODEL '{spec}' is not torchvision:NAME, FILE.py:FUNCTION or tools:NAME")


def export_torchscript(model, example, out):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # PyTorch >= 2.9: TorchScript is deprecated
        with torch.enable_grad():
            ts = torch.jit.trace(model, example, check_trace=False)
    ts.save(out)


def export_aoti(model, example, classes, out, device):
    from torch.fx.experimental.proxy_tensor import make_fx

    for p in model.parameters():
        p.requires_grad_(False)

    def f(x, w):
        with torch.enable_grad():
            xi = x.detach().requires_grad_(True)
            logits = model(xi)
            (g,) = torch.autograd.grad((logits * w).sum(), xi)
        return logits.detach(), g

    w = torch.zeros(example.shape[0], classes, device=example.device)
    t0 = time.time()
    gm = make_fx(f)(example, w)
    ep = torch.export.export(gm, (example, w), strict=False)
    meta = {"recal_batch": str(example.shape[0]), "recal_classes": str(classes),
            "recal_sample": ",".join(str(d) for d in example.shape[1:]),
            "recal_torch": torch.__version__}
    path = torch._inductor.aoti_compile_and_package(
        ep, package_path=out, inductor_configs={"aot_inductor.metadata": meta})
    print(f"export_model.py: {len(gm.graph.nodes)} aten nodes, compiled in {time.time() - t0:.0f} s "
          f"for batch {example.shape[0]} on {device}: {path}", file=sys.stderr)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("model")
    ap.add_argument("--input-shape", required=True, help="C,H,W of one input")
    ap.add_argument("--out", required=True)
    ap.add_argument("--format", choices=("torchscript", "aoti"))
    ap.add_argument("--batch", type=int, default=8, help="aoti: the compiled batch (default 8)")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--classes", type=int)
    ap.add_argument("--seed", type=int, default=0)
    a = ap.parse_args()
    fmt = a.format or ("aoti" if a.out.endswith(".pt2") else "torchscript")
    if fmt == "aoti" and not a.out.endswith(".pt2"):
        sys.exit("export_model.py: an AOTInductor package must be named *.pt2 (recal tells the formats by it)")
    shape = [int(d) for d in a.input_shape.split(",")]
    model = load_model(a.model, a.classes, a.seed).eval().to(a.device)
    example = torch.randn([a.batch if fmt == "aoti" else 1] + shape, device=a.device)
    with torch.no_grad():
        classes = model(example[:1]).shape[1]
    if fmt == "torchscript":
        export_torchscript(model, example, a.out)
    else:
        export_aoti(model, example, classes, a.out, a.device)


if __name__ == "__main__":
    main()
