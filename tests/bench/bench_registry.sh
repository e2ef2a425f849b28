#!/usr/bin/env bash
# tests/bench/bench_registry.sh [--mb N] [--chunks "SIZE..."]
# Push and pull of a large image (default about 500 MB: busybox and five layers of
# N/5 MB of random bytes, gzip) to Debian's distribution registry on 127.0.0.1
# (tests/integration/lib/registry.sh), cbuild and skopeo copy side by side in one
# run: wall seconds, MB/s (manifest + config + layer bytes over wall time) and peak
# RSS (/usr/bin/time). Then the bytes a second push of the same image sends, and,
# with --chunks, cbuild's push for each chunk size (CBUILD_PUSH_CHUNK_SIZE: blobs up
# to the size go in one PUT, larger ones in PATCHes of it), which is how the default
# (push/upload.h) was chosen. Builds cbuild as shipped (RelWithDebInfo) in
# build-bench (or $CB_BENCH_BUILD_DIR). Before each push the blob source records are
# removed so cbuild uploads rather than mounts. Figures only; see README.md.
set -euo pipefail
mb=500 chunks=""
while [ $# -gt 0 ]; do
    case $1 in
    --mb) mb=$2; shift 2 ;;
    --chunks) chunks=$2; shift 2 ;;
    -h | --help) sed -n '2,12p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "bench_registry.sh: unknown argument $1 (try --help)" >&2; exit 2 ;;
    esac
done
root=$(cd "$(dirname "$0")/../.." && pwd)
# shellcheck source=lib.sh
. "$root/tests/bench/lib.sh"
bench_need bench_registry.sh skopeo jq python3 /usr/bin/time docker-registry
bench_build_cbuild bench_registry.sh
build=$(dirname "$cbuild")
CBUILD=$cbuild

# The fixtures expect common.sh's $T and need(); a bench has no pass/fail counts.
T=$(mktemp -d "${TMPDIR:-/var/tmp}/cb-bench-registry-XXXXXX")
trap 'rm -rf "$T"' EXIT
need() { for t in "$@"; do command -v "$t" >/dev/null || { echo "missing $t" >&2; exit 1; }; done; }
CB_SOURCE_DIR=$root
export CBUILD_ROOT=$T/root
# shellcheck source=../integration/lib/registry.sh
source "$root/tests/integration/lib/registry.sh"
registry_plain >/dev/null

echo "== image: busybox + 5 layers of $((mb / 5)) MB random bytes (gzip)"
"$root/testdata/fixtures/make-busybox-oci.sh" "$T/bb" latest >/dev/null
mkdir -p "$T/ctx"
{
    echo "FROM oci:$T/bb:latest"
    for i in 1 2 3 4 5; do
        head -c "$((mb / 5))M" /dev/urandom >"$T/ctx/f$i"
        echo "COPY f$i /f$i"
    done
} >"$T/ctx/Containerfile"
SOURCE_DATE_EPOCH=0 "$CBUILD" build -q -t big:1 "$T/ctx" >/dev/null
rm -rf "$T/ctx"
size=$("$CBUILD" images --format json | jq '.[] | select(.name == "big:1") | .size')
printf 'image: %s bytes\n\n' "$size"

# run LABEL COMMAND...: one timed run; prints wall s, MB/s, peak RSS.
run() {
    local label=$1
    shift
    /usr/bin/time -f '%e %M' -o "$T/time" "$@" >"$T/run.out" 2>"$T/run.err" || {
        echo "$label: failed: $(tail -3 "$T/run.err")" >&2
        return 1
    }
    read -r wall rss <"$T/time"
    printf '%-34s %7.2f s %8.1f MB/s %8d KiB peak RSS\n' "$label" "$wall" \
        "$(python3 -c "print($size / 1e6 / max($wall, 0.01))")" "$rss"
}
fresh() { rm -rf "$CBUILD_ROOT/blob-sources"; }

printf '%-34s %9s %13s %18s\n' "" wall rate memory
fresh
run "cbuild push" "$CBUILD" push big:1 "docker://$REG_PLAIN/cbuild/big:1"
run "skopeo copy oci: -> docker://" skopeo copy -q --dest-tls-verify=false \
    "oci:$CBUILD_ROOT/store:big:1" "docker://$REG_PLAIN/skopeo/big:1"
run "cbuild pull (fresh root)" "$CBUILD" pull -q --root "$T/root2" "$REG_PLAIN/cbuild/big:1"
run "skopeo copy docker:// -> oci:" skopeo copy -q --src-tls-verify=false \
    "docker://$REG_PLAIN/cbuild/big:1" "oci:$T/skopeo-oci:big"
rm -rf "$T/root2" "$T/skopeo-oci"

echo
"$CBUILD" push big:1 "docker://$REG_PLAIN/cbuild/big:1" >/dev/null 2>"$T/second.err"
echo "second push of the same image: $(grep -o '[0-9]* bytes sent' "$T/second.err") ($(grep -o '[0-9]* already there' "$T/second.err") blobs)"
fresh
"$CBUILD" push big:1 "docker://$REG_PLAIN/cbuild/big:1" >/dev/null 2>&1
"$CBUILD" push big:1 "docker://$REG_PLAIN/mounted/big:1" >/dev/null 2>"$T/mount.err"
echo "push to another repository:    $(grep -o '[0-9]* mounted' "$T/mount.err") blobs mounted, $(grep -o '[0-9]* bytes sent' "$T/mount.err")"

if [ -n "$chunks" ]; then
    echo
    echo "== cbuild push by chunk size (CBUILD_PUSH_CHUNK_SIZE)"
    n=0
    for c in $chunks; do
        bytes=$(numfmt --from=iec "$c")
        fresh
        n=$((n + 1))
        CBUILD_PUSH_CHUNK_SIZE=$bytes run "chunk $c" "$CBUILD" push big:1 "docker://$REG_PLAIN/chunk$n/big:1"
    done
fi
