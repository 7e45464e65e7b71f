#!/usr/bin/python3
"""Export benchmark / evaluation architectures as TorchScript with random
weights (seeded): PreActResNet-18 for 32×32 CIFAR inputs (the ICLR 2023
paper's ROAR model) and ResNet-50 for 224×224 ImageNet inputs (torchvision's
definition, when python3-torchvision is installed).

Both expose the GradCAM split (docs/methods.md, GradCAM): @torch.jit.export methods
features(x) (the last conv stage, layer4's output) and classifier(a), with
forward(x) == classifier(features(x)).

usage: /usr/bin/python3 tools/export_models.py OUT_DIR [--seed S] [--classes N] [--only NAME]
"""
import argparse
import os

import torch
import torch.nn as nn
import torch.nn.functional as F


class PreActBlock(nn.Module):
    expansion = 1

    def __init__(self, in_planes, planes, stride=1):
        super().__init__()
        self.bn1 = nn.BatchNorm2d(in_planes)
        self.conv1 = nn.Conv2d(in_planes, planes, 3, stride, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, 1, 1, bias=False)
        self.has_shortcut = stride != 1 or in_planes != planes
        self.shortcut = (nn.Sequential(nn.Conv2d(in_planes, planes, 1, stride, bias=False))
                         if self.has_shortcut else nn.Identity())

    def forward(self, x):
        out = F.relu(self.bn1(x))
        sc = self.shortcut(out) if self.has_shortcut else x
        out = self.conv1(out)
        out = self.conv2(F.relu(self.bn2(out)))
        return out + sc


class PreActResNet18(nn.Module):
    """He et al. 2016 pre-activation ResNet-18 for 32×32 inputs."""

    def __init__(self, classes=10):
        super().__init__()
        self.in_planes = 64
        self.conv1 = nn.Conv2d(3, 64, 3, 1, 1, bias=False)
        self.layer1 = self._layer(64, 2, 1)
        self.layer2 = self._layer(128, 2, 2)
        self.layer3 = self._layer(256, 2, 2)
        self.layer4 = self._layer(512, 2, 2)
        self.bn = nn.BatchNorm2d(512)
        self.linear = nn.Linear(512, classes)

    def _layer(self, planes, n, stride):
        layers = []
        for s in [stride] + [1] * (n - 1):
            layers.append(PreActBlock(self.in_planes, planes, s))
            self.in_planes = planes
        return nn.Sequential(*layers)

    @torch.jit.export
    def features(self, x):
        return self.layer4(self.layer3(self.layer2(self.layer1(self.conv1(x)))))

    @torch.jit.export
    def classifier(self, a):
        out = F.adaptive_avg_pool2d(F.relu(self.bn(a)), 1).flatten(1)
        return self.linear(out)

    def forward(self, x):
        return self.classifier(self.features(x))


class SplitResNet(nn.Module):
    """A torchvision ResNet with the GradCAM split: features = layer4's
    output, classifier = average pool + fc. Wrap any (pretrained) torchvision
    ResNet this way before torch.jit.script to use it with gradcam; its
    parameter names gain a `net.` prefix."""

    def __init__(self, net):
        super().__init__()
        self.net = net

    @torch.jit.export
    def features(self, x):
        n = self.net
        x = n.maxpool(n.relu(n.bn1(n.conv1(x))))
        return n.layer4(n.layer3(n.layer2(n.layer1(x))))

    @torch.jit.export
    def classifier(self, a):
        return self.net.fc(torch.flatten(self.net.avgpool(a), 1))

    def forward(self, x):
        return self.classifier(self.features(x))


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("out_dir")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--classes", type=int, default=10, help="PreActResNet-18 classes (ResNet-50: 1000)")
    ap.add_argument("--only", choices=["preact_resnet18", "resnet50"])
    args = ap.parse_args()
    os.makedirs(args.out_dir, exist_ok=True)
    torch.manual_seed(args.seed)
    if args.only in (None, "preact_resnet18"):
        m = PreActResNet18(args.classes).eval()
        path = os.path.join(args.out_dir, "preact_resnet18.pt")
        torch.jit.script(m).save(path)
        print(f"wrote {path}")
    if args.only in (None, "resnet50"):
        try:
            import torchvision
        except ImportError:
            print("skipped resnet50: install python3-torchvision")
            return
        m = SplitResNet(torchvision.models.resnet50()).eval()
        path = os.path.join(args.out_dir, "resnet50.pt")
        torch.jit.script(m).save(path)
        print(f"wrote {path}")


if __name__ == "__main__":
    main()
