#!/bin/bash
# A cbuild killed while it makes a new root's store leaves either no store
# or a whole one: strace kills the process at its Nth mkdir/rename for every
# N up to the store's creation, then fsck of the root must pass wherever a
# store directory is left (a store without blobs/ is damage to fsck), and
# the next command must work.
. "$(dirname "$0")/lib/common.sh"
need strace
# How many mkdir/rename calls an `images` on a new root makes.
root=$T/probe
ASAN_OPTIONS="${ASAN_OPTIONS:-}:detect_leaks=0" strace -f -qq -e trace=mkdir,mkdirat,rename,renameat,renameat2 \
    -o "$T/trace" "$CBUILD" images --root "$root" >/dev/null 2>&1
calls=$(grep -cE '(mkdir|mkdirat|rename|renameat|renameat2)\(' "$T/trace")
[ "$calls" -ge 4 ] && ok || bad "an images on a new root made only $calls mkdir/rename calls"
for n in $(seq 1 "$calls"); do
    root=$T/r$n
    ASAN_OPTIONS="${ASAN_OPTIONS:-}:detect_leaks=0" strace -f -qq -o /dev/null \
        -e trace=mkdir,mkdirat,rename,renameat,renameat2 -e inject=mkdir,mkdirat,rename,renameat,renameat2:signal=KILL:when=$n \
        "$CBUILD" images --root "$root" >/dev/null 2>&1
    if [ -d "$root/store" ]; then
        cb fsck -q --root "$root"
        [ "$rc" -eq 0 ] && ok || bad "killed at call $n: fsck: $(head -3 "$T/out") $(head -3 "$T/err")"
    fi
    cb_ok "killed at call $n: the next command" images --root "$root"
done
finish
