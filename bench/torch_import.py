# ruff: noqa: E402  (bench/ comes off sys.path while graphstep's importers load; see below)
"""Benchmark: importing a ResNet-18-sized PyTorch module, next to torch.export alone.

ResNet-18 (basic blocks [2, 2, 2, 2], 64 to 512 channels, 11.7 million parameters,
one 3×224×224 image, cross-entropy) built here without torchvision. Three timings
side by side in one run, best of several with the garbage collector off:

- export: torch.export.export of the float64 copy (what any exporter pays);
- conversion: what graphstep adds after it: run_decompositions to the core ATen
  ops where an op needs it (none of ResNet-18's do: conv2d, batch_norm in eval,
  linear, pools and cross_entropy map whole), mapping every node onto graphstep's
  ops, and building the grouped Graph;
- for reference, run_decompositions alone, which a model with an op graphstep does
  not map whole pays on top.

Target: conversion ≤ 1× the export. Run: .venv/bin/python bench/torch_import.py
(needs the torch extra: pip install -e '.[torch]').
"""

from __future__ import annotations

import copy
import gc
import sys
from pathlib import Path

# bench/onnx.py would hide the onnx package that graphstep's importers load: load them with
# bench/ off the path, then put it back for the timing helper.
HERE = Path(__file__).resolve().parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != HERE]

import torch
import torch.nn.functional as F
from torch import nn

from graphstep.importers.torch import export

sys.path.insert(0, str(HERE))
from timing import best_of

REPEATS = 3


class BasicBlock(nn.Module):
    def __init__(self, cin: int, cout: int, stride: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride=stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.downsample: nn.Module | None = None
        if stride != 1 or cin != cout:
            self.downsample = nn.Sequential(
                nn.Conv2d(cin, cout, 1, stride=stride, bias=False), nn.BatchNorm2d(cout)
            )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        shortcut = x if self.downsample is None else self.downsample(x)
        return F.relu(out + shortcut)


class ResNet18(nn.Module):
    def __init__(self, classes: int = 1000) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(3, 64, 7, stride=2, padding=3, bias=False)
        self.bn1 = nn.BatchNorm2d(64)
        self.maxpool = nn.MaxPool2d(3, stride=2, padding=1)
        widths = [(64, 64, 1), (64, 128, 2), (128, 256, 2), (256, 512, 2)]
        self.layer1, self.layer2, self.layer3, self.layer4 = (
            nn.Sequential(BasicBlock(cin, cout, stride), BasicBlock(cout, cout, 1))
            for cin, cout, stride in widths
        )
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        self.fc = nn.Linear(512, classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.maxpool(F.relu(self.bn1(self.conv1(x))))
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        return self.fc(torch.flatten(self.avgpool(x), 1))


def main() -> None:
    torch.manual_seed(0)
    model = ResNet18().eval()
    image, target = torch.randn(1, 3, 224, 224), torch.tensor([7])
    loss = lambda out: F.cross_entropy(out, target)  # noqa: E731
    params = sum(p.numel() for p in model.parameters())

    float64 = copy.deepcopy(model).double()
    gc.disable()
    try:
        alone = best_of(lambda: torch.export.export(float64, (image.double(),)), REPEATS)
        programs = [export(model, (image,), loss) for _ in range(REPEATS)]
        conversion = min(best_of(lambda p=p: p.convert().graph(), 1) for p in programs)
        program = export(model, (image,), loss).model
        decompose = best_of(lambda: program.run_decompositions(), 1)
    finally:
        gc.enable()
    graph = export(model, (image,), loss).convert().graph()
    print(
        f"ResNet-18 ({params:,} parameters, {len(graph.forward_order)} op nodes, "
        f"{len(graph.groups)} module groups)"
    )
    print(f"  torch.export.export alone          {alone * 1000:8.0f} ms")
    print(f"  conversion (decompose, map, build) {conversion * 1000:8.0f} ms")
    print(f"  conversion / export                {conversion / alone:8.2f}×  (target ≤ 1)")
    ratio = decompose / alone
    print(f"  run_decompositions alone           {decompose * 1000:8.0f} ms  ({ratio:.2f}×)")


if __name__ == "__main__":
    main()
