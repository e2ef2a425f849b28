#!/bin/bash
# cbuild images, history and df against what the store holds (skopeo reads
# the same image; prune's own run afterwards agrees with df's figures).
. "$(dirname "$0")/lib/common.sh"
need skopeo jq
ctx=$CB_SOURCE_DIR/examples/hello

cb_ok "build" -q -t hello:1 "$ctx"
id=$(cat "$T/out")

# images: the table's columns, --no-trunc, and JSON with repository and tag.
cb_ok "images" images
head -1 "$T/out" | grep -qE "^REPOSITORY +TAG +IMAGE ID +CREATED +SIZE$" && ok || bad "images header: $(head -1 "$T/out")"
grep -qE "^hello +1 +${id:0:12} +(Less than a second|[0-9]+ seconds?|About a minute) ago +[0-9.]+ (B|kB)$" "$T/out" && ok ||
    bad "images row: $(cat "$T/out")"
cb_ok "images --no-trunc" images --no-trunc
grep -q "sha256:$id" "$T/out" && ok || bad "--no-trunc shows no full id: $(cat "$T/out")"
cb_ok "images json" images --format json
eq "json repository" "$(jq -r '.[0].repository' "$T/out")" "hello"
eq "json tag" "$(jq -r '.[0].tag' "$T/out")" "1"
eq "json size = manifest + config + layers" "$(jq -r '.[0].size' "$T/out")" \
    "$(skopeo inspect --raw "oci:$CBUILD_ROOT/store:hello:1" | jq '[.config.size, (.layers[].size)] | add + 0' |
        awk -v m="$(skopeo inspect --raw "oci:$CBUILD_ROOT/store:hello:1" | wc -c)" '{print $1 + m}')"
cb_fails "images --format bad" "expected table or json" images --format yaml

# history: newest first, one row per config history entry, layer sizes
# from the manifest, the image id on top only.
cfg=$(skopeo inspect --raw --config "oci:$CBUILD_ROOT/store:hello:1")
cb_ok "history --format json" history --format json hello:1
eq "entries" "$(jq length "$T/out")" "$(echo "$cfg" | jq '.history | length')"
eq "newest first" "$(jq -r '.[0].created_by' "$T/out")" "$(echo "$cfg" | jq -r '.history[-1].created_by')"
eq "top id" "$(jq -r '.[0].id' "$T/out")" "sha256:$id"
eq "other ids" "$(jq -r '[.[1:][].id] | unique | .[]' "$T/out")" "null"
eq "sizes of the layers" "$(jq '[.[] | select(.empty_layer | not) | .size] | reverse' -c "$T/out")" \
    "$(skopeo inspect --raw "oci:$CBUILD_ROOT/store:hello:1" | jq -c '[.layers[].size]')"
eq "empty steps have size 0" "$(jq '[.[] | select(.empty_layer) | .size] | add' "$T/out")" 0
cb_ok "history table" history hello:1
head -1 "$T/out" | grep -qE "^IMAGE +CREATED +CREATED BY +SIZE +COMMENT$" && ok || bad "history header: $(head -1 "$T/out")"
sed -n 2p "$T/out" | grep -qE "^${id:0:12} " && ok || bad "history top row: $(sed -n 2p "$T/out")"
eq "rows" "$(($(wc -l <"$T/out") - 1))" "$(echo "$cfg" | jq '.history | length')"
grep -q "<missing>" "$T/out" && ok || bad "older rows are not <missing>"
grep -q 'LABEL org.opencontainers.image.title="hell\.\.\.' "$T/out" && ok || bad "long CREATED BY not shortened: $(cat "$T/out")"
cb_ok "history --no-trunc" history --no-trunc hello:1
grep -q 'org.opencontainers.image.description=' "$T/out" && ok || bad "--no-trunc shortened: $(cat "$T/out")"
grep -q "sha256:$id" "$T/out" && ok || bad "--no-trunc id"
cb_fails "history of a missing image" "nosuch" history nosuch:1
cb_fails "history without an image" "expected one IMAGE" history

# df: counts agree with the store; what it calls reclaimable is what prune
# then reclaims.
cb_ok "df json" df --format json
cp "$T/out" "$T/df1.json"
eq "images" "$(jq .images.total "$T/df1.json")" 1
eq "blobs" "$(jq .blobs.total "$T/df1.json")" "$(ls "$CBUILD_ROOT/store/blobs/sha256" | wc -l)"
eq "blob bytes" "$(jq .blobs.size "$T/df1.json")" "$(cat "$CBUILD_ROOT"/store/blobs/sha256/* | wc -c)"
eq "records" "$(jq .build_cache.total "$T/df1.json")" "$(ls "$CBUILD_ROOT"/cache/*.json | wc -l)"
eq "nothing for a plain prune" "$(jq .reclaimable_prune "$T/df1.json")" 0
cb_ok "df table" df
grep -qE "^Images +1 " "$T/out" && ok || bad "df table: $(cat "$T/out")"
grep -qE "^Build cache +[0-9]+ " "$T/out" && ok || bad "df table: $(cat "$T/out")"
# After rmi the image's blobs are unreferenced: old enough, prune takes them.
cb_ok "rmi" rmi hello:1
find "$CBUILD_ROOT/store/blobs" -type f -exec touch -d '1 hour ago' {} +
cb_ok "df after rmi" df --format json
want=$(jq .reclaimable_prune "$T/out")
want_all=$(jq .reclaimable_prune_all "$T/out")
[ "$want" -gt 0 ] && ok || bad "df: nothing reclaimable after rmi"
[ "$want_all" -ge "$want" ] && ok || bad "df: --all reclaims less than a plain prune"
blobs_before=$(ls "$CBUILD_ROOT/store/blobs/sha256" | wc -l)
eq "df removed nothing" "$(jq .blobs.total "$T/out")" "$blobs_before"
cb_ok "prune" prune
cb_ok "df after prune" df --format json
eq "prune took what df said" "$(($(jq .blobs.size "$T/df1.json") - $(jq .blobs.size "$T/out")))" \
    "$want"
cb_ok "prune --all" prune --all
cb_ok "df after prune --all" df --format json
eq "no records left" "$(jq .build_cache.total "$T/out")" 0
cb_fails "df operand" "unexpected argument" df x
finish
