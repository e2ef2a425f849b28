#!/bin/bash
# Independent stages run at the same time (--jobs, default the CPUs): the
# final stage gets both side stages' results, STEP numbers stay those of the Containerfile's order; a
# failing stage stops the build with its own file:line and stops the other
# stage's step; --jobs 1 builds the same image.
. "$(dirname "$0")/lib/common.sh"
need umoci
base=$T/busybox
busybox_base "$base"
ctx=$T/ctx
mkdir -p "$ctx"
printf '%s\n' \
    "FROM oci:$base:latest AS a" \
    "RUN echo a > /a" \
    "FROM oci:$base:latest AS b" \
    "RUN echo b > /b" \
    "FROM oci:$base:latest" \
    "COPY --from=a /a /a" \
    "COPY --from=b /b /b" \
    "RUN cat /a /b > /ab" >"$ctx/Containerfile"
cb_ok "parallel build" --no-cache -t par:1 "$ctx"
grep -q "STEP 3/8: FROM oci:.* AS b" "$T/err" && ok || bad "STEP numbers follow the Containerfile: $(grep STEP "$T/err")"
if unpack par:1 "$T/u"; then
    eq "the final stage has both results" "$(cat "$T/u/rootfs/ab" | tr '\n' ' ')" "a b "
fi
cb_ok "--jobs 1" --no-cache --jobs 1 -t par:2 "$ctx"
if unpack par:2 "$T/u2"; then
    eq "--jobs 1 gives the same tree" "$(cat "$T/u2/rootfs/ab" | tr '\n' ' ')" "a b "
fi

# A failing stage: its error (file:line), and the other stage's long step
# does not run to its end. The sleep's length is this test's own, so that
# pgrep finds no other process on a shared machine.
slow=$((100000 + $$))
printf '%s\n' \
    "FROM oci:$base:latest AS slow" \
    "RUN sleep $slow; echo finished > /slow" \
    "FROM oci:$base:latest AS bad" \
    'RUN echo failing; exit 7' \
    "FROM oci:$base:latest" \
    'COPY --from=slow /slow /slow' \
    'COPY --from=bad /etc/passwd /p' >"$ctx/Containerfile"
start=$(date +%s)
cb_fails "a failing stage fails the build" "Containerfile:4(:[0-9]+)?: RUN exited with status 7" --no-cache -t par:4 "$ctx"
took=$(($(date +%s) - start))
[ "$took" -lt 15 ] && ok || bad "the other stage was not stopped (the build took ${took}s)"
eq "nothing left in ROOT/tmp" "$(ls "$CBUILD_ROOT/tmp")" ""
if pgrep -f "sleep $slow" >/dev/null; then
    bad "the other stage's step is still running"
    pkill -f "sleep $slow"
else
    ok
fi
finish
