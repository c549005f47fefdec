"""PyTorch definitions of bot-onnx's ResNets, the peer its tests and
benchmarks compare against: torchvision's ImageNet ResNets turned into
ResNet-A (the stride of each downsampling bottleneck moved from the 3x3
conv2 back to the 1x1 conv1), and CIFAR ResNets after He et al. 2016 with
1x1 projection shortcuts. Run under Debian's /usr/bin/python3. It also holds what the peer scripts
(torch_train.py, torch_infer.py) share: their common options and set-up.
"""
import argparse
import json
import resource
import sys

import torch
import torch.nn as nn
import torchvision

CIFAR = ("resnet20", "resnet32", "resnet44", "resnet56", "resnet110")


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


def deep_stem(in_channels):
    """ResNet-C's stem: three 3x3 convs (32, 32 and 64 channels, the first
    with stride 2) in place of the 7x7 conv; the model's own bn1, ReLU and
    max pool follow the last, as in timm's stem_type='deep'."""
    return nn.Sequential(
        nn.Conv2d(in_channels, 32, 3, 2, 1, bias=False), nn.BatchNorm2d(32), nn.ReLU(inplace=True),
        nn.Conv2d(32, 32, 3, 1, 1, bias=False), nn.BatchNorm2d(32), nn.ReLU(inplace=True),
        nn.Conv2d(32, 64, 3, 1, 1, bias=False))


def avg_down(downsample):
    """ResNet-D's shortcut: a 2x2 average pool takes the stride of a strided
    1x1 projection, which then runs at stride 1 (timm's avg_down)."""
    conv = downsample[0]
    if conv.stride == (1, 1):
        return downsample
    conv.stride = (1, 1)
    pool = nn.AvgPool2d(2, 2, ceil_mode=True, count_include_pad=False)
    return nn.Sequential(pool, *downsample)


def build(name, classes=None, in_channels=3, variant="A"):
    """Returns the named model as bot-onnx builds it for a variant: A (the
    stride of each downsampling bottleneck on its first 1x1 conv), B
    (torchvision's: on the 3x3), C (B with the deep stem) or D (C with
    average-pool shortcuts). The CIFAR layout has no 7x7 stem and no
    bottleneck, so only D changes it."""
    if variant not in ("A", "B", "C", "D"):
        raise SystemExit("variant %r: expected A, B, C or D" % variant)
    if name in CIFAR:
        model = cifar_resnet(int(name[6:]), classes or 10)
        if in_channels != 3:
            model[0] = nn.Conv2d(in_channels, 16, 3, 1, 1, bias=False)
        if variant == "D":
            for block in model:
                if isinstance(block, Basic) and block.downsample is not None:
                    block.downsample = avg_down(block.downsample)
        return model
    model = getattr(torchvision.models, name)(num_classes=classes or 1000)
    if variant == "A":
        to_resnet_a(model)
    if in_channels != 3:
        model.conv1 = nn.Conv2d(in_channels, 64, 7, 2, 3, bias=False)
    if variant in ("C", "D"):
        model.conv1 = deep_stem(in_channels)
    if variant == "D":
        for layer in (model.layer1, model.layer2, model.layer3, model.layer4):
            for block in layer:
                if block.downsample is not None:
                    block.downsample = avg_down(block.downsample)
    return model


def arguments(model, batch):
    """An argument parser with the options every peer script takes, with
    model and batch as the defaults of --model and --batch."""
    p = argparse.ArgumentParser()
    p.add_argument("--model", default=model)
    p.add_argument("--variant", default="A")
    p.add_argument("--batch", type=int, default=batch)
    p.add_argument("--input", default="3x224x224" if model not in CIFAR else "3x32x32")
    p.add_argument("--classes", type=int, default=0)
    p.add_argument("--warmup", type=int, default=3)
    p.add_argument("--threads", type=int, default=2)
    return p


def start(a):
    """Sets the thread count and seed the parsed options a ask for, and
    returns the model they name and its input size (c, h, w)."""
    torch.set_num_threads(a.threads)
    torch.manual_seed(0)
    c, h, w = (int(s) for s in a.input.split("x"))
    return build(a.model, a.classes or None, c, a.variant), (c, h, w)


def peak_rss_mib():
    """This process's own peak resident memory (VmHWM). getrusage's
    ru_maxrss would not do: Linux carries it across fork and exec, so a
    peer started by a large Go process reports the parent's peak."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def report(batch, times, **extra):
    """Prints the JSON object the Go side reads (bench.TorchResult): images/s
    at the median of the timed steps or passes, their times, peak memory,
    PyTorch's version and threads, and any extra fields."""
    median = sorted(times)[len(times) // 2]
    json.dump({
        "images_per_second": batch / median,
        "step_ms": [1000 * t for t in times],
        "peak_rss_mib": peak_rss_mib(),
        "torch": torch.__version__,
        "threads": torch.get_num_threads(),
        **extra,
    }, sys.stdout)
