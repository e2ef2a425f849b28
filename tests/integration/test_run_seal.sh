#!/bin/bash
# RUN steps' layer blobs are sealed behind the build (cache/sealer.h): under
# strace, for every cache record the build writes, its layer blob's temp
# file is fsync'd, then renamed to the digest, and only then is the record
# renamed into place; and those fsyncs are not made by the thread that runs
# the steps (the one that later writes index.json), so a step never waits
# for the disk. The store passes fsck and a rebuild hits every step.
. "$(dirname "$0")/lib/common.sh"
need strace jq
base=$T/busybox
busybox_base "$base"
ctx=$T/ctx
mkdir -p "$ctx"
{
    echo "FROM oci:$base:latest"
    for i in 1 2 3 4 5 6; do echo "RUN echo $i > /f$i && head -c 20000 /dev/urandom > /r$i"; done
} >"$ctx/Containerfile"

cb_ok "a warm-up build (the base imported)" -q -t seal:warm "$ctx"
rm -f "$CBUILD_ROOT"/cache/*.json
rc=0
# LeakSanitizer cannot run under ptrace: the other builds here check leaks.
ASAN_OPTIONS="${ASAN_OPTIONS:-}:detect_leaks=0" strace -f -y -qq -e trace=fsync,fdatasync,rename,renameat,renameat2 -o "$T/trace" \
    "$CBUILD" build -q --no-cache -t seal:1 "$ctx" >"$T/out" 2>"$T/err" || rc=$?
eq "the build under strace" "$rc" 0

/usr/bin/python3 - "$T/trace" "$CBUILD_ROOT" >"$T/check" <<'EOF' || true
import glob, json, os, re, sys
trace, root = sys.argv[1], sys.argv[2]
lines = open(trace).read().splitlines()
def find(pred):
    return [(i, l) for i, l in enumerate(lines) if pred(l)]
main = find(lambda l: re.search(r'rename\("[^"]*/store/index\.json\.tmp-', l))
if not main:
    print("no index.json rename in the trace"); sys.exit()
main_tid = main[-1][1].split()[0]
records = glob.glob(os.path.join(root, "cache", "*.json"))
if len(records) != 6:
    print("records: %d, want 6" % len(records))
for path in sorted(records):
    key = os.path.basename(path)[:-5]
    rec = json.load(open(path))
    digest = rec["layer"]["digest"][7:]
    blob = find(lambda l: re.search(r'rename\("[^"]*/tmp/(blob-\w+)", "[^"]*/blobs/sha256/%s"' % digest, l))
    if len(blob) != 1:
        print("record %s: its blob %s renamed %d times" % (key[:12], digest[:12], len(blob))); continue
    bi, bl = blob[0]
    tmp = re.search(r'/tmp/(blob-\w+)"', bl).group(1)
    syncs = [(i, l) for i, l in find(lambda l: re.search(r'f(data)?sync\(\d+<[^>]*/%s>' % tmp, l)) if i < bi]
    if not syncs:
        print("record %s: blob %s renamed without an fsync before" % (key[:12], digest[:12]))
    elif any(l.split()[0] == main_tid for _, l in syncs):
        print("record %s: blob %s fsync'd by the thread that runs the steps" % (key[:12], digest[:12]))
    recs = find(lambda l: re.search(r'rename\("[^"]*/cache/%s\.json\.tmp-\w+", "[^"]*/cache/%s\.json"' % (key, key), l))
    if len(recs) != 1:
        print("record %s renamed %d times" % (key[:12], len(recs)))
    elif recs[0][0] < bi:
        print("record %s renamed (line %d) before its blob %s (line %d)" % (key[:12], recs[0][0], digest[:12], bi))
EOF
eq "the order blob fsync -> blob rename -> record, off the steps' thread" "$(cat "$T/check")" ""

cb_ok "fsck after the build" fsck
cb_ok "a rebuild" -q --progress plain -t seal:2 "$ctx"
eq "steps reused" "$(grep -c -- '--> Using cache' "$T/err")" 6

# A blob that cannot be published (blobs/sha256 immutable: rename(2) fails
# with EPERM, even for root) fails the build, naming the step whose layer
# it was; no tag, no record, no temp file is left.
if [ "$(id -u)" = 0 ] && command -v chattr >/dev/null; then
    blobs=$CBUILD_ROOT/store/blobs/sha256
    trap 'chattr -i "$blobs" 2>/dev/null; chmod -R u+w "$T" 2>/dev/null; rm -rf "$T"' EXIT
    rm -f "$CBUILD_ROOT"/cache/*.json
    nrec=$(ls "$CBUILD_ROOT/cache" | wc -l)
    chattr +i "$blobs"
    cb_fails "a build whose layers cannot be published" 'the layer of STEP 2: publish blob .*/blobs/sha256/[0-9a-f]{64}: Operation not permitted' \
        -q --no-cache -t seal:fail "$ctx"
    chattr -i "$blobs"
    eq "no tag for the failed build" "$(jq -r '.manifests[].annotations["org.opencontainers.image.ref.name"] // empty' "$CBUILD_ROOT/store/index.json" | grep -c fail)" 0
    eq "no record written after the failure" "$(ls "$CBUILD_ROOT/cache" | wc -l)" "$nrec"
    eq "no temp file left" "$(find "$CBUILD_ROOT/tmp" -mindepth 1 | wc -l)" 0
    cb_ok "fsck after the failed build" fsck
fi
finish
