#!/usr/bin/env bash
# Installs, from Debian's archive, everything the build and the test suite use:
# the compilers and -dev libraries, the tools that judge cbuild's output (skopeo,
# umoci, oci-image-tool, a real registry), the base-image ingredients
# (busybox-static), the rootless path (uidmap), fuzzing (clang + compiler-rt) and
# benchmarking. Idempotent and quiet: when everything is present it asks apt
# nothing and prints nothing. Uses sudo only when not root.
set -euo pipefail

packages=(
    # build
    gcc clang make cmake pkg-config git
    libarchive-dev libssl-dev libcurl4-openssl-dev libjansson-dev libzstd-dev
    libseccomp-dev zlib1g-dev libdeflate-dev libcmocka-dev
    # fuzzing and sanitizers (clang's libFuzzer and ASan/UBSan runtimes)
    libclang-rt-14-dev
    # judges of cbuild's output and helpers the tests drive
    skopeo umoci oci-image-tool docker-registry buildah runc podman jq python3 python3-yaml
    # registry fixtures: TLS certificates, bcrypt htpasswd (tests/integration/lib/registry.sh)
    openssl apache2-utils
    curl ca-certificates pigz zstd tar gzip
    # base image fixture (testdata/fixtures/make-busybox-oci.sh)
    busybox-static
    # the examples' toolchain and Python bases (testdata/fixtures/make-host-tool-oci.sh)
    libc6-dev binutils python3.11-minimal libpython3.11-stdlib
    # rootless runs: newuidmap/newgidmap, fuse-overlayfs fallback, --network private
    uidmap fuse-overlayfs slirp4netns
    # analysis, benchmarks, terminal checks
    valgrind hyperfine tmux time strace
    # cbuild graph --format svg, man page rendering checks
    graphviz man-db groff-base
)

missing=()
for p in "${packages[@]}"; do
    if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q '^install ok installed$'; then
        missing+=("$p")
    fi
done
[ ${#missing[@]} -eq 0 ] && exit 0

sudo=()
if [ "$(id -u)" -ne 0 ]; then
    command -v sudo >/dev/null || { echo "install-test-deps: not root and no sudo; install: ${missing[*]}" >&2; exit 1; }
    sudo=(sudo)
fi

echo "install-test-deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
log=$(mktemp)
trap 'rm -f "$log"' EXIT
if ! { "${sudo[@]}" apt-get update -q && \
       "${sudo[@]}" apt-get install -y -q --no-install-recommends "${missing[@]}"; } >"$log" 2>&1; then
    tail -30 "$log" >&2
    echo "install-test-deps: apt-get failed (see above)" >&2
    exit 1
fi
