#!/usr/bin/python3
"""Export shrunk torchvision ResNets to ONNX as fuzzing seeds.

Run with Debian's interpreter (python3-torch 1.13, python3-torchvision 0.14);
tweaks/fuzz_test.go's TestWriteFuzzSeeds runs it and turns the files into the
fuzz corpora of packages graph and tweaks:

    /usr/bin/python3 make_fuzz_seeds.py OUTDIR

It writes basic-folded.onnx and basic-bn.onnx, a torchvision ResNet of
basic blocks (resnet18's), and bottleneck-folded.onnx and bottleneck-bn.onnx
(resnet50's blocks), exported as export_torchvision.py does (opset 17,
dynamic batch; BatchNorm folded into the convs with constant folding, or kept
as nodes), so the seeds carry torchvision's structure and the exporter's
naming. To keep each file a few kilobytes (the fuzzers' corpus files quote
the bytes, about 3 characters a byte of weights), the models are
torchvision's ResNet class with fewer blocks per stage (LAYERS), every
layer's channel count divided by SHRINK (the 3 input channels stay: stages
1/2/4/8 wide), 10 classes and a 3 x 32 x 32 trace input: torchvision's own
modules and forward, only shorter and narrower.
"""

import os
import sys

import torch
from torch import nn
from torchvision.models.resnet import BasicBlock, Bottleneck, ResNet

# Blocks per stage: every stage starts with a strided projection block
# (resnet50's first one too, for its 4x expansion); each layout also keeps
# one identity block.
LAYERS = {"basic": (BasicBlock, [2, 1, 1, 1]), "bottleneck": (Bottleneck, [2, 1, 1, 1])}
SHRINK = 64
CLASSES = 10
SIZE = 32


def narrow(c, factor):
    return max(1, c // factor)


def shrink(model, factor):
    """Replace every conv, BatchNorm and the classifier by a copy with
    1/factor of the channels, in place; the stem keeps its 3 input channels."""
    for parent in list(model.modules()):
        for name, child in list(parent.named_children()):
            if isinstance(child, nn.Conv2d):
                cin = child.in_channels if child is model.conv1 else narrow(child.in_channels, factor)
                new = nn.Conv2d(cin, narrow(child.out_channels, factor), child.kernel_size,
                                stride=child.stride, padding=child.padding, bias=child.bias is not None)
            elif isinstance(child, nn.BatchNorm2d):
                new = nn.BatchNorm2d(narrow(child.num_features, factor))
            elif isinstance(child, nn.Linear):
                new = nn.Linear(narrow(child.in_features, factor), child.out_features)
            else:
                continue
            setattr(parent, name, new)


def build(name):
    torch.manual_seed(1)
    block, layers = LAYERS[name]
    model = ResNet(block, layers, num_classes=CLASSES)
    shrink(model, SHRINK)
    # Random BatchNorm statistics, so that folding is not a no-op.
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, nn.BatchNorm2d):
                m.running_mean.uniform_(-0.1, 0.1)
                m.running_var.uniform_(0.5, 1.5)
                m.weight.uniform_(0.5, 1.5)
                m.bias.uniform_(-0.1, 0.1)
    return model.eval()


def export(model, path, folded):
    kwargs = dict(
        opset_version=17,
        input_names=["input"],
        output_names=["logits"],
        dynamic_axes={"input": {0: "batch"}, "logits": {0: "batch"}},
    )
    if folded:
        kwargs.update(training=torch.onnx.TrainingMode.EVAL, do_constant_folding=True)
    else:
        kwargs.update(training=torch.onnx.TrainingMode.PRESERVE, do_constant_folding=False)
    torch.onnx.export(model, torch.zeros(1, 3, SIZE, SIZE), path, **kwargs)


def main():
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    outdir = sys.argv[1]
    os.makedirs(outdir, exist_ok=True)
    for name in LAYERS:
        model = build(name)
        export(model, os.path.join(outdir, f"{name}-folded.onnx"), folded=True)
        export(model, os.path.join(outdir, f"{name}-bn.onnx"), folded=False)


if __name__ == "__main__":
    main()
