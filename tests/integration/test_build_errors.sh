#!/bin/bash
# Bad input gets a clear error naming the file and line (or the reference),
# a non-zero exit, and leaves the store exactly as it was.
. "$(dirname "$0")/lib/common.sh"
need skopeo jq python3 sha256sum
base=$T/busybox
busybox_base "$base"
ctx=$T/ctx
mkdir -p "$ctx" "$T/outside"
echo data >"$ctx/file.txt"
echo secret >"$T/outside/secret.txt"
ln -s "$T/outside/secret.txt" "$ctx/escape-link"

# A good image first, so there is a store to keep intact.
printf 'FROM scratch\nCOPY file.txt /\n' >"$ctx/Containerfile"
cb_ok "good build" -t keep:1 "$ctx"
# What must not change when a build fails: the tags (index.json), and no
# staging file may stay behind; every blob must still match its digest. A base
# image imported before the failure may stay: its blobs are complete and
# verified, as buildah keeps a pulled base when a build fails.
snapshot() {
    sha256sum <"$CBUILD_ROOT/store/index.json"
    find "$CBUILD_ROOT/tmp" -mindepth 1 | sort
    for b in "$CBUILD_ROOT"/store/blobs/sha256/*; do
        [ "$(sha256sum <"$b" | cut -d" " -f1)" = "$(basename "$b")" ] || echo "corrupt blob $b"
    done
}
blobs() { ls "$CBUILD_ROOT/store/blobs/sha256" | sort; }
snapshot >"$T/before"

# build_fails DESCRIPTION ERE CONTAINERFILE-TEXT [extra args...]
build_fails() {
    local what=$1 pattern=$2 text=$3
    shift 3
    printf '%b' "$text" >"$ctx/Bad"
    cb_fails "$what" "$pattern" -t bad:1 -f "$ctx/Bad" "$@" "$ctx"
    snapshot >"$T/after"
    if cmp -s "$T/before" "$T/after"; then ok; else bad "$what: the store changed: $(diff "$T/before" "$T/after" | head -5)"; fi
}

blobs >"$T/blobs.before"
build_fails "missing COPY source" "Bad:2(:[0-9]+)?: .*missing\.txt" 'FROM scratch\nCOPY missing.txt /\n'
# Sources are resolved as if the context were /: "../outside" is "outside" in it.
build_fails "source outside the context" "Bad:2(:[0-9]+)?: .*outside/secret\.txt" 'FROM scratch\nCOPY ../outside/secret.txt /\n'
blobs >"$T/blobs.after"
cmp -s "$T/blobs.before" "$T/blobs.after" && ok || bad "a failed COPY left a blob: $(diff "$T/blobs.before" "$T/blobs.after")"
build_fails "symlink out of the context" "Bad:2(:[0-9]+)?: " 'FROM scratch\nCOPY escape-link /x\n'
build_fails "malformed --chown" "Bad:2(:[0-9]+)?: .*chown" 'FROM scratch\nCOPY --chown=a:b:c file.txt /\n'
build_fails "unknown --chown user" "Bad:2(:[0-9]+)?: .*nosuchuser" "FROM oci:$base:latest\nCOPY --chown=nosuchuser file.txt /\n"
build_fails "base layout missing" "Bad:1(:[0-9]+)?: .*$T/nope" "FROM oci:$T/nope:latest\n"
eq "the base's reference named once" "$(grep -o "oci:$T/nope:latest" "$T/err" | wc -l)" 1
build_fails "base archive missing" "Bad:1(:[0-9]+)?: docker-archive:$T/nope.tar: open $T/nope.tar" "FROM docker-archive:$T/nope.tar\n"
build_fails "image not in the store" "Bad:1(:[0-9]+)?: .*not found in the local store" 'FROM nosuchimage:1\n' --pull=never
build_fails "unknown instruction" "Bad:2:1: .*FORM" 'FROM scratch\nFORM x\n'
build_fails "RUN without a shell in the image names the line and the shell" "Bad:2(:[0-9]+)?: .*/bin/sh.*No such file" 'FROM scratch\nRUN true\n'
build_fails "bad -t name" "UPPER" 'FROM scratch\n' -t "UPPER:Case"
build_fails "bad EXPOSE" "Bad:2(:[0-9]+)?: .*port" 'FROM scratch\nEXPOSE http\n'

# A corrupt blob in a base layout is refused and nothing lands in the store.
cp -a "$base" "$T/corrupt"
layer=$(jq -r '.layers[0].digest' "$T/corrupt/blobs/sha256/$(jq -r '.manifests[0].digest' "$T/corrupt/index.json" | cut -d: -f2)" | cut -d: -f2)
chmod u+w "$T/corrupt/blobs/sha256/$layer"
printf 'garbage' | dd of="$T/corrupt/blobs/sha256/$layer" bs=1 seek=100 conv=notrunc 2>/dev/null
# In a fresh root, so the good copy of that layer is not already in the store.
printf 'FROM oci:%s:latest\n' "$T/corrupt" >"$ctx/Bad"
CBUILD_ROOT=$T/root2 cb_fails "corrupt base blob" "Bad:1(:[0-9]+)?: .*$layer" -t bad:1 -f "$ctx/Bad" "$ctx"
[ -z "$(ls -A "$T/root2/tmp")" ] && ok || bad "corrupt base: staging files left: $(ls "$T/root2/tmp")"
[ -e "$T/root2/store/blobs/sha256/$layer" ] && bad "the corrupt blob entered the store" || ok

# A hostile tar in ADD: an entry that climbs out.
python3 - "$ctx/evil.tar" <<'PY'
import io, sys, tarfile
with tarfile.open(sys.argv[1], "w") as t:
    data = b"pwned\n"
    info = tarfile.TarInfo("../../escaped.txt")
    info.size = len(data)
    t.addfile(info, io.BytesIO(data))
PY
build_fails "hostile tar in ADD" "Bad:2(:[0-9]+)?: .*\.\./" 'FROM scratch\nADD evil.tar /x/\n'
[ -e "$T/escaped.txt" ] || [ -e "$ctx/../escaped.txt" ] && bad "hostile tar wrote outside" || ok

# Hostile base layers: the build fails naming the entry, nothing escapes.
# (COPY makes the stage's root file system, where the base layers are applied.)
for kind in dotdot symlink hardlink; do
    python3 "$CB_SOURCE_DIR/tests/integration/lib/hostile_layout.py" "$T/hostile-$kind" "$kind"
    build_fails "hostile base layer ($kind)" "Bad:(1|2)(:[0-9]+)?: .*(escaped|passwd|link)" \
        "FROM oci:$T/hostile-$kind:latest\nCOPY file.txt /\n"
done
[ -e "$T/escaped" ] || [ -e "$CBUILD_ROOT/escaped" ] || [ -e "$CBUILD_ROOT/tmp/escaped" ] \
    && bad "a hostile base layer wrote outside its root" || ok

# Missing and directory Containerfiles.
cb_fails "no Containerfile" "no Containerfile" -t x:1 "$T/outside"
cb_fails "context is not a directory" "not a directory" -t x:1 "$ctx/file.txt"
finish
