#!/bin/bash
# `cbuild parse --dump` against BuildKit's parser corpus: every case prints
# exactly its `result` file; every negative case exits 2 naming FILE:LINE.
set -u
: "${CBUILD:?}" "${CB_TESTDATA:?}"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
corpus=$CB_TESTDATA/conformance
pass=0 fail=0

for dir in "$corpus"/parser/*/; do
    name=$(basename "$dir")
    rc=0
    "$CBUILD" parse --dump -f "$dir/Dockerfile" >"$tmp/out" 2>"$tmp/err" || rc=$?
    if [ "$rc" -ne 0 ]; then
        echo "FAIL parser/$name: exit $rc: $(head -3 "$tmp/err")"
        fail=$((fail + 1))
    elif ! cmp -s "$tmp/out" "$dir/result"; then
        echo "FAIL parser/$name: dump differs from result"
        diff "$dir/result" "$tmp/out" | head -10
        fail=$((fail + 1))
    else
        pass=$((pass + 1))
    fi
done

for dir in "$corpus"/parser-negative/*/; do
    name=$(basename "$dir")
    file=$dir/Dockerfile
    rc=0
    "$CBUILD" parse --dump -f "$file" >"$tmp/out" 2>"$tmp/err" || rc=$?
    if [ "$rc" -ne 2 ]; then
        echo "FAIL parser-negative/$name: exit $rc, want 2"
        fail=$((fail + 1))
    elif ! grep -qF "$file:" "$tmp/err" || ! grep -qE "^.*Dockerfile:[0-9]+(:[0-9]+)?: " "$tmp/err"; then
        echo "FAIL parser-negative/$name: no FILE:LINE in: $(cat "$tmp/err")"
        fail=$((fail + 1))
    elif [ -s "$tmp/out" ]; then
        echo "FAIL parser-negative/$name: printed a dump"
        fail=$((fail + 1))
    else
        pass=$((pass + 1))
    fi
done

echo "parse --dump: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
