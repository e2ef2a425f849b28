#!/bin/bash
# Builds at the same time on one root, under SOURCE_DATE_EPOCH:
#   1. four builds started together: the same Containerfile twice and two
#      others that share its first steps (COPY, a RUN) and then differ; all
#      succeed, each image is right (umoci unpacks the expected files, skopeo
#      reads it), the two builds of one file give one manifest, and the
#      shared steps give the same layers in every image;
#   2. the four again, together: every RUN/COPY/WORKDIR step of every build
#      hits, with the manifests of round 1;
#   3. four --no-cache builds of one file together (every record and blob
#      written four times at once): the manifest of round 1.
# After each round: every blob in the store matches its digest, every
# record parses and names a blob that is there, ROOT/tmp is empty, and every
# tag is in index.json.
. "$(dirname "$0")/lib/common.sh"
need skopeo umoci jq sha256sum
base=$T/busybox
busybox_base "$base"
ctx=$T/ctx
mkdir -p "$ctx/src"
for i in 1 2 3 4 5; do seq "$i" 2000 >"$ctx/src/f$i.txt"; done
head -c 200000 /dev/zero | tr '\0' 'z' >"$ctx/src/z.bin"
export SOURCE_DATE_EPOCH=1700000000
prefix="FROM oci:$base:latest
COPY src /src
RUN echo shared > /shared && seq 1 50000 > /seq"
# Cacheable steps: a 2 3 4; b 2 3 4 5 6; c 2 3 5.
cat >"$ctx/A" <<EOF
$prefix
RUN echo a > /who && cat /src/f1.txt /src/f5.txt > /cat
EOF
cat >"$ctx/B" <<EOF
$prefix
RUN echo b > /who
WORKDIR /w
RUN ls /src > /w/list
EOF
cat >"$ctx/C" <<EOF
$prefix
ARG X=c
RUN echo "\$X" > /who
EOF

manifest() {
    jq -r --arg r "$1" '.manifests[] | select(.annotations["org.opencontainers.image.ref.name"] == $r) | .digest' \
        "$CBUILD_ROOT/store/index.json"
}
blob() { echo "$CBUILD_ROOT/store/blobs/sha256/${1#sha256:}"; }
layer_digests() { jq -r '.layers[].digest' "$(blob "$(manifest "$1")")"; }
# steps LOG: "n:hit|miss" for the cacheable steps of one build's stderr.
steps() {
    awk '
        function flush() { if (n != "") { out = out sep n ":" st; sep = " " } n = "" }
        /^STEP [0-9]+\/[0-9]+: / { flush(); split($2, a, "/"); if ($3 ~ /^(RUN|COPY|ADD|WORKDIR)$/) { n = a[1]; st = "miss" }; next }
        /^--> Using cache [0-9a-f]+$/ { if (n != "") st = "hit" }
        END { flush(); print out }' "$1"
}
# together ROUND NAME:FILE[:ARGS]...: starts the builds of FILE tagged
# app:NAME at once (each waits for the file $T/go), waits for all; logs in
# $T/ROUND.NAME.{out,err,rc}.
together() {
    local round=$1 spec name file extra
    shift
    rm -f "$T/go"
    for spec in "$@"; do
        IFS=: read -r name file extra <<<"$spec"
        (
            while [ ! -e "$T/go" ]; do sleep 0.01; done
            rc=0
            # shellcheck disable=SC2086
            "$CBUILD" build -f "$ctx/$file" -t "app:$name" $extra "$ctx" >"$T/$round.$name.out" 2>"$T/$round.$name.err" || rc=$?
            echo "$rc" >"$T/$round.$name.rc"
        ) &
    done
    sleep 0.3
    touch "$T/go"
    wait
}
# image_ok REF FILE: the tree umoci unpacks for an image of FILE.
image_ok() {
    local r=$T/bundle/rootfs
    rm -rf "$T/bundle"
    umoci unpack --rootless --image "$CBUILD_ROOT/store:$1" "$T/bundle" >/dev/null 2>"$T/umoci.err" ||
        { echo "umoci unpack: $(cat "$T/umoci.err")"; return 1; }
    diff -r "$ctx/src" "$r/src" || { echo "/src differs from the context"; return 1; }
    [ "$(cat "$r/shared")" = shared ] && seq 1 50000 | cmp -s - "$r/seq" || { echo "/shared or /seq wrong"; return 1; }
    case $2 in
    A) [ "$(cat "$r/who")" = a ] && cat "$ctx/src/f1.txt" "$ctx/src/f5.txt" | cmp -s - "$r/cat" ;;
    B) [ "$(cat "$r/who")" = b ] && [ "$(paste -sd' ' "$r/w/list")" = "f1.txt f2.txt f3.txt f4.txt f5.txt z.bin" ] ;;
    C) [ "$(cat "$r/who")" = c ] ;;
    esac || { echo "the files of $2 are wrong"; return 1; }
    skopeo inspect "oci:$CBUILD_ROOT/store:$1" >/dev/null 2>"$T/skopeo.err" || { echo "skopeo: $(cat "$T/skopeo.err")"; return 1; }
}
store_ok() {
    local f d bad=0
    for f in "$CBUILD_ROOT"/store/blobs/sha256/*; do
        [ "$(sha256sum <"$f" | cut -d' ' -f1)" = "${f##*/}" ] || { echo "blob ${f##*/} does not match"; bad=1; }
    done
    for f in "$CBUILD_ROOT"/cache/*.json; do
        d=$(jq -er 'if .emptyLayer then "none" else .layer.digest end' "$f") || { echo "record ${f##*/} unreadable"; bad=1; continue; }
        [ "$d" = none ] || [ -f "$(blob "$d")" ] || { echo "record ${f##*/}: blob $d missing"; bad=1; }
    done
    [ -z "$(ls -A "$CBUILD_ROOT/tmp")" ] || { echo "ROOT/tmp not empty: $(ls -A "$CBUILD_ROOT/tmp")"; bad=1; }
    return $bad
}
# builds_ok ROUND SPEC...: each build of the round succeeded, its image is
# right and its tag in index.json.
builds_ok() {
    local round=$1 spec name file
    shift
    for spec in "$@"; do
        IFS=: read -r name file _ <<<"$spec"
        eq "round $round, build $name: exit status" "$(cat "$T/$round.$name.rc")" 0 ||
            tail -5 "$T/$round.$name.err"
        check "round $round, build $name: the image" image_ok "app:$name" "$file"
    done
    for spec in "$@"; do
        IFS=: read -r name _ <<<"$spec"
        [ -n "$(manifest "app:$name")" ] && ok || bad "round $round: tag app:$name not in index.json"
    done
    check "round $round: the store" store_ok
}
eq() {
    if [ "$2" = "$3" ]; then ok; else bad "$1: got [$2], want [$3]"; return 1; fi
}

# ---------------------------------------------------------------- round 1
set1=(a1:A a2:A b:B c:C)
together 1 "${set1[@]}"
builds_ok 1 "${set1[@]}"
eq "round 1: the two builds of A give one manifest" "$(manifest app:a2)" "$(manifest app:a1)"
for t in app:a2 app:b app:c; do
    eq "round 1: $t shares the base, COPY and shared RUN layers with app:a1" \
        "$(layer_digests "$t" | head -3)" "$(layer_digests app:a1 | head -3)"
done
hits1=$(cat "$T"/1.*.err | grep -c '^--> Using cache ')
echo "round 1: $hits1 of the 14 cacheable steps hit a record another build of the round had just made"

# ---------------------------------------------------------------- round 2
for t in a1 a2 b c; do eval "m_$t=\$(manifest app:$t)"; done
set2=(a1:A a2:A b:B c:C)
together 2 "${set2[@]}"
builds_ok 2 "${set2[@]}"
eq "round 2, a1: every step hits" "$(steps "$T/2.a1.err")" "2:hit 3:hit 4:hit"
eq "round 2, a2: every step hits" "$(steps "$T/2.a2.err")" "2:hit 3:hit 4:hit"
eq "round 2, b: every step hits" "$(steps "$T/2.b.err")" "2:hit 3:hit 4:hit 5:hit 6:hit"
eq "round 2, c: every step hits" "$(steps "$T/2.c.err")" "2:hit 3:hit 5:hit"
for t in a1 a2 b c; do
    eq "round 2, $t: the manifest of round 1" "$(manifest "app:$t")" "$(eval "echo \$m_$t")"
done

# ---------------------------------------------------------------- round 3
set3=(n1:A:--no-cache n2:A:--no-cache n3:A:--no-cache n4:A:--no-cache)
together 3 "${set3[@]}"
builds_ok 3 "${set3[@]}"
for t in n1 n2 n3 n4; do
    eq "round 3, $t: no step hits" "$(steps "$T/3.$t.err")" "2:miss 3:miss 4:miss"
    eq "round 3, $t: the manifest of round 1" "$(manifest "app:$t")" "$m_a1"
done
# And the records the four wrote are hits for one more build.
cb_ok "a build after round 3" -f "$ctx/A" -t app:after "$ctx"
eq "after round 3: every step hits" "$(steps "$T/err")" "2:hit 3:hit 4:hit"
eq "after round 3: the manifest of round 1" "$(manifest app:after)" "$m_a1"
finish
