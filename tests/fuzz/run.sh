#!/usr/bin/env bash
# tests/fuzz/run.sh TARGET SECONDS [libFuzzer flags...]
#
# Builds fuzz_TARGET (parser, program, expand, ignore, tar_apply, oci_json,
# www_auth or http_headers) in a clang libFuzzer build dir
# (build-fuzz at the top of the checkout, or $CB_FUZZ_BUILD_DIR) and runs it
# for SECONDS from the checked-in seeds (testdata/fuzz/<corpus>) with its
# dictionary. New inputs go to the build dir's corpus, never into testdata.
# Prints the number of executions; on a crash, copies the input to
# testdata/fuzz/crashes/ and exits 1. Run it under `nice` for long runs.
set -euo pipefail
if [ $# -lt 2 ]; then
    echo "usage: $0 parser|program|expand|ignore|tar_apply|oci_json|www_auth|http_headers SECONDS [libFuzzer flags...]" >&2
    exit 2
fi
target=$1 seconds=$2
shift 2
case $target in
    parser | program) corpus=parser dict=parser.dict ;;
    expand | ignore | tar_apply | oci_json | www_auth | http_headers) corpus=$target dict=$target.dict ;;
    *) echo "run.sh: unknown target '$target' (parser, program, expand, ignore, tar_apply, oci_json, www_auth, http_headers)" >&2; exit 2 ;;
esac
case $seconds in
    '' | *[!0-9]*) echo "run.sh: SECONDS must be a whole number, not '$seconds'" >&2; exit 2 ;;
esac

root=$(cd "$(dirname "$0")/../.." && pwd)
build=${CB_FUZZ_BUILD_DIR:-$root/build-fuzz}
seeds=$root/testdata/fuzz

if [ ! -f "$build/CMakeCache.txt" ]; then
    cmake -S "$root" -B "$build" -DCMAKE_C_COMPILER=clang -DCMAKE_BUILD_TYPE=Debug -DCBUILD_FUZZ=ON >/dev/null
fi
cmake --build "$build" -j2 --target "fuzz_$target" >"$build/fuzz_$target.build.log" 2>&1 || {
    grep -E 'error|undefined reference' "$build/fuzz_$target.build.log" | head -20
    echo "run.sh: build of fuzz_$target failed (log: $build/fuzz_$target.build.log)" >&2
    exit 1
}

work=$build/run-corpus/$target
artifacts=$build/run-artifacts/$target/
mkdir -p "$work" "$artifacts"
log=$build/fuzz_$target.log
echo "run.sh: fuzz_$target for ${seconds}s, seeds $seeds/$corpus, log $log"
rc=0
"$build/tests/fuzz/fuzz_$target" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 \
    -max_len=16384 -print_final_stats=1 -dict="$seeds/$dict" -artifact_prefix="$artifacts" \
    "$@" "$work" "$seeds/$corpus" >"$log" 2>&1 || rc=$?

execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
grep -E '^Done [0-9]+ runs' "$log" | tail -1 || true
# libFuzzer's last status line: edges covered (cov), features (ft), corpus.
grep -E '^#[0-9]+[[:space:]]+DONE' "$log" | tail -1 || true
echo "fuzz_$target: ${execs:-?} executions in ${seconds}s, corpus $(ls "$work" | wc -l) inputs"
if [ "$rc" -ne 0 ]; then
    mkdir -p "$seeds/crashes"
    for a in "$artifacts"*; do
        [ -f "$a" ] || continue
        cp "$a" "$seeds/crashes/$target-$(basename "$a")"
        echo "crash input: testdata/fuzz/crashes/$target-$(basename "$a")"
    done
    grep -E -m1 -A12 'ERROR: (AddressSanitizer|libFuzzer|LeakSanitizer)|runtime error:' "$log" || tail -30 "$log"
    exit 1
fi
