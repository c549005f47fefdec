#!/usr/bin/env bash
# The prepared GPU check (README, "ONNX Runtime"): run from the folder
# scripts/gpu-bundle.sh makes, on a machine with a GPU and its driver. It
# runs bot-onnx doctor, bench infer of ResNet-50-D at batch 1, 8 and 32 on the
# GPU provider and on the CPU, eval of a ResNet-20-D MNIST classifier on the
# 10,000 test images on both, and predict of it on one batch of 32 with the
# GPU's outputs compared to the CPU's; it checks that the top-1 is equal and
# the logits agree within 1e-3, and writes one JSON file of the results
# (default gpu-check.json beside it). GPU_PROVIDER picks the provider (default
# webgpu; cpu runs the whole check on the CPU, as CI does to test the script).
# Exit status 0: every check passed; 1: one failed; 2: a step could not run.
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
provider=${GPU_PROVIDER:-webgpu}
result=${1:-$here/gpu-check.json}
bin=$here/bot-onnx
export LD_LIBRARY_PATH="$here/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
export BOT_ONNX_ORT_LIB="$here/lib/libonnxruntime.so"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

step() {
	local name=$1
	shift
	echo "== gpu-check: $name" >&2
	if ! "$@" >"$work/$name.json" 2>"$work/$name.log"; then
		echo "gpu-check: $name failed: $(tail -1 "$work/$name.log")" >&2
		failed_step="$name: $(tail -1 "$work/$name.log")"
		echo null >"$work/$name.json"
		return 1
	fi
}
# number KEY FILE prints the first number under "KEY" in FILE's JSON.
number() { sed -n "s/^ *\"$1\": \([-0-9.eE+]*\),*$/\1/p" "$2" | head -1; }

failed_step=""
start=$(date +%s)
providers=("$provider")
[ "$provider" != cpu ] && providers+=(cpu)
step doctor "$bin" doctor --json
step build-r50d "$bin" build --model resnet50 --variant D -o "$work/r50d.onnx"
for b in 1 8 32; do
	for p in "${providers[@]}"; do
		step "bench-r50d-$p-$b" "$bin" bench infer "$work/r50d.onnx" --batch "$b" --provider "$p" --peer none --runs 5 --warmup 2 --json
	done
done
model=$here/models/r20d-mnist.onnx
for p in "${providers[@]}"; do
	step "eval-$p" "$bin" eval "$model" --data mnist --data-dir "$here/data/mnist" --provider "$p" --json
done
step predict "$bin" predict "$model" --input 32x1x28x28 --provider "$provider" --against cpu --runs 3 --json

top1_gpu=$(number top1 "$work/eval-$provider.json")
top1_cpu=$(number top1 "$work/eval-cpu.json")
diff=$(number max_abs_diff "$work/predict.json")
pass=true
[ -n "$failed_step" ] && pass=false
[ -n "$top1_gpu" ] && [ "$top1_gpu" = "$top1_cpu" ] || pass=false
[ -n "$diff" ] && awk -v d="$diff" 'BEGIN { exit !(d <= 1e-3) }' || pass=false

{
	printf '{\n"provider": "%s",\n"seconds": %d,\n"pass": %s,\n' "$provider" $(($(date +%s) - start)) "$pass"
	printf '"top1": {"gpu_provider": %s, "cpu": %s},\n' "${top1_gpu:-null}" "${top1_cpu:-null}"
	printf '"logits_max_abs_diff": %s,\n' "${diff:-null}"
	printf '"failed_step": "%s",\n' "${failed_step//\"/\'}"
	printf '"doctor": '
	cat "$work/doctor.json"
	for b in 1 8 32; do
		for p in "${providers[@]}"; do
			printf ',\n"bench_r50d_%s_batch%s": ' "$p" "$b"
			cat "$work/bench-r50d-$p-$b.json"
		done
	done
	for p in "${providers[@]}"; do
		printf ',\n"eval_%s": ' "$p"
		cat "$work/eval-$p.json"
	done
	printf ',\n"predict": '
	cat "$work/predict.json"
	printf '}\n'
} >"$result"
echo "gpu-check: wrote $result (pass: $pass; top-1 $provider ${top1_gpu:-?} vs cpu ${top1_cpu:-?}; logits within ${diff:-?})" >&2
$pass || exit 1
