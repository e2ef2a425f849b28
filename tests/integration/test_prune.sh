#!/bin/bash
# cbuild prune on real builds (the busybox fixture), judged by skopeo and
# umoci: tagged images stay readable, records stay unless asked (--all,
# --keep-storage, --filter until=), rmi then prune reclaims an image's
# blobs, a build running during a prune --all still makes a whole image.
. "$(dirname "$0")/lib/common.sh"
need skopeo umoci jq
base=$T/busybox
busybox_base "$base"
ctx=$T/ctx
mkdir -p "$ctx"
echo one >"$ctx/a.txt"
printf '%s\n' "FROM oci:$base:latest" 'RUN echo built > /built' 'COPY a.txt /a.txt' >"$ctx/Containerfile"
printf '%s\n' "FROM oci:$base:latest" 'RUN echo other > /other' >"$ctx/Containerfile.other"

blobdir=$CBUILD_ROOT/store/blobs/sha256
nblobs() { find "$blobdir" -type f | wc -l; }
nrecords() { find "$CBUILD_ROOT/cache" -maxdepth 1 -regextype egrep -regex '.*/[0-9a-f]{64}\.json' | wc -l; }
hits() { grep -c -- '--> Using cache' "$T/err"; }
# Blobs written in the last 10 minutes are kept (a build may be about to
# reference them); the test makes them old instead of waiting.
age_blobs() { find "$blobdir" -type f -exec touch -m -d '-2 hours' {} +; }
# prune_ok DESCRIPTION RECORDS ARGS...: prune succeeds, says it deleted
# RECORDS records, and the blobs it says it deleted are gone from the store.
prune_ok() {
    local what=$1 want=$2 before
    shift 2
    before=$(nblobs)
    cb_ok "$what" prune "$@"
    local line
    line=$(grep '^Deleted ' "$T/out")
    if [[ $line =~ ^Deleted\ ([0-9]+)\ cache\ records?,\ ([0-9]+)\ blobs?,.*\ [kMG]?B\ reclaimed$ ]]; then
        eq "$what: records deleted" "${BASH_REMATCH[1]}" "$want"
        eq "$what: blobs deleted" "${BASH_REMATCH[2]}" "$((before - $(nblobs)))"
    else
        bad "$what: summary line: $(cat "$T/out")"
    fi
}
# readable NAME: skopeo inspects the image, umoci unpacks it whole.
readable() {
    check "$1: skopeo inspect" skopeo inspect "oci:$CBUILD_ROOT/store:$1"
    unpack "$1" "$T/bundle" && [ -f "$T/bundle/rootfs/bin/busybox" ] && ok || bad "$1: unpacked without busybox"
}

cb_ok "build app" -t app:1 "$ctx"
cb_ok "build other" -t other:1 -f "$ctx/Containerfile.other" "$ctx"
eq "three records" "$(nrecords)" 3

# Everything is fresh: nothing goes.
prune_ok "prune right after the builds" 0
grep -q 'written in the last 10 minutes' "$T/out" && ok || bad "kept fresh blobs unsaid: $(cat "$T/out")"
grep -q '^Deleted 0 cache records, 0 blobs, 0 B reclaimed$' "$T/out" && ok || bad "fresh: $(cat "$T/out")"

# Old: what no image and no record references goes (the base image's own
# manifest and config, which only the import used); records stay.
age_blobs
prune_ok "plain prune" 0
eq "records kept" "$(nrecords)" 3
readable app:1
eq "app content" "$(cat "$T/bundle/rootfs/built" "$T/bundle/rootfs/a.txt")" "built
one"
readable other:1
cb_ok "rebuild after a plain prune" -t app:1 "$ctx"
eq "the rebuild hits both steps" "$(hits)" 2

# A damaged record goes, and only it: the rebuild misses that step alone.
rec=$(grep -l '"createdBy":"COPY a.txt /a.txt"' "$CBUILD_ROOT"/cache/*.json)
[ -f "$rec" ] && ok || bad "no record of the COPY step"
echo '{"version":1' >"$rec"
prune_ok "prune of a damaged record" 1
[ -e "$rec" ] && bad "damaged record $rec kept" || ok
eq "the others stay" "$(nrecords)" 2
cb_ok "rebuild after the damaged record" -t app:1 "$ctx"
eq "the rebuild hits the RUN step only" "$(hits)" 1

# rmi, then prune: the untagged image's manifest and config go; its layers
# stay while the base layers are app's and the RUN layer a record's.
cb_ok "inspect other" inspect other:1
m=$(jq -r '.[0].Digest' "$T/out")
cfg=$(jq -r '.[0].Manifest.config.digest' "$T/out")
run_layer=$(jq -r '.[0].Manifest.layers[-1].digest' "$T/out")
cb_ok "rmi other" rmi other:1
age_blobs
prune_ok "prune after rmi" 0
[ -e "$blobdir/${m#sha256:}" ] && bad "manifest of the removed image kept" || ok
[ -e "$blobdir/${cfg#sha256:}" ] && bad "config of the removed image kept" || ok
if [ -e "$blobdir/${run_layer#sha256:}" ]; then ok; else bad "a layer a record names was removed"; fi
readable app:1

# --keep-storage: 1GB keeps everything; 0 removes every record, and the
# layers only records used; tags keep working.
prune_ok "--keep-storage 1GB" 0 --keep-storage 1GB
grep -q 'The build cache now takes' "$T/out" && ok || bad "--keep-storage: cache size unsaid: $(cat "$T/out")"
nrec=$(nrecords)
prune_ok "--keep-storage 0" "$nrec" --keep-storage 0
eq "no records left" "$(nrecords)" 0
[ -e "$blobdir/${run_layer#sha256:}" ] && bad "--keep-storage 0 kept a layer only a record used" || ok
readable app:1
cb_ok "rebuild after --keep-storage 0" -t app:1 "$ctx"
eq "the rebuild misses" "$(hits)" 0

# --filter until=: only records unused for that long.
prune_ok "--filter until=1h on fresh records" 0 --filter until=1h
find "$CBUILD_ROOT/cache" -maxdepth 1 -name '*.json' -exec touch -m -d '-3 hours' {} +
prune_ok "--filter until=1h on old records" 2 --filter until=1h
cb_ok "rebuild" -t app:1 "$ctx"

# --all: every record; the rebuild misses and still succeeds.
cb_ok "rebuild hits" -t app:1 "$ctx"
eq "hits before --all" "$(hits)" 2
prune_ok "--all" 2 --all
cb_ok "rebuild after --all" -t app:1 "$ctx"
eq "the rebuild after --all misses" "$(hits)" 0
readable app:1

# A build running during prune --all: the record it wrote since it started
# is in use, so the layer it names survives even when old, and the image
# comes out whole.
printf '%s\n' "FROM oci:$base:latest" 'COPY a.txt /slow.txt' 'RUN sleep 4 && echo slow > /slow' \
    >"$ctx/Containerfile.slow"
"$CBUILD" -t slow:1 -f "$ctx/Containerfile.slow" "$ctx" >"$T/slow.out" 2>&1 &
slow=$!
for _ in $(seq 300); do grep -q 'STEP 3/3' "$T/slow.out" && break; sleep 0.1; done
grep -q 'STEP 3/3' "$T/slow.out" && ok || bad "the slow build did not reach its RUN: $(tail -3 "$T/slow.out")"
age_blobs
prune_ok "prune --all during a build" 2 --all
grep -q 'A build may be running' "$T/out" && ok || bad "the running build unsaid: $(cat "$T/out")"
grep -q 'Kept 1 cache record' "$T/out" && ok || bad "the running build's record: $(cat "$T/out")"
wait "$slow" && ok || bad "the build running during prune failed: $(tail -5 "$T/slow.out")"
readable slow:1
eq "slow content" "$(cat "$T/bundle/rootfs/slow.txt" "$T/bundle/rootfs/slow")" "one
slow"
readable app:1

# Leftovers that are fresh stay (they could be a running process's).
touch "$CBUILD_ROOT/tmp/blob-leftover" "$CBUILD_ROOT/cache/statcache.tmp-x"
prune_ok "fresh leftovers" 0
[ -e "$CBUILD_ROOT/tmp/blob-leftover" ] && [ -e "$CBUILD_ROOT/cache/statcache.tmp-x" ] && ok ||
    bad "fresh leftovers removed"

cb_fails "bad size" 'size "5XB"' prune --keep-storage 5XB
eq "bad size: exit 2" "$rc" 2
cb_fails "bad filter" 'the only filter is until' prune --filter label=x
cb_fails "bad duration" 'duration "soon"' prune --filter until=soon
cb_fails "unknown option" 'did you mean --all' prune --al1
finish
