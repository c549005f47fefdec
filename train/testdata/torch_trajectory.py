"""Train an ONNX model in PyTorch on given batches; print the loss of each step.

The independent side of train's TestEarlyTrajectoryMatchesPyTorch. The
network is the ONNX graph itself, run node by node with torch.nn.functional
(Conv, BatchNormalization in training mode, Relu, Add, MaxPool,
AveragePool, GlobalAveragePool, Flatten, Gemm), so that the same weights
train in both; the optimiser is torch.optim.SGD with Nesterov momentum and
weight decay, the loss torch's cross-entropy. With --zero-gamma, the last
BatchNorm of every residual block (the highest-numbered bnN of each
layerX.Y) starts at gamma 0 through torch.nn.init.zeros_.

    torch_trajectory.py MODEL.onnx BATCHES.bin --steps 50 --lr 0.1 --momentum 0.9 --wd 1e-4 [--zero-gamma]

BATCHES.bin: int32 count, N, C, H, W, then count times N*C*H*W float32
images and N int32 labels, little-endian. Prints a JSON list of losses.
"""
import argparse
import json
import re

import numpy as np
import onnx
import torch
import torch.nn.functional as F
from onnx import numpy_helper


def read_batches(path):
    with open(path, "rb") as f:
        count, n, c, h, w = np.frombuffer(f.read(20), dtype="<i4")
        for _ in range(count):
            x = np.frombuffer(f.read(4 * n * c * h * w), dtype="<f4").reshape(n, c, h, w)
            y = np.frombuffer(f.read(4 * n), dtype="<i4")
            yield torch.tensor(x.copy()), torch.tensor(y.astype(np.int64))


def last_batchnorms(names):
    """The gamma of each block's highest-numbered bnN."""
    last = {}
    for name in names:
        m = re.fullmatch(r"(layer\d+\.\d+)\.bn(\d+)\.weight", name)
        if m and int(m.group(2)) > last.get(m.group(1), (0, ""))[0]:
            last[m.group(1)] = (int(m.group(2)), name)
    return [name for _, name in last.values()]


def main():
    p = argparse.ArgumentParser()
    p.add_argument("model")
    p.add_argument("batches")
    p.add_argument("--steps", type=int, default=50)
    p.add_argument("--lr", type=float, default=0.1)
    p.add_argument("--momentum", type=float, default=0.9)
    p.add_argument("--wd", type=float, default=1e-4)
    p.add_argument("--zero-gamma", action="store_true")
    a = p.parse_args()
    torch.manual_seed(0)
    model = onnx.load(a.model)
    tensors = {i.name: torch.tensor(numpy_helper.to_array(i).copy()) for i in model.graph.initializer}
    stats = {k: v for k, v in tensors.items() if k.endswith(("running_mean", "running_var"))}
    params = {k: torch.nn.Parameter(v.float()) for k, v in tensors.items() if k not in stats}
    if a.zero_gamma:
        for name in last_batchnorms(params):
            torch.nn.init.zeros_(params[name])
    graph_input = model.graph.input[0].name

    def forward(x):
        env = {graph_input: x}
        for node in model.graph.node:
            at = {t.name: onnx.helper.get_attribute_value(t) for t in node.attribute}
            ins = [env[n] if n in env else params.get(n, stats.get(n)) for n in node.input if n]
            op = node.op_type
            if op == "Conv":
                pads = at.get("pads", [0, 0, 0, 0])
                y = F.conv2d(ins[0], ins[1], ins[2] if len(ins) > 2 else None, stride=at.get("strides", [1, 1]),
                             padding=pads[:2], dilation=at.get("dilations", [1, 1]), groups=at.get("group", 1))
            elif op == "BatchNormalization":
                y = F.batch_norm(ins[0], ins[3], ins[4], ins[1], ins[2], training=True,
                                 momentum=1 - at.get("momentum", 0.9), eps=at.get("epsilon", 1e-5))
            elif op == "Relu":
                y = F.relu(ins[0])
            elif op == "Add":
                y = ins[0] + ins[1]
            elif op == "MaxPool":
                y = F.max_pool2d(ins[0], at["kernel_shape"], at.get("strides", 1), at.get("pads", [0, 0])[:2])
            elif op == "AveragePool":
                y = F.avg_pool2d(ins[0], at["kernel_shape"], at.get("strides", 1), at.get("pads", [0, 0])[:2],
                                 ceil_mode=bool(at.get("ceil_mode", 0)), count_include_pad=bool(at.get("count_include_pad", 0)))
            elif op == "GlobalAveragePool":
                y = ins[0].mean((2, 3), keepdim=True)
            elif op == "Flatten":
                y = torch.flatten(ins[0], at.get("axis", 1))
            elif op == "Gemm":
                w = ins[1] if at.get("transB", 0) else ins[1].t()
                y = at.get("alpha", 1.0) * F.linear(ins[0], w) + at.get("beta", 1.0) * ins[2]
            elif op == "Identity":
                y = ins[0]
            else:
                raise SystemExit(f"torch_trajectory.py: no translation for {op} ({node.name})")
            env[node.output[0]] = y
        return env[model.graph.output[0].name]

    opt = torch.optim.SGD(params.values(), lr=a.lr, momentum=a.momentum, weight_decay=a.wd, nesterov=True)
    losses = []
    for step, (x, y) in enumerate(read_batches(a.batches)):
        if step == a.steps:
            break
        loss = F.cross_entropy(forward(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    print(json.dumps(losses))


if __name__ == "__main__":
    main()
