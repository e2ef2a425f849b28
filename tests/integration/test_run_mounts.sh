#!/bin/bash
# RUN --mount: cache (kept across builds, sharing=locked serialises two
# concurrent builds), bind from the context (read-only by default; rw
# writes reach neither the context nor the layer), from a stage and from an
# image, tmpfs (nothing reaches the layer), and secrets from a file or a
# variable, as a file or as env=: the step reads them, and afterwards the
# secret is nowhere under CBUILD_ROOT (every blob decompressed), nor in the
# config or history; a required secret that is missing fails clearly. No
# mount point is left in a layer.
. "$(dirname "$0")/lib/common.sh"
need umoci skopeo jq python3 sha256sum zcat pgrep
base=$T/busybox
busybox_base "$base"
ctx=$T/ctx
mkdir -p "$ctx/data"
echo one >"$ctx/data/one.txt"
# layer_paths REF N: the paths in layer N of REF.
layer_paths() { layers "$1" | awk -v n="$2" '$1 == n { print $2 }' | sort; }

# ---------------------------------------------------------------- cache
cat >"$ctx/Containerfile.cache1" <<EOF
FROM oci:$base:latest
RUN --mount=type=cache,target=/var/cache/app,id=c1 echo first > /var/cache/app/f && echo w > /wrote
RUN --mount=type=cache,target=/cache2,uid=1000,gid=1000,mode=0700 stat -c '%u:%g %a' /cache2 > /cache2.stat
EOF
cat >"$ctx/Containerfile.cache2" <<EOF
FROM oci:$base:latest
RUN --mount=type=cache,target=/elsewhere,id=c1 cat /elsewhere/f > /seen
EOF
cb_ok "cache: first build" -t cache1:1 -f "$ctx/Containerfile.cache1" "$ctx"
cb_ok "cache: second build" -t cache2:1 -f "$ctx/Containerfile.cache2" "$ctx"
eq "cache mount: layer of the writing step" "$(layer_paths cache1:1 1 | tr '\n' ' ')" "wrote "
eq "cache mount: no mount point in the layer" "$(layer_paths cache2:1 1 | tr '\n' ' ')" "seen "
unpack cache2:1 "$T/c2" && eq "a second build sees the cache (same id)" "$(cat "$T/c2/rootfs/seen")" first
unpack cache1:1 "$T/c1" && eq "cache uid, gid, mode" "$(cat "$T/c1/rootfs/cache2.stat")" "1000:1000 700"

# sharing=locked: B's step waits for A's, which holds the cache: B starts
# while A's step sleeps, and still writes only after A is done.
m=3.$((10000 + RANDOM % 90000))
printf 'FROM oci:%s:latest\nRUN --mount=type=cache,target=/c,id=locked,sharing=locked echo start-A >> /c/log && sleep %s && echo end-A >> /c/log\n' \
    "$base" "$m" >"$ctx/Containerfile.lockA"
printf 'FROM oci:%s:latest\nRUN --mount=type=cache,target=/c,id=locked,sharing=locked echo start-B >> /c/log && echo end-B >> /c/log\n' \
    "$base" >"$ctx/Containerfile.lockB"
"$CBUILD" -t locka:1 -f "$ctx/Containerfile.lockA" "$ctx" >"$T/lockA.out" 2>&1 &
pa=$!
for _ in $(seq 200); do pgrep -f "^sleep $m\$" >/dev/null && break; sleep 0.1; done
pgrep -f "^sleep $m\$" >/dev/null || bad "sharing=locked: A's step did not start: $(tail -n 3 "$T/lockA.out")"
"$CBUILD" -t lockb:1 -f "$ctx/Containerfile.lockB" "$ctx" >"$T/lockB.out" 2>&1 &
pb=$!
sa=0 sb=0
wait "$pa" || sa=$?
wait "$pb" || sb=$?
[ "$sa $sb" = "0 0" ] && ok || bad "sharing=locked: builds exited $sa $sb: $(tail -n 3 "$T/lockA.out" "$T/lockB.out")"
printf 'FROM oci:%s:latest\nRUN --mount=type=cache,target=/c,id=locked cat /c/log > /log\n' "$base" >"$ctx/Containerfile.lockread"
cb_ok "read the locked cache" -t lockread:1 -f "$ctx/Containerfile.lockread" "$ctx"
unpack lockread:1 "$T/lr" && eq "sharing=locked: the steps took turns" "$(tr '\n' ' ' <"$T/lr/rootfs/log")" \
    "start-A end-A start-B end-B "

# ---------------------------------------------------------------- bind, tmpfs
cat >"$ctx/Containerfile.bind" <<EOF
FROM oci:$base:latest AS src
RUN mkdir /out && echo staged > /out/s.txt

FROM oci:$base:latest
RUN --mount=type=bind,source=data,target=/ctx \
    cat /ctx/one.txt > /bound; if touch /ctx/new 2>/dev/null; then echo writable; else echo readonly; fi > /bind.ro
RUN --mount=type=bind,source=data,target=/ctx,rw \
    echo x > /ctx/new && echo y >> /ctx/one.txt && cat /ctx/new /ctx/one.txt > /bind.rw
RUN --mount=type=bind,from=src,source=/out,target=/m \
    cat /m/s.txt > /fromstage
RUN --mount=type=bind,from=oci:$base:latest,source=/etc/passwd,target=/image-passwd \
    head -1 /image-passwd > /fromimage
RUN --mount=type=tmpfs,target=/scratch \
    echo t > /scratch/t && cat /scratch/t > /tmpfs.seen && grep ' /scratch ' /proc/mounts | cut -d' ' -f3 > /tmpfs.type
RUN ls /ctx /m /scratch /image-passwd > /after 2>&1; true
RUN --mount=type=bind,source=data/one.txt,target=/etc/passwd head -1 /etc/passwd > /over-passwd
WORKDIR /app
RUN --mount=type=bind,source=data,target=src cat src/one.txt > /relative
RUN --mount=type=tmpfs,target=/tmp echo t > /tmp/t
RUN --mount=type=tmpfs,target=/home/app/.cache --mount=type=tmpfs,target=/root/.cache \
    echo y > /home/app/file && echo x > /root/file
EOF
cb_ok "bind and tmpfs mounts" -t bind:1 -f "$ctx/Containerfile.bind" "$ctx"
eq "rw bind: the context is untouched" "$(ls "$ctx/data" | tr '\n' ' ')/$(cat "$ctx/data/one.txt")" "one.txt /one"
layers bind:1 | awk '$1 > 0 { $1 = ""; sub(/^ /, ""); print }' | sort >"$T/bind.l"
cut -d' ' -f1 "$T/bind.l" >"$T/bind.paths"
eq "bind/tmpfs: only the steps' own files in the layers" "$(tr '\n' ' ' <"$T/bind.paths")" \
    "after app bind.ro bind.rw bound fromimage fromstage home home/app home/app/file over-passwd relative root root/file tmpfs.seen tmpfs.type "
# The directories a mount point was made in keep their owner and mode when
# the step writes beside it.
grep -E '^(home/app|root) dir ' "$T/bind.l" >"$T/bind.dirs"
eq "directories beside mount points" "$(tr '\n' ' ' <"$T/bind.dirs")" "home/app dir 0755 1000 1000 - root dir 0700 0 0 - "
unpack bind:1 "$T/b1" && {
    r=$T/b1/rootfs
    eq "bind from the context" "$(cat "$r/bound")" one
    eq "bind is read-only by default" "$(cat "$r/bind.ro")" readonly
    eq "rw bind: writes seen in the step" "$(cat "$r/bind.rw" | tr '\n' ' ')" "x one y "
    eq "bind from a stage" "$(cat "$r/fromstage")" staged
    eq "bind from an image" "$(cat "$r/fromimage")" "root:x:0:0:root:/root:/bin/sh"
    eq "tmpfs mount" "$(cat "$r/tmpfs.seen")/$(cat "$r/tmpfs.type")" "t/tmpfs"
    eq "bind over a file of the image" "$(cat "$r/over-passwd")" one
    eq "the image's file is untouched" "$(head -1 "$r/etc/passwd")" "root:x:0:0:root:/root:/bin/sh"
    eq "relative target: from WORKDIR" "$(cat "$r/relative")" one
    for p in ctx m scratch image-passwd app/src home/app/.cache root/.cache; do
        [ ! -e "$r/$p" ] && ok || bad "mount point /$p left in the image"
    done
}

# ---------------------------------------------------------------- secrets
secret="s3cr3t-$$-$RANDOM-$RANDOM"
envsecret="envs3cr3t-$$-$RANDOM-$RANDOM"
printf '%s' "$secret" >"$T/tok"
sha() { printf '%s' "$1" | sha256sum | cut -c1-64; }
# The step writes only a digest of what it read, never the secret.
cat >"$ctx/Containerfile.secret" <<EOF
FROM oci:$base:latest
RUN --mount=type=secret,id=tok \
    sha256sum /run/secrets/tok | cut -c1-64 > /tok.sha && stat -c '%a %u' /run/secrets/tok > /tok.stat \
 && if echo x >> /run/secrets/tok; then echo writable; else echo readonly; fi > /tok.ro 2>/dev/null
RUN --mount=type=secret,id=tok,target=/etc/tok.conf,mode=0440,uid=1000 \
    sha256sum /etc/tok.conf | cut -c1-64 > /tok2.sha && stat -c '%a %u' /etc/tok.conf > /tok2.stat && echo m > /etc/motd
RUN --mount=type=secret,id=tok,env=TOKEN \
    printf '%s' "\$TOKEN" | sha256sum | cut -c1-64 > /tok.env.sha && ls /run/secrets > /tok.env.files 2>&1; true
RUN --mount=type=secret,id=fromenv,env=OTHER \
    printf '%s' "\$OTHER" | sha256sum | cut -c1-64 > /fromenv.sha
RUN --mount=type=secret,id=absent \
    if [ -e /run/secrets/absent ]; then echo present; else echo absent; fi > /absent
RUN --mount=type=secret,id=tok,target=/newdir/tok echo w > /newdir/other
RUN env > /env.after
EOF
MY_SECRET_VAR=$envsecret cb_ok "secrets" -t secret:1 --secret id=tok,src="$T/tok" \
    --secret id=fromenv,env=MY_SECRET_VAR -f "$ctx/Containerfile.secret" "$ctx"
unpack secret:1 "$T/s1" && {
    r=$T/s1/rootfs
    eq "secret file read in the step" "$(cat "$r/tok.sha")" "$(sha "$secret")"
    eq "secret file: mode 0400, root" "$(cat "$r/tok.stat")" "400 0"
    eq "secret file is read-only" "$(cat "$r/tok.ro")" readonly
    eq "secret at a target with mode and uid" "$(cat "$r/tok2.sha") $(cat "$r/tok2.stat")" "$(sha "$secret") 440 1000"
    eq "env= secret" "$(cat "$r/tok.env.sha")" "$(sha "$secret")"
    grep -q 'No such file' "$r/tok.env.files" && ok || bad "env= secret also mounted as a file: $(cat "$r/tok.env.files")"
    eq "--secret id=X,env=VAR" "$(cat "$r/fromenv.sha")" "$(sha "$envsecret")"
    eq "a missing optional secret is left out" "$(cat "$r/absent")" absent
    [ ! -e "$r/run/secrets" ] && [ ! -e "$r/etc/tok.conf" ] && [ ! -e "$r/newdir/tok" ] && ok ||
        bad "secret mount points left in the image"
    eq "a file beside a secret in a new directory" "$(ls "$r/newdir")" other
}
eq "secret target in /etc: only the step's file in its layer" "$(layer_paths secret:1 2 | tr '\n' ' ')" \
    "etc etc/motd tok2.sha tok2.stat "
# Nowhere: any file under the root, any blob decompressed, config, history,
# cbuild's own output.
grep -rlF -e "$secret" -e "$envsecret" "$CBUILD_ROOT" >"$T/found" 2>/dev/null
for b in "$CBUILD_ROOT"/store/blobs/sha256/*; do
    if zcat -f "$b" 2>/dev/null | grep -qaF -e "$secret" -e "$envsecret"; then echo "$b"; fi
done >>"$T/found"
config secret:1 | grep -qF -e "$secret" -e "$envsecret" && echo config >>"$T/found"
grep -qF -e "$secret" -e "$envsecret" "$T/out" "$T/err" && echo "cbuild output" >>"$T/found"
[ ! -s "$T/found" ] && ok || bad "the secret was found in: $(cat "$T/found")"
eq "the config's Env has no secret variable" "$(config secret:1 | jq -r '.config.Env | map(select(test("^(TOKEN|OTHER)="))) | length')" 0

printf 'FROM oci:%s:latest\nRUN --mount=type=secret,id=needed,required=true true\n' "$base" >"$ctx/Containerfile.required"
cb_fails "a required secret that is missing" 'Containerfile.required:2(:[0-9]+)?: .*needed.*required|Containerfile.required:2(:[0-9]+)?: .*required.*needed' \
    -t req:1 -f "$ctx/Containerfile.required" "$ctx"
cb_fails "--secret with a missing file" "$T/nosuchfile" -t req:2 --secret id=needed,src="$T/nosuchfile" \
    -f "$ctx/Containerfile.required" "$ctx"
finish
