#!/usr/bin/python3
"""Define recal's default Fashion-MNIST CNN in PyTorch and save it, untrained,
as TorchScript. Architectures live in PyTorch; `recal train` trains it in C.

usage: /usr/bin/python3 tools/export_fashion_cnn.py OUT.pt [--seed S]
"""
import argparse

import torch
import torch.nn as nn


class FashionCNN(nn.Module):
    """Two conv blocks and a small classifier: ~0.9 test accuracy after a few
    epochs, cheap enough that a 10,000-image IG evaluation takes minutes on
    two CPU cores. Input: N×1×28×28 normalized images; output: N×10 logits.

    GradCAM convention (docs/methods.md): the scripted module exposes
    `features(x)` (the last conv block's maps, N×32×7×7) and `classifier(a)`
    with forward(x) == classifier(features(x)). TorchScript cannot have a
    method and a submodule of the same name, so the submodules are `conv`
    and `head`."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Sequential(
            nn.Conv2d(1, 16, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(16, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        )
        self.head = nn.Sequential(
            nn.Flatten(), nn.Linear(32 * 7 * 7, 64), nn.ReLU(), nn.Linear(64, 10),
        )

    @torch.jit.export
    def features(self, x):
        return self.conv(x)

    @torch.jit.export
    def classifier(self, a):
        return self.head(a)

    def forward(self, x):
        return self.classifier(self.features(x))


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("out", help="where to write the TorchScript file")
    ap.add_argument("--seed", type=int, default=0, help="weight-init seed")
    args = ap.parse_args()
    torch.manual_seed(args.seed)
    model = FashionCNN().eval()
    scripted = torch.jit.script(model)
    scripted.save(args.out)
    print(f"wrote {args.out} ({sum(p.numel() for p in model.parameters())} parameters)")


if __name__ == "__main__":
    main()
