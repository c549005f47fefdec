"""Inference throughput of Debian's PyTorch on the same model and batch as
`bot-onnx bench infer`: the model in eval mode under torch.inference_mode
(no autograd bookkeeping), seeded standard-normal input, untimed warm-up
passes, then timed forward passes. Prints one JSON object: images/s at the
median pass, the pass times, the model's MACs per image (conv and linear
layers, counted as bot-onnx counts them, so the caller can check that both
ran the same architecture), peak memory. --count-only times nothing and
prints the parameter and MAC counts and the model's layers, for a test that
checks the peer's model against bot-onnx's.

    /usr/bin/python3 torch_infer.py --model resnet50 --batch 8 --input 3x224x224 --runs 10 --threads 2
    /usr/bin/python3 torch_infer.py --model resnet50 --variant D --count-only
"""
import json
import os
import sys
import time

import torch
import torch.nn as nn

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import torch_models  # noqa: E402


def macs_per_image(model, x):
    """Multiply-accumulates of the conv and linear layers for one image."""
    total = 0

    def count(module, inputs, output):
        nonlocal total
        if isinstance(module, nn.Conv2d):
            kh, kw = module.kernel_size
            per_output = module.in_channels // module.groups * kh * kw
        else:
            per_output = module.in_features
        total += output[0].numel() * per_output

    hooks = [m.register_forward_hook(count) for m in model.modules() if isinstance(m, (nn.Conv2d, nn.Linear))]
    model(x[:1])
    for h in hooks:
        h.remove()
    return total


def layers(model, x):
    """One line per conv and pool layer for one image, in ONNX's terms:
    "Conv 3x3/2 3->32 out 16x16", "AveragePool 2x2/2 out 64x8x8". Equal
    parameters and MACs do not tell ResNet-D from -C (D's pool moves the
    projection's stride, not its work); the layers do."""
    lines = []

    def pair(v):
        return tuple(v) if isinstance(v, (tuple, list)) else (v, v)

    def record(module, inputs, output):
        if isinstance(module, nn.Conv2d):
            (kh, kw), (sh, sw) = module.kernel_size, module.stride
            lines.append("Conv %dx%d/%dx%d %d->%d out %dx%d" % (
                kh, kw, sh, sw, module.in_channels, module.out_channels, output.shape[2], output.shape[3]))
            return
        (kh, kw), (sh, sw) = pair(module.kernel_size), pair(module.stride)
        op = "AveragePool" if isinstance(module, nn.AvgPool2d) else "MaxPool"
        lines.append("%s %dx%d/%dx%d out %dx%dx%d" % (op, kh, kw, sh, sw, *output.shape[1:]))

    kinds = (nn.Conv2d, nn.AvgPool2d, nn.MaxPool2d)
    hooks = [m.register_forward_hook(record) for m in model.modules() if isinstance(m, kinds)]
    model(x[:1])
    for h in hooks:
        h.remove()
    return lines


def main():
    p = torch_models.arguments("resnet50", 8)
    p.set_defaults(warmup=2)
    p.add_argument("--runs", type=int, default=10)
    p.add_argument("--count-only", action="store_true", help="print the parameter and MAC counts and the layers, time nothing")
    a = p.parse_args()
    model, (c, h, w) = torch_models.start(a)
    model.eval()
    x = torch.randn(a.batch, c, h, w)
    params = sum(t.numel() for t in model.parameters())
    if a.count_only:
        with torch.inference_mode():
            json.dump({"params": params, "macs": macs_per_image(model, x), "layers": layers(model, x)}, sys.stdout)
        return
    times = []
    with torch.inference_mode():
        macs = macs_per_image(model, x)
        for run in range(a.warmup + a.runs):
            start = time.perf_counter()
            model(x)
            if run >= a.warmup:
                times.append(time.perf_counter() - start)
    torch_models.report(a.batch, times, macs=macs, params=params)


if __name__ == "__main__":
    main()
