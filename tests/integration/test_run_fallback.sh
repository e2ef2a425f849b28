#!/bin/bash
# The RUN root's fallbacks, on a kernel that really refuses: with the
# build's root on an overlayfs (which the kernel does not take as an upper
# dir), the first step's overlay mount fails, the step runs again through
# fuse-overlayfs and so do the later ones; with fuse-overlayfs not in PATH
# either, through a copy. Each says so (a warning and "rootfs: ..." lines).
# With --timestamp 0 (every time the same), the fuse-overlayfs image is the
# kernel overlay's byte for byte; the copy's unpacks (umoci) to the same
# tree. The fuse-overlayfs here writes its whiteouts as ".wh." files (its
# upper is on overlayfs, which refuses 0/0 device nodes), where
# test_run_fuse.sh's writes 0/0 devices: both forms are checked against the
# kernel's layer. A fuse-overlayfs that cannot mount leads to the copy.
# Needs root (to mount the overlay the build's root lives on).
. "$(dirname "$0")/lib/common.sh"
need umoci jq python3 fuse-overlayfs
if [ "$(id -u)" -ne 0 ]; then
    echo "SKIP: not root: cannot mount the overlayfs that makes the kernel refuse (the fallbacks are checked as root)"
    echo "1 passed, 0 failed"
    exit 0
fi
if ! { exec 3<>/dev/fuse; } 2>/dev/null; then
    echo "FAIL: /dev/fuse cannot be opened by root"
    exit 1
fi
exec 3>&-
base=$T/busybox
busybox_base "$base"
ctx=$T/ctx
mkdir -p "$ctx" "$T/ovl/l" "$T/ovl/u" "$T/ovl/w" "$T/ovl/m" "$T/nobin"
mount -t overlay overlay -o "lowerdir=$T/ovl/l,upperdir=$T/ovl/u,workdir=$T/ovl/w" "$T/ovl/m" ||
    { echo "FAIL: cannot mount an overlay for the test"; exit 1; }
trap 'umount -l "$T/ovl/m" 2>/dev/null; chmod -R u+w "$T" 2>/dev/null; rm -rf "$T"' EXIT

cat >"$ctx/Containerfile" <<EOF
FROM oci:$base:latest
RUN mkdir -p /data/gone/sub /data/opq /data/mv/a && echo a > /data/a && echo del > /data/del && echo m > /data/mod \\
 && echo o > /data/opq/old && echo g > /data/gone/sub/g && echo c > /data/mv/a/c
RUN echo changed >> /data/mod && chmod 0600 /data/a && chown 1000:1000 /data/a \\
 && echo n > /data/nobody && chown 65534:65534 /data/nobody && ln /data/a /data/a.hard && ln -s a /data/a.sym \\
 && rm /data/del && rm -rf /data/gone && rm /usr/bin/yes && rm -rf /data/opq && mkdir /data/opq && echo new > /data/opq/new \\
 && cp /bin/busybox /data/suid && chmod 4755 /data/suid && mkfifo /data/fifo && mv /data/mv/a /data/mv/b
USER 1000
RUN echo u > /tmp/u
EOF
# build LABEL ROOT PATH: --timestamp 0, everything in $T/LABEL.err.
build() {
    CBUILD_ROOT=$2 PATH=$3 cb_ok "$1 build" --timestamp 0 -t fb:1 "$ctx"
    cp "$T/err" "$T/$1.err"
    jq -r '.manifests[0].digest' "$2/store/index.json" 2>/dev/null
}
# tree ROOT: the image as a privileged umoci unpack makes it:
# "PATH TYPE MODE UID GID SIZE [LINK-TARGET] NLINK" (no size for directories).
tree() {
    rm -rf "$T/unpack"
    umoci unpack --image "$1/store:fb:1" "$T/unpack" >/dev/null 2>"$T/umoci.err" || { echo "umoci failed: $(cat "$T/umoci.err")"; return; }
    (cd "$T/unpack/rootfs" && find . -printf '%p %y %m %U %G %s [%l] %n\n' | sort |
        awk '{ if ($2 == "d") { $6 = "-"; $8 = "-" } print }')
}
d_overlay=$(build overlay "$T/root-overlay" "$PATH")
d_fuse=$(build fuse "$T/ovl/m/root-fuse" "$PATH")
d_copy=$(build copy "$T/ovl/m/root-copy" "$T/nobin")
# A fuse-overlayfs that cannot mount: the step goes on to the copy.
printf '#!/bin/sh\necho "fake fuse-overlayfs: no mount today" >&2\nexit 3\n' >"$T/nobin/fuse-overlayfs"
chmod +x "$T/nobin/fuse-overlayfs"
d_fusefail=$(build fusefail "$T/ovl/m/root-fusefail" "$T/nobin")

eq "no fallback on the test's own file system" "$(grep -c 'refused\|cannot be used' "$T/overlay.err")" 0
eq "overlay: rootfs lines" "$(grep '^rootfs: ' "$T/overlay.err" | sort | uniq -c | tr -s ' ')" " 3 rootfs: kernel overlayfs"
grep -q 'warning run: the kernel refused an overlay mount in a user namespace .*; RUN steps use fuse-overlayfs instead' "$T/fuse.err" &&
    ok || bad "no word of the fallback to fuse-overlayfs: $(cat "$T/fuse.err")"
eq "fuse: rootfs lines" "$(grep '^rootfs: ' "$T/fuse.err" | tr '\n' ';')" \
    "rootfs: kernel overlayfs;rootfs: fuse-overlayfs;rootfs: fuse-overlayfs;rootfs: fuse-overlayfs;"
grep -q 'fuse-overlayfs cannot be used either (fuse-overlayfs is not installed' "$T/copy.err" &&
    grep -q 'RUN steps use a copy of the root file system instead' "$T/copy.err" &&
    ok || bad "no word of the fallback to a copy: $(cat "$T/copy.err")"
eq "copy: rootfs lines" "$(grep '^rootfs: ' "$T/copy.err" | tr '\n' ';')" \
    "rootfs: kernel overlayfs;rootfs: copy;rootfs: copy;rootfs: copy;"
eq "fuse-overlayfs gives the kernel overlay's image, byte for byte" "$d_fuse" "$d_overlay"
grep -q 'fuse-overlayfs could not mount the root file system (exit 3): fake fuse-overlayfs: no mount today; RUN steps use a copy of the root file system instead' \
    "$T/fusefail.err" && ok || bad "no word of fuse-overlayfs failing: $(cat "$T/fusefail.err")"
eq "fuse refused: rootfs lines" "$(grep '^rootfs: ' "$T/fusefail.err" | tr '\n' ';')" \
    "rootfs: kernel overlayfs;rootfs: fuse-overlayfs;rootfs: copy;rootfs: copy;rootfs: copy;"
eq "a copy after a refusal of each: the same image as the copy's" "$d_fusefail" "$d_copy"
tree "$T/root-overlay" >"$T/tree.overlay"
for label in fuse copy; do
    root=$T/ovl/m/root-$label
    tree "$root" >"$T/tree.$label"
    diff "$T/tree.overlay" "$T/tree.$label" >"$T/tree.diff" && ok || bad "$label: unpacked tree differs: $(head -20 "$T/tree.diff")"
done
grep -q '^./data/opq/new f 644 0 0 4 \[\] 1$' "$T/tree.copy" && grep -q '^./data/a f 600 1000 1000 2 \[\] 2$' "$T/tree.copy" &&
    grep -q '^./data/a.sym l 777 0 0 1 \[a\] 1$' "$T/tree.copy" &&
    grep -q '^./tmp/u f 644 1000 1000 2 \[\] 1$' "$T/tree.copy" && ! grep -q '^./usr/bin/yes ' "$T/tree.copy" &&
    ok || bad "the unpacked tree is not the step's result: $(grep -E 'data|tmp/u' "$T/tree.copy")"
pgrep -x fuse-overlayfs -a | grep -F "$T" && bad "a fuse-overlayfs of this test is left" || ok
for r in "$T/root-overlay" "$T/ovl/m/root-fuse" "$T/ovl/m/root-copy"; do
    left=$(find "$r/tmp" -mindepth 1 2>/dev/null | head -3)
    [ -z "$left" ] && ok || bad "left in $r/tmp: $left"
done
finish
