#!/bin/bash
# Crafted hostile tars (testdata/fixtures/hostile_tar.py) as a base image's
# layer and as an ADD archive: each gets the exact error naming the
# Containerfile line, the layer digest (base) or the archive (ADD) and the
# entry, and a canary directory that an escape would write into is
# byte-identical afterwards (checksum listing before and after). Symlinks
# in an ADD archive are followed inside the destination, as docker and
# buildah extract chrooted: there they succeed, and still nothing escapes.
# Sizes are bounded by cbuild.conf's max-layer-size (16MB here): a gzip bomb
# stops with an error naming the layer.
. "$(dirname "$0")/lib/common.sh"
need python3 sha256sum umoci
F=$CB_TESTDATA/fixtures/hostile_tar.py
canary=$T/canary
ctx=$T/ctx
mkdir -p "$canary/sub" "$ctx" "$XDG_CONFIG_HOME/cbuild"
echo secret >"$canary/secret"
echo keep >"$canary/sub/keep"
printf 'max-layer-size = 16MB\n' >"$XDG_CONFIG_HOME/cbuild/cbuild.conf"
listing() { (cd "$canary" && find . -printf '%p %y %m %s\n' | sort; find . -type f -print0 | sort -z | xargs -0 sha256sum); }
listing >"$T/canary.before"
canary_same() {
    listing >"$T/canary.after"
    cmp -s "$T/canary.before" "$T/canary.after" && ok || bad "$1: the canary changed: $(diff "$T/canary.before" "$T/canary.after" | head -5)"
}
# No memory bomb may take the machine down with it (not under ASan, whose
# shadow memory needs terabytes of address space).
grep -qa __asan_init "$CBUILD" || ulimit -v 4000000
# Every fixture at once (one Python start): $ctx/KIND.tar, $T/L-KIND, digests.
python3 "$F" --all "$canary" "$T" >"$T/digests" || { echo "FAIL: hostile_tar.py"; exit 1; }
for k in $(cut -d' ' -f1 "$T/digests"); do mv "$T/$k.tar" "$ctx/"; done

# as_layer KIND ERE: a base image whose one layer is KIND fails with ERE
# (after "C-KIND:2:1: unpacking the root file system of stage 0: layer DIGEST: ").
as_layer() {
    local kind=$1 pattern=$2 digest
    digest=$(awk -v k="$kind" '$1 == k {print $2}' "$T/digests")
    printf 'FROM oci:%s:latest\nCOPY C-%s /\n' "$T/L-$kind" "$kind" >"$ctx/C-$kind"
    cb_fails "layer $kind" "^$ctx/C-$kind:2:1: unpacking the root file system of stage 0: layer $digest: $pattern\$" \
        -q -t "l-$kind" -f "$ctx/C-$kind" "$ctx"
    canary_same "layer $kind"
}
# as_add KIND ERE: ADD of KIND fails with ERE (after "A-KIND:2:1: ADD: extracting 'KIND.tar': ").
as_add() {
    local kind=$1 pattern=$2
    printf 'FROM scratch\nADD %s.tar /x/\n' "$kind" >"$ctx/A-$kind"
    cb_fails "ADD $kind" "^$ctx/A-$kind:2:1: ADD: extracting '$kind.tar': $pattern\$" -q -t "a-$kind" -f "$ctx/A-$kind" "$ctx"
    canary_same "ADD $kind"
}
up=$(printf '\\.\\./%.0s' $(seq 40))
c=${canary#/}
for how in as_layer as_add; do
    $how dotdot "layer entry '$up$c/escaped': '\.\.' component"
    $how absolute "layer entry '/$c/escaped': absolute name"
    $how hardlink-rel "layer entry 'secret': hardlink target '$up$c/secret': '\.\.' component"
    $how hardlink-abs "layer entry 'secret': hardlink target '/$c/secret': absolute name"
    $how longname "layer entry 'x{300}': .*File name too long"
    $how deep "layer entry '(d/){3000}f': .*File name too long"
done
as_layer symlink-abs "layer entry 'link/escaped': 'link' leads out of the target directory through a symlink"
as_layer symlink-rel "layer entry 'link/escaped': 'link' leads out of the target directory through a symlink"
as_layer truncated "layer entry 'big': reading data: Truncated tar archive"
as_add truncated "layer entry 'big': decompressing layer: reading 'truncated.tar': Truncated tar archive"
as_layer hugesize "entry 'huge': size 1099511627776 is larger than the limit of 16777216 bytes"
as_add hugesize "reading layer: reading 'hugesize.tar': Truncated tar archive"
as_layer corrupt "reading layer: gzip decompression failed"
as_layer bomb "layer entry 'zeros1': layer is larger than the limit of 16777216 uncompressed bytes"
as_add bomb "layer entry 'zeros1': layer is larger than the limit of 16777216 uncompressed bytes"
# The same limit bounds an image archive as a whole; its staging is removed.
for tr in oci-archive docker-archive; do
    printf 'FROM %s:%s\n' "$tr" "$ctx/bomb.tar" >"$ctx/I-$tr"
    cb_fails "FROM $tr: of a bomb" "^$ctx/I-$tr:1:1: $tr:$ctx/bomb.tar: unpacks to more than 16777216 bytes \(the limit, cbuild.conf max-layer-size\)\$" \
        -q -t "i-$tr" -f "$ctx/I-$tr" "$ctx"
    eq "FROM $tr: of a bomb: nothing left in tmp/" "$(ls -A "$CBUILD_ROOT/tmp")" ""
done

# Symlinks in an ADD archive lead inside the destination.
for kind in symlink-abs symlink-rel; do
    printf 'FROM scratch\nADD %s.tar /x/\n' "$kind" >"$ctx/A-$kind"
    cb_ok "ADD $kind" -q -t "a-$kind:1" -f "$ctx/A-$kind" "$ctx"
    canary_same "ADD $kind"
    eq "ADD $kind: the file through the link" "$(layers "a-$kind:1" | awk '{print $2}' | grep escaped)" "x/$c/escaped"
done
# A corrupt gzip is no archive: ADD copies it as a file, as docker does.
printf 'FROM scratch\nADD corrupt.tar /x/\n' >"$ctx/A-corrupt"
cb_ok "ADD of a corrupt gzip" -q -t a-corrupt:1 -f "$ctx/A-corrupt" "$ctx"
eq "the corrupt gzip is a file" "$(layers a-corrupt:1 | awk '$2 == "x/corrupt.tar" {print $3}')" file
# A device node: root may make one, rootless unpacking refuses it.
if [ "$(id -u)" = 0 ]; then
    as_dev() { cb_ok "$1 device (root)" -q -t "d-$1" -f "$2" "$ctx"; }
else
    as_dev() { cb_fails "$1 device (rootless)" "device node not allowed when unpacking without privileges" -q -t "d-$1" -f "$2" "$ctx"; }
fi
printf 'FROM oci:%s:latest\nCOPY C-device /\n' "$T/L-device" >"$ctx/C-device"
printf 'FROM scratch\nADD device.tar /x/\n' >"$ctx/A-device"
as_dev layer "$ctx/C-device"
as_dev add "$ctx/A-device"
# The limit is the user's: a bad value is an error at its line, 0 lifts it.
printf 'jobs = 2\nmax-layer-size = lots\n' >"$XDG_CONFIG_HOME/cbuild/cbuild.conf"
cb_fails "a bad max-layer-size" "cbuild.conf:2: max-layer-size = lots: expected a size such as 500MB or 32GB \(0: no limit\)" \
    -q -t a-bomb -f "$ctx/A-bomb" "$ctx"
printf 'max-layer-size = 0\n' >"$XDG_CONFIG_HOME/cbuild/cbuild.conf"
cb_ok "max-layer-size = 0 lifts the limit" -q -t a-bomb -f "$ctx/A-bomb" "$ctx"
canary_same "after every case"
finish
