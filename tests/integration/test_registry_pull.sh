#!/bin/bash
# cbuild pull and FROM of registry images against Debian's distribution registry
# (tests/integration/lib/registry.sh), judged by skopeo and the registry's own log:
# - an image that skopeo pushed is pulled with the registry's manifest digest, and the
#   store's copy is what skopeo reads back; a second pull fetches no blob;
# - FROM REGISTRY/IMAGE builds, and the step cache keys on the manifest digest;
#   --pull=never/missing/always decide whether the registry is asked;
# - a multi-arch index (written by hand, copied with skopeo --all): linux/amd64 is
#   chosen, --platform linux/arm64/v8 picks the other; an unknown platform is an error;
# - Docker schema2 media types (skopeo --format v2s2) and an uncompressed + zstd layer;
# - the TLS + htpasswd registry (auth file, --creds) and the token registry; a wrong
#   password is a clear error;
# - a blob whose bytes do not match its digest is refused and the store is untouched;
# - errors: unknown tag, unknown repository, unreachable registry, bad references.
source "$CB_SOURCE_DIR/tests/integration/lib/common.sh"
source "$CB_SOURCE_DIR/tests/integration/lib/registry.sh"
need skopeo jq python3 umoci
busybox_base "$T/bb"
export SOURCE_DATE_EPOCH=1700000000
registry_plain || exit 1
R=$REG_PLAIN
blob_gets() { grep -c "\"GET /v2/[^ ]*/blobs/sha256:" "$REG_DIR/plain/log" || true; }
manifest_gets() { grep -c "\"GET /v2/[^ ]*/manifests/" "$REG_DIR/plain/log" || true; }
# snapshot ROOT: the store's index.json and blob names, to show a failure changed nothing.
snapshot() { (cat "$1/store/index.json"; ls "$1/store/blobs/sha256"; ls -A "$1/tmp" 2>/dev/null) | sha256sum; }

# --- an image skopeo pushed ---------------------------------------------------------
check "skopeo copy to the registry" skopeo copy -q --dest-tls-verify=false "oci:$T/bb:latest" "docker://$R/lib/bb:1"
want=$(skopeo inspect --tls-verify=false --format '{{.Digest}}' "docker://$R/lib/bb:1")
cb_ok "pull" pull "$R/lib/bb:1"
eq "pulled digest = registry digest" "$(cat "$T/out")" "$want"
eq "store digest (skopeo reads the store)" "$(skopeo inspect --format '{{.Digest}}' "oci:$CBUILD_ROOT/store:$R/lib/bb:1")" "$want"
eq "manifest bytes as served" "$(sha256sum <"$CBUILD_ROOT/store/blobs/sha256/${want#sha256:}" | cut -d' ' -f1)" \
    "$(skopeo inspect --raw --tls-verify=false "docker://$R/lib/bb:1" | sha256sum | cut -d' ' -f1)"
eq "config as served" "$(skopeo inspect --config --raw "oci:$CBUILD_ROOT/store:$R/lib/bb:1" | sha256sum)" \
    "$(skopeo inspect --config --raw --tls-verify=false "docker://$R/lib/bb:1" | sha256sum)"
unpack "$R/lib/bb:1" "$T/bundle" && { [ -x "$T/bundle/rootfs/bin/busybox" ] && ok || bad "unpacked image has no busybox"; }
grep -q "1 blobs fetched" "$T/err" && ok || bad "first pull: $(cat "$T/err")"
before=$(blob_gets)
cb_ok "second pull" pull "$R/lib/bb:1"
eq "second pull: blob GETs at the registry" "$(blob_gets)" "$before"
grep -q "0 blobs fetched, 1 already present" "$T/err" && ok || bad "second pull said: $(cat "$T/err")"
cb_ok "pull docker:// by digest" pull -q "docker://$R/lib/bb@$want"
eq "by-digest pull" "$(cat "$T/out")" "$want"
eq "no blob fetched for a known digest" "$(blob_gets)" "$before"

# --- through a proxy that drops connections and answers 500 and 429 ---------------------
registry_fault "$R" 5 0 || exit 1
fault_config seed=4 rate=0.5 modes=drop,500,429
CBUILD_ROOT=$T/rootf cb_ok "pull through faults" pull -q "$REG_FAULT/lib/bb:1"
eq "digest through faults" "$(cat "$T/out")" "$want"
nf=$(fault_stats '[.faults[]] | add')
[ "$nf" -gt 0 ] && ok || bad "the proxy injected no fault: $(fault_stats)"
echo "faults injected during the pull: $(fault_stats -c .faults)"

# --- FROM a registry image, and --pull ----------------------------------------------
mkdir -p "$T/ctx"
echo hello >"$T/ctx/f"
printf 'FROM %s/lib/bb:1\nCOPY f /f\nRUN cat /f > /g\n' "$R" >"$T/ctx/Containerfile"
cb_ok "build FROM the registry image" build -q -t app:1 "$T/ctx"
unpack app:1 "$T/app" && eq "RUN saw the base" "$(cat "$T/app/rootfs/g")" hello
m=$(manifest_gets)
cb_ok "rebuild with --pull=never" build --pull=never -t app:2 "$T/ctx"
[ "$(grep -c "^--> Using cache" "$T/err")" = 2 ] && ok || bad "--pull=never rebuild missed the cache: $(cat "$T/err")"
eq "--pull=never asks the registry nothing" "$(manifest_gets)" "$m"
cb_ok "rebuild with the default (missing)" build -q -t app:3 "$T/ctx"
eq "--pull=missing with the image local asks nothing" "$(manifest_gets)" "$m"
cb_ok "rebuild with --pull" build --pull -t app:4 "$T/ctx"
[ "$(manifest_gets)" -gt "$m" ] && ok || bad "--pull did not ask the registry"
[ "$(grep -c "^--> Using cache" "$T/err")" = 2 ] && ok || bad "--pull with an unchanged image missed the cache: $(cat "$T/err")"
eq "same image every time" "$(skopeo inspect --format '{{.Digest}}' "oci:$CBUILD_ROOT/store:app:4")" \
    "$(skopeo inspect --format '{{.Digest}}' "oci:$CBUILD_ROOT/store:app:1")"
# A new image under the same tag: --pull=always sees it, the cache misses.
printf 'FROM oci:%s:latest\nCOPY f /new\n' "$T/bb" >"$T/ctx/C2"
cb_ok "build a new base" build -q -f "$T/ctx/C2" -t newbase:1 "$T/ctx"
check "skopeo copy the new base over lib/bb:1" skopeo copy -q --dest-tls-verify=false "oci:$CBUILD_ROOT/store:newbase:1" "docker://$R/lib/bb:1"
cb_ok "rebuild with --pull=always after the tag moved" build --pull=always -t app:5 "$T/ctx"
grep -q "^--> Using cache" "$T/err" && bad "a moved base tag still hit the cache" || ok
unpack app:5 "$T/app5" && { [ -f "$T/app5/rootfs/new" ] && ok || bad "the new base is not under app:5"; }
printf 'FROM %s/lib/none:1\n' "$R" >"$T/ctx/Cnone"
cb_fails "--pull=never with an unknown image" "$R/lib/none:1 not found in the local store" build --pull=never -f "$T/ctx/Cnone" -t x "$T/ctx"
cb_fails "bad --pull" "--pull=sometimes" build --pull=sometimes "$T/ctx"

# --- a multi-arch index --------------------------------------------------------------
python3 - "$T/bb" "$T/multi" <<'PY'
import hashlib, json, os, shutil, sys
src, dst = sys.argv[1:]
shutil.copytree(src, dst)
blobs = os.path.join(dst, "blobs", "sha256")
def put(obj):
    b = json.dumps(obj, separators=(",", ":")).encode()
    h = hashlib.sha256(b).hexdigest()
    open(os.path.join(blobs, h), "wb").write(b)
    return "sha256:" + h, len(b)
idx = json.load(open(os.path.join(dst, "index.json")))
m0 = idx["manifests"][0]
man = json.load(open(os.path.join(blobs, m0["digest"].split(":")[1])))
cfg = json.load(open(os.path.join(blobs, man["config"]["digest"].split(":")[1])))
entries = []
for arch, variant in (("arm64", "v8"), ("amd64", None), ("s390x", None)):
    c = dict(cfg, architecture=arch)
    c.pop("variant", None)
    if variant:
        c["variant"] = variant
    d, n = put(c)
    m = dict(man, config=dict(man["config"], digest=d, size=n))
    md, mn = put(m)
    p = {"os": "linux", "architecture": arch}
    if variant:
        p["variant"] = variant
    entries.append({"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": md, "size": mn, "platform": p})
ixd, ixn = put({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json", "manifests": entries})
json.dump({"schemaVersion": 2, "manifests": [{"mediaType": "application/vnd.oci.image.index.v1+json", "digest": ixd, "size": ixn,
           "annotations": {"org.opencontainers.image.ref.name": "multi"}}]}, open(os.path.join(dst, "index.json"), "w"))
PY
[ -s "$T/multi/index.json" ] || bad "multi-arch fixture"
python3 - "$T/multi" >"$T/multi.digests" <<'PY'
import json, os, sys
d = sys.argv[1]
ix = json.load(open(os.path.join(d, "index.json")))["manifests"][0]["digest"].split(":")[1]
for m in json.load(open(os.path.join(d, "blobs", "sha256", ix)))["manifests"]:
    print(m["platform"]["architecture"], m["digest"])
print("index sha256:" + ix)
PY
check "skopeo copy --all of the index" skopeo copy -q --all --dest-tls-verify=false "oci:$T/multi:multi" "docker://$R/multi:1"
amd64=$(awk '$1=="amd64"{print $2}' "$T/multi.digests")
arm64=$(awk '$1=="arm64"{print $2}' "$T/multi.digests")
index=$(awk '$1=="index"{print $2}' "$T/multi.digests")
eq "registry has the index" "$(skopeo inspect --raw --tls-verify=false "docker://$R/multi:1" | sha256sum | cut -d' ' -f1)" "${index#sha256:}"
cb_ok "pull the index" pull -q "$R/multi:1"
eq "linux/amd64 chosen" "$(cat "$T/out")" "$amd64"
eq "the store's arch" "$(skopeo inspect --config --raw "oci:$CBUILD_ROOT/store:$R/multi:1" | jq -r .architecture)" amd64
[ -f "$CBUILD_ROOT/store/blobs/sha256/${index#sha256:}" ] && ok || bad "the index bytes were not kept"
cb_ok "pull --platform linux/arm64/v8" pull -q --platform linux/arm64/v8 "$R/multi:1"
eq "arm64 chosen" "$(cat "$T/out")" "$arm64"
eq "the tag now names arm64" "$(skopeo inspect --config --raw "oci:$CBUILD_ROOT/store:$R/multi:1" | jq -r .architecture)" arm64
cb_ok "pull the index by digest" pull -q "$R/multi@$index"
eq "by digest: amd64" "$(cat "$T/out")" "$amd64"
cb_fails "a platform the index lacks" "linux/riscv64.*(linux/arm64|amd64)" pull --platform linux/riscv64 "$R/multi:1"
printf 'FROM --platform=linux/arm64 %s/multi:1\nRUN true\n' "$R" >"$T/ctx/C3"
printf 'FROM %s/multi:1\n' "$R" >"$T/ctx/C4"
cb_ok "FROM the index (amd64)" build -q -f "$T/ctx/C4" -t fromidx:1 "$T/ctx"
eq "FROM picked amd64" "$(skopeo inspect --config --raw "oci:$CBUILD_ROOT/store:fromidx:1" | jq -r .architecture)" amd64
# Registry options given before --platform still count (--platform once freed them).
printf 'FROM multi:1\n' >"$T/ctx/C7"
cb_ok "--default-registry before --platform" build -q --default-registry "$R" --platform linux/arm64 -f "$T/ctx/C7" -t plat:1 "$T/ctx"
eq "FROM through the default registry picked arm64" "$(skopeo inspect --config --raw "oci:$CBUILD_ROOT/store:plat:1" | jq -r .architecture)" arm64

# --- Docker schema2 media types, zstd and uncompressed layers ------------------------
check "skopeo copy as Docker v2s2" skopeo copy -q --format v2s2 --dest-tls-verify=false "oci:$T/bb:latest" "docker://$R/v2s2:1"
cb_ok "pull a schema2 image" pull -q "$R/v2s2:1"
eq "schema2 digest" "$(cat "$T/out")" "$(skopeo inspect --tls-verify=false --format '{{.Digest}}' "docker://$R/v2s2:1")"
eq "schema2 media type kept" "$(jq -r .mediaType "$CBUILD_ROOT/store/blobs/sha256/$(cut -d: -f2 "$T/out")")" \
    application/vnd.docker.distribution.manifest.v2+json
printf 'FROM oci:%s:latest\nCOPY f /z\n' "$T/bb" >"$T/ctx/C5"
cb_ok "build a zstd image" build -q --compression zstd -f "$T/ctx/C5" -t zimg:1 -o "type=oci,dest=$T/zoci" "$T/ctx"
check "skopeo copy the zstd image" skopeo copy -q --dest-tls-verify=false "oci:$CBUILD_ROOT/store:zimg:1" "docker://$R/zimg:1"
root2=$T/root2
CBUILD_ROOT=$root2 cb_ok "pull the zstd image into a fresh root" pull -q "$R/zimg:1"
eq "zstd digest" "$(cat "$T/out")" "$(skopeo inspect --format '{{.Digest}}' "oci:$CBUILD_ROOT/store:zimg:1")"
eq "a zstd layer" "$(skopeo inspect --raw "oci:$root2/store:$R/zimg:1" | jq -r '.layers[-1].mediaType')" application/vnd.oci.image.layer.v1.tar+zstd
printf 'FROM oci:%s:latest\nCOPY f /u\n' "$T/bb" >"$T/ctx/C6"
cb_ok "build an uncompressed image" build -q --compression none -f "$T/ctx/C6" -t uimg:1 "$T/ctx"
# skopeo compresses layers on the way to a registry; cbuild push keeps the bytes.
cb_ok "push the uncompressed image" push uimg:1 "docker://$R/uimg:1"
CBUILD_ROOT=$root2 cb_ok "pull the uncompressed image" pull -q "$R/uimg:1"
eq "uncompressed layer" "$(skopeo inspect --raw "oci:$root2/store:$R/uimg:1" | jq -r '.layers[-1].mediaType')" application/vnd.oci.image.layer.v1.tar

# --- a blob whose bytes do not match its digest --------------------------------------
check "skopeo copy an image to corrupt" skopeo copy -q --dest-tls-verify=false "oci:$CBUILD_ROOT/store:app:1" "docker://$R/bad:1"
layer=$(skopeo inspect --raw --tls-verify=false "docker://$R/bad:1" | jq -r '.layers[-1].digest')
hex=${layer#sha256:}
data=$REG_DIR/plain/data/docker/registry/v2/blobs/sha256/${hex:0:2}/$hex/data
python3 -c 'import sys; p=sys.argv[1]; b=bytearray(open(p,"rb").read()); b[len(b)//2]^=0xff; open(p,"wb").write(b)' "$data"
root3=$T/root3
CBUILD_ROOT=$root3 cb_ok "an empty root" images
s0=$(snapshot "$root3")
CBUILD_ROOT=$root3 cb_fails "a corrupt blob is refused" "$hex.*(digest|bytes)" pull "$R/bad:1"
eq "the store is untouched after the refused blob" "$(snapshot "$root3")" "$s0"
[ -f "$root3/store/blobs/sha256/$hex" ] && bad "the corrupt blob reached the store" || ok

# --- registries with authentication --------------------------------------------------
registry_tls || exit 1
check "skopeo copy to the TLS registry" skopeo copy -q --dest-cert-dir "$REG_CERTS_DIR/$REG_TLS" \
    --dest-creds "$REG_USER:$REG_PASS" "oci:$T/bb:latest" "docker://$REG_TLS/sec/bb:1"
cb_ok "pull from TLS + Basic with the auth file and the CA" pull -q --authfile "$REG_AUTH_FILE" \
    --cert-dir "$REG_CERTS_DIR/$REG_TLS" "$REG_TLS/sec/bb:1"
eq "TLS pull digest" "$(cat "$T/out")" "$want"
REGISTRY_AUTH_FILE=$REG_AUTH_FILE cb_ok "REGISTRY_AUTH_FILE" pull -q "$REG_TLS/sec/bb:1"
cb_ok "--creds" pull -q --creds "$REG_USER:$REG_PASS" "$REG_TLS/sec/bb:1"
cb_fails "wrong password (Basic)" "$REG_TLS.*(refused the credentials|401)" pull --creds "$REG_USER:wrong" "$REG_TLS/sec/bb:1"
cb_fails "no credentials (Basic)" "$REG_TLS.*(user name and password|login)" pull --authfile "$T/none.json" "$REG_TLS/sec/bb:1"

registry_token || exit 1
check "skopeo copy to the token registry" skopeo copy -q --dest-tls-verify=false \
    --dest-creds "$REG_USER:$REG_PASS" "oci:$T/bb:latest" "docker://$REG_TOKEN/tok/bb:1"
cb_ok "pull with a bearer token" pull -q --creds "$REG_USER:$REG_PASS" "$REG_TOKEN/tok/bb:1"
eq "token pull digest" "$(cat "$T/out")" "$want"
cb_fails "wrong password (token)" "$REG_TOKEN.*authentication failed for user \"$REG_USER\"" \
    pull --creds "$REG_USER:nope" "$REG_TOKEN/tok/bb:1"

# --- errors ----------------------------------------------------------------------------
cb_fails "unknown tag" "$R/lib/bb:nope.*(MANIFEST_UNKNOWN|404)" pull "$R/lib/bb:nope"
cb_fails "unknown repository" "$R/nothere:1.*(NAME_UNKNOWN|MANIFEST_UNKNOWN|404)" pull "$R/nothere:1"
port=$(_reg_port)
cb_fails "unreachable registry" "127.0.0.1:$port/x.*onnect" pull "127.0.0.1:$port/x:1"
cb_fails "upper-case repository" "invalid reference \"$R/Bad:1\".*lower case" pull "$R/Bad:1"
cb_fails "bad digest" "invalid reference.*digest" pull "$R/x@sha256:abc"
cb_fails "two references" "one image reference" pull a b
finish
