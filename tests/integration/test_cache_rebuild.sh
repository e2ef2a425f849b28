#!/bin/bash
# The build cache across rebuilds of one Containerfile on the busybox base:
# ARG, a COPY of a context directory with a .containerignore, ENV/LABEL,
# WORKDIR and RUN steps before and after the ARG. Which steps hit is read
# from stderr ("STEP n/N: ..." followed or not by "--> Using cache"); a RUN
# that runs echoes a marker, so a hit is also seen to run nothing.
#   (a) a rebuild with no change hits every RUN/COPY/WORKDIR step, with the
#       same layers (and, under SOURCE_DATE_EPOCH, the same manifest);
#   (b) a changed file under the COPY source rebuilds the COPY and every
#       later step, not earlier ones; changed back, everything hits again;
#   (c) a change to, or a new, file that .containerignore excludes rebuilds
#       nothing; a change to .containerignore that lets it in does;
#   (d) `touch` (mtime only) rebuilds nothing; chmod does; new content of the
#       same size with the old mtime put back does (the stat cache sees ctime);
#   (e) a build arg used by a later RUN invalidates from that RUN only; an
#       ARG in scope reaches a RUN that does not name it, whose key follows;
#   (f) --no-cache runs everything and gives the cached build's manifest;
#   (g) a hit runs nothing: no marker, no runner set up;
#   (h) another --compression or --timestamp does not reuse layers made
#       with another setting (media types, digests);
#   (i) a layer blob deleted from the store makes its step a miss, not an
#       error, and the image is whole again.
. "$(dirname "$0")/lib/common.sh"
need skopeo umoci jq sha256sum
base=$T/busybox
busybox_base "$base"
ctx=$T/ctx
mkdir -p "$ctx/src/sub"
printf 'alpha\n' >"$ctx/src/a.txt"
printf 'bravo\n' >"$ctx/src/sub/b.txt"
head -c 3000 /dev/zero | tr '\0' 'c' >"$ctx/src/c.bin"
printf 'log one\n' >"$ctx/src/ignored.log"
printf 'src/*.log\n' >"$ctx/.containerignore"
# Steps: 2 RUN, 3 COPY, 5 WORKDIR, 7 RUN, 9 RUN (uses V), 11 RUN (does not).
cat >"$ctx/Containerfile" <<EOF
FROM oci:$base:latest
RUN echo marker-r1 && mkdir /data && echo one > /data/one
COPY src /app/src
ENV MODE=test
WORKDIR /app
LABEL stage=demo
RUN echo marker-r2 && cat src/a.txt src/sub/b.txt > /data/ab && ls -R src > /data/list
ARG V=1
RUN echo marker-r3 && echo "v=\$V" > /data/v
LABEL later=yes
RUN echo marker-r4 && cat /data/v /data/ab > /data/all
EOF
export SOURCE_DATE_EPOCH=1700000000

# steps: the cacheable steps of the last build and whether they hit:
# "2:miss 3:hit ...".
steps() {
    awk '
        function flush() { if (n != "") { out = out sep n ":" st; sep = " " } n = "" }
        /^STEP [0-9]+\/[0-9]+: / { flush(); split($2, a, "/"); if ($3 ~ /^(RUN|COPY|ADD|WORKDIR)$/) { n = a[1]; st = "miss" }; next }
        /^--> Using cache [0-9a-f]+$/ { if (n != "") st = "hit"; else st = "stray" }
        END { flush(); print out }' "$T/err"
}
all_hit="2:hit 3:hit 5:hit 7:hit 9:hit 11:hit"
all_miss="2:miss 3:miss 5:miss 7:miss 9:miss 11:miss"
# markers: the RUN markers the last build printed, "r1 r2 ..." in order.
markers() {
    cat "$T/out" "$T/err" | sed -n 's/^\(\[[^]]*\] \)\{0,1\}marker-\(r[0-9]\)$/\2/p' | sort | paste -sd' ' -
}
hits() { grep -c '^--> Using cache ' "$T/err"; }
# The manifest digest of a store image, and its layers' "mediaType digest".
manifest() {
    jq -r --arg r "$1" '.manifests[] | select(.annotations["org.opencontainers.image.ref.name"] == $r) | .digest' \
        "$CBUILD_ROOT/store/index.json"
}
blob() { echo "$CBUILD_ROOT/store/blobs/sha256/${1#sha256:}"; }
layer_list() { jq -r '.layers[] | .mediaType + " " + .digest' "$(blob "$(manifest "$1")")"; }
nbase=$(jq '.layers | length' "$base/blobs/sha256/$(jq -r '.manifests[0].digest' "$base/index.json" | cut -d: -f2)")
# The layers the steps added (the base's left out).
step_layers() { layer_list "$1" | tail -n +$((nbase + 1)); }
# Every blob in the store matches its name.
blobs_ok() {
    local f bad=0
    for f in "$CBUILD_ROOT"/store/blobs/sha256/*; do
        [ "$(sha256sum <"$f" | cut -d' ' -f1)" = "${f##*/}" ] || { echo "blob ${f##*/} does not match its digest"; bad=1; }
    done
    return $bad
}
# content REF: the image's /data files and /app/src listing, as umoci unpacks it.
content() {
    unpack "$1" "$T/bundle" || return 0
    local r=$T/bundle/rootfs
    (cd "$r" && for f in data/one data/ab data/v data/all; do printf '%s: %s\n' "$f" "$(tr '\n' '|' <"$f")"; done
        find app/src | sort | tr '\n' ' '; echo)
}
want_content() { # V B
    printf 'data/one: one|\ndata/ab: alpha|%s|\ndata/v: v=%s|\ndata/all: v=%s|alpha|%s|\n' "$2" "$1" "$1" "$2"
    echo "app/src app/src/a.txt app/src/c.bin app/src/sub app/src/sub/b.txt "
}

# ---------------------------------------------------------------- (a)
cb_ok "first build" -t app:1 "$ctx"
eq "(a) first build: every step runs" "$(steps)" "$all_miss"
eq "(a) first build: every RUN echoes" "$(markers)" "r1 r2 r3 r4"
eq "(a) first build: content" "$(content app:1)" "$(want_content 1 bravo)"
m1=$(manifest app:1)
layer_list app:1 >"$T/layers.1"
eq "(a) a layer for each RUN and the COPY (WORKDIR /app exists already)" "$(($(wc -l <"$T/layers.1") - nbase))" 5

cb_ok "rebuild" -t app:2 "$ctx"
eq "(a) rebuild: every RUN/COPY/WORKDIR hits" "$(steps)" "$all_hit"
eq "(a) rebuild: six 'Using cache' lines" "$(hits)" 6
eq "(a) rebuild: same manifest under SOURCE_DATE_EPOCH" "$(manifest app:2)" "$m1"
layer_list app:2 >"$T/layers.2"
check "(a) rebuild: same layers" cmp "$T/layers.1" "$T/layers.2"
# (g) a hit runs nothing: no marker, and the runner's one-time notice is not printed.
eq "(g) rebuild: no RUN output" "$(markers)" ""
check "(g) rebuild: no RUN set up" bash -c "! grep -q '^RUN steps run on' '$T/err'"
check "(a) skopeo reads the rebuilt image" skopeo inspect "oci:$CBUILD_ROOT/store:app:2"

# Without a timestamp clamp: its own keys (the layers' mtimes differ), then hits.
(
    unset SOURCE_DATE_EPOCH
    cb_ok "build without SOURCE_DATE_EPOCH" -t app:now "$ctx"
    eq "(h) without a clamp, no layer made with one is reused" "$(steps)" "$all_miss"
    layer_list app:now >"$T/layers.now1"
    sleep 1.1
    cb_ok "rebuild without SOURCE_DATE_EPOCH" -t app:now2 "$ctx"
    eq "(a) rebuild without a clamp: every step hits" "$(steps)" "$all_hit"
    layer_list app:now2 >"$T/layers.now2"
    check "(a) rebuild without a clamp: same layers" cmp "$T/layers.now1" "$T/layers.now2"
    echo "$pass $fail" >"$T/sub.count"
)
read -r pass fail <"$T/sub.count"

# ---------------------------------------------------------------- (b)
printf 'BRAVO\n' >"$ctx/src/sub/b.txt"
cb_ok "build after a change under the COPY source" -t app:b "$ctx"
eq "(b) changed source: COPY and later steps rebuild" "$(steps)" "2:hit 3:miss 5:miss 7:miss 9:miss 11:miss"
eq "(b) changed source: the RUNs after the COPY run" "$(markers)" "r2 r3 r4"
eq "(b) changed source: content" "$(content app:b)" "$(want_content 1 BRAVO)"
step_layers app:b | head -1 >"$T/b.first"
step_layers app:1 | head -1 >"$T/1.first"
check "(b) the step before the COPY keeps its layer" cmp "$T/b.first" "$T/1.first"
printf 'bravo\n' >"$ctx/src/sub/b.txt"
cb_ok "build with the source changed back" -t app:b2 "$ctx"
eq "(b) changed back: every step hits the first build's records" "$(steps)" "$all_hit"
eq "(b) changed back: the first build's manifest" "$(manifest app:b2)" "$m1"

# ---------------------------------------------------------------- (c)
printf 'log two, longer\n' >"$ctx/src/ignored.log"
printf 'new\n' >"$ctx/src/new.log"
cb_ok "build after changing excluded files" -t app:c "$ctx"
eq "(c) excluded files changed or added: nothing rebuilds" "$(steps)" "$all_hit"
eq "(c) excluded files: same manifest" "$(manifest app:c)" "$m1"
# The .containerignore itself is an input: without the pattern, the COPY
# takes the log files and rebuilds; with it back, the old records hit.
: >"$ctx/.containerignore"
cb_ok "build with an empty .containerignore" -t app:c2 "$ctx"
eq "(c) pattern dropped: COPY and later steps rebuild" "$(steps)" "2:hit 3:miss 5:miss 7:miss 9:miss 11:miss"
unpack app:c2 "$T/bundle" && eq "(c) pattern dropped: the log files are copied" \
    "$(cd "$T/bundle/rootfs/app/src" && ls *.log | paste -sd' ' -)" "ignored.log new.log"
printf 'src/*.log\n' >"$ctx/.containerignore"
cb_ok "build with the pattern back" -t app:c3 "$ctx"
eq "(c) pattern back: every step hits" "$(steps)" "$all_hit"

# ---------------------------------------------------------------- (d)
touch "$ctx/src/a.txt" "$ctx/src/sub/b.txt" "$ctx/src/sub" "$ctx/src"
cb_ok "build after touch" -t app:d "$ctx"
eq "(d) touch: nothing rebuilds" "$(steps)" "$all_hit"
touch -d '2001-02-03 04:05:06' "$ctx/src/c.bin"
cb_ok "build after touch -d (an older mtime)" -t app:d2 "$ctx"
eq "(d) touch -d: nothing rebuilds" "$(steps)" "$all_hit"
eq "(d) touch: same manifest" "$(manifest app:d2)" "$m1"
# Back to a time after SOURCE_DATE_EPOCH, which a layer clamps: an older
# mtime is kept in a layer written afresh, and (f) compares with one.
touch "$ctx/src/c.bin"
# A mode is part of the content key.
chmod 0600 "$ctx/src/a.txt"
cb_ok "build after chmod" -t app:mode "$ctx"
eq "(d) chmod: COPY and later steps rebuild" "$(steps)" "2:hit 3:miss 5:miss 7:miss 9:miss 11:miss"
chmod 0644 "$ctx/src/a.txt"
cb_ok "build after chmod back" -t app:mode2 "$ctx"
eq "(d) chmod back: every step hits" "$(steps)" "$all_hit"
# Same size, mtime put back: only ctime tells the stat cache.
touch -r "$ctx/src/a.txt" "$T/a.time"
printf 'ALPHA\n' >"$ctx/src/a.txt"
touch -r "$T/a.time" "$ctx/src/a.txt"
cb_ok "build after a same-size change with the mtime restored" -t app:d3 "$ctx"
eq "(d) same size, same mtime, new content: COPY rebuilds" "$(steps)" "2:hit 3:miss 5:miss 7:miss 9:miss 11:miss"
eq "(d) same size, same mtime: content" "$(content app:d3)" "$(sed 's/alpha/ALPHA/' <<<"$(want_content 1 bravo)")"
printf 'alpha\n' >"$ctx/src/a.txt"

# ---------------------------------------------------------------- (e)
cb_ok "build with V=2" -t app:e --build-arg V=2 "$ctx"
eq "(e) V=2: steps before the RUN using V hit" "$(steps)" "2:hit 3:hit 5:hit 7:hit 9:miss 11:miss"
eq "(e) V=2: only the RUNs from there run" "$(markers)" "r3 r4"
eq "(e) V=2: content" "$(content app:e)" "$(want_content 2 bravo)"
cb_ok "rebuild with V=2" -t app:e2 --build-arg V=2 "$ctx"
eq "(e) V=2 again: every step hits" "$(steps)" "$all_hit"
eq "(e) V=2 again: same manifest" "$(manifest app:e2)" "$(manifest app:e)"
cb_ok "build with V=1 given" -t app:e3 --build-arg V=1 "$ctx"
eq "(e) --build-arg V=1, the default: every step hits" "$(steps)" "$all_hit"
eq "(e) --build-arg V=1: the first build's manifest" "$(manifest app:e3)" "$m1"
# An ARG in scope is in a RUN's environment even when the command does not
# name it: its value is part of the key (Docker's rule).
mkdir -p "$T/ctx-env"
cat >"$T/ctx-env/Containerfile" <<EOF
FROM oci:$base:latest
RUN echo before > /before
ARG W=1
RUN env | sort > /env.txt
EOF
cb_ok "ARG in scope, W=1" -t env:1 "$T/ctx-env"
cb_ok "ARG in scope, W=2" -t env:2 --build-arg W=2 "$T/ctx-env"
eq "(e) an ARG in scope but not named: the RUN before hits, the RUN after rebuilds" "$(steps)" "2:hit 4:miss"
unpack env:2 "$T/bundle" && eq "(e) the RUN saw W=2" "$(grep '^W=' "$T/bundle/rootfs/env.txt")" "W=2"

# ---------------------------------------------------------------- (f)
cb_ok "--no-cache build" -t app:f --no-cache "$ctx"
eq "(f) --no-cache: no step hits" "$(hits)" 0
eq "(f) --no-cache: every step runs" "$(steps)" "$all_miss"
eq "(f) --no-cache: every RUN echoes" "$(markers)" "r1 r2 r3 r4"
eq "(f) --no-cache: the cached build's manifest" "$(manifest app:f)" "$m1"

# ---------------------------------------------------------------- (h)
cb_ok "zstd build" -t app:zstd --compression zstd "$ctx"
eq "(h) zstd: no gzip layer reused" "$(steps)" "$all_miss"
step_layers app:zstd >"$T/layers.zstd"
eq "(h) zstd: every step layer is zstd" "$(cut -d' ' -f1 "$T/layers.zstd" | sort -u)" \
    "application/vnd.oci.image.layer.v1.tar+zstd"
eq "(h) zstd: no digest shared with the gzip layers" \
    "$(cut -d' ' -f2 "$T/layers.zstd" | grep -cxFf <(cut -d' ' -f2 "$T/layers.1"))" 0
cb_ok "zstd rebuild" -t app:zstd2 --compression zstd "$ctx"
eq "(h) zstd rebuild: every step hits" "$(steps)" "$all_hit"
eq "(h) zstd rebuild: same manifest" "$(manifest app:zstd2)" "$(manifest app:zstd)"
cb_ok "uncompressed build" -t app:none --compression none "$ctx"
eq "(h) none: no compressed layer reused" "$(steps)" "$all_miss"
eq "(h) none: every step layer is a plain tar" "$(step_layers app:none | cut -d' ' -f1 | sort -u)" \
    "application/vnd.oci.image.layer.v1.tar"
cb_ok "gzip build after the others" -t app:gzip "$ctx"
eq "(h) gzip again: the gzip records hit" "$(steps)" "$all_hit"
eq "(h) gzip again: the first build's manifest" "$(manifest app:gzip)" "$m1"
cb_ok "--timestamp build" -t app:ts --timestamp 1700000500 "$ctx"
eq "(h) another --timestamp: nothing reused" "$(steps)" "$all_miss"
eq "(h) another --timestamp: every step layer differs" \
    "$(step_layers app:ts | cut -d' ' -f2 | grep -cxFf <(cut -d' ' -f2 "$T/layers.1"))" 0
(
    unset SOURCE_DATE_EPOCH
    cb_ok "--timestamp equal to SOURCE_DATE_EPOCH" -t app:ts2 --timestamp 1700000000 "$ctx"
    eq "(h) --timestamp N is SOURCE_DATE_EPOCH=N: every step hits" "$(steps)" "$all_hit"
    eq "(h) --timestamp N: the first build's manifest" "$(manifest app:ts2)" "$m1"
    echo "$pass $fail" >"$T/sub.count"
)
read -r pass fail <"$T/sub.count"

# ---------------------------------------------------------------- (i)
# The record of step 7 (RUN marker-r2) names its blob; delete the blob.
cb_ok "rebuild to find step 7's key" -t app:i0 "$ctx"
key7=$(awk '/^STEP 7\//{ s = 1; next } s && /^--> Using cache/ { print $4; exit }' "$T/err")
rec=$(ls "$CBUILD_ROOT/cache/$key7"*.json 2>/dev/null | head -1)
if [ -n "$key7" ] && [ -f "$rec" ]; then
    ok
    l7=$(jq -r '.layer.digest' "$rec")
    rm -f "$(blob "$l7")"
    cb_ok "build with step 7's blob gone" -t app:i "$ctx"
    eq "(i) blob gone: that step is a miss, the others hit" "$(steps)" "2:hit 3:hit 5:hit 7:miss 9:hit 11:hit"
    eq "(i) blob gone: only that RUN runs" "$(markers)" "r2"
    check "(i) blob gone: written again" test -f "$(blob "$l7")"
    eq "(i) blob gone: the first build's manifest" "$(manifest app:i)" "$m1"
    eq "(i) blob gone: content" "$(content app:i)" "$(want_content 1 bravo)"
else
    bad "(i) no record for step 7 (key '$key7')"
fi
check "every blob in the store matches its digest" blobs_ok
finish
