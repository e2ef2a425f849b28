#!/bin/bash
# The registry fixtures (tests/integration/lib/registry.sh) judged with skopeo and curl:
# the plain, TLS + htpasswd and token-auth registries accept a `skopeo copy` and give the
# image back; wrong credentials are refused; the fault proxy forwards faithfully at rate 0
# and injects each kind of fault (500, 429 with Retry-After, a dropped connection, a PATCH
# cut in half that the registry reports as a shorter upload) when asked.
source "$CB_SOURCE_DIR/tests/integration/lib/common.sh"
source "$CB_SOURCE_DIR/tests/integration/lib/registry.sh"
need skopeo jq
busybox_base "$T/bb"
src=oci:$T/bb:latest
want=$(skopeo inspect --format '{{.Digest}}' "$src")

registry_plain || exit 1
check "skopeo copy to plain" skopeo copy -q --dest-tls-verify=false "$src" "docker://$REG_PLAIN/t/bb:1"
eq "plain digest" "$(skopeo inspect --tls-verify=false --format '{{.Digest}}' "docker://$REG_PLAIN/t/bb:1" 2>&1)" "$want"

registry_tls || exit 1
check "skopeo copy to tls with creds" skopeo copy -q --dest-cert-dir "$REG_CERTS_DIR/$REG_TLS" \
    --dest-creds "$REG_USER:$REG_PASS" "$src" "docker://$REG_TLS/t/bb:1"
eq "tls digest (auth file)" "$(skopeo inspect --cert-dir "$REG_CERTS_DIR/$REG_TLS" --authfile "$REG_AUTH_FILE" \
    --format '{{.Digest}}' "docker://$REG_TLS/t/bb:1" 2>&1)" "$want"
eq "tls /v2/ without creds" "$(curl -s -o /dev/null -w '%{http_code}' --cacert "$REG_CA" "https://$REG_TLS/v2/")" 401
eq "tls /v2/ wrong password" "$(curl -s -o /dev/null -w '%{http_code}' --cacert "$REG_CA" -u "$REG_USER:nope" "https://$REG_TLS/v2/")" 401
eq "tls /v2/ right password" "$(curl -s -o /dev/null -w '%{http_code}' --cacert "$REG_CA" -u "$REG_USER:$REG_PASS" "https://$REG_TLS/v2/")" 200
curl -s -o /dev/null "https://$REG_TLS/v2/" 2>/dev/null && bad "the test CA is not needed?" || ok

registry_token || exit 1
check "skopeo copy to token registry" skopeo copy -q --dest-tls-verify=false \
    --dest-creds "$REG_USER:$REG_PASS" "$src" "docker://$REG_TOKEN/t/bb:1"
eq "token digest (anonymous pull)" "$(skopeo inspect --tls-verify=false --format '{{.Digest}}' \
    "docker://$REG_TOKEN/t/bb:1" 2>&1)" "$want"
grep -q '"account": "cbuild".*"result": "granted".*"push"' "$REG_DIR/token/token.log" && ok || bad "no push token in the log"
grep -q '"account": null.*"actions": \["pull"\]' "$REG_DIR/token/token.log" && ok || bad "no anonymous pull token in the log"
skopeo copy -q --dest-tls-verify=false "$src" "docker://$REG_TOKEN/t/anon:1" >/dev/null 2>&1 \
    && bad "anonymous push accepted" || ok
skopeo copy -q --dest-tls-verify=false --dest-creds "$REG_USER:wrong" "$src" "docker://$REG_TOKEN/t/bb:2" \
    >/dev/null 2>"$T/tok.err" && bad "wrong password accepted" || ok
chal=$(curl -s -D - -o /dev/null "http://$REG_TOKEN/v2/" | tr -d '\r' | grep -i '^www-authenticate:')
[[ $chal == *"Bearer realm=\"$REG_TOKEN_REALM\""* ]] && ok || bad "token challenge: $chal"

# The fault proxy: faithful at rate 0, with counters.
registry_fault "$REG_PLAIN" 7 0 || exit 1
check "skopeo copy through the proxy" skopeo copy -q --dest-tls-verify=false "$src" "docker://$REG_FAULT/t/viaproxy:1"
eq "proxy digest" "$(skopeo inspect --tls-verify=false --format '{{.Digest}}' "docker://$REG_PLAIN/t/viaproxy:1" 2>&1)" "$want"
[ "$(fault_stats .manifest_puts)" = 1 ] && ok || bad "manifest PUTs counted: $(fault_stats)"
[ "$(fault_stats '.faults | add')" = 0 ] && ok || bad "faults at rate 0: $(fault_stats)"
[ "$(fault_stats .forwarded)" = "$(fault_stats .requests)" ] && ok || bad "not all forwarded: $(fault_stats)"

fault_config rate=1 modes=500
eq "injected 500" "$(curl -s -o /dev/null -w '%{http_code}' "http://$REG_FAULT/v2/")" 500
fault_config rate=1 modes=429
ra=$(curl -s -D - -o /dev/null "http://$REG_FAULT/v2/" | tr -d '\r' | grep -i '^retry-after:')
eq "injected 429 Retry-After" "$ra" "Retry-After: 1"
fault_config rate=1 modes=drop
curl -s -o /dev/null "http://$REG_FAULT/v2/" && bad "dropped connection answered" || ok
eq "drop counted" "$(fault_stats .faults.drop)" 1

# Resuming: after a PATCH that never reached the registry (drop), the upload URL of the
# last good PATCH reports the registry's offset (Range). After a PATCH cut in half the
# registry holds more than that URL's state says, and distribution 2.8 refuses it
# (404 BLOB_UPLOAD_INVALID, "upload resumed at wrong offset"): the client must start over.
fault_config rate=0
hdr() { tr -d '\r' | sed -n "s/^$1: //Ip"; }
loc=$(curl -s -D - -o /dev/null -X POST "http://$REG_FAULT/v2/t/cut/blobs/uploads/" | hdr location)
head -c 10000 /dev/urandom >"$T/chunk"
loc1=$(curl -s -D - -o /dev/null -X PATCH -H 'Content-Type: application/octet-stream' \
    --data-binary "@$T/chunk" "$loc" | hdr location)
[ -n "$loc1" ] && ok || bad "no Location after a PATCH"
fault_config rate=1 modes=drop
curl -s -o /dev/null -X PATCH --data-binary "@$T/chunk" "$loc1" && bad "dropped PATCH answered" || ok
fault_config rate=0
eq "registry offset after a dropped PATCH" "$(curl -s -D - -o /dev/null "$loc1" | hdr range)" "0-9999"
fault_config rate=1 modes=cut
curl -s -o /dev/null -X PATCH -H 'Content-Type: application/octet-stream' \
    --data-binary "@$T/chunk" "$loc1" && bad "cut PATCH answered" || ok
eq "cut PATCH forwarded half" "$(fault_stats .bytes_up.PATCH)" 5000
fault_config rate=0
eq "stale upload state after a cut" "$(curl -s -o /dev/null -w '%{http_code}' "$loc1")" 404

# Deterministic: the same seed picks the same requests.
seq_for() {
    fault_config seed=$1 rate=0.5 modes=500
    for _ in 1 2 3 4 5 6 7 8; do curl -s -o /dev/null -w '%{http_code} ' "http://$REG_FAULT/v2/"; done
}
a=$(seq_for 3) b=$(seq_for 3)
eq "same seed, same faults" "$a" "$b"
[[ $a == *500* && $a == *200* ]] && ok || bad "rate 0.5 gave $a"
finish
