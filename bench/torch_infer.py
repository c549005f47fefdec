"""Inference throughput of Debian's PyTorch on the same model and batch as
`bot-onnx bench infer`: the model in eval mode under torch.inference_mode
(no autograd bookkeeping), seeded standard-normal input, untimed warm-up
passes, then timed forward passes. Prints one JSON object: images/s at the
median pass, the pass times, the model's MACs per image (conv and linear
layers, counted as bot-onnx counts them, so the caller can check that both
ran the same architecture), peak memory.

    /usr/bin/python3 torch_infer.py --model resnet50 --batch 8 --input 3x224x224 --runs 10 --threads 2
"""
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


def main():
    p = torch_models.arguments("resnet50", 8)
    p.set_defaults(warmup=2)
    p.add_argument("--runs", type=int, default=10)
    a = p.parse_args()
    model, (c, h, w) = torch_models.start(a)
    model.eval()
    x = torch.randn(a.batch, c, h, w)
    times = []
    with torch.inference_mode():
        macs = macs_per_image(model, x)
        for run in range(a.warmup + a.runs):
            start = time.perf_counter()
            model(x)
            if run >= a.warmup:
                times.append(time.perf_counter() - start)
    torch_models.report(a.batch, times, macs=macs)


if __name__ == "__main__":
    main()
