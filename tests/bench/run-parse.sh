#!/usr/bin/env bash
# tests/bench/run-parse.sh [RUNS]
# Builds bench_parse and cbuild as the project ships them (RelWithDebInfo,
# -O2) in build-bench at the top of the checkout (or $CB_BENCH_BUILD_DIR) and
# prints the parser figures: time and memory for 20,000, 40,000 and
# 80,000-line Containerfiles, then, when hyperfine is installed, `cbuild parse`
# --dump and `cbuild parse` on the 20,000-line file, process start to exit.
# Figures only: nothing here passes or fails on time. See README.md.
set -euo pipefail
runs=${1:-30}
root=$(cd "$(dirname "$0")/../.." && pwd)
# shellcheck source=lib.sh
. "$root/tests/bench/lib.sh"
bench_build_cbuild bench_parse

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
echo "host: $(nproc) cpus, $(uname -r), $(${CC:-cc} --version | head -1)"
"$build/tests/bench/bench_parse" -n "$runs" -o "$tmp/20k.Containerfile"

if command -v hyperfine >/dev/null; then
    echo
    # --dump: read, parse, print the tree; default: the whole front end and a summary.
    hyperfine --warmup 2 --runs "$runs" -N --style basic \
        "$build/cbuild parse --dump -f $tmp/20k.Containerfile" \
        "$build/cbuild parse -f $tmp/20k.Containerfile" 2>&1 | grep -E 'Benchmark|Time|Range'
fi
