#!/bin/bash
# gzip layers are several gzip members (layer/pgzip.h: 1 MiB blocks, random
# runs stored): readers we did not write take them as one stream (gzip -t,
# Python's gzip, umoci's Go compress/gzip), the tar inside has the config's
# diff_id, and the blob is the same for 1 and 3 compression threads.
. "$(dirname "$0")/lib/common.sh"
need umoci skopeo jq python3 gzip
ctx=$T/ctx
mkdir -p "$ctx"
python3 - "$ctx" <<'PY'
import random, sys
rng = random.Random(7)
words = "static int return if else for while struct const char void size_t".split()
with open(sys.argv[1] + "/text.txt", "w") as f:
    f.write("".join(" ".join(rng.choices(words, k=8)) + ";\n" for _ in range(40000)))
with open(sys.argv[1] + "/rand.bin", "wb") as f:
    f.write(rng.randbytes(2 << 20))
PY
printf 'FROM scratch\nCOPY . /data/\n' >"$ctx/Containerfile"

layer_of() { skopeo inspect --raw "oci:$CBUILD_ROOT/store:$1" | jq -r '.layers[-1].digest'; }
CBUILD_JOBS=1 cb_ok "build, 1 thread" -t gz:one --compression gzip "$ctx"
CBUILD_JOBS=3 cb_ok "build, 3 threads" -t gz:three --no-cache --compression gzip "$ctx"
one=$(layer_of gz:one)
eq "same layer for 1 and 3 threads" "$(layer_of gz:three)" "$one"
blob=$CBUILD_ROOT/store/blobs/sha256/${one#sha256:}
check "gzip -t" gzip -t "$blob"
diff_id=$(config gz:one | jq -r '.rootfs.diff_ids[-1]')
# Python: members counted with zlib, the whole read with the gzip module.
got=$(python3 - "$blob" <<'PY'
import gzip, hashlib, sys, zlib
data = open(sys.argv[1], "rb").read()
members, rest = 0, data
while rest:
    d = zlib.decompressobj(31)
    d.decompress(rest)
    assert d.eof, "truncated member"
    rest, members = d.unused_data, members + 1
print(members, "sha256:" + hashlib.sha256(gzip.decompress(data)).hexdigest())
PY
)
members=${got% *}
check "several members ($members)" test "$members" -ge 3
eq "python gzip: the tar has the diff_id" "${got#* }" "$diff_id"
if unpack gz:one "$T/bundle"; then
    check "umoci: text.txt" cmp "$ctx/text.txt" "$T/bundle/rootfs/data/text.txt"
    check "umoci: rand.bin" cmp "$ctx/rand.bin" "$T/bundle/rootfs/data/rand.bin"
fi
finish
