#!/bin/bash
# The base image's layers are unpacked once into ROOT/layers/<key>/rootfs
# and each build's stage tree is a hardlink clone of it (builder/rootfs.c).
# Whatever the steps do to their stage tree (RUN writing into, chmod-ing and
# deleting base files through overlay and through the copy fallback, COPY
# replacing a base file), the kept tree does not change, and the next build
# sees the base as it was. prune removes a tree no build used for an hour.
. "$(dirname "$0")/lib/common.sh"
need umoci python3
base=$T/busybox
busybox_base "$base"
ctx=$T/ctx
mkdir -p "$ctx"
echo replaced >"$ctx/passwd"
cat >"$ctx/Containerfile" <<EOF
FROM oci:$base:latest
RUN echo appended >> /bin/busybox.txt 2>/dev/null; echo x >> /etc/group && chmod 600 /etc/group && rm /bin/ls
COPY passwd /etc/passwd
RUN cat /etc/passwd > /seen.passwd; ls /bin/ls 2>&1 > /seen.ls; true
EOF
listing() { # the kept trees: path, type, mode, size, owner, content digest
    (cd "$CBUILD_ROOT/layers" && find . -path '*/rootfs/*' -printf '%p %y %m %s %U:%G %n\n' | sort |
        awk '{ $6 = ($2 == "f") ? "" : $6; print }') >"$1"
    (cd "$CBUILD_ROOT/layers" && find . -path '*/rootfs/*' -type f -exec sha256sum {} + | sort) >>"$1"
}
cb_ok "first build (overlay)" --no-cache -t tree:1 "$ctx"
eq "one kept tree" "$(ls "$CBUILD_ROOT/layers" | wc -l)" 1
key=$(ls "$CBUILD_ROOT/layers")
[ -x "$CBUILD_ROOT/layers/$key/rootfs/bin/busybox" ] && ok || bad "the kept tree has no /bin/busybox"
listing "$T/tree.1"
grep -q '/rootfs/bin/ls ' "$T/tree.1" && ok || bad "the kept tree lost /bin/ls: $(head -3 "$T/tree.1")"
# Link counts aside (each build's clone adds and removes links), nothing moved.
strip_links() { awk '{ if (NF == 6) $6 = ""; print }' "$1"; }

cb_ok "second build (copy fallback)" --no-cache -t tree:2 "$ctx"
CBUILD_RUN_ROOTFS=copy cb_ok "third build (copy)" --no-cache -t tree:3 "$ctx"
listing "$T/tree.3"
diff <(strip_links "$T/tree.1") <(strip_links "$T/tree.3") >"$T/tree.diff" && ok ||
    bad "the kept tree changed under the builds: $(head -10 "$T/tree.diff")"
eq "still one kept tree" "$(ls "$CBUILD_ROOT/layers" | wc -l)" 1

for n in 1 3; do
    unpack "tree:$n" "$T/u$n" && {
        r=$T/u$n/rootfs
        eq "build $n: COPY replaced /etc/passwd" "$(cat "$r/etc/passwd")" replaced
        eq "build $n: the step saw the COPY" "$(cat "$r/seen.passwd")" replaced
        [ ! -e "$r/bin/ls" ] && ok || bad "build $n: /bin/ls is still in the image"
        eq "build $n: /etc/group's mode" "$(stat -c %a "$r/etc/group")" 600
        eq "build $n: /etc/group's last line" "$(tail -1 "$r/etc/group")" x
    }
done
# The image of a FROM-only build of the same base still has what the steps removed.
printf 'FROM oci:%s:latest\nRUN ls /bin/ls > /seen\n' "$base" >"$T/Containerfile.plain"
cb_ok "a plain build of the base" --no-cache -t tree:plain -f "$T/Containerfile.plain" "$ctx"
unpack tree:plain "$T/up" && eq "the base's /bin/ls is back" "$(cat "$T/up/rootfs/seen")" /bin/ls

# prune: a tree used in the last hour stays; one unused for two hours goes.
cb_ok "prune keeps a tree in use" prune
eq "tree kept" "$(ls "$CBUILD_ROOT/layers" | wc -l)" 1
touch -d '2 hours ago' "$CBUILD_ROOT/layers/$key"
cb_ok "prune removes an idle tree" prune
eq "tree removed" "$(ls "$CBUILD_ROOT/layers" | wc -l)" 0
cb_ok "a build after prune unpacks it again" --no-cache -t tree:4 "$ctx"
eq "the tree is back" "$(ls "$CBUILD_ROOT/layers")" "$key"

# A stage tree keeps the base's layers and those reused from the cache
# before any this build made (the next build is likely to start from the
# same ones), not a layer this build made: a stage FROM a stage that COPYs
# an edited file applies that COPY into the build's own tree instead of
# keeping (and flushing to disk) a new tree per edit.
printf 'FROM oci:%s:latest AS one\nRUN echo one > /one\nCOPY edit.txt /edit.txt\nFROM one\nRUN cat /one /edit.txt > /seen.edit\n' \
    "$base" >"$T/Containerfile.edit"
for n in 1 2 3 4; do
    echo "edit $n" >"$ctx/edit.txt"
    cb_ok "edited context, build $n" -t tree:edit$n -f "$T/Containerfile.edit" "$ctx"
done
eq "kept trees: the base's, the base's with the reused RUN" "$(ls "$CBUILD_ROOT/layers" | wc -l)" 2
unpack tree:edit4 "$T/ue" && eq "the last build saw its COPY" "$(cat "$T/ue/rootfs/seen.edit")" "one
edit 4"
finish
