#!/bin/bash
# --explain-cache: each step that is built again says which of its inputs
# changed since the last build of that step; hits say nothing of the kind.
. "$(dirname "$0")/lib/common.sh"
base=$T/busybox
busybox_base "$base"
ctx=$T/ctx
mkdir -p "$ctx/src"
echo one >"$ctx/src/a.txt"
printf '%s\n' "FROM oci:$base:latest" 'ARG V=1' 'COPY src/ /src/' 'ENV MODE=fast' \
    'RUN cat /src/a.txt > /copy' 'RUN echo $V > /v' >"$ctx/Containerfile"

misses() { grep -E -- '--> Cache miss' "$T/err" | sed 's/.*--> Cache miss: //' | tr '\n' '|'; }

cb_ok "first build" --explain-cache -t ex:1 "$ctx"
eq "first build: nothing earlier" "$(misses)" \
    "no earlier build of this step|no earlier build of this step|no earlier build of this step|"
cb_ok "rebuild" --explain-cache -t ex:1 "$ctx"
eq "rebuild: no misses" "$(misses)" ""
cb_ok "arg change" --explain-cache --build-arg V=2 -t ex:1 "$ctx"
# Every RUN after ARG V has V in its environment (as docker's): the first
# says why, the next follows from it; the COPY before them hits.
eq "arg change: from the first RUN, with the values" "$(misses)" "build arg V changed 1 -> 2|an earlier step changed|"
echo two >"$ctx/src/a.txt"
cb_ok "content change" --explain-cache --build-arg V=2 -t ex:1 "$ctx"
eq "content change: the COPY, then what follows" "$(misses)" \
    "the content of its sources changed|an earlier step changed|an earlier step changed|"
sed -i 's/MODE=fast/MODE=slow/' "$ctx/Containerfile"
cb_ok "env change" --explain-cache --build-arg V=2 -t ex:1 "$ctx"
eq "env change: the RUN steps say which ENV" "$(misses)" "ENV MODE=fast -> MODE=slow|an earlier step changed|"
cb_ok "--no-cache" --explain-cache --no-cache --build-arg V=2 -t ex:1 "$ctx"
eq "--no-cache says so" "$(misses)" "--no-cache|--no-cache|--no-cache|"
finish
