#!/bin/bash
# A cold COPY reads each context file once: the layer is written first, its
# writer hashing every file from the bytes it reads for the tar, and the key
# is then made from the stat cache without reading anything
# (builder/stage_exec.c, run_cold_copy). Judged by strace (opens per file)
# and by the stat cache's own count (CBUILD_DEBUG=cache):
#   - cold: each context file opened once, none read for the key, one digest
#     handed in per file; the layer holds the files;
#   - the rebuild hits and opens no context file;
#   - a changed file misses, and the layer has its new content;
#   - a fresh copy of the context (new inodes: nothing known) hits the first
#     record, and the layer written meanwhile leaves no blob behind;
#   - a file rewritten while the layer writer reads it (strace holds that
#     read back) leaves no digest and no record behind: the next build
#     writes the file as it is now.
. "$(dirname "$0")/lib/common.sh"
need strace cmp
ctx=$T/ctx
mkdir -p "$ctx/src/d1" "$ctx/src/d2"
for i in $(seq 1 40); do echo "file $i" >"$ctx/src/d$((i % 2 + 1))/f$i.txt"; done
head -c 600000 /dev/urandom >"$ctx/src/big.bin" # more than one read of the writer
printf 'FROM scratch\nCOPY src /src\n' >"$ctx/Containerfile"
nfiles=41
sleep 0.1 # older than the stat cache's racy margin (10 ms)
export CBUILD_DEBUG=cache
# Leak checking cannot run under ptrace: off for the sanitizer build's runs.
traced() { ASAN_OPTIONS="${ASAN_OPTIONS:-}:detect_leaks=0" strace "$@"; }
hit() { if grep -q -- '--> Using cache' "$T/err"; then echo hit; else echo miss; fi; }
# stats FIELD: a number from the stat cache's debug line of the last build.
stats() { grep -oE "[0-9]+ $1" "$T/err" | tail -1 | cut -d' ' -f1; }
opens() { grep -cE '"(f[0-9]+\.txt|big\.bin)"' "$1" || true; }
blobs() { ls "$CBUILD_ROOT/store/blobs/sha256" | sort; }

rc=0
traced -f -e trace=openat -o "$T/strace" "$CBUILD" -t cold:1 "$ctx" >"$T/out" 2>"$T/err" || rc=$?
eq "cold build" "$rc" 0
eq "cold: each context file opened once" "$(opens "$T/strace")" "$nfiles"
eq "cold: no file read for the key" "$(stats 'files read')" 0
eq "cold: a digest per file from the layer writer" "$(stats 'digests handed in')" "$nfiles"
eq "cold: the COPY ran" "$(hit)" miss

traced -f -e trace=openat -o "$T/strace" "$CBUILD" -t cold:1 "$ctx" >"$T/out" 2>"$T/err" || rc=$?
eq "rebuild" "$rc" 0
eq "rebuild: the COPY hits" "$(hit)" hit
eq "rebuild: no context file opened" "$(opens "$T/strace")" 0
eq "rebuild: no file read" "$(stats 'files read')" 0
cb_ok "export" -t cold:1 -o "type=local,dest=$T/out1" "$ctx"
check "the layer holds big.bin" cmp "$ctx/src/big.bin" "$T/out1/src/big.bin"
check "the layer holds f7.txt" cmp "$ctx/src/d2/f7.txt" "$T/out1/src/d2/f7.txt"

echo changed >"$ctx/src/d2/f7.txt"
sleep 0.1
cb_ok "changed file" -t cold:2 -o "type=local,dest=$T/out2" "$ctx"
eq "changed file: the COPY misses" "$(hit)" miss
eq "changed file: the new content" "$(cat "$T/out2/src/d2/f7.txt")" changed
echo "file 7" >"$ctx/src/d2/f7.txt"

# A fresh copy: nothing in the stat cache knows its files, the record does.
cp -a "$ctx" "$T/ctx2"
before=$(blobs)
cb_ok "fresh copy" -t cold:3 "$T/ctx2"
eq "fresh copy: the COPY hits the first record" "$(hit)" hit
eq "fresh copy: its layer was written (hashed) first" "$(stats 'digests handed in')" "$nfiles"
eq "fresh copy: no blob left behind" "$(blobs)" "$before"
eq "fresh copy: no temp file left behind" "$(find "$CBUILD_ROOT/tmp" -type f | wc -l)" 0

# big.bin rewritten (same size) while the layer writer reads it: strace
# holds the writer's first read of it back 2.5 s, the file is rewritten as
# soon as the writer has it open.
head -c 600000 /dev/urandom >"$T/big.new"
rm -rf "$T/ctx2" && cp -a "$ctx" "$T/ctx2" && sleep 0.1
big=$T/ctx2/src/big.bin
ASAN_OPTIONS="${ASAN_OPTIONS:-}:detect_leaks=0" strace -f -P "$big" -e trace=read \
    -e inject=read:delay_exit=2500000:when=1 -o "$T/strace.race" "$CBUILD" -t cold:4 "$T/ctx2" >"$T/out" 2>"$T/err" &
spid=$!
rewritten=no
for _ in $(seq 1 200); do
    cpid=$(pgrep -P "$spid" | head -1)
    if [ -n "$cpid" ] && ls -l "/proc/$cpid/fd" 2>/dev/null | grep -qF "$big"; then
        dd if="$T/big.new" of="$big" bs=600000 count=1 conv=notrunc status=none
        rewritten=yes
        break
    fi
    sleep 0.05
done
rc=0
wait "$spid" || rc=$?
eq "race: build" "$rc" 0
eq "race: big.bin rewritten while the writer held it open" "$rewritten" yes
eq "race: its digest dropped" "$(stats 'changed while read')" 1
check "race: no record of that layer" grep -q 'changed while its layer was written: not recorded' "$T/err"
cb_ok "after the race" -t cold:5 -o "type=local,dest=$T/out5" "$T/ctx2"
eq "after the race: the COPY misses" "$(hit)" miss
check "after the race: big.bin as it is now" cmp "$big" "$T/out5/src/big.bin"
cb_ok "after the race, again" -t cold:5 "$T/ctx2"
eq "after the race, again: the COPY hits" "$(hit)" hit
finish
