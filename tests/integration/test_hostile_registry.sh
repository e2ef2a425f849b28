#!/bin/bash
# A registry that lies (tests/registry/lying_registry.py: one server, the
# lie chosen by the repository's first component) gets an exact error
# naming the reference or the digest, a non-zero exit, and a store that is
# byte for byte what it was (a checksum listing of the whole root, staging
# included, before and after).
. "$(dirname "$0")/lib/common.sh"
need python3 sha256sum timeout jq
busybox_base "$T/bb"
python3 "$CB_SOURCE_DIR/tests/registry/lying_registry.py" --layout "$T/bb" --port-file "$T/port" 2>"$T/server.log" &
srv=$!
trap 'kill $srv 2>/dev/null; chmod -R u+w "$T" 2>/dev/null; rm -rf "$T"' EXIT
for _ in $(seq 50); do [ -s "$T/port" ] && break; sleep 0.1; done
[ -s "$T/port" ] || { echo "FAIL: the lying registry did not start: $(cat "$T/server.log")"; exit 1; }
R=127.0.0.1:$(cat "$T/port")
man=$(jq -r '.manifests[0].digest' "$T/bb/index.json")
layer=$(jq -r '.layers[-1].digest' "$T/bb/blobs/sha256/${man#sha256:}")
lsize=$(jq -r '.layers[-1].size' "$T/bb/blobs/sha256/${man#sha256:}")
config=$(jq -r '.config.digest' "$T/bb/blobs/sha256/${man#sha256:}")

# listing DIR: every file under DIR with its checksum, and every name (the canary).
listing() { (cd "$1" && find . -type f -print0 | sort -z | xargs -0r sha256sum; find . | sort); }
cb_ok "an honest pull" pull -q "$R/honest/img:1"
honest=$(cat "$T/out")
# The root each lie is pulled into: a store with an image of its own (not
# the registry's, whose blobs a pull would then skip).
mkdir -p "$T/ctx"
echo canary >"$T/ctx/f"
printf 'FROM scratch\nCOPY f /\n' >"$T/ctx/Containerfile"
CBUILD_ROOT=$T/seed cb_ok "the seed store" build -q -t seed:1 "$T/ctx"
listing "$T/seed" >"$T/before"
n=0
# lie ERE DESCRIPTION ARGS...: cbuild ARGS, in a fresh copy of the seed
# root, fails with stderr matching ERE, in well under the 60 s the lie could
# take (cbuild runs under timeout 60), and leaves the root as it was.
printf '#!/bin/sh\nexec timeout 60 %q "$@"\n' "$CBUILD" >"$T/cbuild-timeout"
chmod +x "$T/cbuild-timeout"
lie() {
    local pattern=$1 what=$2
    shift 2
    local t0=$SECONDS root=$T/root-$((n += 1))
    cp -a "$T/seed" "$root"
    CBUILD=$T/cbuild-timeout CBUILD_ROOT=$root cb_fails "$what" "$pattern" "$@"
    [ $((SECONDS - t0)) -lt 30 ] && ok || bad "$what: took $((SECONDS - t0)) s"
    listing "$root" >"$T/after"
    cmp -s "$T/before" "$T/after" && ok || bad "$what: the root changed: $(diff "$T/before" "$T/after" | head -5)"
}
H='sha256:[0-9a-f]{64}'
lie "^cbuild: $R/dcd/img:1: Docker-Content-Digest is $H but the manifest's bytes hash to $H\$" \
    "a wrong Docker-Content-Digest" pull "$R/dcd/img:1"
lie "^cbuild: $R/honest/img@sha256:0{64}: the registry sent a manifest whose digest is $H\$" \
    "a manifest that is not the digest asked for" pull "$R/honest/img@sha256:$(printf '0%.0s' $(seq 64))"
lie "^cbuild: $R/blob/img: blob $layer: the registry sent bytes whose digest is $H\$" \
    "a layer's bytes that do not match its digest" pull "$R/blob/img:1"
lie "^cbuild: $R/config/img: blob $config: the registry sent bytes whose digest is $H\$" \
    "a config's bytes that do not match its digest" pull "$R/config/img:1"
lie "^cbuild: $R/short/img: blob $layer: GET http://$R/v2/short/img/blobs/$layer: the registry sent more than the $((lsize - 100)) bytes the manifest says\$" \
    "a layer longer than the manifest says" pull "$R/short/img:1"
lie "^cbuild: $R/long/img: blob $layer: got $lsize bytes, the manifest says $((lsize + 100))\$" \
    "a layer shorter than the manifest says" pull "$R/long/img:1"
lie "^cbuild: $R/mediatype/img:1: layer 1: unsupported layer media type \"application/vnd.oci.image.config.v1\+json\"\$" \
    "a layer with a config's media type" pull "$R/mediatype/img:1"
lie "^cbuild: $R/endless/img: blob $layer: GET http://$R/v2/endless/img/blobs/$layer: the registry sent more than the $lsize bytes the manifest says\$" \
    "a layer whose body never ends" pull "$R/endless/img:1"
lie "^cbuild: $R/manifestbomb/img:1: manifest: GET http://$R/v2/manifestbomb/img/manifests/1: the response is larger than [0-9]+ bytes\$" \
    "a manifest whose body never ends" pull "$R/manifestbomb/img:1"
lie "^cbuild: $R/redirect/img: blob $layer: GET http://$R/v2/redirect/img/blobs/$layer: Maximum \(10\) redirects followed\$" \
    "a redirect loop" pull "$R/redirect/img:1"
lie "^cbuild: $R/badref/img:1: layer 1: malformed digest \"sha256:\.\./\.\./\.\./\.\./x\" \(expected sha256:<64 hex digits>\)\$" \
    "a digest that is a path" pull "$R/badref/img:1"
# Through FROM, the error names the Containerfile's line.
printf 'FROM %s/blob/img:1\nRUN true\n' "$R" >"$T/ctx/Containerfile"
lie "Containerfile:1(:[0-9]+)?: .*$R/blob/img: blob $layer: the registry sent bytes whose digest is $H" \
    "FROM a lying registry" build -t x:1 "$T/ctx"
cb_ok "the honest image pulls again" pull -q "$R/honest/img:1"
eq "the honest image's digest" "$(cat "$T/out")" "$honest"
finish
