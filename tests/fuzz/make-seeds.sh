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

# ignore: mode byte ('0' the context walk, '1' COPY --exclude), the ignore
# file, NUL, then context paths one per line: every conformance
# .dockerignore with the paths of its context, plus hand-written ones.
mkdir -p "$seeds/ignore"
rm -f "$seeds"/ignore/conf-* "$seeds"/ignore/hand-*
for f in "$conf"/buildah/inline/*/.dockerignore; do
    dir=$(dirname "$f")
    for mode in 0 1; do
        { printf '%s' "$mode"; cat "$f"; printf '\0'; (cd "$dir" && find . -mindepth 1 | sed 's|^\./||' | sort); } \
            >"$seeds/ignore/conf-$mode-$(basename "$dir")"
    done
done
printf '0%s\0%s\n' $'# comment\n\xef\xbb\xbfnode_modules\n**/*.log\n!keep.log\n/build/\n!build/dist/**\n' \
    $'node_modules/x/y\na.log\nsub/b.log\nkeep.log\nbuild/dist/app\nbuild/tmp' >"$seeds/ignore/hand-mix"
printf '1%s\0%s\n' $'a/[a-c]*/b?\n!a/b*/b[!x]\n\\#notcomment\nx\\*y\n**\n!**/keep\n' \
    $'a/b/bb\na/bz/b1\n#notcomment\nx*y\ndeep/er/keep\ndeep/er/drop' >"$seeds/ignore/hand-classes"
printf '0%s\0%s\n' $'!\n' 'x' >"$seeds/ignore/hand-bad-exception"
printf '0%s\0%s\n' $'a/[\n' 'a/b' >"$seeds/ignore/hand-bad-class"

# tar_apply, oci_json, www_auth, http_headers: written by make-seeds.py.
python3 "$(dirname "$0")/make-seeds.py" "$seeds"
