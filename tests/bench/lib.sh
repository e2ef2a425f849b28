# shellcheck shell=bash disable=SC2034 # CB, BH: for the scenario files
# Shared by the benchmark suite (tests/bench/run sources it and the scenario
# files): cbuild built as shipped, the tools a bench needs, timing and
# medians, the tools' command lines, the figures table and its JSON.

# bench_need TOOL...: every tool is on PATH, or the suite stops.
bench_need() {
    local t
    for t in "$@"; do
        command -v "$t" >/dev/null || { echo "bench: $t is missing: run tests/setup/install-test-deps.sh" >&2; exit 1; }
    done
}

# bench_build_cbuild [TARGET...]: builds cbuild as shipped (RelWithDebInfo),
# bench_measure and the TARGETs in $CB_BENCH_BUILD_DIR, else build-bench;
# sets $cbuild, $measure and $build.
bench_build_cbuild() {
    local src
    src=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
    build=${CB_BENCH_BUILD_DIR:-$src/build-bench}
    if [ ! -f "$build/CMakeCache.txt" ]; then
        mkdir -p "$build"
        cmake -S "$src" -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
    fi
    cmake --build "$build" -j2 --target cbuild bench_measure "$@" >"$build/bench.build.log" 2>&1 || {
        grep -E 'error' "$build/bench.build.log" | head -20
        echo "bench: build failed (log: $build/bench.build.log)" >&2
        exit 1
    }
    cbuild=$build/cbuild
    measure=$build/tests/bench/bench_measure
}

# bench_tmpdir NAME: a fresh dir under /tmp (lower case: buildah names an
# oci: base after its path), removed on exit with whatever buildah left
# mounted in it; sets $tmp.
bench_tmpdir() {
    tmp=/tmp/$1.$(od -An -N6 -tx1 /dev/urandom | tr -d ' \n')
    mkdir -m 755 "$tmp" "$tmp/m"
    trap 'bench_rm "$tmp"' EXIT
}

# bench_rm DIR: removes DIR, first unmounting what buildah (as root) left
# mounted under it; rootless, through buildah unshare for the files owned by
# subordinate ids.
bench_rm() {
    [ -e "$1" ] || return 0
    if [ "$(id -u)" -eq 0 ]; then
        awk -v t="$1/" 'index($5, t) == 1 { print $5 }' /proc/self/mountinfo | sort -r |
            while read -r m; do umount "$m" 2>/dev/null || umount -l "$m"; done
        rm -rf "$1"
    else
        buildah unshare rm -rf "$1"
    fi
}

# tools DIR: the two build commands, each with its own root under DIR:
#   $CB: cbuild build, quiet;
#   $BH: buildah build as the suite runs it: chroot isolation, overlay
#        storage, a layer per step (--layers) like cbuild's cache, quiet;
#   $CBV, $BHV: the same, not quiet (each says "--> Using cache").
tools() {
    CBV=("$cbuild" build --root "$1/cbuild")
    BHV=(buildah build --isolation chroot --storage-driver overlay --root "$1/buildah" --runroot "$1/buildah-run"
        --layers)
    CB=("${CBV[@]}" -q)
    BH=("${BHV[@]}" -q)
}

# m NAME COMMAND...: one timed run of COMMAND (stdout in $tmp/last.out,
# stderr in $tmp/last.err); appends its wall ms, peak RSS KiB and CPU seconds
# (user + system) to $tmp/m/NAME.{ms,rss,cpu}. A failure stops the scenario
# with the command's last lines.
m() {
    local name=$1
    shift
    "$measure" "$tmp/m/last" "$@" >"$tmp/last.out" 2>"$tmp/last.err" || {
        echo "bench: failed: $*" >&2
        tail -5 "$tmp/last.err" >&2
        return 1
    }
    local wall rss user sys
    read -r wall rss user sys <"$tmp/m/last"
    echo "$wall" >>"$tmp/m/$name.ms"
    echo "$rss" >>"$tmp/m/$name.rss"
    awk -v u="$user" -v s="$sys" 'BEGIN { print u + s }' >>"$tmp/m/$name.cpu"
}

# median: of the numbers on stdin, one per line (0 for none).
median() { sort -g | awk '{ v[NR] = $1 } END { print NR == 0 ? 0 : (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
# med NAME [KIND]: the median wall ms (KIND ms), CPU s (cpu) of m NAME.
med() { median <"$tmp/m/$1.${2:-ms}"; }
# peak NAME: the largest peak RSS of m NAME's runs, in KiB.
peak() { sort -n "$tmp/m/$1.rss" | tail -1; }

# calc EXPR [VAR=VALUE...]: EXPR evaluated by awk, printed with up to 2 decimals.
calc() {
    local e=$1
    shift
    local vars=() a
    for a in "$@"; do vars+=(-v "$a"); done
    awk "${vars[@]}" "BEGIN { x = sprintf(\"%.2f\", $e); sub(/\\.?0+\$/, \"\", x); print x }"
}
# verdict CONDITION [VAR=VALUE...]: "met" when the awk CONDITION holds, else "missed".
verdict() {
    local e=$1
    shift
    if [ "$(calc "($e) ? 1 : 0" "$@")" = 1 ]; then echo met; else echo missed; fi
}

# fig SCENARIO FIGURE CBUILD [AGAINST OTHER RATIO CB_RSS_KIB OTHER_RSS_KIB TARGET VERDICT]:
# one row of the table (unused fields "-"). RATIO is how many times better
# cbuild does than AGAINST (faster, or more MB/s); sizes give a percentage.
fig() {
    local f=("$@")
    while [ ${#f[@]} -lt 10 ]; do f+=(-); done
    (IFS=$'\t'; echo "${f[*]}") >>"$tmp/figures.tsv"
}

# ratio A B: A / B as "12.3x" ("-" when B is 0).
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.1fx\n", a / b; else print "-" }'; }
# mib KIB: KiB as MiB with one decimal.
mib() { awk -v k="$1" 'BEGIN { printf "%.1f\n", k / 1024 }'; }

# bench_table: the figures, aligned.
bench_table() {
    awk -F'\t' 'function out(s) { sub(/ +$/, "", s); print s }
    BEGIN {
        out(sprintf("%-10s %-46s %8s  %-20s %6s %6s %6s  %-24s", "scenario", "figure", "cbuild", "against", "ratio",
            "cb-MiB", "vs-MiB", "target"))
    }
    function mb(k) { return k == "-" ? "-" : sprintf("%.1f", k / 1024) }
    # Three significant figures are all a noisy machine gives.
    function n(v) { return v !~ /^-?[0-9.]+$/ ? v : v + 0 >= 100 || v == int(v) ? sprintf("%.0f", v) : sprintf("%.1f", v) }
    {
        out(sprintf("%-10s %-46s %8s  %-20s %6s %6s %6s  %-24s %s", $1, $2, n($3), ($4 == "-" ? "" : n($5) " " $4), $6,
            mb($7), mb($8), ($9 == "-" ? "" : $9), ($10 == "-" ? "" : $10)))
    }' "$tmp/figures.tsv"
}

# bench_json FILE HEADER...: the figures and every run's measurements as JSON.
bench_json() {
    local out=$1
    shift
    python3 - "$tmp/figures.tsv" "$tmp/m" "$out" "$@" <<'PY'
import json, os, sys
tsv, mdir, out = sys.argv[1:4]
head = dict(a.split("=", 1) for a in sys.argv[4:])
keys = ["scenario", "figure", "cbuild", "against", "other", "ratio", "cbuild_rss_kib", "other_rss_kib", "target", "verdict"]
def val(v):
    if v == "-":
        return None
    try:
        return int(v)
    except ValueError:
        try:
            return float(v)
        except ValueError:
            return v
figures = []
for line in open(tsv):
    figures.append({k: val(v) for k, v in zip(keys, line.rstrip("\n").split("\t"))})
runs = {}
for name in sorted(os.listdir(mdir)):
    base, _, kind = name.rpartition(".")
    if kind in ("ms", "rss", "cpu"):
        runs.setdefault(base, {})[{"ms": "wall_ms", "rss": "rss_kib", "cpu": "cpu_s"}[kind]] = [
            val(x) for x in open(os.path.join(mdir, name)).read().split()]
json.dump({"host": head, "figures": figures, "runs": runs}, open(out, "w"), indent=1)
PY
}
