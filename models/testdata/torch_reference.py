"""Independent reference counts for bot-onnx's ResNets, from PyTorch.

Prints one JSON object: model name -> {"params", "macs"}. ImageNet models
are torchvision's resnetNN turned into ResNet-A (stride moved from the 3x3
conv2 back to the 1x1 conv1 of each bottleneck, as in the original ResNet);
CIFAR models are defined here after He et al. 2016 with 1x1 projection
shortcuts. MACs are counted by forward hooks on Conv2d and Linear for one
image; params are sum(p.numel()) over parameters().
Run with Debian's interpreter: /usr/bin/python3 torch_reference.py NAME...
"""
import json
import sys

import torch
import torch.nn as nn
import torchvision


def to_resnet_a(model):
    for layer in (model.layer1, model.layer2, model.layer3, model.layer4):
        for block in layer:
            if isinstance(block, torchvision.models.resnet.Bottleneck):
                stride = block.conv2.stride
                block.conv2.stride = (1, 1)
                block.conv1.stride = stride
    return model


class Basic(nn.Module):
    def __init__(self, cin, cout, stride):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.downsample = None
        if stride != 1 or cin != cout:
            self.downsample = nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout))

    def forward(self, x):
        y = torch.relu(self.bn1(self.conv1(x)))
        y = self.bn2(self.conv2(y))
        return torch.relu(y + (x if self.downsample is None else self.downsample(x)))


def cifar_resnet(depth, classes=10):
    n = (depth - 2) // 6
    layers = [nn.Conv2d(3, 16, 3, 1, 1, bias=False), nn.BatchNorm2d(16), nn.ReLU()]
    cin = 16
    for stage, width in enumerate((16, 32, 64)):
        for i in range(n):
            layers.append(Basic(cin, width, 2 if stage > 0 and i == 0 else 1))
            cin = width
    layers += [nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(64, classes)]
    return nn.Sequential(*layers)


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
        if name in ("resnet20", "resnet32", "resnet44", "resnet56", "resnet110"):
            out[name] = count(cifar_resnet(int(name[6:])), 32)
        else:
            out[name] = count(to_resnet_a(getattr(torchvision.models, name)()), 224)
    json.dump(out, sys.stdout)


if __name__ == "__main__":
    main(sys.argv[1:])
