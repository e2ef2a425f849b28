#!/usr/bin/env bash
# perf_run10.sh CBUILD [RUNS]: the CPU cost of a RUN step, load-independent.
# Builds the run10 Containerfile (ten `RUN echo N > /fN` on the busybox
# fixture) and a FROM-only one with --no-cache on a warm root, as root and as
# the rootless test user (tests/setup/rootless-user.sh), each under
# `perf stat -r RUNS`, and prints task-clock and page faults per step:
# (run10 - from) / 10. Not a test: figures for tests/bench/README.md's run10.
set -euo pipefail
cb=$(realpath "$1")
runs=${2:-10}
here=$(cd "$(dirname "$0")/../.." && pwd)
user=cbuild-test
w=$(mktemp -d /tmp/cbuild-perf-run10.XXXXXX)
trap 'rm -rf "$w"' EXIT
"$here/testdata/fixtures/make-busybox-oci.sh" "$w/base" >/dev/null
cp "$cb" "$w/cbuild"
printf 'FROM oci:%s:latest\n' "$w/base" >"$w/Containerfile.from"
{ cat "$w/Containerfile.from"; for i in $(seq 1 10); do echo "RUN echo $i > /f$i"; done; } >"$w/Containerfile.run10"
chmod -R a+rX "$w"
id "$user" >/dev/null 2>&1 || "$here/tests/setup/rootless-user.sh" >/dev/null

measure() { # who file -> "task-clock-ms faults"
    local who=$1 f=$2 root=$w/root-$1 pre=()
    [ "$who" = root ] || pre=(runuser -u "$user" -- env -i PATH="$PATH" HOME=/tmp TMPDIR=/tmp)
    [ -d "$root" ] || { mkdir "$root"; [ "$who" = root ] || chown "$user" "$root"; }
    local cmd=("${pre[@]}" "$w/cbuild" build -q --root "$root" --no-cache -t perf:$f -f "$w/Containerfile.$f" "$w")
    "${cmd[@]}" >/dev/null # warm: the base imported, the page cache filled
    perf stat -x, -e task-clock,page-faults -r "$runs" "${cmd[@]}" 2>&1 >/dev/null |
        awk -F, '$3 == "task-clock" { t = $1 } $3 == "page-faults" { p = $1 } END { print t, p }'
}
for who in root rootless; do
    read -r ft fp < <(measure "$who" from)
    read -r rt rp < <(measure "$who" run10)
    awk -v who="$who" -v ft="$ft" -v fp="$fp" -v rt="$rt" -v rp="$rp" 'BEGIN {
        printf "%-8s FROM-only %.1f ms %d faults; 10 RUN %.1f ms %d faults; per step %.2f ms CPU, %.0f faults\n",
            who, ft, fp, rt, rp, (rt - ft) / 10, (rp - fp) / 10 }'
done
