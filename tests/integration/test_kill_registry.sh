#!/bin/bash
# SIGKILL at random points of pushes and pulls against the loopback registry
# (Debian's distribution registry, tests/integration/lib/registry.sh),
# CB_KILL_RUNS times each (default 50). The image: busybox and 4 MB of
# seeded random bytes, so a kill can land in the middle of a blob.
#
# Push: the time D of a push that uploads everything is measured; then each
# run pushes to a new repository (ROOT/blob-sources emptied, so blobs are
# uploaded, not mounted), is killed after a random delay in [0, D], and:
#   - the registry has no tag or the right one (the manifest goes last);
#   - the local store fscks clean (a push only reads it);
#   - the next push to the same repository succeeds with the store's digest,
#     the registry's tag serves a manifest with that digest, and every tenth
#     run skopeo copies the image out (checking every blob's digest).
# Pull: each run pulls into an empty root, is killed after a random delay in
# [0, D'] (D' the time of a whole pull), and:
#   - that root fscks clean as the kill left it (no half-written blob under
#     its digest, no tag without its blobs);
#   - the next pull into it succeeds with the registry's digest, fsck is clean
#     again (every blob hashed) and, every tenth run, skopeo reads the
#     pulled image from the store.
# Neither leaves a cbuild process behind.
source "$CB_SOURCE_DIR/tests/integration/lib/common.sh"
source "$CB_SOURCE_DIR/tests/integration/lib/registry.sh"
need skopeo jq python3
busybox_base "$T/bb"
export SOURCE_DATE_EPOCH=1700000000
runs=${CB_KILL_RUNS:-50}

mkdir -p "$T/ctx"
python3 -c 'import random,sys; r=random.Random(8); sys.stdout.buffer.write(r.randbytes(4000000))' >"$T/ctx/big"
printf 'FROM oci:%s:latest\nCOPY big /big\n' "$T/bb" >"$T/ctx/Containerfile"
cb_ok "build" build -q -t app:1 "$T/ctx"
want=$(skopeo inspect --format '{{.Digest}}' "oci:$CBUILD_ROOT/store:app:1")
registry_plain || exit 1
R=$REG_PLAIN
cbuild_exe=$(readlink -f "$CBUILD")

now_ms() { echo $(($(date +%s%N) / 1000000)); }
ms_sleep() { sleep "$(printf '%d.%03d' $(($1 / 1000)) $(($1 % 1000)))"; }
# our_procs: cbuild processes of this test still alive (their command line has $T).
our_procs() {
    find /proc -mindepth 2 -maxdepth 2 -name exe -lname "$cbuild_exe" 2>/dev/null |
        sed 's|/exe$|/cmdline|' | xargs -r grep -laF "$T/" 2>/dev/null | cut -d/ -f3 | paste -sd' ' -
}
# kill_after MS ARGS...: cbuild ARGS in the background, SIGKILLed after MS ms;
# `killed` counts kills that found it running.
killed=0 early=0
kill_after() {
    local ms=$1 pid
    shift
    "$CBUILD" "$@" >"$T/killed.out" 2>&1 &
    pid=$!
    ms_sleep "$ms"
    if kill -KILL "$pid" 2>/dev/null; then killed=$((killed + 1)); else early=$((early + 1)); fi
    wait "$pid" 2>/dev/null
    local left
    left=$(our_procs)
    [ -z "$left" ] || bad "processes left after the kill: $left"
}
# registry_digest REPO: the sha256 of the manifest the registry's tag 1 gives, or "none".
accept="application/vnd.oci.image.manifest.v1+json,application/vnd.docker.distribution.manifest.v2+json"
registry_digest() {
    curl -sf -H "Accept: $accept" "http://$R/v2/$1/manifests/1" >"$T/manifest" &&
        echo "sha256:$(sha256sum <"$T/manifest" | cut -d' ' -f1)" || echo none
}

# --- pushes ------------------------------------------------------------------------
rm -rf "$CBUILD_ROOT/blob-sources"
t0=$(now_ms)
cb_ok "timed push" push -q app:1 "docker://$R/timing/app:1"
dur=$(($(now_ms) - t0))
eq "timed push digest" "$(cat "$T/out")" "$want"
echo "a push that uploads every blob takes $dur ms: $runs kills in [0, $dur] ms"
tagged=0
t_start=$(now_ms)
for i in $(seq 1 "$runs"); do
    rm -rf "$CBUILD_ROOT/blob-sources"
    delay=$((RANDOM * dur / 32767))
    kill_after "$delay" push -q app:1 "docker://$R/p$i/app:1"
    got=$(registry_digest "p$i/app")
    if [ "$got" != none ]; then
        tagged=$((tagged + 1))
        eq "push run $i (kill after $delay ms): the tag the kill left" "$got" "$want"
    fi
    check "push run $i: fsck after the kill" "$CBUILD" fsck -q
    cb_ok "push run $i (kill after $delay ms): the next push" push -q app:1 "docker://$R/p$i/app:1"
    eq "push run $i: pushed digest" "$(cat "$T/out")" "$want"
    eq "push run $i: registry digest" "$(registry_digest "p$i/app")" "$want"
    if [ $((i % 10)) -eq 0 ]; then
        rm -rf "$T/copy"
        check "push run $i: skopeo copy verifies every blob" \
            skopeo copy -q --src-tls-verify=false "docker://$R/p$i/app:1" "oci:$T/copy:x"
    fi
done
echo "pushes: $killed killed, $early had ended before their kill, $tagged tags already set when killed; $(($(now_ms) - t_start)) ms"

# --- pulls -------------------------------------------------------------------------
killed=0 early=0
proot=$T/proot
t0=$(now_ms)
cb_ok "timed pull" pull -q --root "$proot" "$R/timing/app:1"
dur=$(($(now_ms) - t0))
eq "timed pull digest" "$(cat "$T/out")" "$want"
echo "a pull into an empty root takes $dur ms: $runs kills in [0, $dur] ms"
partial=0
t_start=$(now_ms)
for i in $(seq 1 "$runs"); do
    rm -rf "$proot"
    delay=$((RANDOM * dur / 32767))
    kill_after "$delay" pull -q --root "$proot" "$R/timing/app:1"
    [ -n "$(ls -A "$proot/tmp" 2>/dev/null)" ] && partial=$((partial + 1))
    if [ -d "$proot/store" ]; then
        cb fsck -q --root "$proot"
        [ "$rc" -eq 0 ] && ok || bad "pull run $i (kill after $delay ms): fsck after the kill: $(head -5 "$T/out") $(cat "$T/err")"
    fi
    cb_ok "pull run $i (kill after $delay ms): the next pull" pull -q --root "$proot" "$R/timing/app:1"
    eq "pull run $i: pulled digest" "$(cat "$T/out")" "$want"
    check "pull run $i: fsck after the next pull" "$CBUILD" fsck -q --root "$proot"
    if [ $((i % 10)) -eq 0 ]; then
        eq "pull run $i: skopeo reads the store" \
            "$(skopeo inspect --format '{{.Digest}}' "oci:$proot/store:$R/timing/app:1" 2>&1)" "$want"
    fi
done
echo "pulls: $killed killed, $early had ended before their kill, $partial left files in ROOT/tmp; $(($(now_ms) - t_start)) ms"
finish
