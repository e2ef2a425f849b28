#!/bin/bash
# ENOSPC: the root on a small tmpfs (6 MiB; root only: skipped when not
# root or when the kernel refuses the mount) that fills up during
#   1. a COPY of a 10 MB file (the layer blob being written),
#   2. a RUN's layer commit (the step writes 3 MB, the layer does not fit),
#   3. a pull of an image with a 10 MB layer from the loopback registry.
# Each fails with exit 1 and an error that names the file being written,
# "No space left on device" and the hint that the file system is full; the
# store fscks clean (no half-written blob under a digest, no tag), ROOT/tmp
# is empty and no blob is bigger than what was there before. After the
# tmpfs is made bigger (mount -o remount,size=64m) the same command succeeds
# and the result is right (umoci unpacks it; the pulled digest is the
# registry's).
source "$CB_SOURCE_DIR/tests/integration/lib/common.sh"
[ "$(id -u)" -eq 0 ] || { echo "SKIP: mounting a tmpfs needs root"; exit 77; }
mkdir -p "$T/small"
mount -t tmpfs -o size=6m,mode=0700 cbuild-enospc "$T/small" 2>"$T/mount.err" ||
    { echo "SKIP: mount -t tmpfs refused: $(cat "$T/mount.err")"; exit 77; }
umount "$T/small"
source "$CB_SOURCE_DIR/tests/integration/lib/registry.sh"
need umoci skopeo jq
trap 'umount -l "$T/small" 2>/dev/null; _reg_cleanup; chmod -R u+w "$T" 2>/dev/null; rm -rf "$T"' EXIT
busybox_base "$T/bb"
export SOURCE_DATE_EPOCH=1700000000
small=$T/small/root
# small_fs: a fresh 6 MiB tmpfs at $T/small.
small_fs() {
    umount "$T/small" 2>/dev/null
    mount -t tmpfs -o size=6m,mode=0700 cbuild-enospc "$T/small"
}
grow_fs() { mount -o remount,size=64m "$T/small"; }
biggest_blob() { stat -c %s "$small"/store/blobs/sha256/* 2>/dev/null | sort -n | tail -1; }
# after_enospc WHAT BIGGEST-BEFORE: the failed command's error and what it left.
after_enospc() {
    local what=$1 before=$2
    eq "$what: exit" "$rc" 1
    grep -q 'No space left on device' "$T/err" && ok || bad "$what: no ENOSPC in the error: $(cat "$T/err")"
    grep -q "^cbuild: the file system named above is full" "$T/err" && ok || bad "$what: no hint: $(cat "$T/err")"
    grep -qF "$small/" "$T/err" && ok || bad "$what: the error names no file under the root: $(cat "$T/err")"
    check "$what: fsck after ENOSPC" "$CBUILD" fsck --root "$small"
    [ -z "$(ls -A "$small/tmp")" ] && ok || bad "$what: left in ROOT/tmp: $(ls -A "$small/tmp")"
    eq "$what: no blob bigger than before" "$(biggest_blob)" "$before"
}

mkdir -p "$T/ctx"
python3 -c 'import random,sys; sys.stdout.buffer.write(random.Random(3).randbytes(10000000))' >"$T/ctx/big"
printf 'FROM oci:%s:latest\nCOPY big /big\n' "$T/bb" >"$T/ctx/Containerfile.copy"
printf 'FROM oci:%s:latest\nRUN head -c 3000000 /dev/urandom > /x && sha256sum /x > /x.sum\n' "$T/bb" >"$T/ctx/Containerfile.run"

# 1. COPY: the layer blob does not fit.
small_fs
cb_ok "base in the small root" build --root "$small" -q -t base:1 -f /dev/stdin "$T/ctx" <<<"FROM oci:$T/bb:latest"
before=$(biggest_blob)
cb build --root "$small" -q -t copy:1 -f "$T/ctx/Containerfile.copy" "$T/ctx"
after_enospc "COPY" "$before"
grep -q 'Containerfile.copy:2' "$T/err" && ok || bad "COPY: the error names no line: $(cat "$T/err")"
jq -e '.manifests[] | select(.annotations["org.opencontainers.image.ref.name"] == "copy:1")' \
    "$small/store/index.json" >/dev/null && bad "COPY: tagged after ENOSPC" || ok
grow_fs
cb_ok "COPY after the file system grew" build --root "$small" -q -t copy:1 -f "$T/ctx/Containerfile.copy" "$T/ctx"
check "COPY: fsck after the good build" "$CBUILD" fsck --root "$small"
CBUILD_ROOT=$small unpack copy:1 "$T/bundle" && { cmp -s "$T/bundle/rootfs/big" "$T/ctx/big" && ok || bad "COPY: /big differs"; }

# 2. RUN: the step's 3 MB fit in its upper dir, its layer blob does not fit beside them.
small_fs
cb_ok "base in the small root (RUN)" build --root "$small" -q -t base:1 -f /dev/stdin "$T/ctx" <<<"FROM oci:$T/bb:latest"
before=$(biggest_blob)
cb build --root "$small" -q -t run:1 -f "$T/ctx/Containerfile.run" "$T/ctx"
after_enospc "RUN commit" "$before"
grep -q 'Containerfile.run:2.*making the layer' "$T/err" && ok || bad "RUN: not the layer commit that failed: $(cat "$T/err")"
grow_fs
cb_ok "RUN after the file system grew" build --root "$small" -q -t run:1 -f "$T/ctx/Containerfile.run" "$T/ctx"
check "RUN: fsck after the good build" "$CBUILD" fsck --root "$small"
CBUILD_ROOT=$small unpack run:1 "$T/bundle" && { (cd "$T/bundle/rootfs" && sed 's|  /|  |' x.sum | sha256sum --quiet -c) && ok || bad "RUN: /x is not what the step wrote"; }

# 3. pull: a 10 MB layer from the registry.
registry_plain || exit 1
cb_ok "build to push (roomy root)" build -q -t copy:1 -f "$T/ctx/Containerfile.copy" "$T/ctx"
cb_ok "push" push -q copy:1 "docker://$REG_PLAIN/big/copy:1"
want=$(cat "$T/out")
small_fs
mkdir -p "$small"
cb pull --root "$small" -q "$REG_PLAIN/big/copy:1"
[ -d "$small/store/blobs/sha256" ] && before=$(biggest_blob) || before=
after_enospc "pull" "$before"
grep -qF "$REG_PLAIN/big/copy" "$T/err" && ok || bad "pull: the error names no repository: $(cat "$T/err")"
[ "$(jq '.manifests | length' "$small/store/index.json")" = 0 ] && ok || bad "pull: tagged after ENOSPC"
grow_fs
cb_ok "pull after the file system grew" pull --root "$small" -q "$REG_PLAIN/big/copy:1"
eq "pull: digest" "$(cat "$T/out")" "$want"
check "pull: fsck after the good pull" "$CBUILD" fsck --root "$small"
finish
