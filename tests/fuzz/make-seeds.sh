#!/usr/bin/env bash
# Regenerates the derived part of the fuzz seed corpora from the conformance
# vectors (testdata/conformance); the hand-written seeds (hand-*) stay.
#   testdata/fuzz/parser/conf-*  every parser, parser-negative and lineinfo Dockerfile
#   testdata/fuzz/expand/*       one file per envVarTest / wordsTest input, as
#                                fuzz_expand reads it: a mode byte ('0' one word,
#                                '1' word splitting) then the text
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
conf=$root/testdata/conformance
seeds=$root/testdata/fuzz

rm -f "$seeds"/parser/conf-*
for f in "$conf"/parser/*/Dockerfile "$conf"/parser-negative/*/Dockerfile; do
    kind=$(basename "$(dirname "$(dirname "$f")")")
    cp "$f" "$seeds/parser/conf-$kind-$(basename "$(dirname "$f")")"
done
cp "$conf/parser-lineinfo/Dockerfile" "$seeds/parser/conf-lineinfo"

rm -rf "$seeds/expand"
mkdir -p "$seeds/expand"
# The vector's input is the second '|' field, trimmed; comments start with '#'.
python3 - "$conf/shell" "$seeds/expand" <<'PY'
import os, sys
src, dst = sys.argv[1:]
n = 0
for name, mode in (("envVarTest", b"0"), ("wordsTest", b"1")):
    with open(os.path.join(src, name), "rb") as f:
        for line in f:
            line = line.rstrip(b"\n")
            if not line.strip() or line.startswith(b"#"):
                continue
            fields = line.split(b"|")
            if len(fields) < 2:
                continue
            text = fields[0] if name == "wordsTest" else fields[1]
            n += 1
            with open(os.path.join(dst, "%s-%03d" % (name, n)), "wb") as out:
                out.write(mode + text.strip())
PY
# Hand-written ones: the operators on the extra fuzz environment, backtick escape.
printf '%s' '0${SPACES:+set}${NULL:-empty}${GLOB#\*}${GLOB%%[ab]*}${PATH//:/ }' >"$seeds/expand/hand-ops"
printf '%s' '1$SPACES "$SPACES" '\''$SPACES'\'' ${X/x/y}${UNSET?boom}' >"$seeds/expand/hand-split"
printf '%s' '2`$X `"q`" ${X}`' >"$seeds/expand/hand-backtick"
printf '%s' '0${KOREAN:1:2}${#X}${X^^}${X:?}' >"$seeds/expand/hand-unsupported"
echo "parser seeds: $(ls "$seeds/parser" | wc -l), expand seeds: $(ls "$seeds/expand" | wc -l)"
