#!/bin/bash
# Pushes and pulls through the fault proxy (tests/registry/fault_proxy.py) in
# front of the loopback distribution registry, one kind of fault at a time:
# dropped connections, 500, 429 (Retry-After: 1), stalls (an answer held back,
# or half a body and then silence) and truncated downloads (half the body
# of its Content-Length). CBUILD_REGISTRY_TIMEOUT=1 makes cbuild give up on a
# silent transfer after about a second (the low-speed limit), so stalls cost
# seconds, not minutes; CBUILD_REGISTRY_RETRY_DELAY=20 starts the retries'
# backoff at 20 ms instead of 250 (a 429's Retry-After: 1 is still waited).
#   - Faults on 30 % of the requests of a pull, 12 % of those of a push
#     (more requests: 256 KiB chunks): each push and pull completes after
#     retries with the right digest; the pulled root fscks clean (every blob
#     hashed); the pushed image's tag serves the store's manifest and skopeo
#     copies it out (checking every blob).
#   - Faults on every request: each fails within a bounded time (printed)
#     with exit 1 and an error naming the repository and the fault; nothing
#     is tagged (in the root, in the registry), the root fscks clean and
#     ROOT/tmp is empty.
source "$CB_SOURCE_DIR/tests/integration/lib/common.sh"
source "$CB_SOURCE_DIR/tests/integration/lib/registry.sh"
need skopeo jq python3 curl
busybox_base "$T/bb"
export SOURCE_DATE_EPOCH=1700000000
export CBUILD_REGISTRY_TIMEOUT=1
export CBUILD_REGISTRY_RETRY_DELAY=20
mkdir -p "$T/ctx"
python3 -c 'import random,sys; sys.stdout.buffer.write(random.Random(5).randbytes(2000000))' >"$T/ctx/big"
printf 'FROM oci:%s:latest\nCOPY big /big\n' "$T/bb" >"$T/ctx/Containerfile"
cb_ok "build" build -q -t app:1 "$T/ctx"
registry_plain || exit 1
registry_fault "$REG_PLAIN" 1 0 || exit 1
cb_ok "push without faults" push -q app:1 "docker://$REG_PLAIN/src/app:1"
want=$(cat "$T/out")
accept="application/vnd.oci.image.manifest.v1+json,application/vnd.docker.distribution.manifest.v2+json"
# registry_digest REPO: the sha256 of what the registry's tag 1 serves, or "none".
registry_digest() {
    curl -sf -H "Accept: $accept" "http://$REG_PLAIN/v2/$1/manifests/1" >"$T/manifest" &&
        echo "sha256:$(sha256sum <"$T/manifest" | cut -d' ' -f1)" || echo none
}
now_ms() { echo $(($(date +%s%N) / 1000000)); }

seed=20
for mode in drop 500 429 stall trunc; do
    seed=$((seed + 1))
    root=$T/pull-$mode
    fault_config seed=$seed rate=0.3 modes=$mode
    t0=$(now_ms)
    cb_ok "pull through $mode faults" pull -q --root "$root" "$REG_FAULT/src/app:1"
    ms=$(($(now_ms) - t0))
    eq "pull through $mode faults: digest" "$(cat "$T/out")" "$want"
    check "pull through $mode faults: fsck" "$CBUILD" fsck --root "$root"
    n=$(fault_stats ".faults[\"$mode\"]")
    [ "$n" -ge 1 ] && ok || bad "pull: no $mode fault injected: $(fault_stats -c .)"
    echo "pull through $mode faults: $n injected, $ms ms"

    [ "$mode" = trunc ] && continue # pushes send no GET with a body
    # Fewer on pushes of 256 KiB chunks: every stall or 429 costs a second or more.
    fault_config seed=$seed rate=0.12 modes=$mode
    rm -rf "$CBUILD_ROOT/blob-sources"
    t0=$(now_ms)
    CBUILD_PUSH_CHUNK_SIZE=262144 cb_ok "push through $mode faults" push -q --jobs 2 app:1 "docker://$REG_FAULT/f-$mode/app:1"
    ms=$(($(now_ms) - t0))
    eq "push through $mode faults: digest" "$(cat "$T/out")" "$want"
    eq "push through $mode faults: the registry's tag" "$(registry_digest "f-$mode/app")" "$want"
    rm -rf "$T/copy"
    check "push through $mode faults: skopeo copy" \
        skopeo copy -q --src-tls-verify=false "docker://$REG_PLAIN/f-$mode/app:1" "oci:$T/copy:x"
    n=$(fault_stats ".faults[\"$mode\"]")
    [ "$n" -ge 1 ] && ok || bad "push: no $mode fault injected: $(fault_stats -c .)"
    echo "push through $mode faults: $n injected, $ms ms"
done

# Every request faulted: a clean failure, in bounded time. What each error says.
declare -A says=([stall]='too slow|[Tt]ime' [trunc]='transfer closed|[Pp]artial|outstanding' [429]='HTTP 429' [drop]='[Ee]mpty reply|[Cc]onnection|[Rr]ecv|closed')
for mode in stall trunc 429; do
    root=$T/fail-$mode
    fault_config rate=1 modes=$mode
    t0=$(now_ms)
    cb_fails "pull, every request $mode" "$REG_FAULT/src/app" pull -q --root "$root" "$REG_FAULT/src/app:1"
    ms=$(($(now_ms) - t0))
    eq "pull, every request $mode: exit" "$rc" 1
    grep -qE "${says[$mode]}" "$T/err" && ok || bad "pull, every request $mode: the error does not say what failed: $(cat "$T/err")"
    [ "$ms" -lt 60000 ] && ok || bad "pull, every request $mode: gave up after $ms ms"
    echo "pull, every request $mode: failed after $ms ms: $(tail -1 "$T/err")"
    if [ -d "$root/store" ]; then
        check "pull, every request $mode: fsck" "$CBUILD" fsck --root "$root"
        eq "pull, every request $mode: no tag" "$(jq '.manifests | length' "$root/store/index.json")" 0
        eq "pull, every request $mode: ROOT/tmp empty" "$(ls -A "$root/tmp")" ""
    fi
done
for mode in stall drop; do
    fault_config rate=1 modes=$mode
    rm -rf "$CBUILD_ROOT/blob-sources"
    t0=$(now_ms)
    cb_fails "push, every request $mode" "$REG_FAULT/x-$mode/app" push -q app:1 "docker://$REG_FAULT/x-$mode/app:1"
    ms=$(($(now_ms) - t0))
    eq "push, every request $mode: exit" "$rc" 1
    grep -qE "${says[$mode]}" "$T/err" && ok || bad "push, every request $mode: the error does not say what failed: $(cat "$T/err")"
    [ "$ms" -lt 60000 ] && ok || bad "push, every request $mode: gave up after $ms ms"
    echo "push, every request $mode: failed after $ms ms: $(tail -1 "$T/err")"
    eq "push, every request $mode: no tag in the registry" "$(registry_digest "x-$mode/app")" none
done
CBUILD_REGISTRY_RETRY_DELAY=soon cb_fails "a bad CBUILD_REGISTRY_RETRY_DELAY" \
    'CBUILD_REGISTRY_RETRY_DELAY=soon: expected milliseconds' pull -q "$REG_PLAIN/src/app:1"
check "the local store after it all: fsck" "$CBUILD" fsck
finish
