#!/bin/bash
# fuse-overlayfs as the RUN root (CBUILD_RUN_ROOTFS=fuse, the fallback when
# the kernel refuses overlayfs in a user namespace): the layer-exactness
# test (test_run_layers.sh) gives the same layers through it; the step
# cannot see the daemon; progress says "rootfs: fuse-overlayfs"; no daemon
# and no mount is left after a build, a failing step or SIGINT.
# Where the user running it cannot open /dev/fuse, forcing fuse must fail
# with an error saying so, and the rest is skipped with the reason printed.
. "$(dirname "$0")/lib/common.sh"
need umoci jq python3 pgrep fuse-overlayfs
base=$T/busybox
busybox_base "$base"
ctx=$T/ctx
mkdir -p "$ctx"
daemons() { tagged_procs fuse-overlayfs; }
# leftovers WHAT: no daemon of ours, no fuse mount anywhere we can see.
leftovers() {
    local left
    left=$(daemons)
    [ -z "$left" ] && ok || bad "$1: fuse-overlayfs left: $(ps -o pid,args -p "$(echo $left | tr ' ' ,)")"
    grep -E "fuse-overlayfs|$CBUILD_ROOT" /proc/self/mountinfo >"$T/mounts" && bad "$1: mounts left: $(cat "$T/mounts")" || ok
    local tmp
    tmp=$(find "$CBUILD_ROOT/tmp" -mindepth 1 2>/dev/null | head -5)
    [ -z "$tmp" ] && ok || bad "$1: left in ROOT/tmp: $tmp"
}
export CBUILD_RUN_ROOTFS=fuse

if ! { exec 3<>/dev/fuse; } 2>/dev/null; then
    echo "SKIP: /dev/fuse ($(stat -c '%A %U' /dev/fuse 2>/dev/null || echo missing)) cannot be opened by" \
        "$(id -un): fuse-overlayfs cannot work for this user; only the error is checked"
    printf 'FROM oci:%s:latest\nRUN true\n' "$base" >"$ctx/Containerfile"
    cb_fails "forced fuse without /dev/fuse" 'Containerfile:2(:[0-9]+)?: CBUILD_RUN_ROOTFS=fuse: /dev/fuse cannot be opened' \
        -t f:0 "$ctx"
    leftovers "forced fuse without /dev/fuse"
    finish
    exit
fi
exec 3>&-

# The layer-exactness test, every step through fuse-overlayfs.
if CBUILD_RUN_ROOTFS=fuse bash "$(dirname "$0")/test_run_layers.sh" >"$T/layers.log" 2>&1; then
    ok
else
    bad "test_run_layers.sh with CBUILD_RUN_ROOTFS=fuse: $(grep -E '^FAIL' "$T/layers.log" | head -20; tail -1 "$T/layers.log")"
fi
leftovers "after test_run_layers"

# What the step sees: its own processes only (not the daemon), its root on
# fuse-overlayfs; USER 1000 can write where it may (allow_other).
cat >"$ctx/Containerfile" <<EOF
FROM oci:$base:latest
RUN ls /proc | grep -c '^[0-9]' > /nprocs; \
    for f in /proc/[0-9]*/cmdline; do tr '\\0' ' ' < \$f | grep -q '^fuse-overlayfs ' && echo \$f; done > /seen; \
    awk '\$2 == "/" { print \$3 }' /proc/mounts > /roottype
USER 1000
RUN echo u > /tmp/u && id -u > /tmp/u.id
EOF
cb_ok "fuse build" -t fuse:1 "$ctx"
grep -q '^rootfs: fuse-overlayfs$' "$T/err" && ok || bad "progress does not say fuse-overlayfs: $(head -5 "$T/err")"
leftovers "after a build"
unpack fuse:1 "$T/f1" && {
    r=$T/f1/rootfs
    [ "$(cat "$r/nprocs")" -le 3 ] && ok || bad "the step sees $(cat "$r/nprocs") processes"
    eq "the daemon is not visible to the step" "$(cat "$r/seen")" ""
    eq "the step's root" "$(cat "$r/roottype")" fuse.fuse-overlayfs
    eq "USER 1000 writes through fuse-overlayfs" "$(cat "$r/tmp/u.id")" 1000
}
layers fuse:1 >"$T/fuse.layers"
grep -q ' tmp/u file 0644 1000 1000 ' "$T/fuse.layers" && ok || bad "USER 1000's file: $(grep tmp/u "$T/fuse.layers")"

# A fuse-overlayfs that fails: the error has its output (forced, there is
# no fallback); nothing is left.
mkdir -p "$T/fakebin"
printf '#!/bin/sh\necho "fake fuse-overlayfs: no mount today" >&2\nexit 3\n' >"$T/fakebin/fuse-overlayfs"
chmod +x "$T/fakebin/fuse-overlayfs"
PATH=$T/fakebin:$PATH cb_fails "failing fuse-overlayfs" \
    'Containerfile:2(:[0-9]+)?: fuse-overlayfs could not mount the root file system \(exit 3\): fake fuse-overlayfs: no mount today' \
    --no-cache -t fuse:2 "$ctx"
leftovers "after a failing fuse-overlayfs"

# A failing step and SIGINT: nothing of fuse-overlayfs left.
printf 'FROM oci:%s:latest\nRUN echo x > /x; exit 5\n' "$base" >"$ctx/Containerfile.fail"
cb_fails "failing step on fuse" 'Containerfile.fail:2(:[0-9]+)?: .*status 5' -t fail:1 -f "$ctx/Containerfile.fail" "$ctx"
leftovers "after a failing step"
m=$((300000 + RANDOM * 4 + $$ % 4))
printf 'FROM oci:%s:latest\nRUN echo y > /y; sleep %s\n' "$base" "$m" >"$ctx/Containerfile.int"
if start_bg "sleep $m" -t int:1 -f "$ctx/Containerfile.int" "$ctx"; then
    [ -n "$(daemons)" ] && ok || bad "no fuse-overlayfs daemon while the step runs"
    kill -INT -- "-$bg_pid"
    st=0
    wait "$bg_pid" || st=$?
    eq "SIGINT: exit status" "$st" 130
    leftovers "after SIGINT"
else
    bad "the step did not start: $(cat "$T/bg.err")"
fi
finish
