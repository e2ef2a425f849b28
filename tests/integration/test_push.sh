#!/bin/bash
# cbuild push and build --push against Debian's distribution registry, judged by skopeo
# and the registry's own answers (tests/integration/lib/registry.sh):
# - the pushed manifest has the store's digest; skopeo inspects and copies it (skopeo
#   checks every blob's digest on the way); --digestfile says the same digest; cbuild
#   pull into a fresh root gets the same manifest and config;
# - a second push moves no layer byte and a push to another repository of the same
#   registry mounts every blob (counted by the fault proxy at rate 0);
# - through the fault proxy (dropped connections, 500, 429 with Retry-After, PATCHes cut
#   in half) a chunked push still completes with the right digest;
# - the TLS + htpasswd registry with --creds and with an auth file; the token registry;
# - a missing registry, a wrong password, an unknown image: clear errors, non-zero exits,
#   and no tag in the registry.
source "$CB_SOURCE_DIR/tests/integration/lib/common.sh"
source "$CB_SOURCE_DIR/tests/integration/lib/registry.sh"
need skopeo jq python3 buildah
busybox_base "$T/bb"
export SOURCE_DATE_EPOCH=1700000000

# An image of three layers: busybox, 3 MB of seeded random bytes, a small file.
mkdir -p "$T/ctx"
python3 -c 'import random,sys; r=random.Random(6); sys.stdout.buffer.write(r.randbytes(3000000))' >"$T/ctx/big"
echo small >"$T/ctx/small"
printf 'FROM oci:%s:latest\nCOPY big /big\nCOPY small /small\n' "$T/bb" >"$T/ctx/Containerfile"
cb_ok "build" build -q -t app:1 "$T/ctx"
want=$(skopeo inspect --format '{{.Digest}}' "oci:$CBUILD_ROOT/store:app:1")
# cbuild_digest NAME: the manifest digest the store's index.json gives the name.
cbuild_digest() { jq -r --arg n "$1" '.manifests[] | select(.annotations["org.opencontainers.image.ref.name"] == $n) | .digest' "$CBUILD_ROOT/store/index.json"; }

registry_plain || exit 1
registry_fault "$REG_PLAIN" 11 0 || exit 1
moved() { fault_stats '[.bytes_up.PATCH // 0, .bytes_up.PUT // 0] | add'; }

# Push through the proxy at rate 0 (so requests are counted), then judge with skopeo.
cb_ok "push" push --digestfile "$T/digest" app:1 "docker://$REG_FAULT/team/app:1"
eq "printed digest" "$(cat "$T/out")" "$want"
eq "--digestfile" "$(cat "$T/digest")" "$want"
eq "skopeo inspect digest" "$(skopeo inspect --tls-verify=false --format '{{.Digest}}' "docker://$REG_PLAIN/team/app:1" 2>&1)" "$want"
check "skopeo copy of the pushed image" skopeo copy -q --src-tls-verify=false "docker://$REG_PLAIN/team/app:1" "oci:$T/copy:x"
eq "copied digest" "$(skopeo inspect --format '{{.Digest}}' "oci:$T/copy:x")" "$want"
eq "manifest bytes" "$(skopeo inspect --raw --tls-verify=false "docker://$REG_PLAIN/team/app:1" | sha256sum | cut -d' ' -f1)" "${want#sha256:}"
# Round trip: cbuild pull into a fresh root gives the same digests (manifest, config).
cb_ok "pull into a fresh root" pull --root "$T/root2" "$REG_FAULT/team/app:1"
eq "pulled digest" "$(tail -1 "$T/out")" "$want"
eq "pulled config" "$(skopeo inspect --raw --config "oci:$T/root2/store:$REG_FAULT/team/app:1" | sha256sum | cut -d' ' -f1)" \
    "$(skopeo inspect --raw --config "oci:$CBUILD_ROOT/store:app:1" | sha256sum | cut -d' ' -f1)"
first=$(moved)
[ "$first" -gt 3000000 ] && ok || bad "first push moved $first bytes"
eq "blobs checked first" "$(fault_stats .blob_heads)" 4

# What cbuild pulled it can mount: a push from that root to another repository sends no blob.
fault_config rate=0
cb_ok "push of a pulled image" push --root "$T/root2" "$REG_FAULT/team/app:1" "docker://$REG_FAULT/pulled/app:1"
eq "pulled image: mounts" "$(fault_stats .mounts)" 4
eq "pulled image: blob uploads" "$(fault_stats .blob_uploads)" 0

# A second push: every blob is there (HEAD), only the manifest moves.
fault_config rate=0
cb_ok "second push" push app:1 "docker://$REG_FAULT/team/app:1"
eq "second push blob uploads" "$(fault_stats .blob_uploads)" 0
mlen=$(skopeo inspect --raw --tls-verify=false "docker://$REG_PLAIN/team/app:1" | wc -c)
eq "second push bytes (the manifest only)" "$(moved)" "$mlen"

# Another repository of the same registry: blobs are mounted, not sent.
fault_config rate=0
cb_ok "push to another repository" push app:1 "docker://$REG_FAULT/other/app:2"
eq "mounts" "$(fault_stats .mounts)" 4
eq "mounted push blob uploads" "$(fault_stats .blob_uploads)" 0
eq "mounted image digest" "$(skopeo inspect --tls-verify=false --format '{{.Digest}}' "docker://$REG_PLAIN/other/app:2" 2>&1)" "$want"

# Faults: chunks of 256 KiB so the 3 MB layer takes a dozen PATCHes. Without the blob
# source records, so that the blobs are sent rather than mounted.
rm -rf "$CBUILD_ROOT/blob-sources"
fault_config seed=11 rate=0.25
CBUILD_PUSH_CHUNK_SIZE=262144 cb_ok "push through faults" push --jobs 1 app:1 "docker://$REG_FAULT/faulty/app:1"
eq "digest after faults" "$(skopeo inspect --tls-verify=false --format '{{.Digest}}' "docker://$REG_PLAIN/faulty/app:1" 2>&1)" "$want"
check "skopeo copy after faults" skopeo copy -q --src-tls-verify=false "docker://$REG_PLAIN/faulty/app:1" "oci:$T/copy2:x"
nf=$(fault_stats '.faults | add')
[ "$nf" -ge 5 ] && ok || bad "only $nf faults injected: $(fault_stats)"
[ "$(fault_stats .faults.cut)" -ge 1 ] && [ "$(fault_stats .faults.drop)" -ge 1 ] && ok || bad "no cut or drop: $(fault_stats -c .faults)"
grep -Eq '[1-9][0-9]* resumed|[1-9][0-9]* restarted' "$T/err" && ok || bad "no recovery reported: $(tail -2 "$T/err")"
# Same seed, same faults, same result.
rm -rf "$CBUILD_ROOT/blob-sources"
fault_config seed=11 rate=0.25
CBUILD_PUSH_CHUNK_SIZE=262144 cb_ok "push through faults again" push --jobs 1 app:1 "docker://$REG_FAULT/faulty2/app:1"
eq "digest after faults again" "$(cat "$T/out")" "$want"

# A registry that is always failing: a clear error, no tag.
fault_config rate=1 modes=500
cb_fails "push to a failing registry" 'HTTP 500' push app:1 "docker://$REG_FAULT/broken/app:1"
eq "exit code (failing registry)" "$rc" 1
fault_config rate=0
skopeo inspect --tls-verify=false "docker://$REG_PLAIN/broken/app:1" >/dev/null 2>&1 && bad "tag left behind" || ok

# Nothing listens: the error names the registry.
port=$(_reg_port)
cb_fails "push to a missing registry" "127.0.0.1:$port" push app:1 "docker://127.0.0.1:$port/x/app:1"
eq "exit code (missing registry)" "$rc" 1
cb_fails "push of an unknown image" 'nosuch' push nosuch:1 "docker://$REG_PLAIN/x/app:1"
cb_fails "bad destination" 'UPPER' push app:1 "docker://$REG_PLAIN/UPPER/app:1"

# TLS + htpasswd: --creds and --cert-dir; then the auth file.
registry_tls || exit 1
cb_ok "push with --creds" push --cert-dir "$REG_CERTS_DIR/$REG_TLS" --creds "$REG_USER:$REG_PASS" app:1 "docker://$REG_TLS/sec/app:1"
eq "tls digest" "$(skopeo inspect --cert-dir "$REG_CERTS_DIR/$REG_TLS" --creds "$REG_USER:$REG_PASS" \
    --format '{{.Digest}}' "docker://$REG_TLS/sec/app:1" 2>&1)" "$want"
cb_ok "push with an auth file" push --cert-dir "$REG_CERTS_DIR/$REG_TLS" --authfile "$REG_AUTH_FILE" app:1 "docker://$REG_TLS/sec/app:2"
REGISTRY_AUTH_FILE=$REG_AUTH_FILE cb_ok "push with REGISTRY_AUTH_FILE" push --cert-dir "$REG_CERTS_DIR/$REG_TLS" app:1 "docker://$REG_TLS/sec/app:3"
eq "auth file digest" "$(skopeo inspect --cert-dir "$REG_CERTS_DIR/$REG_TLS" --creds "$REG_USER:$REG_PASS" \
    --format '{{.Digest}}' "docker://$REG_TLS/sec/app:3" 2>&1)" "$want"
cb_fails "wrong password" "$REG_TLS.*(401|UNAUTHORIZED|unauthorized)" push --cert-dir "$REG_CERTS_DIR/$REG_TLS" --creds "$REG_USER:nope" app:1 "docker://$REG_TLS/sec/app:4"
eq "exit code (wrong password)" "$rc" 2

# Token auth.
registry_token || exit 1
cb_ok "push with a token" push --creds "$REG_USER:$REG_PASS" app:1 "docker://$REG_TOKEN/tok/app:1"
eq "token digest" "$(skopeo inspect --tls-verify=false --format '{{.Digest}}' "docker://$REG_TOKEN/tok/app:1" 2>&1)" "$want"
# A mount on the token registry needs pull on the source repository in the same token.
cb_ok "push to another token repository" push --creds "$REG_USER:$REG_PASS" app:1 "docker://$REG_TOKEN/tok/other:1"
grep -q ' 4 mounted' "$T/err" && ok || bad "token registry mounts: $(tail -1 "$T/err")"
grep -q '"repository:tok/app:pull"' "$REG_DIR/token/token.log" && ok || bad "no pull scope on the mount source in the token log"
cb_fails "anonymous push to the token registry" "$REG_TOKEN" push app:1 "docker://$REG_TOKEN/tok/app:2"

# By digest: the reference's digest must be the image's.
cb_ok "push by digest" push app:1 "docker://$REG_PLAIN/bydigest/app@$want"
eq "by digest" "sha256:$(skopeo inspect --raw --tls-verify=false "docker://$REG_PLAIN/bydigest/app@$want" | sha256sum | cut -d' ' -f1)" "$want"
cb_fails "push to a wrong digest" "digest" push app:1 "docker://$REG_PLAIN/bydigest/app@sha256:$(printf '0%.0s' $(seq 64))"

# Docker schema2 media types as built (--format docker) are pushed as they are.
cb_ok "build --format docker" build -q --format docker -t app:docker "$T/ctx"
cb_ok "push a docker-format image" push app:docker "docker://$REG_PLAIN/fmt/app:docker"
eq "docker media type kept" "$(skopeo inspect --raw --tls-verify=false "docker://$REG_PLAIN/fmt/app:docker" | jq -r .mediaType)" \
    application/vnd.docker.distribution.manifest.v2+json
eq "docker-format digest" "$(skopeo inspect --tls-verify=false --format '{{.Digest}}' "docker://$REG_PLAIN/fmt/app:docker" 2>&1)" \
    "$(cbuild_digest app:docker)"

# An image index in the store (made by buildah manifest, written into the store's layout):
# its manifests go first, by digest, then the index under the tag, byte for byte.
B=(buildah --storage-driver vfs --root "$T/bs" --runroot "$T/br")
if "${B[@]}" manifest create list >/dev/null 2>"$T/b.err" &&
    "${B[@]}" manifest add --arch arm64 --variant v8 list "oci:$CBUILD_ROOT/store:app:1" >/dev/null 2>>"$T/b.err" &&
    "${B[@]}" manifest push -q --all list "oci:$CBUILD_ROOT/store:multi:1" >/dev/null 2>>"$T/b.err"; then
    idx=$(cbuild_digest multi:1)
    cb_ok "push an index" push multi:1 "docker://$REG_PLAIN/multi/app:1"
    eq "index digest" "$(cat "$T/out")" "$idx"
    eq "registry's index" "sha256:$(skopeo inspect --raw --tls-verify=false "docker://$REG_PLAIN/multi/app:1" | sha256sum | cut -d' ' -f1)" "$idx"
    entry=$(jq -r '.manifests[0].digest' "$CBUILD_ROOT/store/blobs/sha256/${idx#sha256:}")
    eq "arm64 entry by digest" "sha256:$(skopeo inspect --raw --tls-verify=false "docker://$REG_PLAIN/multi/app@$entry" | sha256sum | cut -d' ' -f1)" "$entry"
    check "skopeo copy --all of the pushed index" skopeo copy -q --all --src-tls-verify=false \
        "docker://$REG_PLAIN/multi/app:1" "oci:$T/multi-copy:x"
else
    bad "buildah manifest: $(tail -3 "$T/b.err")"
fi

# build --push and its digest file.
cb_ok "build --push" build -q --push --digestfile "$T/bd" -t "$REG_PLAIN/built/app:1" "$T/ctx"
eq "build --push digest" "$(skopeo inspect --tls-verify=false --format '{{.Digest}}' "docker://$REG_PLAIN/built/app:1" 2>&1)" "$(cat "$T/bd")"
eq "build --push same image" "$(cat "$T/bd")" "$want"
cb_fails "--push without -t" 'push' build --push "$T/ctx"
finish
