#!/usr/bin/env bash
# tests/valgrind.sh [BUILD_DIR] [REGEX]
#
# Runs every cmocka unit test of a built tree (default: build/, the gcc one;
# the sanitizer builds cannot run under valgrind) under memcheck
# (--leak-check=full --errors-for-leak-kinds=definite): a test fails when it
# fails, or when its process has any memory error or definitely lost block
# ("definitely lost: 0"). Still reachable and possibly lost blocks (libcurl's
# and OpenSSL's globals) are not counted. Children a test forks are not judged
# (--child-silent-after-fork): they _exit() on purpose with the parent's heap
# still allocated, which memcheck would call lost; so the verdict is the
# parent's ERROR SUMMARY, not --error-exitcode, which would also change the
# children's exit codes the tests check.
#
# Left out: test_run_security (memcheck cannot run a seccomp filter: syscall
# 317 is unhandled). test_pgzip runs its cases of a few blocks only
# (CB_PGZIP_LIGHT=1): its others push 2.7 GB through every thread count, over
# ten minutes under memcheck, which runs one thread at a time; the gcc and
# ASan suites run them all. memcheck 3.19 does not know openat2 either (ENOSYS), so
# the code takes its old-kernel fallback there, and tests of what only
# openat2 gives skip those cases themselves.
#
# REGEX (grep -E) picks tests by name. Tests run $CB_VALGRIND_JOBS at a time
# (default: the CPUs); each test's log is BUILD_DIR/valgrind/NAME.log. Exit 77
# from a test is a skip, as under ctest.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=$(cd "${1:-$root/build}" && pwd)
filter=${2:-.}
command -v valgrind >/dev/null || { echo "valgrind.sh: valgrind is not installed" >&2; exit 2; }
[ -f "$build/CMakeCache.txt" ] || { echo "valgrind.sh: $build is not a build directory" >&2; exit 2; }

logs=$build/valgrind
rm -rf "$logs"
mkdir -p "$logs"
# The unit tests ctest knows, as NAME<TAB>PATH.
ctest --test-dir "$build" -N -R '^unit\.' | sed -n 's/^ *Test *#[0-9]*: unit\.//p' | grep -E "$filter" |
    grep -v -x -E 'test_run_security' |
    while read -r name; do
        exe=$(find "$build/tests/unit" -type f -name "$name" -perm -u+x | head -1)
        [ -n "$exe" ] && printf '%s\t%s\n' "$name" "$exe"
    done >"$logs/list"
[ -s "$logs/list" ] || { echo "valgrind.sh: no unit test matches '$filter' in $build" >&2; exit 2; }

run_one() { # NAME PATH: writes NAME.rc (99: memcheck found something) and NAME.time
    local name=$1 exe=$2 rc=0 t0=$SECONDS
    (cd "$(dirname "$exe")" &&
        CB_TESTDATA=$root/testdata CB_PGZIP_LIGHT=1 valgrind --leak-check=full --errors-for-leak-kinds=definite \
            --show-leak-kinds=definite --child-silent-after-fork=yes --num-callers=30 \
            "$exe") >"$logs/$name.log" 2>&1 || rc=$?
    if [ "$rc" -ne 77 ] && ! grep -q -E '^==[0-9]+== ERROR SUMMARY: 0 errors' "$logs/$name.log"; then
        rc=99
    fi
    echo "$rc" >"$logs/$name.rc"
    echo "$((SECONDS - t0))" >"$logs/$name.time"
}
export -f run_one
export root logs
start=$(date +%s)
tr '\t' ' ' <"$logs/list" | xargs -P "${CB_VALGRIND_JOBS:-$(nproc)}" -L 1 bash -c 'run_one "$0" "$1"'

status=0 passed=0 skipped=0
while IFS=$'\t' read -r name exe; do
    rc=$(cat "$logs/$name.rc")
    case $rc in
        0) passed=$((passed + 1)) ;;
        77) skipped=$((skipped + 1)); echo "skipped: $name" ;;
        99) status=1; echo "FAILED (valgrind): $name"
            grep -E -A12 '^==[0-9]+== (Invalid|Conditional|Syscall param|Mismatched|.*definitely lost in)' \
                "$logs/$name.log" | head -60 ;;
        *) status=1; echo "FAILED (exit $rc): $name"; tail -30 "$logs/$name.log" ;;
    esac
done <"$logs/list"
slowest=$(for f in "$logs"/*.time; do echo "$(cat "$f") $(basename "$f" .time)"; done | sort -rn | head -3 | tr '\n' ' ')
echo "valgrind.sh: slowest (s): $slowest"
echo "valgrind.sh: $passed passed, $skipped skipped, $(($(wc -l <"$logs/list") - passed - skipped)) failed" \
    "in $(($(date +%s) - start)) s (logs: $logs)"
exit $status
