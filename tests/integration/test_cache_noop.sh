#!/bin/bash
# A rebuild with nothing changed (no --timestamp, no SOURCE_DATE_EPOCH):
#   - gives the same image: same image id and manifest digest, though a
#     second has passed (the first build's time is kept, as docker and buildah
#     give the same image id for an unchanged rebuild);
#   - writes nothing to the store: no new blob, index.json untouched (same
#     inode and mtime), no cache record rewritten but for its mtime (LRU);
#   - reads no context file again (CBUILD_DEBUG=cache reports no miss of the
#     stat cache) and, with the files unchanged, opens none of them;
#   - a changed LABEL, or a file edit, gives a new image with a newer time,
#     and going back to the old inputs gives the first image again.
. "$(dirname "$0")/lib/common.sh"
need skopeo jq strace
base=$T/busybox
busybox_base "$base"
ctx=$T/ctx
mkdir -p "$ctx/src"
for i in $(seq 1 300); do echo "file $i" >"$ctx/src/f$i.txt"; done
printf '%s\n' "FROM oci:$base:latest" 'COPY src /src' 'RUN echo one > /one' 'LABEL a=1' >"$ctx/Containerfile"

blobs() { ls "$CBUILD_ROOT/store/blobs/sha256" | sort; }
index_stamp() { stat -c '%i %Y.%y' "$CBUILD_ROOT/store/index.json"; }
created() { skopeo inspect --config "oci:$CBUILD_ROOT/store:noop:1" | jq -r .created; }

cb_ok "first build" -t noop:1 "$ctx"
id1=$(cat "$T/out")
created1=$(created)
sleep 1.2 # so that a new time would show
before_blobs=$(blobs)
before_index=$(index_stamp)
cb_ok "rebuild" -t noop:1 "$ctx"
eq "rebuild: same image id" "$(cat "$T/out")" "$id1"
eq "rebuild: same created time" "$(created)" "$created1"
eq "rebuild: no new blob" "$(blobs)" "$before_blobs"
eq "rebuild: index.json not rewritten" "$(index_stamp)" "$before_index"

# The context's files are neither read nor opened when unchanged. (Leak
# checking cannot run under ptrace: off for the sanitizer build's run.)
ASAN_OPTIONS="${ASAN_OPTIONS:-}:detect_leaks=0" strace -f -e trace=openat -o "$T/strace" "$CBUILD" -q -t noop:1 "$ctx" >/dev/null 2>"$T/err" || bad "traced rebuild: $(cat "$T/err")"
eq "rebuild: no context file opened" "$(grep -c '/f[0-9]*\.txt"' "$T/strace" || true)" 0
eq "rebuild: no context file opened (by name)" "$(grep -cE '"f[0-9]+\.txt"' "$T/strace" || true)" 0

# A change gives a new image, newer; undoing it gives the first one back.
sed -i 's/LABEL a=1/LABEL a=2/' "$ctx/Containerfile"
cb_ok "label change" -t noop:1 "$ctx"
id2=$(cat "$T/out")
[ "$id2" != "$id1" ] && ok || bad "label change: same image id"
[[ "$(created)" > "$created1" ]] && ok || bad "label change: created $(created) not after $created1"
sed -i 's/LABEL a=2/LABEL a=1/' "$ctx/Containerfile"
cb_ok "label back" -t noop:1 "$ctx"
eq "label back: the first image again" "$(cat "$T/out")" "$id1"

echo changed >"$ctx/src/f7.txt"
cb_ok "file change" -t noop:1 "$ctx"
[ "$(cat "$T/out")" != "$id1" ] && ok || bad "file change: same image id"
grep -q -- '--> Using cache' "$T/err" && bad "file change: a step hit: $(cat "$T/err")" || ok

# --timestamp still decides the time by itself.
cb_ok "timestamp" --timestamp 1000000000 -t noop:ts "$ctx"
eq "timestamp: created" "$(skopeo inspect --config "oci:$CBUILD_ROOT/store:noop:ts" | jq -r .created)" "2001-09-09T01:46:40Z"
finish
