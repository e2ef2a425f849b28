"""Lists the entries of every layer of an image in an OCI layout.

usage: layers.py LAYOUT REF
Prints one line per tar entry: "N PATH TYPE MODE UID GID LINK", N the layer's
index. Uses only the standard library (tarfile reads gzip; zstd layers are piped
through the zstd tool), so the tests judge cbuild's layers with code that is not
cbuild's.
"""
import io
import json
import os
import subprocess
import sys
import tarfile

TYPES = {tarfile.REGTYPE: "file", tarfile.AREGTYPE: "file", tarfile.DIRTYPE: "dir",
         tarfile.SYMTYPE: "symlink", tarfile.LNKTYPE: "hardlink", tarfile.CHRTYPE: "char",
         tarfile.BLKTYPE: "block", tarfile.FIFOTYPE: "fifo"}


def blob(layout, digest):
    algo, hexd = digest.split(":", 1)
    with open(os.path.join(layout, "blobs", algo, hexd), "rb") as f:
        return f.read()


def main():
    layout, ref = sys.argv[1], sys.argv[2]
    with open(os.path.join(layout, "index.json")) as f:
        index = json.load(f)
    desc = None
    for m in index["manifests"]:
        if m.get("annotations", {}).get("org.opencontainers.image.ref.name") == ref:
            desc = m
    if desc is None:
        sys.exit(f"layers.py: no image {ref} in {layout}")
    manifest = json.loads(blob(layout, desc["digest"]))
    for n, layer in enumerate(manifest["layers"]):
        data = blob(layout, layer["digest"])
        if layer["mediaType"].endswith("zstd"):
            data = subprocess.run(["zstd", "-dc"], input=data, capture_output=True, check=True).stdout
        with tarfile.open(fileobj=io.BytesIO(data), mode="r:*") as tar:
            for e in tar:
                print(n, e.name, TYPES.get(e.type, "other"), "%04o" % e.mode, e.uid, e.gid,
                      e.linkname or "-")


main()
