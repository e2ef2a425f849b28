#!/bin/bash
# The remote build cache through Debian's distribution registry: a build in root A with
# --cache-to, then the same build in a fresh root B with --cache-from: every step is a
# hit (no RUN executes: their output never shows), and the image digest is identical
# (SOURCE_DATE_EPOCH). The artifact is an OCI index skopeo reads; a changed step in B
# misses only from there on; an unreachable or absent cache is a warning, not a failure;
# stages built in parallel (forked children) export and import their steps too.
source "$CB_SOURCE_DIR/tests/integration/lib/common.sh"
source "$CB_SOURCE_DIR/tests/integration/lib/registry.sh"
need skopeo jq
busybox_base "$T/bb"
export SOURCE_DATE_EPOCH=1700000000
registry_plain || exit 1
cache=$REG_PLAIN/cache/app:main

mkdir -p "$T/ctx"
echo data >"$T/ctx/data.txt"
cat >"$T/ctx/Containerfile" <<EOF2
FROM oci:$T/bb:latest
RUN echo RAN-STEP-ONE && echo one >/one
COPY data.txt /data.txt
ENV MODE=fast
RUN echo RAN-STEP-TWO && cat /data.txt /one >/both
WORKDIR /app
RUN echo RAN-STEP-THREE && echo three >three
EOF2
steps=5 # the RUN, COPY and WORKDIR steps

cb_ok "build A with --cache-to" build --root "$T/A" -t app:a --cache-to "$cache" "$T/ctx"
# ran: the RUN markers the last build printed as output lines (not the STEP echo).
ran() { cat "$T/out" "$T/err" | sed -E -n 's/^(\[[^]]*\] )?RAN-STEP-([A-Z]*)$/\2/p' | paste -sd' ' -; }
eq "A ran its steps" "$(ran)" "ONE TWO THREE"
grep -q "Exported $steps cache records" "$T/err" && ok || bad "export: $(grep -i export "$T/err")"
want=$(skopeo inspect --format '{{.Digest}}' "oci:$T/A/store:app:a")

# The artifact: an OCI index of one manifest per record, each with its step key.
raw=$(skopeo inspect --raw --tls-verify=false "docker://$cache")
eq "artifact media type" "$(jq -r .mediaType <<<"$raw")" application/vnd.oci.image.index.v1+json
eq "artifact entries" "$(jq '.manifests | length' <<<"$raw")" "$steps"
eq "entries keyed" "$(jq '[.manifests[].annotations["dev.cbuild.cache.key"] | select(startswith("sha256:"))] | length' <<<"$raw")" "$steps"
first=$(jq -r '.manifests[0].digest' <<<"$raw")
eq "entry config type" "$(skopeo inspect --raw --tls-verify=false "docker://$REG_PLAIN/cache/app@$first" | jq -r .config.mediaType)" \
    application/vnd.cbuild.cache.record.v1+json

# Fresh root B: every step from the remote cache, nothing runs, same image.
cb_ok "build B with --cache-from" build --root "$T/B" -t app:b --cache-from "$cache" "$T/ctx"
eq "hits in B" "$(grep -c -- '--> Using cache' "$T/err")" "$steps"
eq "fetched in B" "$(grep -c -- '--> Fetched' "$T/err")" "$steps"
eq "no RUN executed in B" "$(ran)" ""
eq "same image digest" "$(skopeo inspect --format '{{.Digest}}' "oci:$T/B/store:app:b")" "$want"
check "B's image unpacks" umoci unpack --rootless --image "$T/B/store:app:b" "$T/bundle"
eq "B's file from a cached RUN" "$(cat "$T/bundle/rootfs/app/three" 2>&1)" three

# A change half way: the steps before it hit, the ones after run.
echo changed >"$T/ctx/data.txt"
cb_ok "build C with a changed file" build --root "$T/C" -t app:c --cache-from "$cache" "$T/ctx"
eq "hits in C" "$(grep -c -- '--> Using cache' "$T/err")" 1
eq "C ran from the change on" "$(ran)" "TWO THREE"
echo data >"$T/ctx/data.txt"

# A cache that is not there, a registry that is not there: warnings, and the build runs.
cb_ok "absent cache" build --root "$T/D" -t app:d --cache-from "$REG_PLAIN/cache/none:x" "$T/ctx"
grep -q -- '--cache-from .*none' "$T/err" && ok || bad "no warning for an absent cache: $(tail -3 "$T/err")"
eq "D ran every step" "$(ran)" "ONE TWO THREE"
port=$(_reg_port)
cb_ok "unreachable cache" build --root "$T/E" -t app:e --cache-from "127.0.0.1:$port/c:x" "$T/ctx"
eq "unreachable: same image" "$(skopeo inspect --format '{{.Digest}}' "oci:$T/E/store:app:e")" "$want"
cb_fails "export to an unreachable registry" "127.0.0.1:$port" build --root "$T/F" --cache-to "127.0.0.1:$port/c:x" "$T/ctx"
# Independent stages run at the same time in forked children: their keys are noted too.
mkdir -p "$T/multi"
cat >"$T/multi/Containerfile" <<EOF2
FROM oci:$T/bb:latest AS a
RUN echo RAN-STEP-A && echo a >/a
FROM oci:$T/bb:latest AS b
RUN echo RAN-STEP-B && echo b >/b
FROM oci:$T/bb:latest
COPY --from=a /a /a
COPY --from=b /b /b
RUN echo RAN-STEP-FINAL && cat /a /b >/ab
EOF2
cb_ok "multi-stage build with --cache-to" build --root "$T/M1" --jobs 2 -t m:1 --cache-to "$REG_PLAIN/cache/multi:1" "$T/multi"
grep -q "Exported 5 cache records" "$T/err" && ok || bad "multi-stage export: $(grep -i export "$T/err")"
mwant=$(skopeo inspect --format '{{.Digest}}' "oci:$T/M1/store:m:1")
cb_ok "multi-stage build with --cache-from" build --root "$T/M2" --jobs 2 -t m:2 --cache-from "$REG_PLAIN/cache/multi:1" "$T/multi"
eq "multi-stage: nothing ran" "$(ran)" ""
eq "multi-stage: same image" "$(skopeo inspect --format '{{.Digest}}' "oci:$T/M2/store:m:2")" "$mwant"
finish
