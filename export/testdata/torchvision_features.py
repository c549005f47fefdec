#!/usr/bin/python3
"""Export torchvision's resnet18 and its stage outputs as fixtures for
export/torchvision_test.go.

Run with Debian's interpreter (python3-torch 1.13, python3-torchvision 0.14):

    /usr/bin/python3 torchvision_features.py OUTDIR

It writes into OUTDIR:

  resnet18.onnx   the eval-mode model exported by PyTorch with BatchNorm kept
                  as nodes (TrainingMode.PRESERVE, no constant folding), opset
                  17, dynamic batch, traced at 1 x 3 x 224 x 224;
  input.f32       a 1 x 3 x 224 x 224 input, raw little-endian float32;
  layerK.f32      PyTorch's output of layer1 .. layer4 for it (the stage ends
                  a feature pyramid reads: strides 4, 8, 16, 32), raw
                  little-endian float32.

Weights are random (seed 7); BatchNorm statistics and affine parameters are
randomised too, so that folding them is not a no-op.
"""

import os
import sys

import torch
import torchvision


def main():
    out = sys.argv[1]
    os.makedirs(out, exist_ok=True)
    torch.manual_seed(7)
    model = torchvision.models.resnet18(weights=None)
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                m.running_mean.uniform_(-0.1, 0.1)
                m.running_var.uniform_(0.5, 1.5)
                m.weight.uniform_(0.5, 1.5)
                m.bias.uniform_(-0.1, 0.1)
    model.eval()
    torch.onnx.export(
        model, torch.zeros(1, 3, 224, 224), os.path.join(out, "resnet18.onnx"),
        opset_version=17, input_names=["input"], output_names=["logits"],
        dynamic_axes={"input": {0: "batch"}, "logits": {0: "batch"}},
        training=torch.onnx.TrainingMode.PRESERVE, do_constant_folding=False)
    x = torch.randn(1, 3, 224, 224, generator=torch.Generator().manual_seed(8))
    with open(os.path.join(out, "input.f32"), "wb") as f:
        f.write(x.numpy().astype("<f4").tobytes())
    with torch.no_grad():
        y = model.maxpool(model.relu(model.bn1(model.conv1(x))))
        for k in range(1, 5):
            y = getattr(model, f"layer{k}")(y)
            with open(os.path.join(out, f"layer{k}.f32"), "wb") as f:
                f.write(y.contiguous().numpy().astype("<f4").tobytes())


if __name__ == "__main__":
    main()
