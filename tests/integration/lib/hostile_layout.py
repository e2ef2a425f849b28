"""Writes an OCI image layout whose one layer is hostile.

usage: hostile_layout.py DIR KIND
KIND: dotdot (an entry "../../escaped"), symlink (a symlink "link" -> /tmp-like
absolute target, then "link/escaped" through it), hardlink (a hardlink to
"../../etc/passwd"). Standard library only, so the fixture is not cbuild's work.
"""
import gzip
import hashlib
import io
import json
import os
import sys
import tarfile


def put(layout, data):
    d = hashlib.sha256(data).hexdigest()
    with open(os.path.join(layout, "blobs", "sha256", d), "wb") as f:
        f.write(data)
    return "sha256:" + d, len(data)


def layer(kind):
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as t:
        def add(info, data=b""):
            info.size = len(data)
            t.addfile(info, io.BytesIO(data))
        if kind == "dotdot":
            add(tarfile.TarInfo("../../escaped"), b"pwned\n")
        elif kind == "symlink":
            link = tarfile.TarInfo("link")
            link.type = tarfile.SYMTYPE
            link.linkname = "../../../../.."
            add(link)
            add(tarfile.TarInfo("link/escaped"), b"pwned\n")
        elif kind == "hardlink":
            h = tarfile.TarInfo("passwd")
            h.type = tarfile.LNKTYPE
            h.linkname = "../../etc/passwd"
            add(h)
        else:
            sys.exit("unknown kind " + kind)
    return buf.getvalue()


def main():
    out, kind = sys.argv[1], sys.argv[2]
    os.makedirs(os.path.join(out, "blobs", "sha256"), exist_ok=True)
    tar = layer(kind)
    diff_id = "sha256:" + hashlib.sha256(tar).hexdigest()
    ldigest, lsize = put(out, gzip.compress(tar, mtime=0))
    config = {"architecture": "amd64", "os": "linux", "config": {},
              "rootfs": {"type": "layers", "diff_ids": [diff_id]}, "history": [{}]}
    cdigest, csize = put(out, json.dumps(config).encode())
    manifest = {"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
                "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
                           "digest": cdigest, "size": csize},
                "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip",
                            "digest": ldigest, "size": lsize}]}
    mdigest, msize = put(out, json.dumps(manifest).encode())
    index = {"schemaVersion": 2, "manifests": [
        {"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": mdigest, "size": msize,
         "annotations": {"org.opencontainers.image.ref.name": "latest"}}]}
    with open(os.path.join(out, "index.json"), "w") as f:
        json.dump(index, f)
    with open(os.path.join(out, "oci-layout"), "w") as f:
        json.dump({"imageLayoutVersion": "1.0.0"}, f)


main()
