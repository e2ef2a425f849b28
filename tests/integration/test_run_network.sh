#!/bin/bash
# --network private (and RUN --network=private): the step gets a network
# namespace of its own with slirp4netns' tap device (10.0.2.100), reaches a
# listener on the host's first non-loopback IPv4 address but none on the
# host's 127.0.0.1 (neither directly nor through slirp4netns' 10.0.2.2), and
# has resolv.conf at slirp4netns' DNS (10.0.2.3) and its own /etc/hosts.
# No slirp4netns is left after a build, a failing step or SIGINT. host and
# none behave as before; the mode is part of a RUN's cache key.
# Where the user running it cannot open /dev/net/tun (slirp4netns needs it),
# the build must fail with an error naming the mode, and the rest is skipped
# with the reason printed.
. "$(dirname "$0")/lib/common.sh"
need umoci jq python3 pgrep slirp4netns hostname
base=$T/busybox
busybox_base "$base"
ctx=$T/ctx
mkdir -p "$ctx"
tag=$CB_TEST_TAG
no_slirp() { # WHAT
    local left
    left=$(tagged_procs slirp4netns)
    [ -z "$left" ] && ok || bad "$1: slirp4netns left: $(ps -o pid,args -p "$(echo $left | tr ' ' ,)")"
}

if ! { exec 3<>/dev/net/tun; } 2>/dev/null; then
    echo "SKIP: /dev/net/tun ($(stat -c '%A %U' /dev/net/tun 2>/dev/null || echo missing)) cannot be opened by" \
        "$(id -un): slirp4netns cannot work for this user; only the error is checked"
    printf 'FROM oci:%s:latest\nRUN --network=private true\n' "$base" >"$ctx/Containerfile"
    cb_fails "private without /dev/net/tun" 'Containerfile:2(:[0-9]+)?: network mode private: /dev/net/tun cannot be opened' \
        -t p:0 "$ctx"
    no_slirp "private without /dev/net/tun"
    finish
    exit
fi
exec 3>&-

# Listeners serving a token: one on the host's loopback, one on its first
# non-loopback IPv4 address (when it has one).
trap 'kill $servers 2>/dev/null; chmod -R u+w "$T" 2>/dev/null; rm -rf "$T"' EXIT
lo_token=lo-$tag
serve_token 127.0.0.1 "$lo_token" "$T/lo.port"
ext_ip=$(hostname -I 2>/dev/null | tr ' ' '\n' | grep -E '^[0-9]+(\.[0-9]+){3}$' | grep -v '^127\.' | head -1)
ext_token=ext-$tag
if [ -n "$ext_ip" ]; then
    serve_token "$ext_ip" "$ext_token" "$T/ext.port"
else
    echo "SKIP: the host has no non-loopback IPv4 address: private reaching the host's network is not checked"
fi
for _ in $(seq 50); do [ -s "$T/lo.port" ] && { [ -z "$ext_ip" ] || [ -s "$T/ext.port" ]; } && break; sleep 0.1; done
[ -s "$T/lo.port" ] || { echo "FAIL: the test's listener did not start: $(cat "$T/server.log")"; exit 1; }
lo_port=$(cat "$T/lo.port")
ext_port=$(cat "$T/ext.port" 2>/dev/null || echo 0)
host_net=$(readlink /proc/self/ns/net)

cat >"$ctx/Containerfile" <<'EOF'
FROM oci:BASE:latest
ARG LPORT EPORT EIP
RUN --network=private \
    if [ -n "$EIP" ]; then timeout 10 wget -q -O /ext http://$EIP:$EPORT/token; echo $? > /ext.rc; fi; \
    timeout 5 wget -q -O /tmp/lo http://127.0.0.1:$LPORT/token; echo $? > /lo.rc; \
    timeout 5 wget -q -O /tmp/gw http://10.0.2.2:$LPORT/token; echo $? > /gw.rc; \
    ip -4 -o addr show | awk '{print $2, $4}' > /addrs; ip route | grep default > /route; \
    cp /etc/resolv.conf /resolv; cp /etc/hosts /hosts.seen; readlink /proc/self/ns/net > /ns.net
RUN timeout 5 wget -q -O /host.lo http://127.0.0.1:$LPORT/token; readlink /proc/self/ns/net > /ns.host
RUN --network=none tr -d ' ' < /proc/net/dev | cut -d: -f1 | tail -n +3 | sort | tr '\n' ' ' > /none.ifaces
EOF
sed -i "s|BASE|$base|" "$ctx/Containerfile"
cb_ok "RUN --network=private build" -t priv:1 --build-arg LPORT="$lo_port" --build-arg EPORT="$ext_port" \
    --build-arg EIP="$ext_ip" "$ctx"
grep -q '^rootfs: ' "$T/err" && ok || bad "no rootfs line in the progress: $(head -5 "$T/err")"
no_slirp "after the build"
unpack priv:1 "$T/p1" && {
    r=$T/p1/rootfs
    if [ -n "$ext_ip" ]; then
        eq "private reaches the host's $ext_ip" "$(cat "$r/ext" 2>/dev/null)" "$ext_token"
    fi
    [ "$(cat "$r/lo.rc")" != 0 ] && ok || bad "private reached the host's 127.0.0.1"
    [ "$(cat "$r/gw.rc")" != 0 ] && ok || bad "private reached the host's 127.0.0.1 through 10.0.2.2"
    eq "private: lo and tap0 with 10.0.2.100" "$(sort "$r/addrs" | tr '\n' ' ')" "lo 127.0.0.1/8 tap0 10.0.2.100/24 "
    eq "private: default route" "$(awk '{print $1, $2, $3, $4, $5}' "$r/route")" "default via 10.0.2.2 dev tap0"
    eq "private: resolv.conf" "$(cat "$r/resolv")" "nameserver 10.0.2.3"
    eq "private: /etc/hosts" "$(cat "$r/hosts.seen")" \
        "$(printf '127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n10.0.2.100\tcbuild')"
    [ "$(cat "$r/ns.net")" != "$host_net" ] && ok || bad "private: the step is in our network namespace"
    eq "host (the default) still reaches 127.0.0.1" "$(cat "$r/host.lo")" "$lo_token"
    eq "host: our network namespace" "$(cat "$r/ns.host")" "$host_net"
    eq "none: only loopback" "$(cat "$r/none.ifaces")" "lo "
    [ ! -e "$r/etc/resolv.conf" ] && ok || bad "resolv.conf in the image"
}
eq "requests the loopback listener got" "$(grep -c "GET /token" "$T/server.log")" "$([ -n "$ext_ip" ] && echo 2 || echo 1)"

# --network private for the whole build, and the cache: the mode is in the
# key (private, none and host each build their own step), a second private
# build hits.
cat >"$ctx/Containerfile.flag" <<EOF
FROM oci:$base:latest
RUN tr -d ' ' < /proc/net/dev | cut -d: -f1 | tail -n +3 | sort | tr '\n' ' ' > /ifaces; cat /etc/resolv.conf > /resolv
EOF
cb_ok "--network private build" -t flag:private --network private -f "$ctx/Containerfile.flag" "$ctx"
no_slirp "after the --network private build"
cb_ok "--network none build" -t flag:none --network none -f "$ctx/Containerfile.flag" "$ctx"
grep -q 'Using cache' "$T/err" && bad "none hit private's cache entry" || ok
cb_ok "--network host build" -t flag:host --network host -f "$ctx/Containerfile.flag" "$ctx"
grep -q 'Using cache' "$T/err" && bad "host hit another mode's cache entry" || ok
cb_ok "--network private again" -t flag:private2 --network private -f "$ctx/Containerfile.flag" "$ctx"
grep -q 'Using cache' "$T/err" && ok || bad "the second private build did not hit: $(cat "$T/err")"
unpack flag:private "$T/f1" && {
    eq "--network private: lo and tap0" "$(cat "$T/f1/rootfs/ifaces")" "lo tap0 "
    eq "--network private: resolv.conf" "$(cat "$T/f1/rootfs/resolv")" "nameserver 10.0.2.3"
}
unpack flag:none "$T/f2" && eq "--network none: lo" "$(cat "$T/f2/rootfs/ifaces")" "lo "
cb_fails "--network bogus" 'expected host, none or private' -t x:1 --network bogus -f "$ctx/Containerfile.flag" "$ctx"

# A failing private step: the error is the step's, no slirp4netns is left.
printf 'FROM oci:%s:latest\nRUN --network=private echo failing; exit 7\n' "$base" >"$ctx/Containerfile.fail"
cb_fails "failing private step" 'Containerfile.fail:2(:[0-9]+)?: .*status 7' -t fail:1 -f "$ctx/Containerfile.fail" "$ctx"
no_slirp "after a failing step"

# A slirp4netns that fails: the error has its output; nothing is left.
mkdir -p "$T/fakebin"
printf '#!/bin/sh\necho "fake slirp4netns: cannot do it" >&2\nexit 1\n' >"$T/fakebin/slirp4netns"
chmod +x "$T/fakebin/slirp4netns"
PATH=$T/fakebin:$PATH cb_fails "failing slirp4netns" 'Containerfile.fail:2(:[0-9]+)?: network private: slirp4netns failed: fake slirp4netns: cannot do it' \
    -t fail:2 -f "$ctx/Containerfile.fail" "$ctx"
grep -qx failing "$T/err" && bad "the step ran without its network" || ok
no_slirp "after a failing slirp4netns"
[ -z "$(find "$CBUILD_ROOT/tmp" -mindepth 1 2>/dev/null | head -3)" ] && ok || bad "left in ROOT/tmp after a failing slirp4netns"

# SIGINT while a private step runs (to cbuild, and to its process group as
# ^C does): exit 130, no slirp4netns and no step process left.
interrupt() { # WHAT TARGET(pid|group)
    local what=$1 target=$2 m=$((500000 + RANDOM * 4 + $$ % 4))
    printf 'FROM oci:%s:latest\nRUN --network=private sleep %s\n' "$base" "$m" >"$ctx/Containerfile.int"
    start_bg "sleep $m" -t int:1 -f "$ctx/Containerfile.int" "$ctx" || { bad "$what: the step did not start: $(cat "$T/bg.err")"; return; }
    [ -n "$(tagged_procs slirp4netns)" ] && ok || bad "$what: no slirp4netns while the private step runs"
    if [ "$target" = group ]; then kill -INT -- "-$bg_pid"; else kill -INT "$bg_pid"; fi
    local st=0
    wait "$bg_pid" || st=$?
    eq "$what: exit status" "$st" 130
    no_slirp "$what"
    pgrep -f "^sleep $m\$" >/dev/null && bad "$what: the step's process is left" || ok
}
interrupt "SIGINT to cbuild" pid
interrupt "SIGINT to the process group" group
finish
