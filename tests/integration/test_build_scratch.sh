#!/bin/bash
# A build from scratch with every instruction but RUN, judged by skopeo,
# umoci, oci-image-tool and python's tarfile: config fields, history, the
# layers' entries, the unpacked tree, .containerignore.
. "$(dirname "$0")/lib/common.sh"
need skopeo umoci oci-image-tool jq python3
ctx=$CB_TESTDATA/build/scratch-meta

cb_ok "build" -t meta:dev --build-arg VERSION=2.5 "$ctx"
check "skopeo inspect" skopeo inspect "oci:$CBUILD_ROOT/store:meta:dev"
check "oci-image-tool validate" oci-image-tool validate --type image --ref name=meta:dev "$CBUILD_ROOT/store"
id=$(tail -1 "$T/out")
cfg=$(config meta:dev)
raw_id=$(skopeo inspect --raw --config "oci:$CBUILD_ROOT/store:meta:dev" | sha256sum | cut -d" " -f1)
eq "printed image id is the config digest" "$id" "$raw_id"
j() { jq -c "$1" <<<"$cfg"; }
eq "Env" "$(j .config.Env)" '["PATH=/bin","APP_HOME=/app","GREETING=hello world"]'
eq "WorkingDir" "$(j .config.WorkingDir)" '"/app"'
eq "User" "$(j .config.User)" '"1000:1000"'
eq "Entrypoint" "$(j .config.Entrypoint)" '["/app/bin/run"]'
eq "Cmd (shell form through SHELL)" "$(j .config.Cmd)" '["/bin/bash","-c","echo \"final $VERSION\""]'
eq "ExposedPorts" "$(j .config.ExposedPorts)" '{"53/udp":{},"8080/tcp":{}}'
eq "Volumes" "$(j .config.Volumes)" '{"/cache":{},"/data":{}}'
eq "Labels" "$(j .config.Labels)" '{"maintainer.name":"A B","org.example.version":"2.5"}'
eq "StopSignal" "$(j .config.StopSignal)" '"SIGINT"'
eq "Shell" "$(j .config.Shell)" '["/bin/bash","-c"]'
eq "Healthcheck" "$(j .config.Healthcheck)" '{"Interval":30000000000,"Retries":3,"Test":["CMD","/app/bin/run","--health"],"Timeout":5000000000}'
eq "OnBuild" "$(j .config.OnBuild)" '["COPY . /onbuild"]'
eq "author" "$(j .author)" '"someone@example.com"'
eq "layers" "$(j '.rootfs.diff_ids | length')" 5
eq "history entries (ARG leaves none)" "$(j '.history | length')" 19
eq "empty_layer entries" "$(j '[.history[] | select(.empty_layer)] | length')" 14
eq "history of a COPY" "$(j '[.history[] | select(.empty_layer | not) | .created_by][1]')" '"COPY hello.txt ./"'

# The layers' entries (python tarfile): WORKDIR made /app; modes and owners.
layers meta:dev >"$T/layers"
grep -q '^0 app dir 0755 0 0' "$T/layers" && ok || bad "WORKDIR layer: $(head -3 "$T/layers")"
grep -q ' app/hello.txt file 0644 0 0 ' "$T/layers" && ok || bad "COPY hello.txt: $(cat "$T/layers")"
grep -q ' app/bin/run file 0755 0 0 ' "$T/layers" && ok || bad "--chmod: $(grep run "$T/layers")"
grep -q ' app/owned file 0644 1000 1000 ' "$T/layers" && ok || bad "--chown: $(grep owned "$T/layers")"
grep -q ' app/src/sub/b.txt file ' "$T/layers" && ok || bad "directory contents"
grep -q 'ignored.log' "$T/layers" && bad ".containerignore: ignored.log was copied" || ok
grep -q ' app/src/keep.log file ' "$T/layers" && ok || bad ".containerignore exception: keep.log missing"

unpack meta:dev "$T/bundle" && {
    r=$T/bundle/rootfs
    eq "content" "$(cat "$r/app/hello.txt")" hello
    eq "content in a copied dir" "$(cat "$r/app/src/sub/b.txt")" b
    [ -x "$r/app/bin/run" ] && ok || bad "run is not executable"
}
finish
