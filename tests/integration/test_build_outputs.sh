#!/bin/bash
# --output type=oci|oci-archive|docker-archive|local, --iidfile, and
# reproducibility: the same inputs in two fresh roots give the same digest.
. "$(dirname "$0")/lib/common.sh"
need skopeo umoci oci-image-tool jq python3 podman
ctx=$CB_TESTDATA/build/scratch-meta
out=$T/outputs
mkdir -p "$out"

cb_ok "build with every output" -t out:dev --iidfile "$out/iid" \
    -o "type=oci,dest=$out/layout" -o "type=oci-archive,dest=$out/img.oci.tar" \
    -o "type=docker-archive,dest=$out/img.docker.tar" -o "type=local,dest=$out/rootfs" "$ctx"
id=$(tail -1 "$T/out")
eq "--iidfile" "$(cat "$out/iid")" "sha256:$id"
check "oci output: skopeo" skopeo inspect "oci:$out/layout:out:dev"
check "oci output: oci-image-tool" oci-image-tool validate --type image --ref name=out:dev "$out/layout"
check "oci output: umoci" umoci unpack --rootless --image "$out/layout:out:dev" "$out/bundle"
check "oci-archive output: skopeo" skopeo inspect "oci-archive:$out/img.oci.tar:out:dev"
check "docker-archive output: skopeo" skopeo inspect "docker-archive:$out/img.docker.tar"
eq "docker-archive RepoTags" "$(tar -xOf "$out/img.docker.tar" manifest.json | jq -r '.[0].RepoTags[0]')" out:dev
# podman load (its own storage under $T, vfs: no mounts needed).
pm() { podman --root "$T/podman" --runroot "$T/podman-run" --storage-driver vfs "$@"; }
check "docker-archive output: podman load" pm load -i "$out/img.docker.tar"
eq "podman sees the loaded image's config" \
    "$(pm image inspect --format '{{.Config.WorkingDir}}' localhost/out:dev 2>&1)" "$(skopeo inspect --config "oci:$CBUILD_ROOT/store:out:dev" | jq -r '.config.WorkingDir // ""')"
check "oci-archive output: podman load" pm load -i "$out/img.oci.tar"
eq "local output content" "$(cat "$out/rootfs/app/hello.txt")" hello
eq "same manifest in store and oci output" \
    "$(skopeo inspect --raw "oci:$out/layout:out:dev" | sha256sum)" \
    "$(skopeo inspect --raw "oci:$CBUILD_ROOT/store:out:dev" | sha256sum)"

# Reproducible: two fresh roots, SOURCE_DATE_EPOCH, the same manifest digest.
digest_in() { # root
    CBUILD_ROOT=$1 SOURCE_DATE_EPOCH=1700000000 "$CBUILD" -q -t repro:1 "$ctx" >/dev/null 2>"$T/err" || bad "build in $1: $(cat "$T/err")"
    skopeo inspect --raw "oci:$1/store:repro:1" | sha256sum | cut -d" " -f1
}
d1=$(digest_in "$T/r1")
touch "$ctx/hello.txt" 2>/dev/null || true
d2=$(digest_in "$T/r2")
eq "reproducible manifest digest" "$d1" "$d2"
created=$(skopeo inspect --config "oci:$T/r1/store:repro:1" | jq -r '[.created] + [.history[].created] | unique | join(",")')
eq "every time is SOURCE_DATE_EPOCH" "$created" 2023-11-14T22:13:20Z
cb_ok "--timestamp" --timestamp 1700000000 -t repro:2 "$ctx"
eq "--timestamp gives the same image" "$(skopeo inspect --raw "oci:$CBUILD_ROOT/store:repro:2" | sha256sum | cut -d" " -f1)" "$d1"
finish
