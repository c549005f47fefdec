"""Independent reference counts for bot-onnx's ResNets, from PyTorch.

Prints one JSON object: model name -> {"params", "macs"}. ImageNet models
are torchvision's resnetNN turned into ResNet-A (stride moved from the 3x3
conv2 back to the 1x1 conv1 of each bottleneck, as in the original ResNet);
CIFAR models follow He et al. 2016 with 1x1 projection shortcuts; both
come from bench/torch_models.py. MACs are counted by forward hooks on Conv2d and Linear for one
image; params are sum(p.numel()) over parameters().
Run with Debian's interpreter: /usr/bin/python3 torch_reference.py NAME...
"""
import json
import os
import sys

import torch
import torch.nn as nn

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "bench"))
import torch_models  # noqa: E402


def count(model, size):
    macs = 0

    def hook(mod, inputs, output):
        nonlocal macs
        if isinstance(mod, nn.Conv2d):
            k = mod.in_channels // mod.groups * mod.kernel_size[0] * mod.kernel_size[1]
            macs += output[0].numel() * k
        elif isinstance(mod, nn.Linear):
            macs += output[0].numel() * mod.in_features

    for mod in model.modules():
        if isinstance(mod, (nn.Conv2d, nn.Linear)):
            mod.register_forward_hook(hook)
    model.eval()
    with torch.no_grad():
        model(torch.zeros(1, 3, size, size))
    return {"params": sum(p.numel() for p in model.parameters()), "macs": macs}


def main(names):
    out = {}
    for name in names:
        out[name] = count(torch_models.build(name), 32 if name in torch_models.CIFAR else 224)
    json.dump(out, sys.stdout)


if __name__ == "__main__":
    main(sys.argv[1:])
