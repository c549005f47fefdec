#!/usr/bin/env bash
# bench-mpi: training throughput of one process with 2 replicas against 2
# processes of 1 replica under mpirun, over shared memory (Open MPI's vader
# BTL, its default on one host) and over TCP loopback (--mca btl tcp,self),
# interleaved RUNS times so that a change in the machine's load spreads
# over all three. Prints one JSON line per measurement and a Markdown table
# of medians; docs/results/mpi/ holds a run's output.
#
#   scripts/bench-mpi.sh [RUNS] > out.jsonl   (default 5; bin/bot-onnx built)
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${1:-5}
bin=bin/bot-onnx
mpirun=(mpirun --oversubscribe -np 2)
# Open MPI refuses root without these (CI's containers run as root).
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
# model input batch steps
configs=("resnet20 3x32x32 128 20" "resnet50 3x64x64 32 6")
lines=()
for cfg in "${configs[@]}"; do
	read -r model input batch steps <<<"$cfg"
	common=(bench train --model "$model" --variant D --input "$input" --batch "$batch" --steps "$steps" --warmup 2 --json)
	for ((i = 1; i <= runs; i++)); do
		for how in "1x2" "mpi-shm" "mpi-tcp"; do
			case $how in
			1x2) out=$("$bin" "${common[@]}" --threads 2 --peer none) ;;
			mpi-shm) out=$("${mpirun[@]}" "$bin" "${common[@]}" --threads 1) ;;
			mpi-tcp) out=$("${mpirun[@]}" --mca btl tcp,self "$bin" "${common[@]}" --threads 1) ;;
			esac
			line=$(jq -c --arg how "$how" --argjson run "$i" '{model, input, batch, how: $how, run: $run, cpu, isa, images_per_second, allreduce_ms_per_step, peak_rss_mib}' <<<"$out")
			echo "$line"
			lines+=("$line")
			echo "$model $how run $i: $(jq -r '.images_per_second' <<<"$line") images/s" >&2
		done
	done
done
printf '%s\n' "${lines[@]}" | jq -rs '
  def median: sort | if length % 2 == 1 then .[length/2|floor] else (.[length/2-1] + .[length/2]) / 2 end;
  group_by(.model) | .[] | . as $m |
  ($m | map(select(.how == "1x2")) | map(.images_per_second) | median) as $base |
  "| \($m[0].model)-D \($m[0].input) batch \($m[0].batch) | " +
  ([ "1x2", "mpi-shm", "mpi-tcp" ] | map(. as $h | $m | map(select(.how == $h)) |
     "\(map(.images_per_second) | median | . * 10 | round / 10) images/s (\((map(.images_per_second) | median) / $base | . * 100 | round / 100)×)" +
     (if $h == "1x2" then "" else ", allreduce \(map(.allreduce_ms_per_step) | median | . * 100 | round / 100) ms" end)) | join(" | ")) + " |"' >&2
