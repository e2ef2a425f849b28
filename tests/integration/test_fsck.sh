#!/bin/bash
# cbuild fsck: a clean root passes (exit 0, a summary); each kind of damage
# is named by its path on a line of its own with exit 1: a blob whose bytes
# changed (same size), a referenced blob deleted (a config, a layer), a
# truncated cache record, a record whose layer is gone, a damaged index.json,
# a descriptor with the wrong size. --quiet prints the problems alone;
# --repair removes damaged blobs and records (never an image), after which a
# build makes them again and fsck is clean; umoci reads the result. fsck
# never creates a root.
. "$(dirname "$0")/lib/common.sh"
need umoci jq sha256sum
base=$T/busybox
busybox_base "$base"
ctx=$T/ctx
mkdir -p "$ctx"
echo hello >"$ctx/a"
printf 'FROM oci:%s:latest\nCOPY a /a\nRUN echo hi > /hi\n' "$base" >"$ctx/Containerfile"
blobs=$CBUILD_ROOT/store/blobs/sha256

cb_ok "build" -q -t app:1 "$ctx"
cb_ok "fsck of a clean root" fsck
grep -qE '^Checked [0-9]+ blobs .*, 1 image, 2 cache records: no problems\.$' "$T/out" && ok || bad "summary: $(cat "$T/out")"
cb_ok "fsck --quiet of a clean root" fsck --quiet
eq "--quiet prints nothing when clean" "$(cat "$T/out")" ""

# The image's documents and layers, by digest.
man=$(jq -r '.manifests[0].digest' "$CBUILD_ROOT/store/index.json")
cfg=$(jq -r '.config.digest' "$blobs/${man#sha256:}")
copy_layer=$(jq -r '.layers[-2].digest' "$blobs/${man#sha256:}")
run_layer=$(jq -r '.layers[-1].digest' "$blobs/${man#sha256:}")
nlayers=$(jq '.layers | length' "$blobs/${man#sha256:}")
copy_rec=$(grep -l "${copy_layer#sha256:}" "$CBUILD_ROOT"/cache/*.json)
run_rec=$(grep -l "${run_layer#sha256:}" "$CBUILD_ROOT"/cache/*.json)
[ -n "$copy_rec" ] && [ -n "$run_rec" ] && ok || bad "no records for the COPY and RUN layers"
save() { cp -a "$CBUILD_ROOT" "$T/saved"; }
restore() { rm -rf "$CBUILD_ROOT" && cp -a "$T/saved" "$CBUILD_ROOT"; }
save

# One byte of the COPY layer changed, its size kept.
p=$blobs/${copy_layer#sha256:}
printf 'X' | dd of="$p" bs=1 seek=40 conv=notrunc 2>/dev/null
cb fsck
eq "damaged blob: exit" "$rc" 1
grep -qE "^$p: .*corrupt" "$T/out" && ok || bad "damaged blob not named: $(cat "$T/out")"
grep -qE "^$p: layer $((nlayers - 1)) of image app:1 is damaged" "$T/out" && ok || bad "the image using it not named: $(cat "$T/out")"
grep -qF "$copy_rec: its layer blob $copy_layer is damaged" "$T/out" && ok || bad "the record using it not named: $(cat "$T/out")"
grep -q 'problems\.$' "$T/out" && ok || bad "no summary: $(cat "$T/out")"
cb fsck -q
eq "damaged blob: exit with -q" "$rc" 1
eq "-q: the problems alone" "$(grep -c . "$T/out")" 3
grep -q '^Checked' "$T/out" && bad "-q printed the summary" || ok

# --repair: the blob and its record go, the image stays (and stays a problem).
cb fsck --repair
eq "repair: exit (the image lost a layer)" "$rc" 1
[ ! -e "$p" ] && ok || bad "repair left the damaged blob"
[ ! -e "$copy_rec" ] && ok || bad "repair left the record of the damaged blob"
[ -e "$run_rec" ] && ok || bad "repair removed a good record"
grep -qE "^$p: .*corrupt.* \(removed\)$" "$T/out" && ok || bad "repair does not say what it removed: $(cat "$T/out")"
grep -q ', 2 repaired\.$' "$T/out" && ok || bad "repair summary: $(cat "$T/out")"
eq "repair kept the tag" "$(jq -r '.manifests[0].annotations["org.opencontainers.image.ref.name"]' "$CBUILD_ROOT/store/index.json")" app:1
cb fsck
eq "after repair: exit" "$rc" 1
grep -qE "^$p: missing: layer $((nlayers - 1)) of image app:1$" "$T/out" && ok || bad "after repair: $(cat "$T/out")"
cb_ok "build after repair" -q -t app:1 "$ctx"
cb_ok "fsck after the rebuild" fsck
unpack app:1 "$T/bundle" && [ "$(cat "$T/bundle/rootfs/a")" = hello ] && [ "$(cat "$T/bundle/rootfs/hi")" = hi ] && ok ||
    bad "umoci: the rebuilt image"

# A deleted config: named, with the image; repair cannot fix it.
restore
rm "$blobs/${cfg#sha256:}"
cb fsck --repair
eq "missing config: exit" "$rc" 1
grep -qx "$blobs/${cfg#sha256:}: missing: the config of image app:1" "$T/out" && ok || bad "missing config: $(cat "$T/out")"

# A truncated record: named, removed by --repair, the next build a miss that rewrites it.
restore
truncate -s 20 "$run_rec"
cb fsck
eq "truncated record: exit" "$rc" 1
grep -qE "^$run_rec: damaged: " "$T/out" && ok || bad "truncated record not named: $(cat "$T/out")"
eq "truncated record: one problem" "$(grep -c '^/' "$T/out")" 1
cb fsck --repair
eq "truncated record: repaired" "$rc" 0
[ ! -e "$run_rec" ] && ok || bad "the truncated record is still there"
cb_ok "fsck after the record's repair" fsck
cb_ok "build after the record's repair" -q -t app:1 "$ctx"
[ -s "$run_rec" ] && ok || bad "the build did not write the record again"
cb_ok "fsck after that build" fsck

# A record whose layer blob is gone (the image untagged first, so only the record names it).
restore
cb_ok "rmi" rmi app:1
rm "$blobs/${run_layer#sha256:}"
cb fsck
eq "record without its blob: exit" "$rc" 1
grep -qx "$run_rec: its layer blob $run_layer is missing" "$T/out" && ok || bad "record without its blob: $(cat "$T/out")"

# A damaged index.json, and a descriptor whose size is wrong.
restore
printf '{"schemaVersion":2,"manifests":[' >"$CBUILD_ROOT/store/index.json"
cb fsck
eq "damaged index.json: exit" "$rc" 1
grep -qF "$CBUILD_ROOT/store/index.json: " "$T/out" && ok || bad "index.json not named: $(cat "$T/out")"
restore
jq -c '.manifests[0].size += 1' "$T/saved/store/index.json" >"$CBUILD_ROOT/store/index.json"
cb fsck
eq "wrong size: exit" "$rc" 1
grep -qE "^$blobs/${man#sha256:}: [0-9]+ bytes, but image app:1 says [0-9]+$" "$T/out" && ok || bad "wrong size: $(cat "$T/out")"

# A file in blobs/ that is no blob; a stray temp file is no problem.
restore
echo junk >"$blobs/not-a-digest"
: >"$CBUILD_ROOT/tmp/blob-123456"
cb fsck
eq "stray file: exit" "$rc" 1
grep -qx "$blobs/not-a-digest: not a blob: the name is not a sha256 digest" "$T/out" && ok || bad "stray file: $(cat "$T/out")"
grep -q '^1 temporary leftover' "$T/out" && ok || bad "leftover not counted: $(cat "$T/out")"

# fsck looks, it never creates: a missing root is an error and stays missing.
cb_fails "fsck of no root" 'is not a cbuild root' fsck --root "$T/none"
eq "fsck of no root: exit" "$rc" 2
[ ! -e "$T/none" ] && ok || bad "fsck created the root"
cb_fails "fsck: bad option" 'did you mean --repair' fsck --repar
finish
