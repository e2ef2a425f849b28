# Shared by the benchmark scripts (source it): cbuild built as shipped, the
# tools a bench needs, wall-clock timing and medians, a scratch dir that
# buildah's mounts and rootless files cannot outlive.

# bench_need SCRIPT TOOL...: every tool is on PATH, or the script stops.
bench_need() {
    local who=$1 t
    shift
    for t in "$@"; do
        command -v "$t" >/dev/null || { echo "$who: $t is missing: run tests/setup/install-test-deps.sh" >&2; exit 1; }
    done
}

# bench_build_cbuild SCRIPT: builds cbuild as shipped (RelWithDebInfo) in
# $CB_BENCH_BUILD_DIR, else build-bench; sets $cbuild to the binary.
bench_build_cbuild() {
    local who=$1 src
    src=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
    local build=${CB_BENCH_BUILD_DIR:-$src/build-bench}
    if [ ! -f "$build/CMakeCache.txt" ]; then
        cmake -S "$src" -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
    fi
    cmake --build "$build" -j2 --target cbuild >"$build/bench.build.log" 2>&1 || {
        grep -E 'error' "$build/bench.build.log" | head -20
        echo "$who: build failed (log: $build/bench.build.log)" >&2
        exit 1
    }
    cbuild=$build/cbuild
}

# bench_tmpdir NAME: a fresh dir under /tmp (lower case: buildah names an
# oci: base after its path), removed on exit with whatever buildah left
# mounted in it (as root) or owned by subordinate ids (rootless); sets $tmp.
bench_tmpdir() {
    tmp=/tmp/$1.$(od -An -N6 -tx1 /dev/urandom | tr -d ' \n')
    mkdir -m 755 "$tmp"
    trap bench_cleanup EXIT
}
bench_cleanup() {
    if [ "$(id -u)" -eq 0 ]; then
        awk -v t="$tmp/" 'index($5, t) == 1 { print $5 }' /proc/self/mountinfo | sort -r |
            while read -r m; do umount "$m" 2>/dev/null || umount -l "$m"; done
        rm -rf "$tmp"
    else
        buildah unshare rm -rf "$tmp"
    fi
}

# ms COMMAND...: runs it (output discarded, stderr in $tmp/last.err), prints
# its wall time in ms; a failure stops with the command's last lines.
ms() {
    local t0 t1
    t0=$(date +%s%N)
    "$@" >/dev/null 2>"$tmp/last.err" || { echo "failed: $*: $(tail -5 "$tmp/last.err")" >&2; return 1; }
    t1=$(date +%s%N)
    echo $(((t1 - t0) / 1000000))
}
# median: of the integers on stdin, one per line.
median() { sort -n | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : int((v[NR / 2] + v[NR / 2 + 1]) / 2) }'; }
