#!/usr/bin/env bash
# tests/bench/bench_cache.sh [RUNS]
# The build cache and the stage scheduler, cbuild side by side with
#   buildah build --layers --isolation chroot --storage-driver overlay
# in one run, on the same inputs, builds alternating between the tools:
#   noop    fully cached rebuild of a Containerfile with 5 RUN steps, a COPY
#           of a 2,000-file context (~20 MB) and 5 more RUN steps (medians of
#           RUNS, default 9);
#   edit1   one context file changed (a new content every build): the COPY
#           and the 5 RUN steps after it run again, the 5 before are reused
#           (the reused steps are counted from each tool's output);
#   stages  two independent stages each burning ~1 s of CPU, then a final
#           stage copying from both, cold (--no-cache / --layers=false):
#           the build time against the longer stage (cbuild --jobs 2 vs
#           --jobs 1, and buildah, which builds stages one after another).
# cbuild is built as shipped (RelWithDebInfo in build-bench, or
# $CB_BENCH_BUILD_DIR). Peak RSS (GNU time) of the noop build is printed.
# Figures only: nothing here passes or fails on time (tests/bench/README.md).
set -euo pipefail
runs=${1:-9}
src=$(cd "$(dirname "$0")/../.." && pwd)
# shellcheck source=lib.sh
. "$src/tests/bench/lib.sh"
bench_build_cbuild bench_cache.sh
bench_need bench_cache.sh buildah /usr/bin/time python3
bench_tmpdir cbuild-bench-cache
cp "$cbuild" "$tmp/cbuild"
"$src/testdata/fixtures/make-busybox-oci.sh" "$tmp/busybox" latest >/dev/null

# The context: 2,000 files of 1-16 KiB in 40 directories.
mkdir -p "$tmp/ctx"
python3 - "$tmp/ctx/src" <<'PY'
import os, random, sys
random.seed(7)
root = sys.argv[1]
for i in range(2000):
    d = os.path.join(root, "d%02d" % (i % 40))
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, "f%04d.txt" % i), "w") as f:
        f.write(("line %d of file %d\n" % (random.randrange(1 << 30), i)) * random.randrange(40, 800))
PY
{
    printf 'FROM oci:%s:latest\n' "$tmp/busybox"
    for n in $(seq 1 5); do printf 'RUN echo %s > /f%s\n' "$n" "$n"; done
    printf 'COPY src /src\n'
    for n in $(seq 6 10); do printf 'RUN echo %s > /f%s\n' "$n" "$n"; done
} >"$tmp/ctx/Containerfile.noop"
# ~1 s of CPU in each stage: a shell loop (busybox sh) tuned below.
burn() { printf 'RUN i=0; while [ $i -lt %s ]; do i=$((i+1)); done; echo done > /%s\n' "$1" "$2"; }
chmod -R a+rX "$tmp"

rss_kib() { /usr/bin/time -f '%M' "$@" 2>&1 >/dev/null | tail -1; }

cb=("$tmp/cbuild" build --root "$tmp/cbuild-root")
bh=(buildah build --isolation chroot --storage-driver overlay --root "$tmp/buildah-root"
    --runroot "$tmp/buildah-run" --layers)

echo "host: $(nproc) cpus, $(uname -r), load $(cut -d' ' -f1-3 /proc/loadavg); $(buildah --version)"

# ---- noop ----
f=$tmp/ctx/Containerfile.noop
ms "${cb[@]}" -q -t bench:noop -f "$f" "$tmp/ctx" >/dev/null # cold: fills both caches
ms "${bh[@]}" -q -t bench-noop -f "$f" "$tmp/ctx" >/dev/null
for i in $(seq "$runs"); do
    ms "${cb[@]}" -q -t bench:noop -f "$f" "$tmp/ctx" >>"$tmp/cbuild.noop"
    ms "${bh[@]}" -q -t bench-noop -f "$f" "$tmp/ctx" >>"$tmp/buildah.noop"
done
cb_noop=$(median <"$tmp/cbuild.noop")
bh_noop=$(median <"$tmp/buildah.noop")
cb_rss=$(rss_kib "${cb[@]}" -q -t bench:noop -f "$f" "$tmp/ctx")
bh_rss=$(rss_kib "${bh[@]}" -q -t bench-noop -f "$f" "$tmp/ctx")

# ---- edit1 ----
# both COMMAND...: its stdout joins stderr (buildah says "Using cache" on stdout).
both() { "$@" 1>&2; }
hits() { grep -c -- '--> Using cache' "$tmp/last.err" || true; }
for i in $(seq "$runs"); do
    echo "edit $i" >"$tmp/ctx/src/d07/f0007.txt"
    t=$(ms both "${cb[@]}" -t bench:noop -f "$f" "$tmp/ctx")
    echo "$t" >>"$tmp/cbuild.edit1"
    cb_hits=$(hits)
    t=$(ms both "${bh[@]}" -t bench-noop -f "$f" "$tmp/ctx")
    echo "$t" >>"$tmp/buildah.edit1"
    bh_hits=$(hits)
done
cb_edit=$(median <"$tmp/cbuild.edit1")
bh_edit=$(median <"$tmp/buildah.edit1")

# ---- stages ----
# Calibrate: the loop count that takes ~1 s in one RUN here (cbuild, cold).
n=200000
printf 'FROM oci:%s:latest\n%s' "$tmp/busybox" "$(burn $n a)" >"$tmp/ctx/Containerfile.cal"
t=$(ms "${cb[@]}" -q --no-cache -f "$tmp/ctx/Containerfile.cal" "$tmp/ctx")
n=$((n * 1000 / (t > 50 ? t : 50)))
{
    printf 'FROM oci:%s:latest AS a\n%s\n' "$tmp/busybox" "$(burn $n a)"
    printf 'FROM oci:%s:latest AS b\n%s\n' "$tmp/busybox" "$(burn $n b)"
    printf 'FROM oci:%s:latest\nCOPY --from=a /a /a\nCOPY --from=b /b /b\n' "$tmp/busybox"
} >"$tmp/ctx/Containerfile.stages"
printf 'FROM oci:%s:latest\n%s\n' "$tmp/busybox" "$(burn $n a)" >"$tmp/ctx/Containerfile.one"
srun=$(((runs + 1) / 2))
for i in $(seq "$srun"); do
    ms "${cb[@]}" -q --no-cache -f "$tmp/ctx/Containerfile.one" "$tmp/ctx" >>"$tmp/cbuild.one"
    ms "${cb[@]}" -q --no-cache --jobs 2 -f "$tmp/ctx/Containerfile.stages" "$tmp/ctx" >>"$tmp/cbuild.stages2"
    ms "${cb[@]}" -q --no-cache --jobs 1 -f "$tmp/ctx/Containerfile.stages" "$tmp/ctx" >>"$tmp/cbuild.stages1"
    ms "${bh[@]}" -q --layers=false -f "$tmp/ctx/Containerfile.stages" "$tmp/ctx" >>"$tmp/buildah.stages"
done

ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf (b > 0 ? "%.1fx" : "-"), a / b }'; }
echo
echo "medians in ms ($runs runs; stages: $srun runs)"
printf '%-44s %10s %10s %8s\n' "" cbuild buildah ratio
printf '%-44s %10s %10s %8s\n' "noop: cached rebuild (10 RUN, COPY 2,000 files)" "$cb_noop" "$bh_noop" "$(ratio "$bh_noop" "$cb_noop")"
printf '%-44s %10s %10s\n' "noop: peak RSS, KiB" "$cb_rss" "$bh_rss"
printf '%-44s %10s %10s %8s\n' "edit1: one context file changed" "$cb_edit" "$bh_edit" "$(ratio "$bh_edit" "$cb_edit")"
printf '%-44s %10s %10s\n' "edit1: steps reused (5 expected)" "$cb_hits" "$bh_hits"
printf '%-44s %10s\n' "stages: one ~1 s stage alone" "$(median <"$tmp/cbuild.one")"
printf '%-44s %10s %10s %8s\n' "stages: two ~1 s stages + final, --jobs 2" "$(median <"$tmp/cbuild.stages2")" "$(median <"$tmp/buildah.stages")" \
    "$(ratio "$(median <"$tmp/buildah.stages")" "$(median <"$tmp/cbuild.stages2")")"
printf '%-44s %10s\n' "stages: the same, --jobs 1" "$(median <"$tmp/cbuild.stages1")"
