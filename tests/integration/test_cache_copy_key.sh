#!/bin/bash
# The COPY step's cache key follows every change that changes its layer, and
# nothing else: for each change below, the build after it misses and its
# layer shows the change (judged by python's tarfile), and the build after it
# is undone hits the first record again, with the first layer:
#   a file's mode, a directory's mode, a symlink's target, an xattr (user.*:
#   set, then another value), two equal files becoming one file with two
#   names (a hardlink), an empty directory more, a rename;
# a change of the host owner, which a COPY without --chown does not keep,
# is a hit (as root);
# and a fully cached rebuild maps no libarchive (LD_DEBUG=libs): the key is
# made without writing a tar.
. "$(dirname "$0")/lib/common.sh"
need python3 jq
base=$T/busybox
busybox_base "$base"
ctx=$T/ctx
src=$ctx/src
mkdir -p "$src/sub"
printf 'alpha\n' >"$src/a.txt"
printf 'bravo\n' >"$src/sub/b.txt"
printf 'same\n' >"$src/h1"
printf 'same\n' >"$src/h2"
ln -s a.txt "$src/link"
chmod 0644 "$src/a.txt" "$src/sub/b.txt" "$src/h1" "$src/h2"
chmod 0755 "$src/sub"
printf '%s\n' "FROM oci:$base:latest" 'COPY src /src' >"$ctx/Containerfile"

# hit: "hit" when the COPY step was reused, else "miss".
hit() { if grep -q -- '--> Using cache' "$T/err"; then echo hit; else echo miss; fi; }
# copy_layer REF: the COPY layer's entries, "PATH TYPE MODE UID GID LINK".
copy_layer() { layers "$1" | awk -v n="$nbase" '$1 == n { $1 = ""; sub(/^ /, ""); print }'; }
nbase=$(jq '.layers | length' "$base/blobs/sha256/$(jq -r '.manifests[0].digest' "$base/index.json" | cut -d: -f2)")

cb_ok "first build" -t k:0 "$ctx"
eq "first build: the COPY runs" "$(hit)" miss
copy_layer k:0 >"$T/layer.0"
cb_ok "rebuild" -t k:0 "$ctx"
eq "rebuild: the COPY hits" "$(hit)" hit
id0=$(cat "$T/out")

# case NAME CHANGE UNDO ERE: CHANGE (shell code) makes the COPY miss and its
# layer match ERE (a line of copy_layer); UNDO brings back the first record.
n=0
case_() {
    local name=$1 change=$2 undo=$3 want=$4
    n=$((n + 1))
    eval "$change"
    cb_ok "$name: build" -t "k:$n" "$ctx"
    eq "$name: the COPY misses" "$(hit)" miss
    copy_layer "k:$n" >"$T/layer.$n"
    if grep -qE -- "$want" "$T/layer.$n"; then ok; else bad "$name: no layer entry matches /$want/: $(cat "$T/layer.$n")"; fi
    eval "$undo"
    cb_ok "$name undone: build" -t "k:$n-undone" "$ctx"
    eq "$name undone: the COPY hits" "$(hit)" hit
    eq "$name undone: the first image" "$(cat "$T/out")" "$id0"
}

case_ "file mode" 'chmod 0600 "$src/a.txt"' 'chmod 0644 "$src/a.txt"' '^src/a\.txt file 0o?600 '
case_ "directory mode" 'chmod 0700 "$src/sub"' 'chmod 0755 "$src/sub"' '^src/sub dir 0o?700 '
case_ "symlink target" 'ln -sfn sub/b.txt "$src/link"' 'ln -sfn a.txt "$src/link"' '^src/link symlink .* sub/b\.txt$'
case_ "empty directory" 'mkdir "$src/empty"' 'rmdir "$src/empty"' '^src/empty dir '
case_ "rename" 'mv "$src/a.txt" "$src/a2.txt"' 'mv "$src/a2.txt" "$src/a.txt"' '^src/a2\.txt file '
case_ "hardlink" 'ln -f "$src/h1" "$src/h2"' 'rm "$src/h2"; printf "same\n" >"$src/h2"; chmod 0644 "$src/h2"' \
    '^src/h2 hardlink .* src/h1$'
# Without --chown a COPY gives its files to 0:0, so the host owner is not
# in the layer: a chown changes nothing (as root, who may chown).
if [ "$(id -u)" -eq 0 ]; then
    chown 1234:2345 "$src/sub/b.txt"
    cb_ok "host owner changed" -t k:own "$ctx"
    eq "host owner changed: the COPY hits (the layer says 0:0 either way)" "$(hit)" hit
    eq "host owner changed: the first image" "$(cat "$T/out")" "$id0"
    chown 0:0 "$src/sub/b.txt"
else
    echo "host owner case left out: not root (chown)"
fi
setx() { python3 -c 'import os, sys; os.setxattr(sys.argv[1], "user.cbuild", sys.argv[2].encode())' "$@"; }
if setx "$src/a.txt" probe 2>/dev/null; then
    python3 -c 'import os, sys; os.removexattr(sys.argv[1], "user.cbuild")' "$src/a.txt"
    rmx='python3 -c "import os, sys; os.removexattr(sys.argv[1], \"user.cbuild\")" "$src/a.txt"'
    case_ "xattr" 'setx "$src/a.txt" one' "$rmx" '^src/a\.txt file '
    setx "$src/a.txt" one
    cb_ok "xattr one again" -t k:x1 "$ctx"
    eq "xattr set again: the xattr build's record hits" "$(hit)" hit
    setx "$src/a.txt" two
    cb_ok "xattr two" -t k:x2 "$ctx"
    eq "another xattr value: the COPY misses" "$(hit)" miss
    eval "$rmx"
else
    echo "xattr case left out: the file system keeps no user xattrs"
fi

# Cached: the key needs no tar, so libarchive is not even loaded.
LD_DEBUG=libs "$CBUILD" -q -t k:0 "$ctx" >"$T/out" 2>"$T/ld" || bad "LD_DEBUG rebuild failed: $(tail -3 "$T/ld")"
eq "LD_DEBUG rebuild: the first image" "$(cat "$T/out")" "$id0"
eq "a cached rebuild maps no libarchive" "$(grep -c 'libarchive' "$T/ld" || true)" 0
finish
