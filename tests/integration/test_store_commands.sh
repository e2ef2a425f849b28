#!/bin/bash
# cbuild images / inspect / tag / rmi, and two builds tagging one store at
# the same time (the index lock: both tags survive).
. "$(dirname "$0")/lib/common.sh"
need skopeo jq
ctx=$CB_SOURCE_DIR/examples/hello

cb_ok "build" -q -t hello:1 "$ctx"
id=$(cat "$T/out")
cb_ok "images" images
grep -qE "^hello +1 +${id:0:12} " "$T/out" && ok || bad "images table: $(cat "$T/out")"
cb_ok "images --format json" images --format json
eq "json id" "$(jq -r '.[] | select(.name == "hello:1") | .id' "$T/out")" "sha256:$id"

cb_ok "tag" tag hello:1 hello:2 localhost/other:x
check "skopeo sees the new tag" skopeo inspect "oci:$CBUILD_ROOT/store:hello:2"
cb_ok "inspect by name" inspect hello:2
eq "inspect Id" "$(jq -r '.[0].Id' "$T/out")" "$id"
eq "inspect config" "$(jq -c '.[0].Config.config.Cmd' "$T/out")" '["/srv/greeting.txt"]'
eq "inspect manifest" "$(jq -r '.[0].Manifest.config.digest' "$T/out")" "sha256:$id"
cb_ok "inspect by id prefix" inspect "${id:0:12}"
cb_fails "inspect of a missing image" "nosuch" inspect nosuch:1

cb_ok "rmi a name" rmi hello:2
cb "inspect" hello:2
cb_fails "the name is gone" "hello:2" inspect hello:2
cb_ok "other names stay" inspect hello:1
cb_ok "rmi by id removes every name" rmi "${id:0:12}"
cb_fails "hello:1 gone" "hello:1" inspect hello:1
cb_fails "other:x gone" "other" inspect localhost/other:x
cb_fails "rmi of a missing image" "nosuch" rmi nosuch:1
cb_fails "unknown option" "did you mean --format" images --fromat json

# Concurrent builds on one root: every tag survives.
pids=()
for i in 1 2 3 4; do
    "$CBUILD" -q -t "par:$i" --build-arg "GREETING=hi$i" "$ctx" >"$T/par$i.out" 2>&1 &
    pids+=($!)
done
for p in "${pids[@]}"; do wait "$p" || bad "a concurrent build failed"; done
for i in 1 2 3 4; do
    cb "inspect" "par:$i"
    [ "$rc" -eq 0 ] && ok || bad "tag par:$i lost: $(cat "$T/par$i.out")"
done
eq "four distinct images" "$(for i in 1 2 3 4; do cat "$T/par$i.out"; done | sort -u | wc -l)" 4
finish
