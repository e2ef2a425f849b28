#!/bin/bash
# SIGINT and SIGTERM, sent to cbuild while it is in each phase of its work:
#   pull   a build's FROM of a registry image, its layer half sent and then
#          held back by the fault proxy (a half-written blob in ROOT/tmp)
#   copy   a COPY of 47 MB of text (its layer blob being written)
#   run    a RUN that sleeps
#   commit a RUN that wrote 47 MB of text: its layer being compressed and written
#   push   cbuild push, its blob uploads held back by the proxy
#   fetch  cbuild pull, the layer half sent and held back
# Each time: exit status 130 (SIGINT) or 143 (SIGTERM) within 5 s of the
# signal, and nothing left behind: no mount under the root in
# /proc/self/mountinfo, no process of the command (cbuild with this test's
# directory on its command line, the step's `sleep`), ROOT/tmp empty (nothing
# is allowed there after a command ends, interrupted or not), no new tag, and
# `cbuild fsck` clean.
source "$CB_SOURCE_DIR/tests/integration/lib/common.sh"
source "$CB_SOURCE_DIR/tests/integration/lib/registry.sh"
need skopeo jq python3 curl pgrep
busybox_base "$T/bb"
export SOURCE_DATE_EPOCH=1700000000
registry_plain || exit 1
registry_fault "$REG_PLAIN" 1 0 || exit 1
mkdir -p "$T/ctx" "$T/src"
# The copy and commit phases are a layer blob being written: text (47 MB)
# compressed on one thread, so the blob stays in ROOT/tmp long enough to be
# seen and signalled (16 MB of random bytes, stored, went by in a few polls).
seq 1 6000000 >"$T/ctx/big"
export CBUILD_JOBS=1
# A registry base whose top layer the test's root never gets: 8 MB of its own.
head -c 8000000 /dev/urandom >"$T/src/big"
printf 'FROM oci:%s:latest\nCOPY big /big\n' "$T/bb" >"$T/src/Containerfile"
cb_ok "the registry base" build --root "$T/srcroot" -q -t src:1 "$T/src"
cb_ok "its push" push --root "$T/srcroot" -q src:1 "docker://$REG_PLAIN/lib/big:1"
big_layer=$(skopeo inspect --tls-verify=false "docker://$REG_PLAIN/lib/big:1" | jq -r '.Layers[-1]')
n=$((200000 + RANDOM * 4 + $$ % 4)) # a sleep no other test runs
printf 'FROM %s/lib/big:1\nRUN echo never\n' "$REG_FAULT" >"$T/ctx/Containerfile.pull"
printf 'FROM oci:%s:latest\nCOPY big /big\n' "$T/bb" >"$T/ctx/Containerfile.copy"
printf 'FROM oci:%s:latest\nRUN sleep %s\n' "$T/bb" "$n" >"$T/ctx/Containerfile.run"
printf 'FROM oci:%s:latest\nRUN seq 1 6000000 > /x\n' "$T/bb" >"$T/ctx/Containerfile.commit"
cb_ok "the base in the store" build -q -t base:1 -f /dev/stdin "$T/ctx" <<<"FROM oci:$T/bb:latest"
cbuild_exe=$(readlink -f "$CBUILD")
our_procs() {
    find /proc -mindepth 2 -maxdepth 2 -name exe -lname "$cbuild_exe" 2>/dev/null |
        sed 's|/exe$|/cmdline|' | xargs -r grep -laF "$T/" 2>/dev/null | cut -d/ -f3 | paste -sd' ' -
}
# Phase markers: when the command is where the signal is meant to land.
blob_temp() { ls "$CBUILD_ROOT/tmp" | grep -q '^blob-'; }
step_sleeps() { pgrep -f "^sleep $n\$" >/dev/null; }
proxy_held() { [ "$(fault_stats .faults.stall)" -ge 1 ]; }

# interrupt SIGNAL PHASE MARKER ARGS...: cbuild ARGS in the background (its
# own process group, default dispositions, as a shell's job), SIGNAL once
# MARKER holds (20 s at most), then the checks above.
interrupt() {
    local sig=$1 phase=$2 marker=$3 what="$1 during $2" i pid st=0 t0 ms
    shift 3
    local index_before
    index_before=$(sha256sum <"$CBUILD_ROOT/store/index.json")
    set -m
    "$CBUILD" "$@" >"$T/bg.out" 2>"$T/bg.err" &
    pid=$!
    set +m
    for i in $(seq 400); do "$marker" && break; sleep 0.05; done
    if ! "$marker"; then
        bad "$what: never reached the phase: $(tail -3 "$T/bg.err")"
        kill -KILL "$pid"
        wait "$pid"
        return
    fi
    t0=$(date +%s%N)
    kill "-$sig" "$pid"
    wait "$pid" || st=$?
    ms=$((($(date +%s%N) - t0) / 1000000))
    eq "$what: exit status" "$st" "$([ "$sig" = INT ] && echo 130 || echo 143)"
    [ "$ms" -lt 5000 ] && ok || bad "$what: took $ms ms to stop"
    grep -q "interrupted by SIG$sig" "$T/bg.err" && ok || bad "$what: no word of the signal: $(tail -3 "$T/bg.err")"
    sleep 0.2 # a RUN step's processes die with their namespace
    local left
    left=$(our_procs)
    [ -z "$left" ] && ok || bad "$what: cbuild processes left: $left"
    pgrep -af "^sleep $n\$" >"$T/procs" && bad "$what: step processes left: $(cat "$T/procs")" || ok
    grep -F "$CBUILD_ROOT" /proc/self/mountinfo >"$T/mounts" && bad "$what: mounts left: $(cat "$T/mounts")" || ok
    eq "$what: ROOT/tmp" "$(ls -A "$CBUILD_ROOT/tmp")" ""
    eq "$what: index.json unchanged" "$(sha256sum <"$CBUILD_ROOT/store/index.json")" "$index_before"
    check "$what: fsck" "$CBUILD" fsck
    echo "$what: stopped in $ms ms"
}

for sig in INT TERM; do
    fault_config rate=1 modes=stall "match=/blobs/$big_layer"
    interrupt "$sig" pull blob_temp build -t int:pull -f "$T/ctx/Containerfile.pull" "$T/ctx"
    fault_config rate=0
    # --no-cache: a signal that lands as the COPY's blob is sealed lets the
    # step finish (the build stops before the next one), and the next round
    # must still find the step to run.
    interrupt "$sig" copy blob_temp build --no-cache -t int:copy -f "$T/ctx/Containerfile.copy" "$T/ctx"
    interrupt "$sig" run step_sleeps build --no-cache -t int:run -f "$T/ctx/Containerfile.run" "$T/ctx"
    interrupt "$sig" commit blob_temp build --no-cache -t int:commit -f "$T/ctx/Containerfile.commit" "$T/ctx"
    fault_config rate=1 modes=stall match=/blobs/uploads/
    rm -rf "$CBUILD_ROOT/blob-sources"
    interrupt "$sig" push proxy_held push base:1 "docker://$REG_FAULT/int/base:1"
    fault_config rate=1 modes=stall "match=/blobs/$big_layer"
    interrupt "$sig" fetch blob_temp pull "$REG_FAULT/lib/big:1"
done
fault_config rate=0
# The interrupted commands left nothing that stops the next one.
cb_ok "a build after it all" build -q -t int:copy -f "$T/ctx/Containerfile.copy" "$T/ctx"
cb_ok "a pull after it all" pull -q "$REG_FAULT/lib/big:1"
check "fsck after it all" "$CBUILD" fsck
finish
