#!/bin/bash
# SIGKILL at random points of a build, then a build with no kill: it must
# succeed and give a right image every time.
#
# The build: a COPY of a context directory and three RUN steps that write
# about 3 MB (random data with its sha256 written beside it, seq output, a
# whiteout). Its duration D is measured first; then, CB_CRASH_RUNS times
# (default 50), a build is killed with SIGKILL after a random delay in
# [0, D], and the next build (no kill, same context) must succeed:
#   - its image holds the expected files with the expected content, and
#     skopeo reads it. Every fifth run, the first and the last, umoci unpacks
#     the whole image; the other runs unpack the layers above the base (whose
#     digest must be the first build's) with GNU tar, whiteouts applied, in
#     the order skopeo lists them: umoci (Go, an mtree of the whole rootfs)
#     and the busybox layer's 280 files were most of this test's CPU outside
#     cbuild;
#   - every blob in the store matches its digest (sha256sum over
#     blobs/sha256/*; a blob is checked again only when its inode changed);
#   - `cbuild fsck` finds nothing, right after the kill and after the next
#     build (blobs, image references, cache records);
#   - no process of the killed build is left (its RUN step's processes carry
#     a token in their environment and command line; the step dies with
#     cbuild through PDEATHSIG), and no mount under the test dir remains.
# Most runs change a context file first, so the killed build runs every step
# and the next one continues from whatever records it left; every fifth kill
# is of a --no-cache build, which rewrites existing records.
# What a kill leaves under ROOT (ROOT/tmp build dirs, temp files) is counted
# and printed, with whether the next build removed it: garbage for a future
# prune, not a failure.
. "$(dirname "$0")/lib/common.sh"
need skopeo umoci jq sha256sum
trap 'chmod -R u+rwX "$T" 2>/dev/null; rm -rf "$T"' EXIT
runs=${CB_CRASH_RUNS:-50}
base=$T/busybox
busybox_base "$base"
ctx=$T/ctx
mkdir -p "$ctx/src"
for i in $(seq 1 20); do seq "$i" 3000 >"$ctx/src/f$i.txt"; done
head -c 300000 /dev/urandom >"$ctx/src/blob.bin"
token=ct-$(od -An -N6 -tx1 /dev/urandom | tr -d ' \n')
cat >"$ctx/Containerfile" <<EOF
FROM oci:$base:latest
ENV CRASH_TOKEN=$token
COPY src /src
RUN : $token; mkdir /data && head -c 800000 /dev/urandom > /data/r1 && sha256sum /data/r1 > /data/r1.sum && seq 1 100000 > /data/seq1
RUN : $token; cat /src/* | sha256sum > /data/src.sum && head -c 800000 /dev/urandom > /data/r2 && sha256sum /data/r2 > /data/r2.sum && seq 1 150000 > /data/seq2
RUN : $token; rm /data/seq1 && head -c 800000 /dev/urandom > /data/r3 && sha256sum /data/r3 > /data/r3.sum && ls /data > /data/list
EOF
# What the killed build's processes show: the token, in the environment and
# command line of its RUN steps' processes (read from a file, so the scan
# never matches itself), and cbuild itself: the binary under test with this
# test's context on its command line (other tests may run the same binary).
printf '%s\n' "$token" >"$T/pattern"
cbuild_exe=$(readlink -f "$CBUILD")

now_ms() { echo $(($(date +%s%N) / 1000000)); }
# leftovers: those pids, space-separated.
leftovers() {
    {
        grep -laFf "$T/pattern" /proc/[0-9]*/cmdline /proc/[0-9]*/environ 2>/dev/null
        find /proc -mindepth 2 -maxdepth 2 -name exe -lname "$cbuild_exe" 2>/dev/null |
            sed 's|/exe$|/cmdline|' | xargs -r grep -laF "$ctx" 2>/dev/null
    } | cut -d/ -f3 | sort -un | paste -sd' ' -
}
describe() { # pids: "pid command" of each
    local p
    for p in $1; do echo "$p $(tr '\0' ' ' <"/proc/$p/cmdline" 2>/dev/null)"; done
}
# The garbage a build can leave under ROOT: ROOT/tmp entries and temp files.
# Not inside the unpacked trees of ROOT/layers (built in ROOT/tmp, renamed
# whole): walking them 3 times a run cost more with every run, and found
# only the images' own /tmp dirs.
garbage() {
    (cd "$CBUILD_ROOT" && find tmp layers -mindepth 1 -maxdepth 1 \( -path 'tmp/*' -o -name '*tmp*' \)
        find cache store -name '*tmp*') 2>/dev/null | sort
}
# blobs_ok: every blob not seen before with the same (inode, size, mtime)
# matches its name.
: >"$T/blobs.ok"
blobs_ok() {
    stat -c '%n %i %s %Y' "$CBUILD_ROOT"/store/blobs/sha256/* | sort >"$T/blobs.now"
    comm -13 "$T/blobs.ok" "$T/blobs.now" >"$T/blobs.new"
    [ -s "$T/blobs.new" ] || return 0
    cut -d' ' -f1 "$T/blobs.new" | xargs sha256sum | awk '{ n = split($2, p, "/"); if ($1 != p[n]) { print "blob " p[n] " does not match its digest"; bad = 1 } } END { exit bad }' ||
        return 1
    sort -m "$T/blobs.ok" "$T/blobs.new" -o "$T/blobs.ok"
}
# The sha256 of the context files as `cat /src/*` reads them; set when they change.
src_sum() { src_sum=$(cd "$ctx/src" && LC_ALL=C cat -- * | sha256sum | cut -d' ' -f1); }
src_sum
seq 1 150000 >"$T/seq2"
# tar_unpack DIR LAYERS: the layers (digests, one a line) above the base in
# order, each extracted by GNU tar (any compression), then its whiteouts
# applied to what lies below.
tar_unpack() {
    local l w
    for l in ${2#*$'\n'}; do
        tar --warning=no-unknown-keyword -xf "$CBUILD_ROOT/store/blobs/sha256/${l#sha256:}" -C "$1" ||
            { echo "tar: layer $l"; return 1; }
        while IFS= read -r -d '' w; do
            [ "${w##*/}" = .wh..wh..opq ] && { echo "layer $l: an opaque dir, not expected here"; return 1; }
            rm -rf -- "${w%/*}/${w##*/.wh.}" "$w"
        done < <(find "$1" -name '.wh.*' -print0)
    done
}
# image_ok REF [umoci]: the image as skopeo reads it, and as tar (or umoci) unpacks it.
base_layer=
image_ok() {
    local r=$T/bundle/rootfs layers
    skopeo inspect "oci:$CBUILD_ROOT/store:$1" >"$T/skopeo.out" 2>&1 || { echo "skopeo: $(cat "$T/skopeo.out")"; return 1; }
    layers=$(jq -r '.Layers[]' "$T/skopeo.out") || { echo "skopeo: no layers"; return 1; }
    [ "$(wc -l <<<"$layers")" -eq 5 ] || { echo "skopeo: not 5 layers"; return 1; }
    [ -n "$base_layer" ] || base_layer=${layers%%$'\n'*}
    [ "${layers%%$'\n'*}" = "$base_layer" ] || { echo "the base layer is not the first build's"; return 1; }
    rm -rf "$T/bundle" && mkdir -p "$r"
    if [ "${2-}" = umoci ]; then
        umoci raw unpack --rootless --image "$CBUILD_ROOT/store:$1" "$r" >/dev/null 2>"$T/umoci.err" ||
            { echo "umoci unpack: $(cat "$T/umoci.err")"; return 1; }
    else
        tar_unpack "$r" "$layers" || return 1
    fi
    diff -r "$ctx/src" "$r/src" || { echo "/src differs from the context"; return 1; }
    [ "$(stat -c %s "$r/data/r1" "$r/data/r2" "$r/data/r3" | paste -sd' ')" = "800000 800000 800000" ] ||
        { echo "/data/r*: wrong sizes"; return 1; }
    (cd "$r" && sed 's|  /|  |' data/r1.sum data/r2.sum data/r3.sum | sha256sum --quiet -c) ||
        { echo "/data/r*: not the content its step hashed"; return 1; }
    [ "$(cut -d' ' -f1 "$r/data/src.sum")" = "$src_sum" ] || { echo "/data/src.sum: not the context's"; return 1; }
    cmp -s "$r/data/seq2" "$T/seq2" || { echo "/data/seq2 differs"; return 1; }
    [ ! -e "$r/data/seq1" ] || { echo "/data/seq1 not removed"; return 1; }
    [ "$(paste -sd' ' "$r/data/list")" = "list r1 r1.sum r2 r2.sum r3 r3.sum seq2 src.sum" ] ||
        { echo "/data/list: $(paste -sd' ' "$r/data/list")"; return 1; }
}

# The duration of a build that runs every step (the base already imported).
cb_ok "first build" -t crash:ok "$ctx"
check "first build: the image" image_ok crash:ok umoci
check "first build: the image as tar unpacks it" image_ok crash:ok
t0=$(now_ms)
cb_ok "timed build" -t crash:ok --no-cache "$ctx"
dur=$(($(now_ms) - t0))
echo "a build that runs every step takes $dur ms: $runs kills in [0, $dur] ms"

killed=0 early=0 survived=0 slow=0 with_garbage=0 cleaned=0 kept=0
for i in $(seq 1 "$runs"); do
    nocache=()
    if [ $((i % 5)) -eq 0 ]; then
        nocache=(--no-cache)
    else
        printf 'generation %s\n' "$i" >"$ctx/src/gen.txt"
        src_sum
    fi
    delay=$((RANDOM * dur / 32767))
    garbage >"$T/garbage.before"
    "$CBUILD" build -t crash:killed "${nocache[@]}" "$ctx" >"$T/killed.out" 2>&1 &
    pid=$!
    sleep "$(printf '%d.%03d' $((delay / 1000)) $((delay % 1000)))"
    if kill -KILL "$pid" 2>/dev/null; then killed=$((killed + 1)); else early=$((early + 1)); fi
    wait "$pid" 2>/dev/null
    # The step's namespace dies with cbuild (PDEATHSIG): give it up to 5 s.
    left=$(leftovers)
    n=0
    while [ -n "$left" ] && [ $n -lt 100 ]; do
        sleep 0.05
        n=$((n + 1))
        left=$(leftovers)
    done
    [ $n -gt 0 ] && slow=$((slow + 1))
    if [ -n "$left" ]; then
        survived=$((survived + 1))
        bad "run $i (kill after $delay ms): processes left 5 s after the kill: $(describe "$left")"
    fi
    if grep -qF "$T/" /proc/self/mountinfo; then
        bad "run $i: mounts left under the test dir: $(grep -F "$T/" /proc/self/mountinfo | cut -d' ' -f5 | head -3)"
    fi
    garbage >"$T/garbage.killed"
    new=$(comm -13 "$T/garbage.before" "$T/garbage.killed")
    # What the kill left is consistent as it is, before anything cleans up.
    cb fsck -q
    [ "$rc" -eq 0 ] && ok || bad "run $i (kill after $delay ms): fsck after the kill: exit $rc: $(head -5 "$T/out") $(tail -2 "$T/err")"

    cb_ok "run $i (kill after $delay ms): the next build" -t crash:ok "$ctx"
    [ "$rc" -eq 0 ] || { tail -5 "$T/killed.out"; }
    how=tar
    [ $((i % 5)) -eq 1 ] || [ "$i" -eq "$runs" ] && how=umoci
    check "run $i (kill after $delay ms): the image ($how)" image_ok crash:ok "$how"
    check "run $i (kill after $delay ms): every blob matches its digest" blobs_ok
    check "run $i (kill after $delay ms): fsck after the next build" "$CBUILD" fsck -q
    if [ -n "$new" ]; then
        with_garbage=$((with_garbage + 1))
        garbage >"$T/garbage.after"
        if [ -z "$(comm -12 <(echo "$new") "$T/garbage.after")" ]; then
            cleaned=$((cleaned + 1))
        else
            kept=$((kept + 1))
        fi
    fi
done
left=$(leftovers)
[ -z "$left" ] || bad "processes left at the end: $(describe "$left")"
garbage >"$T/garbage.end"
echo "kills: $killed ($early builds had ended before their kill); processes still there when the kill was reaped: $slow, 5 s later: $survived"
echo "garbage: $with_garbage kills left some under ROOT; the next build removed it after $cleaned, kept it after $kept"
echo "garbage at the end: $(grep -c '^tmp/build-' "$T/garbage.end") tmp/build-* dirs" \
    "($(du -sm "$CBUILD_ROOT/tmp" | cut -f1) MB in ROOT/tmp), $(grep -c '^tmp/blob-' "$T/garbage.end") tmp/blob-* files," \
    "$(grep -vc '^tmp/' "$T/garbage.end") temp files elsewhere: $(grep -v '^tmp/' "$T/garbage.end" | sed 's/[0-9a-f]\{64\}/<hex>/; s/tmp-.*/tmp-*/' | sort | uniq -c | paste -sd, -)"
finish
