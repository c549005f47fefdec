"""Training throughput of Debian's PyTorch on the same model and batch as
`bot-onnx bench train`: random data, SGD with Nesterov momentum 0.9 and
weight decay 1e-4, softmax cross-entropy, train mode. Prints one JSON
object: median images/s over the timed steps, step times, peak memory.

    /usr/bin/python3 torch_train.py --model resnet20 --batch 128 --input 3x32x32 --steps 20 --threads 2
"""
import os
import sys
import time

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import torch_models  # noqa: E402


def main():
    p = torch_models.arguments("resnet20", 128)
    p.add_argument("--steps", type=int, default=20)
    a = p.parse_args()
    model, (c, h, w) = torch_models.start(a)
    model.train()
    classes = model(torch.zeros(2, c, h, w)).shape[1]
    opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9, weight_decay=1e-4, nesterov=True)
    x = torch.randn(a.batch, c, h, w)
    y = torch.randint(0, classes, (a.batch,))
    loss_fn = torch.nn.CrossEntropyLoss()
    times = []
    for step in range(a.warmup + a.steps):
        start = time.perf_counter()
        opt.zero_grad()
        loss = loss_fn(model(x), y)
        loss.backward()
        opt.step()
        if step >= a.warmup:
            times.append(time.perf_counter() - start)
    torch_models.report(a.batch, times)


if __name__ == "__main__":
    main()
