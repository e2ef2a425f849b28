#!/bin/bash
# What a RUN step cannot do to the host, tried from inside by a static probe
# (testdata/fixtures/sandbox_probe.c): signal or ptrace a host process (it is
# not even in the step's pid namespace), mount, set the hostname or the
# clock, open /proc/sys for writing, make a device node, make a user
# namespace; with USER 1000 no capabilities and no way back to uid 0. The
# seccomp filter is on (Seccomp: 2) and NoNewPrivs is 1 for root and for
# USER 1000. Run as root here and as the rootless user by
# test_build_rootless.sh; the outcomes are the same for both.
. "$(dirname "$0")/lib/common.sh"
need umoci cc hostname date
base=$T/busybox
busybox_base "$base"
ctx=$T/ctx
mkdir -p "$ctx"
cc -static -O1 -o "$ctx/probe" "$CB_TESTDATA/fixtures/sandbox_probe.c" 2>"$T/cc.err" ||
    { echo "FAIL: cannot build the probe statically: $(cat "$T/cc.err")"; exit 1; }

# A host process for the probe to aim at.
sleep 300 &
host_pid=$!
trap 'kill $host_pid 2>/dev/null; chmod -R u+w "$T" 2>/dev/null; rm -rf "$T"' EXIT
host_name=$(hostname)
t0=$(date +%s)

cat >"$ctx/Containerfile" <<EOF
FROM oci:$base:latest
COPY probe /probe
RUN /probe $host_pid > /probe.root; grep -E '^(NoNewPrivs|Seccomp):' /proc/self/status | tr -s '\t' ' ' > /status.root
RUN ls /proc/$host_pid > /dev/null 2>&1; echo \$? > /hostpid.visible
USER 1000
RUN /probe $host_pid > /tmp/probe.user; grep -E '^(CapPrm|CapEff|NoNewPrivs|Seccomp):' /proc/self/status | tr -s '\t' ' ' > /tmp/status.user
EOF
cb_ok "build with the probe" --no-cache -t sandbox:1 "$ctx"
eq "the host's hostname is unchanged" "$(hostname)" "$host_name"
kill -0 "$host_pid" 2>/dev/null && ok || bad "the host process is gone"
grep -q "^State:.*[tT]" "/proc/$host_pid/status" && bad "the host process is being traced or stopped" || ok
t1=$(date +%s)
[ "$t1" -ge "$t0" ] && [ $((t1 - t0)) -lt 120 ] && ok || bad "the host clock moved: $t0 -> $t1"

want_common="kill-host-pid ESRCH
ptrace-host-pid ESRCH
mount-tmpfs EPERM
sethostname EPERM
clock_settime EPERM
settimeofday EPERM"
# The step's root is the host's root when cbuild runs as root: it passes
# the files' permission check and meets the read-only mount. Run rootless,
# and for uid 1000, the permission check fails first.
want_root="write-proc-sys-core_pattern EACCES
write-proc-sys-hostname EACCES"
[ "$(id -u)" = 0 ] && want_root="write-proc-sys-core_pattern EROFS
write-proc-sys-hostname EROFS"
want_user="write-proc-sys-core_pattern EACCES
write-proc-sys-hostname EACCES"
want_tail="mknod-char-1-3 EPERM
unshare-user EPERM"
unpack sandbox:1 "$T/u" && {
    r=$T/u/rootfs
    eq "what root in a step may not do" "$(cat "$r/probe.root")" "$want_common
$want_root
$want_tail
setuid-0 allowed"
    eq "what USER 1000 may not do" "$(cat "$r/tmp/probe.user")" "$want_common
$want_user
$want_tail
setuid-0 EPERM"
    eq "root: no_new_privs and seccomp" "$(cat "$r/status.root")" "$(printf 'NoNewPrivs: 1\nSeccomp: 2')"
    eq "USER 1000: no capabilities, no_new_privs and seccomp" "$(cat "$r/tmp/status.user")" \
        "$(printf 'CapPrm: 0000000000000000\nCapEff: 0000000000000000\nNoNewPrivs: 1\nSeccomp: 2')"
    [ "$(cat "$r/hostpid.visible")" != 0 ] && ok || bad "the host's pid $host_pid is visible in the step's /proc"
    [ -e "$r/tmp/probe-null" ] && bad "a device node was made in the step" || ok
}
finish
