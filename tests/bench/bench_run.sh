#!/usr/bin/env bash
# tests/bench/bench_run.sh [RUNS]
# The cost of a RUN step: ten `RUN echo N > /fN` steps on the busybox base,
# against a FROM-only build of the same base; per-step overhead =
# (median 10-step build - median FROM-only build) / 10, for cbuild (built
# as shipped: RelWithDebInfo in build-bench, or $CB_BENCH_BUILD_DIR) and,
# side by side in the same run, for
#   buildah build --isolation chroot --storage-driver overlay --root R --runroot RR
# Each tool keeps one warm root (the base already imported, a warm-up build
# of each file first); no build cache (cbuild --no-cache, buildah
# --layers=false). Builds alternate between the tools, RUNS times each
# (default 7). Run as root, it measures again as the rootless user
# cbuild-test when that user exists (tests/setup/rootless-user.sh).
# Figures only: nothing here passes or fails on time. See README.md.
set -euo pipefail
runs=${1:-7}
src=$(cd "$(dirname "$0")/../.." && pwd)
user=cbuild-test
# shellcheck source=lib.sh
. "$src/tests/bench/lib.sh"
bench_build_cbuild bench_run.sh
bench_need bench_run.sh buildah
bench_tmpdir cbuild-bench-run
cp "$cbuild" "$tmp/cbuild"
"$src/testdata/fixtures/make-busybox-oci.sh" "$tmp/busybox" latest >/dev/null
mkdir -p "$tmp/ctx"
printf 'FROM oci:%s:latest\n' "$tmp/busybox" >"$tmp/ctx/Containerfile.from"
{
    printf 'FROM oci:%s:latest\n' "$tmp/busybox"
    for n in $(seq 1 10); do printf 'RUN echo %s > /f%s\n' "$n" "$n"; done
} >"$tmp/ctx/Containerfile.run10"
chmod -R a+rX "$tmp"

# bench LABEL AS... : AS is the command prefix that runs as the user
# measured (empty for ourselves). Each tool's root lives in DIR.
bench() {
    local label=$1
    shift
    local dir=$tmp/$label
    mkdir -p "$dir"
    [ $# -eq 0 ] || chown "$user" "$dir"
    local cb=("$@" "$tmp/cbuild" build --root "$dir/cbuild" -q --no-cache)
    local bh=("$@" buildah build --isolation chroot --storage-driver overlay --root "$dir/buildah"
        --runroot "$dir/buildah-run" -q --layers=false)
    local f
    for f in from run10; do # warm-up: imports the base, fills the page cache
        ms "${cb[@]}" -t "bench:$f" -f "$tmp/ctx/Containerfile.$f" "$tmp/ctx" >/dev/null
        ms "${bh[@]}" -t "bench-$f" -f "$tmp/ctx/Containerfile.$f" "$tmp/ctx" >/dev/null
    done
    local i
    for i in $(seq "$runs"); do
        for f in from run10; do
            ms "${cb[@]}" -t "bench:$f" -f "$tmp/ctx/Containerfile.$f" "$tmp/ctx" >>"$dir/cbuild.$f"
            ms "${bh[@]}" -t "bench-$f" -f "$tmp/ctx/Containerfile.$f" "$tmp/ctx" >>"$dir/buildah.$f"
        done
    done
    local tool from run10
    for tool in cbuild buildah; do
        from=$(median <"$dir/$tool.from")
        run10=$(median <"$dir/$tool.run10")
        printf '%-22s %10s %10s %10s\n' "$tool ($label)" "$from" "$run10" "$(((run10 - from) / 10))"
    done
}

echo "host: $(nproc) cpus, $(uname -r), load $(cut -d' ' -f1-3 /proc/loadavg); $(buildah --version)"
echo "medians of $runs builds each, in ms"
printf '%-22s %10s %10s %10s\n' "" "FROM only" "10 RUN" "per RUN"
if [ "$(id -u)" -eq 0 ]; then
    bench root
    if id "$user" >/dev/null 2>&1; then
        install -d -m 0700 -o "$user" -g "$(id -g "$user")" "/tmp/$user-run"
        bench "$user" runuser -u "$user" -- env -i PATH="/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin" \
            HOME="$(getent passwd "$user" | cut -d: -f6)" XDG_RUNTIME_DIR="/tmp/$user-run"
    fi
else
    bench "$(id -un)"
fi
