"""Training throughput of Debian's PyTorch on the same model and batch as
`bot-onnx bench train`: random data, SGD with Nesterov momentum 0.9 and
weight decay 1e-4, softmax cross-entropy, train mode. Prints one JSON
object: median images/s over the timed steps, step times, peak memory.
--memory-format channels_last keeps the model and input NHWC (PyTorch's
faster CPU layout for convolutions); --precision bf16 runs the forward pass
and the loss under torch.autocast's bfloat16, PyTorch's low-precision
training on CPUs.

    /usr/bin/python3 torch_train.py --model resnet20 --batch 128 --input 3x32x32 --steps 20 --threads 2
"""
import contextlib
import os
import sys
import time

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import torch_models  # noqa: E402


def main():
    p = torch_models.arguments("resnet20", 128)
    p.add_argument("--steps", type=int, default=20)
    p.add_argument("--memory-format", choices=("nchw", "channels_last"), default="nchw")
    p.add_argument("--precision", choices=("fp32", "bf16"), default="fp32")
    a = p.parse_args()
    model, (c, h, w) = torch_models.start(a)
    model.train()
    classes = model(torch.zeros(2, c, h, w)).shape[1]
    fmt = torch.channels_last if a.memory_format == "channels_last" else torch.contiguous_format
    model = model.to(memory_format=fmt)
    opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9, weight_decay=1e-4, nesterov=True)
    x = torch.randn(a.batch, c, h, w).contiguous(memory_format=fmt)
    y = torch.randint(0, classes, (a.batch,))
    loss_fn = torch.nn.CrossEntropyLoss()
    times = []
    for step in range(a.warmup + a.steps):
        start = time.perf_counter()
        opt.zero_grad()
        with autocast(a.precision):
            loss = loss_fn(model(x), y)
        loss.backward()
        opt.step()
        if step >= a.warmup:
            times.append(time.perf_counter() - start)
    torch_models.report(a.batch, times, memory_format=a.memory_format, precision=a.precision)


def autocast(precision):
    if precision == "bf16":
        return torch.autocast("cpu", dtype=torch.bfloat16)
    return contextlib.nullcontext()


if __name__ == "__main__":
    main()
