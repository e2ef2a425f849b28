#!/bin/bash
# ${XDG_CONFIG_HOME}/cbuild/cbuild.conf: its defaults reach the build (root,
# compression, network, jobs), the command line and $CBUILD_ROOT win, and a
# bad line stops every command with FILE:LINE.
. "$(dirname "$0")/lib/common.sh"
need skopeo jq umoci
conf=$XDG_CONFIG_HOME/cbuild/cbuild.conf
mkdir -p "$(dirname "$conf")"
base=$T/busybox
busybox_base "$base"
mkdir -p "$T/ctx"
cat >"$T/ctx/Containerfile" <<EOF
FROM oci:$base:latest
RUN tr -d ' ' < /proc/net/dev | cut -d: -f1 | tail -n +3 | sort | tr '\n' ' ' > /ifaces
EOF
media() { skopeo inspect --raw "oci:$1/store:$2" | jq -r '.layers[-1].mediaType'; }
ifaces() { rm -rf "$T/l"; "$CBUILD" -q -o "type=local,dest=$T/l" "$@" >/dev/null 2>&1 && cat "$T/l/ifaces"; }

cat >"$conf" <<EOF
# cbuild defaults for this test
root = "$T/croot"
compression = zstd   # smaller layers
network = none
jobs = 2
default-registry = registry.example:5000
EOF
# root: the file's, unless $CBUILD_ROOT or --root says otherwise.
rc=0
env -u CBUILD_ROOT "$CBUILD" -q -t c:1 "$T/ctx" >"$T/out" 2>"$T/err" || rc=$?
eq "build with the file's defaults" "$rc" 0
[ -d "$T/croot/store" ] && ok || bad "the file's root was not used: $(cat "$T/err")"
eq "compression from the file" "$(media "$T/croot" c:1)" "application/vnd.oci.image.layer.v1.tar+zstd"
eq "network from the file: only loopback" "$(ifaces "$T/ctx")" "lo "

cb_ok "CBUILD_ROOT wins over the file" -q -t c:2 --compression gzip --network host --no-cache "$T/ctx"
[ -d "$CBUILD_ROOT/store" ] && ok || bad "CBUILD_ROOT not used"
eq "--compression wins" "$(media "$CBUILD_ROOT" c:2)" "application/vnd.oci.image.layer.v1.tar+gzip"
[ "$(ifaces --network host --no-cache "$T/ctx")" != "lo " ] && ok || bad "--network host did not win over the file's none"
cb_ok "--root wins" images --root "$T/croot"
grep -q "^c " "$T/out" && ok || bad "--root: $(cat "$T/out")"
rm -rf "$T/croot"

# Errors: FILE:LINE and exit 2 for any command; --help and --version still work.
printf 'root = /x\n\ncompresion = zstd\n' >"$conf"
cb_fails "unknown key" "^$conf:3: unknown key compresion \(did you mean compression\?\)" images
eq "exit 2" "$rc" 2
printf 'jobs = lots\n' >"$conf"
cb_fails "bad jobs" "^$conf:1: jobs = lots: expected a number from 1 to 64" -q "$T/ctx"
printf 'network = bridge\n' >"$conf"
cb_fails "bad network" "^$conf:1: network = bridge: expected one of host, none" images
printf 'just words\n' >"$conf"
cb_fails "no =" "^$conf:1: expected key = value" df
[ -d "$T/croot" ] && bad "a bad config created a root" || ok
cb_ok "--help despite a bad file" --help
cb_ok "--version despite a bad file" --version

# jobs: with 1 the two independent stages run one after the other; the
# file's 2 lets them overlap. Each stage notes when its step ran.
cat >"$T/ctx/Containerfile" <<EOF
FROM oci:$base:latest AS a
RUN date +%s > /start; sleep 3; date +%s > /end
FROM oci:$base:latest AS b
RUN date +%s > /start; sleep 3; date +%s > /end
FROM scratch
COPY --from=a /start /a.start
COPY --from=a /end /a.end
COPY --from=b /start /b.start
COPY --from=b /end /b.end
EOF
overlap() {
    local r=$T/j
    rm -rf "$r"
    "$CBUILD" -q --no-cache -o "type=local,dest=$r" "$@" "$T/ctx" >/dev/null 2>"$T/err" || { echo "failed: $(cat "$T/err")"; return; }
    if [ "$(cat "$r/a.start")" -lt "$(cat "$r/b.end")" ] && [ "$(cat "$r/b.start")" -lt "$(cat "$r/a.end")" ]; then
        echo yes
    else
        echo no
    fi
}
printf 'jobs = 2\n' >"$conf"
eq "stages overlapped with the file's jobs = 2" "$(overlap)" yes
printf 'jobs = 1\n' >"$conf"
eq "stages one after the other with the file's jobs = 1" "$(overlap)" no
eq "--jobs 2 wins over the file's 1" "$(overlap --jobs 2)" yes

# default-registry: a short name is looked up there (a closed port here: the
# error names it), and --default-registry wins.
printf 'default-registry = 127.0.0.1:1\n' >"$conf"
cb_fails "pull from the file's default registry" '127\.0\.0\.1:1/busybox' pull busybox
cb_fails "--default-registry wins" '127\.0\.0\.1:2/busybox' pull --default-registry 127.0.0.1:2 busybox
finish
