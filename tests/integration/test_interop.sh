#!/bin/bash
# Other tools read and run what cbuild writes, in every output type:
#   skopeo copy   reads oci, oci-archive and docker-archive (the store image's layers);
#   umoci         unpacks oci, the oci-archive once untarred (an OCI layout in a tar) and
#                 skopeo's copy of the docker-archive into the very tree that
#                 --output type=local wrote;
#   runc          runs a bundle whose rootfs is the type=local output (root only);
#   podman        runs the image from oci: and after `podman load` of the docker-archive,
#                 with runc (root only): ENTRYPOINT, CMD, USER and WORKDIR as built.
# test_build_outputs.sh checks each output's format; this checks that they agree and run.
. "$(dirname "$0")/lib/common.sh"
need skopeo umoci jq python3
busybox_base "$T/bb"
mkdir -p "$T/ctx" "$T/o"
cat >"$T/ctx/Containerfile" <<EOF
FROM oci:$T/bb:latest
RUN mkdir -p /app && printf '%s\n' 'echo "interop \$(id -u) \$(pwd) \$1"' >/app/run.sh && chmod 0755 /app/run.sh && ln -s run.sh /app/link
COPY --chown=1000:1000 Containerfile /app/Containerfile
USER 1000
WORKDIR /app
ENTRYPOINT ["/bin/sh", "/app/run.sh"]
CMD ["default"]
EOF
o=$T/o
cb_ok "build with every output" -t interop:1 -o "type=oci,dest=$o/layout" -o "type=oci-archive,dest=$o/img.oci.tar" \
    -o "type=docker-archive,dest=$o/img.docker.tar" -o "type=local,dest=$o/rootfs" "$T/ctx"
want=$(skopeo inspect --config "oci:$CBUILD_ROOT/store:interop:1" | jq -c .rootfs.diff_ids)

# ---- skopeo copy reads every archive type; the layers are the store's.
for src in "oci:$o/layout:interop:1" "oci-archive:$o/img.oci.tar:interop:1" "docker-archive:$o/img.docker.tar"; do
    name=${src%%:*}
    if skopeo copy -q "$src" "oci:$o/copy-$name:latest" 2>"$T/skopeo.err"; then
        eq "skopeo copy $name: same layers" "$(skopeo inspect --config "oci:$o/copy-$name:latest" | jq -c .rootfs.diff_ids)" "$want"
    else
        bad "skopeo copy $name: $(cat "$T/skopeo.err")"
    fi
done

# ---- umoci unpacks each into the local output's tree.
mkdir -p "$o/untar"
tar -xf "$o/img.oci.tar" -C "$o/untar"
# listing ROOTFS [owners]: one line per entry (name, type, mode, link target, owners
# when asked) and the digest of every file.
listing() {
    local fmt='%p %y %m %l\n'
    [ $# -gt 1 ] && fmt='%p %y %m %l %U %G\n'
    (cd "$1" && find . -mindepth 1 -printf "$fmt" | sort && find . -type f -exec sha256sum {} + | sort -k2)
}
# As root both keep the image's owners; a user's unpacked files are all its own.
umoci_flags=() owners=(owners)
[ "$(id -u)" -eq 0 ] || { umoci_flags=(--rootless); owners=(); }
ref_list=$(listing "$o/rootfs" "${owners[@]}")
for layout in "layout:interop:1" "untar:interop:1" "copy-docker-archive:latest"; do
    dir=${layout%%:*}
    if umoci unpack "${umoci_flags[@]}" --image "$o/$layout" "$o/bundle-$dir" >/dev/null 2>"$T/umoci.err"; then
        eq "umoci $dir: the local output's tree" "$(listing "$o/bundle-$dir/rootfs" "${owners[@]}")" "$ref_list"
    else
        bad "umoci unpack $dir: $(cat "$T/umoci.err")"
    fi
done
eq "umoci's runtime config" "$(jq -c '[.process.user.uid, .process.cwd, .process.args]' "$o/bundle-layout/config.json")" \
    '[1000,"/app",["/bin/sh","/app/run.sh","default"]]'

if [ "$(id -u)" -ne 0 ] || ! command -v runc >/dev/null || ! command -v podman >/dev/null; then
    echo "SKIP: the runc and podman runs need root, runc and podman (rootless runc needs a cgroup set-up this suite does not make)"
    finish
    exit
fi

# ---- runc: a bundle whose rootfs is the type=local output, the process as the image's config says.
b=$o/runc-bundle
mkdir -p "$b"
(cd "$b" && runc spec)
cfg=$(skopeo inspect --config "oci:$CBUILD_ROOT/store:interop:1" | jq -c .config)
jq --arg root "$o/rootfs" --argjson c "$cfg" \
    '.root = {path: $root, readonly: true} | .process.terminal = false | .process.args = ($c.Entrypoint + ["from-runc"])
     | .process.cwd = $c.WorkingDir | .process.user = {uid: ($c.User | tonumber), gid: 0} | .process.env = $c.Env' \
    "$b/config.json" >"$b/c" && mv "$b/c" "$b/config.json"
eq "runc runs the local output" "$(runc --root "$T/runc-state" run -b "$b" "cbuild-interop-$$-$RANDOM" </dev/null 2>&1)" \
    "interop 1000 /app from-runc"

# ---- podman with runc, from oci: and from the docker-archive it loaded. podman names an
# oci: image after its path, which must then be lower-case: a link to the layout.
pm() { podman --root "$T/podman" --runroot "$T/podman-run" --storage-driver vfs "$@"; }
# Limits a sandbox allows (podman's defaults raise nofile and nproc).
prun() { pm --runtime runc run --rm --network none --ulimit nofile=1024:1024 --ulimit nproc=1024:1024 "$@"; }
lc=/tmp/cbuild-test-podman-$$-$RANDOM
ln -s "$o/layout" "$lc"
eq "podman run oci:" "$(prun "oci:$lc:interop:1" 2>"$T/pm.err")" "interop 1000 /app default"
rm -f "$lc"
check "podman load the docker-archive" pm load -i "$o/img.docker.tar"
eq "podman run the loaded image" "$(prun localhost/interop:1 from-load 2>"$T/pm.err")" "interop 1000 /app from-load"
finish
