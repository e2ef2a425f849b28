#!/bin/bash
# RUN steps are cloned by a spawner process (builder/run_spawner.c) unless
# CBUILD_NO_SPAWNER is set, when the builder clones them itself: both paths
# give the same image (the spec, env with spaces, workdir, a tmpfs mount and
# the exec form survive the trip to the spawner), a failing step's status
# comes back through either, and no cbuild process outlives the build.
. "$(dirname "$0")/lib/common.sh"
need pgrep
base=$T/busybox
busybox_base "$base"
ctx=$T/ctx
mkdir -p "$ctx"
cat >"$ctx/Containerfile" <<EOF
FROM oci:$base:latest
ENV A="x y" B=
WORKDIR /w
RUN ["/bin/sh", "-c", "echo \"\$A|\$B|\$(pwd)|\$(id -u)\" > /w/a"]
RUN --mount=type=tmpfs,target=/t echo hi > /t/x && ls /t > /w/b
RUN cat /w/a /w/b
EOF
printf 'FROM oci:%s:latest\nRUN exit 7\n' "$base" >"$ctx/Containerfile.fail"

cb_ok "build through the spawner" --no-cache --timestamp 0 --progress plain --iidfile "$T/id1" -t sp:1 "$ctx"
grep -q 'x y||/w|0' "$T/err" && ok || bad "the step's env, workdir or user: $(grep -A2 'cat /w/a' "$T/err")"
grep -qE '(^| )x$' "$T/err" && ok || bad "the tmpfs mount's listing is missing"
CBUILD_NO_SPAWNER=1 cb_ok "build cloning the builder" --no-cache --timestamp 0 --iidfile "$T/id2" -t sp:2 "$ctx"
eq "the same image either way" "$(cat "$T/id2")" "$(cat "$T/id1")"

cb_fails "a failing step through the spawner" 'exited with status 7' --no-cache -f "$ctx/Containerfile.fail" "$ctx"
CBUILD_NO_SPAWNER=1 cb_fails "a failing step cloning the builder" 'exited with status 7' --no-cache \
    -f "$ctx/Containerfile.fail" "$ctx"

# The spawner leaves when the builder's end of its socket closes.
left=
for _ in $(seq 50); do
    left=$(tagged_procs cbuild)
    [ -z "$left" ] && break
    sleep 0.1
done
eq "cbuild processes left after the builds" "$left" ""
finish
