#!/bin/bash
# What a RUN step is kept from: the network with --network none (whole
# build) and RUN --network=none (one step), while the default (host) reaches
# a listener on the host's 127.0.0.1; its own pid, mount, ipc, uts and user
# namespaces (the step's sh is pid 1; compared with ours by
# /proc/self/ns/*); mounting and sethostname refused, the host's hostname
# untouched; Docker's default capability set for root, none for USER 1000,
# no_new_privs and a seccomp filter.
. "$(dirname "$0")/lib/common.sh"
need umoci jq python3 hostname
base=$T/busybox
busybox_base "$base"
ctx=$T/ctx
mkdir -p "$ctx"

# A listener on the host's loopback: serves /token, writes its port to a file.
token=net-token-$$-$RANDOM
serve_token 127.0.0.1 "$token" "$T/port"
trap 'kill $servers 2>/dev/null; chmod -R u+w "$T" 2>/dev/null; rm -rf "$T"' EXIT
for _ in $(seq 50); do [ -s "$T/port" ] && break; sleep 0.1; done
[ -s "$T/port" ] || { echo "FAIL: the test's listener did not start: $(cat "$T/server.log")"; exit 1; }
port=$(cat "$T/port")

host_name=$(hostname)
# The namespaces this test runs in, to compare with the step's.
for n in user mnt pid ipc uts net; do echo "$n $(readlink /proc/self/ns/$n)"; done >"$T/ns.host"

cat >"$ctx/Containerfile" <<'EOF'
FROM oci:BASE:latest
ARG PORT
RUN timeout 5 wget -q -O /net.default http://127.0.0.1:$PORT/token
RUN --network=none timeout 5 wget -q -O /tmp/x http://127.0.0.1:$PORT/token; echo $? > /net.step-none \
 && tr -d ' ' < /proc/net/dev | cut -d: -f1 | tail -n +3 | sort | tr '\n' ' ' > /net.step-none.ifaces
RUN cat /proc/1/cmdline | tr '\0' ' ' > /cmdline; echo $$ > /pid; ls /proc | grep -c '^[0-9]' > /nprocs
RUN for n in user mnt pid ipc uts net; do echo "$n $(readlink /proc/self/ns/$n)"; done > /ns
RUN if mount -t tmpfs none /mnt 2>/dev/null; then echo mounted; else echo refused; fi > /mount
RUN hostname foo 2>/dev/null; echo $? > /sethostname; hostname > /hostname
RUN grep -E '^(CapInh|CapPrm|CapEff|CapBnd|CapAmb|NoNewPrivs|Seccomp):' /proc/self/status > /status.root
RUN unshare -U true 2>/dev/null; echo $? > /unshare
USER 1000
RUN grep -E '^(CapInh|CapPrm|CapEff|CapBnd|CapAmb|NoNewPrivs|Seccomp):' /proc/self/status > /tmp/status.user
EOF
sed -i "s|BASE|$base|" "$ctx/Containerfile"
cb_ok "build with the default network" -t iso:1 --build-arg PORT="$port" "$ctx"
eq "the host's hostname is unchanged" "$(hostname)" "$host_name"
unpack iso:1 "$T/i1" && {
    r=$T/i1/rootfs
    eq "default network (host) reaches the host's 127.0.0.1" "$(cat "$r/net.default")" "$token"
    [ "$(cat "$r/net.step-none")" != 0 ] && ok || bad "RUN --network=none reached the host's listener"
    eq "RUN --network=none: only loopback" "$(cat "$r/net.step-none.ifaces")" "lo "
    eq "pid 1 is the step's shell" "$(cat "$r/cmdline")" \
        "/bin/sh -c cat /proc/1/cmdline | tr '\\0' ' ' > /cmdline; echo \$\$ > /pid; ls /proc | grep -c '^[0-9]' > /nprocs "
    eq "\$\$ is 1" "$(cat "$r/pid")" 1
    [ "$(cat "$r/nprocs")" -le 3 ] && ok || bad "the step sees $(cat "$r/nprocs") processes"
    for n in user mnt pid ipc uts; do
        [ "$(grep "^$n " "$r/ns")" != "$(grep "^$n " "$T/ns.host")" ] && ok || bad "the step shares our $n namespace"
    done
    eq "--network host: the host's network namespace" "$(grep '^net ' "$r/ns")" "$(grep '^net ' "$T/ns.host")"
    eq "mount -t tmpfs" "$(cat "$r/mount")" refused
    [ "$(cat "$r/sethostname")" != 0 ] && ok || bad "hostname foo succeeded in the step"
    [ "$(cat "$r/hostname")" != "$host_name" ] && ok || bad "the step has the host's hostname (no uts namespace)"
    eq "root's capabilities and security" "$(tr -s '\t' ' ' <"$r/status.root")" \
        "$(printf 'CapInh: 0000000000000000\nCapPrm: 00000000a80425fb\nCapEff: 00000000a80425fb\nCapBnd: 00000000a80425fb\nCapAmb: 0000000000000000\nNoNewPrivs: 1\nSeccomp: 2')"
    eq "USER 1000: no capabilities" "$(tr -s '\t' ' ' <"$r/tmp/status.user")" \
        "$(printf 'CapInh: 0000000000000000\nCapPrm: 0000000000000000\nCapEff: 0000000000000000\nCapBnd: 00000000a80425fb\nCapAmb: 0000000000000000\nNoNewPrivs: 1\nSeccomp: 2')"
    [ "$(cat "$r/unshare")" != 0 ] && ok || bad "a new user namespace was allowed in the step (Docker's profile refuses it)"
}

# --network none for the whole build: no step reaches the listener; a
# step's own network namespace (only loopback).
cat >"$ctx/Containerfile.none" <<'EOF'
FROM oci:BASE:latest
ARG PORT
RUN timeout 5 wget -q -O /tmp/x http://127.0.0.1:$PORT/token; echo $? > /net.none; readlink /proc/self/ns/net > /ns.net
EOF
sed -i "s|BASE|$base|" "$ctx/Containerfile.none"
cb_ok "build with --network none" -t none:1 --network none --build-arg PORT="$port" -f "$ctx/Containerfile.none" "$ctx"
unpack none:1 "$T/n1" && {
    [ "$(cat "$T/n1/rootfs/net.none")" != 0 ] && ok || bad "--network none reached the host's listener"
    [ "$(cat "$T/n1/rootfs/ns.net")" != "$(grep '^net ' "$T/ns.host" | cut -d' ' -f2)" ] && ok ||
        bad "--network none: the step is in our network namespace"
}
# The listener saw exactly the default step's request.
eq "requests the listener got" "$(grep -c 'GET /token' "$T/server.log")" 1
finish
