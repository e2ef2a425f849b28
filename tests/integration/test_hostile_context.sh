#!/bin/bash
# Symlink races on the build context: while COPY reads it, a racer swaps the
# source directory for a symlink to a directory outside the context, a file
# for a symlink to a secret outside, and another file for a fifo. Each build
# either succeeds or fails with an error; none hangs or crashes, no layer in
# the store ever holds the secret's bytes, and nothing outside changes.
. "$(dirname "$0")/lib/common.sh"
need python3 sha256sum
outside=$T/outside
ctx=$T/ctx
mkdir -p "$outside/dir" "$ctx/data"
echo "SECRET-$$-outside" >"$outside/secret"
echo "SECRET-$$-outside" >"$outside/dir/secret2"
for i in $(seq 1 60); do echo "inside $i" >"$ctx/data/f$i"; done
printf 'FROM scratch\nCOPY data /data/\n' >"$ctx/Containerfile"
listing() { (cd "$outside" && find . -printf '%p %y %m %s\n' | sort; find . -type f -print0 | sort -z | xargs -0 sha256sum); }
listing >"$T/outside.before"

racer() {
    while [ ! -e "$T/stop" ]; do
        mv "$ctx/data" "$ctx/data.real" 2>/dev/null && ln -s "$outside/dir" "$ctx/data" 2>/dev/null
        rm -f "$ctx/data" && mv "$ctx/data.real" "$ctx/data" 2>/dev/null
        d=$ctx/data
        [ -d "$d" ] || continue
        mv "$d/f7" "$d/f7.real" 2>/dev/null && ln -s "$outside/secret" "$d/f7" 2>/dev/null
        rm -f "$d/f23" && mkfifo "$d/f23" 2>/dev/null
        rm -f "$d/f7" && mv "$d/f7.real" "$d/f7" 2>/dev/null
        rm -f "$d/f23" && echo "inside 23" >"$d/f23"
    done
}
racer &
racer_pid=$!
succeeded=0 failed=0
for i in $(seq 1 25); do
    timeout 30 "$CBUILD" build -q --no-cache -t "race:$i" "$ctx" >"$T/out.$i" 2>"$T/err.$i"
    rc=$?
    case $rc in
    0) succeeded=$((succeeded + 1)) ;;
    1 | 2) failed=$((failed + 1))
        [ -s "$T/err.$i" ] && ok || bad "build $i failed (exit $rc) without a message" ;;
    124) bad "build $i hung (killed after 30 s): $(tail -3 "$T/err.$i")" ;;
    *) bad "build $i ended with exit $rc: $(tail -3 "$T/err.$i")" ;;
    esac
done
touch "$T/stop"
wait "$racer_pid"
echo "race: $succeeded builds succeeded, $failed failed with an error"
[ $((succeeded + failed)) -eq 25 ] && ok || bad "not every build ended cleanly"
# No blob holds the secret, compressed or not.
leaked=$(find "$CBUILD_ROOT/store/blobs" -type f -print0 | while IFS= read -r -d '' f; do
    if python3 -c 'import gzip,sys; d=open(sys.argv[1],"rb").read()
try: d=gzip.decompress(d)
except Exception: pass
sys.exit(0 if sys.argv[2].encode() in d else 1)' "$f" "SECRET-$$-outside"; then echo "$f"; fi
done)
[ -z "$leaked" ] && ok || bad "the secret is in the store: $leaked"
listing >"$T/outside.after"
cmp -s "$T/outside.before" "$T/outside.after" && ok || bad "something outside the context changed"
# A quiet context still builds, and its layer is the context's.
rm -f "$T/stop"
cb_ok "a build without the racer" --no-cache -t race:calm "$ctx"
finish
