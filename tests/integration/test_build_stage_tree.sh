#!/bin/bash
# A COPY's layer reaches the stage's tree only when something needs the
# tree (a later COPY's destination, RUN, COPY --from): the tree must then
# hold every layer, whether the stage ran in this process (--jobs 1), in a
# forked child (two independent stages, --jobs 2) or from the cache.
. "$(dirname "$0")/lib/common.sh"
need umoci
base=$T/busybox
busybox_base "$base"
ctx=$T/ctx
mkdir -p "$ctx"
echo one >"$ctx/f1"
echo two >"$ctx/f2"
echo three >"$ctx/f3"
printf '%s\n' \
    "FROM scratch AS a" \
    "COPY f1 /a/f1" \
    "COPY f2 /a/f2" \
    "FROM scratch AS b" \
    "COPY f3 /b/f3" \
    "FROM oci:$base:latest" \
    "ARG N=1" \
    "COPY --from=a /a /a" \
    "COPY --from=b /b/f3 /a/" \
    'RUN echo "$N" > /n && cat /a/f1 /a/f2 /a/f3 > /all' >"$ctx/Containerfile"

check_all() {
    if unpack "$1" "$T/u"; then
        eq "$2: every COPY layer in the tree RUN saw" "$(tr '\n' ' ' <"$T/u/rootfs/all")" "one two three "
        eq "$2: the RUN step ran" "$(cat "$T/u/rootfs/n")" "$3"
    fi
}
cb_ok "one process" --no-cache --jobs 1 -t tree:1 "$ctx"
check_all tree:1 "--jobs 1" 1
cb_ok "stages in children" --no-cache --jobs 2 -t tree:2 "$ctx"
check_all tree:2 "--jobs 2" 1
# Stages a and b and the final COPYs come from the cache; RUN does not.
cb_ok "cached COPY steps" --jobs 1 --build-arg N=2 -t tree:3 "$ctx"
grep -q "Using cache" "$T/err" && ok || bad "the COPY steps were not cached: $(cat "$T/err")"
check_all tree:3 "cached" 2

# The last COPY of a stage copied from: its tree is made from the layers.
printf '%s\n' \
    "FROM scratch AS a" \
    "COPY f1 /f1" \
    "FROM scratch" \
    "COPY --from=a /f1 /g1" >"$ctx/Containerfile"
cb_ok "COPY --from a stage ending in COPY" --no-cache -t tree:4 "$ctx"
if unpack tree:4 "$T/u4"; then
    eq "COPY --from saw the stage's last COPY" "$(cat "$T/u4/rootfs/g1")" "one"
fi
finish
