#!/bin/bash
# Builds on a real base image (the busybox fixture) from oci:, oci-archive:,
# docker-archive: and the store; multi-stage COPY --from; --chown by name;
# ENTRYPOINT dropping an inherited CMD; ADD of a local tar; --format docker.
. "$(dirname "$0")/lib/common.sh"
need skopeo umoci oci-image-tool jq python3
base=$T/busybox
busybox_base "$base"
ctx=$T/ctx
mkdir -p "$ctx/data"
echo one >"$ctx/data/one.txt"
echo two >"$ctx/data/two.txt"
ln -s one.txt "$ctx/data/link"
mkdir -p "$T/tarsrc/pkg" && echo packed >"$T/tarsrc/pkg/file.txt"
tar -C "$T/tarsrc" -czf "$ctx/pkg.tar.gz" pkg

cat >"$ctx/Containerfile" <<EOF2
FROM oci:$base:latest AS tools
COPY --chown=app:app data/ /home/app/data/
ADD pkg.tar.gz /opt/
WORKDIR /work

FROM oci-archive:$base.oci.tar:latest
COPY --from=tools /home/app/data/one.txt /copied/
COPY --from=tools /opt/pkg /opt/pkg
COPY data/*.txt /glob/
ENTRYPOINT ["/bin/sh", "-c"]
EOF2
cb_ok "build on oci: and oci-archive: bases" -t app:dev "$ctx"
check "oci-image-tool validate" oci-image-tool validate --type image --ref name=app:dev "$CBUILD_ROOT/store"
cfg=$(config app:dev)
eq "base layer kept" "$(jq -r '.rootfs.diff_ids[0]' <<<"$cfg")" \
    "$(skopeo inspect --config "oci:$base:latest" | jq -r '.rootfs.diff_ids[0]')"
eq "inherited Env" "$(jq -c .config.Env <<<"$cfg")" \
    "$(skopeo inspect --config "oci:$base:latest" | jq -c .config.Env)"
eq "ENTRYPOINT drops the base image's CMD" "$(jq -c .config.Cmd <<<"$cfg")" null
unpack app:dev "$T/b1" && {
    r=$T/b1/rootfs
    eq "COPY --from a stage" "$(cat "$r/copied/one.txt")" one
    eq "ADD extracted the tar in the first stage" "$(cat "$r/opt/pkg/file.txt")" packed
    eq "glob sources" "$(ls "$r/glob" | tr '\n' ' ')" "one.txt two.txt "
    [ -x "$r/bin/busybox" ] && ok || bad "base image content missing"
}

# --chown=app:app resolved in the image's /etc/passwd (uid 1000): look at the
# first stage as its own image.
cb_ok "build --target tools" -t tools:dev --target tools "$ctx"
layers tools:dev >"$T/l"
grep -q ' home/app/data/one.txt file 0644 1000 1000 ' "$T/l" && ok || bad "--chown=app:app: $(grep one.txt "$T/l")"
grep -q ' home/app/data/link symlink 0777 1000 1000 one.txt' "$T/l" && ok || bad "symlink kept: $(grep link "$T/l")"
grep -q ' opt/pkg/file.txt file ' "$T/l" && ok || bad "ADD tar entries: $(grep opt "$T/l")"
grep -q ' work dir 0755 0 0 ' "$T/l" && ok || bad "WORKDIR /work created"

# FROM an image in the store, and from a docker-archive; --format docker.
cat >"$T/Containerfile.store" <<'EOF2'
FROM app:dev
LABEL from=store
EOF2
cb_ok "FROM a store image" -t child:dev -f "$T/Containerfile.store" --format docker \
    -o "type=docker-archive,dest=$T/child.docker.tar" "$ctx"
# skopeo's oci: transport reads only OCI-typed manifests, so the Docker-format
# image is judged through cbuild inspect and through skopeo on the docker-archive.
"$CBUILD" inspect child:dev >"$T/inspect.json" || bad "cbuild inspect child:dev"
m=$(jq '.[0].Manifest' "$T/inspect.json")
eq "docker manifest type" "$(jq -r .mediaType <<<"$m")" application/vnd.docker.distribution.manifest.v2+json
eq "docker config type" "$(jq -r .config.mediaType <<<"$m")" application/vnd.docker.container.image.v1+json
eq "docker layer types" "$(jq -r '[.layers[].mediaType] | unique | join(",")' <<<"$m")" \
    application/vnd.docker.image.rootfs.diff.tar.gzip
eq "label" "$(jq -r '.[0].Config.config.Labels.from' "$T/inspect.json")" store
check "docker-archive of a docker-format image: skopeo" skopeo inspect "docker-archive:$T/child.docker.tar"

printf 'FROM docker-archive:%s\nLABEL via=docker-archive\n' "$base.docker.tar" >"$T/Containerfile.da"
cb_ok "FROM docker-archive:" -t da:dev -f "$T/Containerfile.da" "$ctx"
eq "docker-archive base layers" "$(config da:dev | jq -c .rootfs.diff_ids)" \
    "$(skopeo inspect --config "oci:$base:latest" | jq -c .rootfs.diff_ids)"
finish
