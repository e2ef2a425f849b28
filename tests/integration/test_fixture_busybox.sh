#!/bin/bash
# The base-image fixture (testdata/fixtures/make-busybox-oci.sh) that the build
# tests start from, judged by tools cbuild did not write: skopeo, oci-image-tool
# and umoci. Also: two runs give the same digests, a second tag joins the
# layout, and the image's /bin/sh runs.
set -u
: "${CB_TESTDATA:?}"
make=$CB_TESTDATA/fixtures/make-busybox-oci.sh
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
pass=0 fail=0
ok() { pass=$((pass + 1)); }
bad() { echo "FAIL: $*"; fail=$((fail + 1)); }
check() { # description, command...
    local what=$1
    shift
    if "$@" >"$tmp/out" 2>&1; then ok; else bad "$what"; head -5 "$tmp/out"; fi
}

for tool in skopeo umoci oci-image-tool jq python3; do
    command -v $tool >/dev/null || { echo "FAIL: $tool missing: run tests/setup/install-test-deps.sh"; exit 1; }
done

d1=$("$make" "$tmp/a" 2>"$tmp/err") || { echo "FAIL: make-busybox-oci.sh: $(cat "$tmp/err")"; exit 1; }
d2=$(SOURCE_DATE_EPOCH=0 "$make" "$tmp/b" latest) || { echo "FAIL: second run"; exit 1; }
[ "$d1" = "$d2" ] && ok || bad "not deterministic: $d1 vs $d2"
cmp -s "$tmp/a.oci.tar" "$tmp/b.oci.tar" && ok || bad "oci-archive not deterministic"

check "oci-image-tool validate" oci-image-tool validate --type image --ref name=latest "$tmp/a"
check "skopeo inspect oci" skopeo inspect "oci:$tmp/a:latest"
check "skopeo inspect oci-archive" skopeo inspect "oci-archive:$tmp/a.oci.tar:latest"
check "skopeo inspect docker-archive" skopeo inspect "docker-archive:$tmp/a.docker.tar"

cfg=$(skopeo inspect --config "oci:$tmp/a:latest")
[ "$(jq -c .config.Cmd <<<"$cfg")" = '["/bin/sh"]' ] && ok || bad "Cmd: $(jq -c .config.Cmd <<<"$cfg")"
jq -e '.config.Env | index("PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin")' <<<"$cfg" >/dev/null \
    && ok || bad "Env PATH missing"
[ "$(jq -r .created <<<"$cfg")" = 1970-01-01T00:00:00Z ] && ok || bad "created: $(jq -r .created <<<"$cfg")"
[ "$(jq '.rootfs.diff_ids | length' <<<"$cfg")" = 1 ] && ok || bad "expected one layer"

# A second tag joins the layout; the first stays.
SOURCE_DATE_EPOCH=1700000000 "$make" "$tmp/a" later >/dev/null || bad "adding a tag"
tags=$(jq -r '[.manifests[].annotations["org.opencontainers.image.ref.name"]] | sort | join(",")' "$tmp/a/index.json")
[ "$tags" = "later,latest" ] && ok || bad "tags: $tags"
[ "$(skopeo inspect --config "oci:$tmp/a:later" | jq -r .created)" = 2023-11-14T22:13:20Z ] \
    && ok || bad "SOURCE_DATE_EPOCH not used"

# The rootfs as umoci unpacks it.
if umoci unpack --rootless --image "$tmp/a:latest" "$tmp/bundle" >"$tmp/out" 2>&1; then
    r=$tmp/bundle/rootfs
    [ "$(readlink "$r/bin/sh")" = /bin/busybox ] && ok || bad "/bin/sh is not a link to /bin/busybox"
    [ -x "$r/bin/busybox" ] && ok || bad "/bin/busybox missing"
    [ "$(stat -c %a "$r/tmp")" = 1777 ] && ok || bad "/tmp mode $(stat -c %a "$r/tmp")"
    grep -qx 'app:x:1000:1000:app:/home/app:/bin/sh' "$r/etc/passwd" && ok || bad "app user missing"
    grep -q '^nobody:x:65534:65534:' "$r/etc/passwd" && ok || bad "nobody missing"
    grep -qx 'app:x:1000:' "$r/etc/group" && ok || bad "app group missing"
    [ "$("$r/bin/busybox" echo works)" = works ] && ok || bad "busybox does not run"
    # The shell inside the image, when this host lets us chroot in a user namespace.
    if unshare -r true 2>/dev/null; then
        out=$(unshare -r chroot "$r" /bin/sh -c 'echo $(id -u) $PATH' 2>&1)
        [ "${out%% *}" = 0 ] && ok || bad "sh in the image: $out"
    else
        echo "note: no unprivileged user namespaces here; the chroot check did not run"
    fi
else
    bad "umoci unpack"
    head -5 "$tmp/out"
fi

# Bad input: a clear message and a non-zero exit.
BUSYBOX=/nonexistent "$make" "$tmp/c" 2>"$tmp/err" && bad "missing busybox accepted"
grep -q busybox-static "$tmp/err" && ok || bad "missing busybox message: $(cat "$tmp/err")"
"$make" "$tmp/c" 'a:b' 2>/dev/null && bad "bad tag accepted" || ok

echo "fixture_busybox: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
