#!/usr/bin/env bash
# Makes out/gpu-check.tar.gz: one folder holding everything scripts/gpu-check.sh
# needs on a GPU machine that has nothing installed but its driver and may
# reach no network. The folder holds bot-onnx and the shared libraries it
# links (oneDNN, libgomp, OpenCL's loader, libstdc++), the ONNX Runtime library
# set-up installs (its WebGPU provider is built in), Vulkan's loader and
# the GL dispatch libraries Dawn opens (Debian's libvulkan1, libegl1,
# libglvnd0, fetched with apt-get download and unpacked), a ResNet-20-D trained
# here on MNIST for one epoch, MNIST's files, and gpu-check.sh. ResNet-50-D is
# built on the GPU machine by the bundled binary (seconds; 100 MB saved).
# Needs: task data (MNIST), the ONNX Runtime library (task ort), apt-get.
set -euo pipefail
cd "$(dirname "$0")/.."
out=out/gpu-check
rm -rf "$out" out/gpu-check.tar.gz
mkdir -p "$out/lib" "$out/models" "$out/data/mnist"
go build -o "$out/bot-onnx" ./cmd/bot-onnx

# The system libraries the binary links, but the C library's own, which the
# GPU machine has and must match its kernel.
for so in $(ldd "$out/bot-onnx" | awk '/=> \// {print $3}'); do
	case $(basename "$so") in
	libc.so* | libm.so* | libpthread.so* | libdl.so* | librt.so* | ld-linux*) ;;
	*) cp -L "$so" "$out/lib/" ;;
	esac
done
ort=$("$out/bot-onnx" doctor --json | sed -n 's/^ *"library": "\(.*\)",$/\1/p' | head -1)
[ -f "$ort" ] || { echo "gpu-bundle: no ONNX Runtime library found (run task ort)" >&2; exit 1; }
cp -L "$ort" "$out/lib/libonnxruntime.so"

debs=$(mktemp -d)
trap 'rm -rf "$debs"' EXIT
(cd "$debs" && apt-get -o APT::Sandbox::User=root download libvulkan1 libegl1 libglvnd0 >/dev/null)
for deb in "$debs"/*.deb; do
	dpkg-deb -x "$deb" "$debs/root"
done
cp -a "$debs"/root/usr/lib/x86_64-linux-gnu/*.so* "$out/lib/"

data=$("$out/bot-onnx" doctor --json | sed -n 's/^ *"dir": "\(.*\/mnist\)",$/\1/p' | head -1)
[ -n "$data" ] || data="${XDG_CACHE_HOME:-$HOME/.cache}/bot-onnx/data/mnist"
cp "$data"/*-ubyte.gz "$out/data/mnist/"

work=$(mktemp -d)
"$out/bot-onnx" build --model resnet20 --variant D --input 1x28x28 --seed 1 -o "$work/r20d.onnx" >/dev/null
"$out/bot-onnx" train --model "$work/r20d.onnx" --data mnist --data-dir "$out/data/mnist" --epochs 1 --batch 128 --lr 0.1 --seed 1 --out "$work/run" >/dev/null 2>&1
"$out/bot-onnx" export "$work/run" -o "$out/models/r20d-mnist.onnx" >/dev/null
rm -rf "$work"
cp scripts/gpu-check.sh "$out/"

tar -czf out/gpu-check.tar.gz -C out gpu-check
size=$(stat -c %s out/gpu-check.tar.gz)
echo "wrote out/gpu-check.tar.gz: $((size / 1024 / 1024)) MiB; on the GPU machine: tar -xzf gpu-check.tar.gz && gpu-check/gpu-check.sh"
if [ "$size" -gt $((60 * 1024 * 1024)) ]; then
	echo "gpu-bundle: the bundle is over 60 MiB" >&2
	exit 1
fi
