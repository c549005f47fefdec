#!/usr/bin/python3
"""Export torchvision ResNets to ONNX as fixtures for tweaks/torchvision_test.go.

Run with Debian's interpreter (python3-torch 1.13, python3-torchvision 0.14,
python3-onnx):

    /usr/bin/python3 export_torchvision.py OUTDIR [--seed N] [--models resnet18,resnet50]
                                              [--forms folded,bn]

For each model it writes into OUTDIR:

  <name>-folded.onnx  eval-mode export with constant folding: BatchNorm folded
                      into the convs (Conv with bias), Identity nodes and
                      generated initializer names such as onnx::Conv_193;
  <name>-bn.onnx      BatchNorm kept as BatchNormalization nodes
                      (TrainingMode.PRESERVE on an eval-mode model, no
                      constant folding), parameters under their torch names;
  <name>.input.f32    the reference input, batch 2 x 3 x 224 x 224, raw
                      little-endian float32;
  <name>.logits.f32   PyTorch's eval-mode logits for it, 2 x 1000, raw
                      little-endian float32.

The weights are random (torch.manual_seed(seed) before building each model);
BatchNorm running statistics and affine parameters are randomised too, so that
folding is not a no-op and the BN form differs from the folded one. Both
exports have opset 17 and a dynamic batch axis on `input` and `logits`. The
trace input is 1 x 3 x 224 x 224: the batch axis stays dynamic, but the graph
input declares the spatial size 224 x 224 (ONNX Runtime then refuses other
sizes). 224 is the size the stem's strides were designed for, so static shape
inference sees the usual 112/56/28/14/7 feature maps. The ops themselves hold no spatial size (torchvision ends with
AdaptiveAvgPool2d, exported as GlobalAveragePool).

With torch 1.13 the folded export has no Identity nodes for these models
(every folded weight is used once); parameter names are generated
(onnx::Conv_497), node names are scoped (/layer1/layer1.0/conv1/Conv).
"""

import argparse
import os
import sys
import time

import torch
import torchvision

MODELS = ("resnet18", "resnet50", "resnet101")
FORMS = ("folded", "bn")
SIZE = 224
BATCH = 2


def build(name, seed):
    torch.manual_seed(seed)
    model = getattr(torchvision.models, name)(weights=None)
    # Random, well-conditioned BatchNorm statistics: a freshly built model has
    # mean 0 / var 1 / gamma 1 / beta 0, which would make folding trivial.
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                m.running_mean.uniform_(-0.1, 0.1)
                m.running_var.uniform_(0.5, 1.5)
                m.weight.uniform_(0.5, 1.5)
                m.bias.uniform_(-0.1, 0.1)
    return model.eval()


def export(model, path, form):
    dummy = torch.zeros(1, 3, SIZE, SIZE)
    kwargs = dict(
        opset_version=17,
        input_names=["input"],
        output_names=["logits"],
        dynamic_axes={"input": {0: "batch"}, "logits": {0: "batch"}},
    )
    if form == "folded":
        kwargs.update(training=torch.onnx.TrainingMode.EVAL, do_constant_folding=True)
    else:
        kwargs.update(training=torch.onnx.TrainingMode.PRESERVE, do_constant_folding=False)
    torch.onnx.export(model, dummy, path, **kwargs)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("outdir")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--models", default=",".join(MODELS))
    ap.add_argument("--forms", default=",".join(FORMS))
    args = ap.parse_args()
    names = [n for n in args.models.split(",") if n]
    forms = [f for f in args.forms.split(",") if f]
    for n in names:
        if n not in MODELS:
            ap.error(f"unknown model {n!r}: expected some of {', '.join(MODELS)}")
    for f in forms:
        if f not in FORMS:
            ap.error(f"unknown form {f!r}: expected some of {', '.join(FORMS)}")
    os.makedirs(args.outdir, exist_ok=True)
    torch.set_num_threads(max(1, min(4, os.cpu_count() or 1)))

    for name in names:
        start = time.time()
        model = build(name, args.seed)
        gen = torch.Generator().manual_seed(args.seed + 1000)
        x = torch.rand(BATCH, 3, SIZE, SIZE, generator=gen) * 2 - 1
        with torch.no_grad():
            logits = model(x)
        base = os.path.join(args.outdir, name)
        with open(base + ".input.f32", "wb") as f:
            f.write(x.contiguous().numpy().astype("<f4").tobytes())
        with open(base + ".logits.f32", "wb") as f:
            f.write(logits.contiguous().numpy().astype("<f4").tobytes())
        for form in forms:
            export(model, f"{base}-{form}.onnx", form)
            # PRESERVE on an eval-mode model must leave it in eval mode.
            assert not model.training
        print(f"{name}: {time.time() - start:.1f}s", file=sys.stderr)


if __name__ == "__main__":
    main()
