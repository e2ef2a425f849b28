#!/bin/bash
# `cbuild parse` error handling: each bad input exits 2 with a message that
# names the file (and line), and never crashes.
set -u
: "${CBUILD:?}"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
pass=0 fail=0

# expect CODE PATTERN -- ARGS...: exit status CODE and stderr matching PATTERN (ERE).
expect() {
    local code=$1 pattern=$2
    shift 3
    local rc=0
    "$CBUILD" parse "$@" >"$tmp/out" 2>"$tmp/err" || rc=$?
    if [ "$rc" -ne "$code" ]; then
        echo "FAIL parse $*: exit $rc, want $code; stderr: $(cat "$tmp/err")"
        fail=$((fail + 1))
    elif [ -n "$pattern" ] && ! grep -qE -- "$pattern" "$tmp/err"; then
        echo "FAIL parse $*: stderr does not match /$pattern/: $(cat "$tmp/err")"
        fail=$((fail + 1))
    else
        pass=$((pass + 1))
    fi
}

mkdir -p "$tmp/ctx" "$tmp/dir" "$tmp/nofile"
: >"$tmp/empty"
printf 'FROM alpine AS build\nFROM alpine AS build\n' >"$tmp/dup"
printf 'FROM alpine AS a\nCOPY --from=a /x /y\n' >"$tmp/cycle"
printf 'FROM alpine AS a\nCOPY --from=b /x /y\nFROM alpine AS b\nCOPY --from=a /x /y\n' >"$tmp/cycle2"
printf 'FROM alpine AS a\nRUN true\nFROM a AS b\n' >"$tmp/ok"
printf 'FROM alpine\n\nCOPY --chown=1 --frobnicate a b\n' >"$tmp/badflag"
printf 'FROM alpine\nRUN --mount=type=nfs,target=/x true\n' >"$tmp/badmount"
printf 'RUN true\n' >"$tmp/nofrom"
printf 'FROM alpine\nVOLUME ${EMPTY}\n' >"$tmp/emptyvol"
printf 'FROM alpine\nBOGUS x\n' >"$tmp/unknown"

expect 2 "$tmp/missing: cannot read the Containerfile: No such file" -- -f "$tmp/missing"
expect 2 "$tmp/dir: is a directory" -- -f "$tmp/dir"
expect 2 "$tmp/empty:1: .*empty" -- -f "$tmp/empty"
expect 2 "$tmp/empty:1: .*empty" -- --json -f "$tmp/empty"
expect 2 "no Containerfile or Dockerfile in $tmp/nofile" -- "$tmp/nofile"
expect 2 "build context $tmp/nope: No such file" -- "$tmp/nope"
expect 2 "$tmp/ok: target stage \"release\" could not be found \(named stages: a, b\)" -- --target release -f "$tmp/ok"
expect 2 "$tmp/dup:2:1: duplicate stage name \"build\"" -- -f "$tmp/dup"
expect 2 "$tmp/cycle:2:1: circular dependency detected on stage: a" -- -f "$tmp/cycle"
expect 2 "$tmp/cycle2:[0-9]+:1: circular dependency detected" -- --json -f "$tmp/cycle2"
expect 2 "$tmp/badflag:3:1: unknown flag: --frobnicate" -- -f "$tmp/badflag"
expect 2 "$tmp/badmount:2:1: .*unsupported mount type \"nfs\"" -- -f "$tmp/badmount"
expect 2 "$tmp/nofrom:1:1: RUN before the first FROM" -- -f "$tmp/nofrom"
expect 2 "$tmp/emptyvol:2:1: VOLUME specified can not be an empty string" -- -f "$tmp/emptyvol"
expect 2 "$tmp/unknown:2(:[0-9]+)?: .*(unknown|BOGUS|bogus)" -- -f "$tmp/unknown"
expect 2 "cannot be used together" -- --dump --json -f "$tmp/ok"
expect 2 "unknown (or incomplete )?option --frob" -- --frob -f "$tmp/ok"
expect 2 "at most one CONTEXT" -- a b

# --help and the happy paths exit 0.
expect 0 "" -- --target a -f "$tmp/ok"
rc=0
"$CBUILD" parse --help >"$tmp/out" 2>&1 || rc=$?
if [ "$rc" -eq 0 ] && grep -q "Usage: cbuild parse" "$tmp/out"; then pass=$((pass + 1)); else
    echo "FAIL parse --help: exit $rc"; fail=$((fail + 1)); fi

# CONTEXT/Containerfile wins over CONTEXT/Dockerfile, as in buildah.
printf 'FROM alpine AS fromcontainerfile\n' >"$tmp/ctx/Containerfile"
printf 'FROM alpine AS fromdockerfile\n' >"$tmp/ctx/Dockerfile"
if "$CBUILD" parse "$tmp/ctx" 2>&1 | grep -q fromcontainerfile; then pass=$((pass + 1)); else
    echo "FAIL: Containerfile not preferred"; fail=$((fail + 1)); fi
rm "$tmp/ctx/Containerfile"
if (cd "$tmp/ctx" && "$CBUILD" parse) 2>&1 | grep -q fromdockerfile; then pass=$((pass + 1)); else
    echo "FAIL: Dockerfile in . not found"; fail=$((fail + 1)); fi

# Arbitrary bytes never crash the parser: the exit status is 0 or 2. The
# bytes come from fixed seeds, so a failure reproduces.
for i in 1 2 3 4 5 6 7 8; do
    python3 -c 'import random, sys
r = random.Random(int(sys.argv[1]))
words = [b"FROM", b"RUN", b"COPY", b"ARG", b"ENV", b"--mount=", b"--from=", b"$", b"${", b"<<EOF", b"\\", b"\n", b"\"", b"[", b"]", b"AS", b" "]
out = b"".join(r.choice(words) if r.random() < 0.6 else bytes([r.randrange(256)]) for _ in range(40 * int(sys.argv[1])))
sys.stdout.buffer.write(out)' "$i" >"$tmp/junk$i"
    printf 'FROM a\nRUN x \\\n' >>"$tmp/junk$i"
    for mode in --dump --json ""; do
        rc=0
        "$CBUILD" parse $mode -f "$tmp/junk$i" >/dev/null 2>&1 || rc=$?
        if [ "$rc" -ne 0 ] && [ "$rc" -ne 2 ]; then
            echo "FAIL junk$i $mode: exit $rc"
            fail=$((fail + 1))
        fi
    done
done

echo "parse errors: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
