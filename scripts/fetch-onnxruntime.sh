#!/usr/bin/env bash
# Installs the ONNX Runtime CPU shared library for Linux x64 into the per-user
# cache, where bot-onnx's runtime package looks for it:
#
#   ${XDG_CACHE_HOME:-$HOME/.cache}/bot-onnx/onnxruntime/1.24.3/libonnxruntime.so.1
#   (plus the symlink libonnxruntime.so)
#
# The library comes from the npm package onnxruntime-node (pinned version),
# fetched with `npm pack` (no install, no package scripts run); the tarball and
# the library are both checked against pinned SHA-256 sums. Running it again
# when the library is already installed only prints its path.
set -euo pipefail

readonly ORT_VERSION="1.24.3"
readonly TGZ_SHA256="aa1bb5fa261ea68de05dd53efbba210cd7adf2d2850f4c3a201054c74cc78040"
readonly LIB_SHA256="92ba8e44d31b80a34f5e805076a044122c3be1fffe0d88ed790de7267b0b2682"
readonly LIB_IN_TGZ="package/bin/napi-v6/linux/x64/libonnxruntime.so.1"

die() {
	echo "fetch-onnxruntime: $*" >&2
	exit 1
}

sha256_of() {
	sha256sum "$1" | cut -d' ' -f1
}

dest_dir="${XDG_CACHE_HOME:-$HOME/.cache}/bot-onnx/onnxruntime/${ORT_VERSION}"
dest_lib="${dest_dir}/libonnxruntime.so.1"
dest_link="${dest_dir}/libonnxruntime.so"

os="$(uname -s)"
arch="$(uname -m)"
if [[ "${os}" != "Linux" || ( "${arch}" != "x86_64" && "${arch}" != "amd64" ) ]]; then
	die "only Linux x64 is supported (found ${os} ${arch}); on other systems set BOT_ONNX_ORT_LIB to the path of your own ONNX Runtime library"
fi
command -v sha256sum >/dev/null 2>&1 || die "sha256sum not found (install coreutils)"

if [[ -f "${dest_lib}" && "$(sha256_of "${dest_lib}")" == "${LIB_SHA256}" ]]; then
	if [[ "$(readlink "${dest_link}" 2>/dev/null || true)" != "libonnxruntime.so.1" ]]; then
		ln -sfn libonnxruntime.so.1 "${dest_dir}/.libonnxruntime.so.$$"
		mv -fT "${dest_dir}/.libonnxruntime.so.$$" "${dest_link}"
	fi
	echo "${dest_lib}"
	exit 0
fi

command -v npm >/dev/null 2>&1 || die "npm not found: install Node.js/npm (it is used only to download onnxruntime-node@${ORT_VERSION} with npm pack)"

work="$(mktemp -d)"
trap 'rm -rf "${work}"' EXIT

echo "fetch-onnxruntime: downloading onnxruntime-node@${ORT_VERSION} with npm pack" >&2
if ! (cd "${work}" && npm pack --ignore-scripts --loglevel=error "onnxruntime-node@${ORT_VERSION}" >"${work}/pack.out" 2>"${work}/pack.err"); then
	reason="$(grep -v -e '^npm error code' -e 'A complete log' "${work}/pack.err" | head -n 1 | sed 's/^npm error //' || true)"
	die "npm pack onnxruntime-node@${ORT_VERSION} failed: ${reason:-no message from npm}"
fi
tgz="${work}/onnxruntime-node-${ORT_VERSION}.tgz"
[[ -f "${tgz}" ]] || die "npm pack did not produce ${tgz##*/}"

got="$(sha256_of "${tgz}")"
[[ "${got}" == "${TGZ_SHA256}" ]] || die "checksum mismatch for onnxruntime-node-${ORT_VERSION}.tgz: expected sha256 ${TGZ_SHA256}, got ${got}"

tar -xzf "${tgz}" -C "${work}" "${LIB_IN_TGZ}" || die "${LIB_IN_TGZ} not found in onnxruntime-node-${ORT_VERSION}.tgz"
got="$(sha256_of "${work}/${LIB_IN_TGZ}")"
[[ "${got}" == "${LIB_SHA256}" ]] || die "checksum mismatch for ${LIB_IN_TGZ}: expected sha256 ${LIB_SHA256}, got ${got}"

mkdir -p "${dest_dir}"
tmp_lib="${dest_dir}/.libonnxruntime.so.1.$$"
tmp_link="${dest_dir}/.libonnxruntime.so.$$"
trap 'rm -rf "${work}" "${tmp_lib}" "${tmp_link}"' EXIT
cp "${work}/${LIB_IN_TGZ}" "${tmp_lib}"
chmod 0755 "${tmp_lib}"
mv -f "${tmp_lib}" "${dest_lib}"
ln -sfn libonnxruntime.so.1 "${tmp_link}"
mv -fT "${tmp_link}" "${dest_link}"

echo "${dest_lib}"
