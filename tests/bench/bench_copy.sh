#!/usr/bin/env bash
# tests/bench/bench_copy.sh [--scale N] [--runs N]
# COPY of a large tree (`FROM scratch` + `COPY . /`), cbuild and buildah side
# by side in one run. Builds cbuild as shipped (RelWithDebInfo) in
# build-bench at the top of the checkout (or $CB_BENCH_BUILD_DIR); makes the
# tree once with gen_tree.py (about 330 MB: 10,000 small source files, 200
# files of 1 MiB half text half random, four of 20 MiB) and keeps it in
# $CB_BENCH_TREE (default build-bench/bench-copy-tree-sN). For each run:
# wall seconds, MB/s of input, peak RSS, layer blob size. cbuild with gzip
# (CBUILD_JOBS=1 and the default), zstd (the same two) and none; buildah
# build, then buildah push to an oci: layout (the gzip blob buildah writes).
# --runs N repeats each and prints the fastest (default 1: a busy machine
# makes single runs noisy). Checks that cbuild's layer digest is the same
# for CBUILD_JOBS=1 and 2, and from run to run.
# Figures only: nothing here passes or fails on time. See README.md.
set -euo pipefail
scale=1 runs=1
while [ $# -gt 0 ]; do
    case $1 in
    --scale) scale=$2; shift 2 ;;
    --runs) runs=$2; shift 2 ;;
    -h | --help) sed -n '2,15p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "bench_copy.sh: unknown argument $1 (try --help)" >&2; exit 2 ;;
    esac
done
root=$(cd "$(dirname "$0")/../.." && pwd)
# shellcheck source=lib.sh
. "$root/tests/bench/lib.sh"
bench_need bench_copy.sh buildah jq python3 /usr/bin/time
bench_build_cbuild bench_copy.sh
build=$(dirname "$cbuild")

# The tree: made once per scale; the stamp holds the generator's checksum so
# a changed generator makes it again.
tree=${CB_BENCH_TREE:-$build/bench-copy-tree-s$scale}
stamp="$(sha256sum "$root/tests/bench/gen_tree.py" | cut -c1-16) scale $scale"
if [ "$(cat "$tree.stamp" 2>/dev/null)" != "$stamp" ]; then
    rm -rf "$tree" "$tree.stamp"
    echo "making the tree in $tree ..." >&2
    python3 "$root/tests/bench/gen_tree.py" --scale "$scale" "$tree" >/dev/null
    echo "$stamp" >"$tree.stamp"
fi
nfiles=$(find "$tree" -type f | wc -l)
bytes=$(find "$tree" -type f -printf '%s\n' | awk '{s += $1} END {print s}')
# Every run reads a warm page cache: read the tree once first.
tar -C "$tree" -cf - . | cat >/dev/null

tmp=$(mktemp -d "${TMPDIR:-/var/tmp}/bench-copy.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
printf 'FROM scratch\nCOPY . /\n' >"$tmp/Containerfile"

echo "host: $(nproc) cpus, $(uname -r), $(awk '/MemTotal/ {printf "%.0f GiB", $2 / 1048576}' /proc/meminfo)," \
    "$(df -T "$tmp" | awk 'NR == 2 {print $2}') under $tmp"
echo "cbuild $("$cbuild" --version 2>/dev/null | head -1) ($(git -C "$root" rev-parse --short HEAD 2>/dev/null || echo '?')), $(buildah --version)"
echo "tree: $nfiles files, $(awk -v b="$bytes" 'BEGIN {printf "%.1f", b / 1e6}') MB (scale $scale); MB = 10^6 bytes, RSS in MiB"
echo
echo "load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
printf '%-36s %7s %7s %7s %8s %8s\n' run wall-s MB/s cpu-s rss-MiB blob-MB

# row LABEL BLOB-BYTES: prints the figures of the last timed command
# ($tmp/time: wall, peak RSS KiB, user and system CPU seconds).
row() {
    local label=$1 blob=$2 wall kib user sys
    read -r wall kib user sys <"$tmp/time"
    awk -v l="$label" -v w="$wall" -v k="$kib" -v c="$user $sys" -v b="$bytes" -v z="$blob" 'BEGIN {
        split(c, t, " ")
        printf "%-36s %7.2f %7.1f %7.2f %8.1f %8s\n", l, w, (w > 0 ? b / 1e6 / w : 0), t[1] + t[2],
            k / 1024, (z == "-" ? "-" : sprintf("%.1f", z / 1e6))
    }'
}

# timed CMD...: runs CMD under GNU time; keeps in $tmp/best the figures of
# the fastest run so far (call `fresh` before a series).
fresh() { rm -f "$tmp/best"; }
timed() {
    /usr/bin/time -f '%e %M %U %S' -o "$tmp/time" "$@" >"$tmp/out" 2>"$tmp/err" || {
        echo "bench_copy.sh: failed: $*" >&2
        tail -5 "$tmp/err" >&2
        exit 1
    }
    if [ ! -f "$tmp/best" ] || awk '{w = $1} END {exit !(w < best)}' best="$(cut -d' ' -f1 "$tmp/best")" "$tmp/time"; then
        cp "$tmp/time" "$tmp/best"
    fi
}

# cb LABEL JOBS COMPRESSION: RUNS cbuild builds, each in a fresh store; one
# row; sets $digest (and $varied when the runs gave different digests).
digest=
varied=
cb() {
    local label=$1 jobs=$2 comp=$3 r=$tmp/cb-root layer first=
    local env=(env -u CBUILD_JOBS)
    [ "$jobs" = default ] || env=(env CBUILD_JOBS="$jobs")
    fresh
    for ((i = 0; i < runs; i++)); do
        rm -rf "$r"
        timed "${env[@]}" CBUILD_ROOT="$r" "$cbuild" build -q -t bench:copy --compression "$comp" \
            -f "$tmp/Containerfile" "$tree"
        layer=$(CBUILD_ROOT="$r" "$cbuild" inspect bench:copy | jq -c '.[0].Manifest.layers[-1]')
        digest=$(jq -r .digest <<<"$layer")
        [ -z "$first" ] && first=$digest
        [ "$digest" = "$first" ] || varied="$varied $label"
        rm -rf "$r"
    done
    cp "$tmp/best" "$tmp/time"
    row "$label" "$(jq -r .size <<<"$layer")"
}

cb "cbuild gzip CBUILD_JOBS=1" 1 gzip
gz1=$digest
cb "cbuild gzip default ($(nproc) threads)" default gzip
gzd=$digest
cb "cbuild gzip CBUILD_JOBS=2" 2 gzip
gz2=$digest
cb "cbuild zstd CBUILD_JOBS=1" 1 zstd
zs1=$digest
cb "cbuild zstd default ($(nproc) threads)" default zstd
zsd=$digest
cb "cbuild none" default none

# buildah: each run in its own storage (build, then push to an OCI layout);
# its temporary files go under $tmp too.
fresh
for ((i = 0; i < runs; i++)); do
    bh=(env TMPDIR="$tmp" buildah --storage-driver overlay --root "$tmp/bh-root-$i" --runroot "$tmp/bh-runroot-$i")
    timed "${bh[@]}" build --isolation chroot -t bench:copy -f "$tmp/Containerfile" "$tree"
    cp "$tmp/time" "$tmp/bh-build-$i"
done
cp "$tmp/best" "$tmp/time"
row "buildah build (stored uncompressed)" -
fresh
for ((i = 0; i < runs; i++)); do
    bh=(env TMPDIR="$tmp" buildah --storage-driver overlay --root "$tmp/bh-root-$i" --runroot "$tmp/bh-runroot-$i")
    rm -rf "$tmp/bh-oci"
    timed "${bh[@]}" push bench:copy "oci:$tmp/bh-oci:x"
    "${bh[@]}" rmi -a -f >/dev/null 2>&1 || true
    rm -rf "$tmp/bh-root-$i" "$tmp/bh-runroot-$i"
done
cp "$tmp/best" "$tmp/time"
m=$(jq -r '.manifests[0].digest' "$tmp/bh-oci/index.json")
row "buildah push oci: (gzip)" "$(jq -r '.layers[-1].size' "$tmp/bh-oci/blobs/sha256/${m#sha256:}")"

echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
echo
same() { [ "$1" = "$2" ] && echo same || echo DIFFERENT; }
echo "layer digest, gzip: CBUILD_JOBS=1 vs 2: $(same "$gz1" "$gz2"), 1 vs default: $(same "$gz1" "$gzd") ($gz1)"
echo "layer digest, zstd: CBUILD_JOBS=1 vs default: $(same "$zs1" "$zsd") ($zs1)"
if [ "$runs" -gt 1 ]; then
    echo "layer digest from run to run: $([ -z "$varied" ] && echo same || echo "DIFFERENT for$varied")"
fi
# Not a timing: a digest that depends on the thread count or the run is a bug.
[ "$gz1" = "$gz2" ] && [ "$gz1" = "$gzd" ] && [ "$zs1" = "$zsd" ] && [ -z "$varied" ]
