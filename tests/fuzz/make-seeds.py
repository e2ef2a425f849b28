#!/usr/bin/env python3
"""Writes the seed corpora of fuzz_tar_apply, fuzz_oci_json, fuzz_www_auth
and fuzz_http_headers into SEEDS/<target>/ (called by make-seeds.sh).

Seeds are small and look like what a registry or a layer really carries,
plus the hostile shapes each parser must refuse. Output is deterministic
(fixed mtimes, no random data) so regenerating changes nothing."""
import gzip
import io
import json
import os
import shutil
import subprocess
import sys
import tarfile

seeds = sys.argv[1]


def reset(name):
    d = os.path.join(seeds, name)
    # Regression inputs (crash-*) stay; the generated ones are rewritten.
    if os.path.isdir(d):
        for f in os.listdir(d):
            if not f.startswith("crash-"):
                os.remove(os.path.join(d, f))
    os.makedirs(d, exist_ok=True)
    return d


def write(d, name, data):
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)


# ---- tar_apply: mode byte (0 as is, 1 gzip it, 2 zstd it), then the layer.
def tar(entries, fmt=tarfile.PAX_FORMAT):
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=fmt) as t:
        for e in entries:
            name, kind = e[0], e[1]
            ti = tarfile.TarInfo(name)
            ti.mtime = 1700000000
            ti.uid = ti.gid = 0
            data = b""
            if kind == "file":
                data = e[2]
                ti.mode = e[3] if len(e) > 3 else 0o644
            elif kind == "dir":
                ti.type = tarfile.DIRTYPE
                ti.mode = e[2] if len(e) > 2 else 0o755
            elif kind == "sym":
                ti.type = tarfile.SYMTYPE
                ti.linkname = e[2]
            elif kind == "hard":
                ti.type = tarfile.LNKTYPE
                ti.linkname = e[2]
            elif kind == "fifo":
                ti.type = tarfile.FIFOTYPE
            elif kind == "chr":
                ti.type = tarfile.CHRTYPE
                ti.devmajor, ti.devminor = 1, 3
            if len(e) > 4:
                ti.pax_headers = e[4]
            ti.size = len(data)
            t.addfile(ti, io.BytesIO(data) if data else None)
    return buf.getvalue()


layers = {
    "basic": [("etc", "dir"), ("etc/os-release", "file", b"ID=fuzz\n"), ("bin", "dir"),
              ("bin/sh", "file", b"\x7fELF", 0o755), ("bin/ash", "hard", "bin/sh"),
              ("usr/bin/env", "sym", "../../bin/sh"), ("tmp", "dir", 0o1777)],
    "whiteouts": [("a", "dir"), ("a/.wh.old", "file", b""), ("a/.wh..wh..opq", "file", b""),
                  ("a/new", "file", b"n"), (".wh.gone", "file", b"")],
    "pax-xattr": [("f", "file", b"x", 0o4755,
                   {"SCHILY.xattr.user.k": "v", "SCHILY.xattr.security.capability": "\x01",
                    "path": "long/" + "n" * 150})],
    "special": [("dev", "dir"), ("dev/null", "chr"), ("run/fifo", "fifo"), ("ro", "dir", 0o555),
                ("ro/f", "file", b"r", 0o000)],
    # Hostile shapes: each must be refused or kept inside the target.
    "escape-dotdot": [("../outside/x", "file", b"x")],
    "escape-abs": [("/outside-abs", "file", b"x"), ("./a/../../b", "file", b"y")],
    "escape-symlink-dir": [("l", "sym", "../outside"), ("l/x", "file", b"x")],
    "escape-symlink-abs": [("l", "sym", "/proc/self/cwd"), ("l/x", "file", b"x"),
                           ("m", "sym", "/"), ("m/tmp/y", "file", b"y")],
    "escape-symlink-chain": [("a", "sym", "b"), ("b", "sym", "c/../../.."), ("c", "dir"),
                             ("a/outside/canary", "file", b"changed")],
    "escape-hardlink": [("h", "hard", "../outside/canary"), ("g", "hard", "/proc/self/cwd/canary")],
    "escape-hardlink-sym": [("s", "sym", "/proc/self/cwd/canary"), ("h", "hard", "s"),
                            ("s2", "sym", "../outside"), ("h2", "hard", "s2/canary")],
    "replace-types": [("x", "dir"), ("x", "file", b"now a file"), ("x", "sym", "x"),
                      ("y", "file", b"y"), ("y", "dir"), ("y/z", "hard", "x")],
    "whiteout-escape": [(".wh...", "file", b""), ("a/.wh.../../outside", "file", b""),
                        ("l", "sym", "/proc/self/cwd"), ("l/.wh.canary", "file", b""),
                        ("l/.wh..wh..opq", "file", b"")],
}
d = reset("tar_apply")
for name, entries in layers.items():
    raw = tar(entries)
    write(d, "plain-" + name, b"\x00" + raw)
    write(d, "gzip-" + name, b"\x01" + raw)
    write(d, "zstd-" + name, b"\x02" + raw)
gnu = tar([("gnu/" + "l" * 120, "file", b"g"), ("gl", "sym", "t" * 120)], tarfile.GNU_FORMAT)
write(d, "plain-gnu-longnames", b"\x00" + gnu)
ustar = tar(layers["basic"], tarfile.USTAR_FORMAT)
write(d, "plain-ustar", b"\x00" + ustar)
# Streams already compressed, for the decompressors themselves (mode 0 keeps them).
write(d, "raw-gzip", b"\x00" + gzip.compress(ustar, mtime=0))
zst = subprocess.run(["zstd", "-q", "-c", "-3"], input=ustar, stdout=subprocess.PIPE, check=True).stdout
write(d, "raw-zstd", b"\x00" + zst)
write(d, "raw-gzip-truncated", b"\x00" + gzip.compress(ustar, mtime=0)[:60])
write(d, "plain-empty", b"\x00")
write(d, "plain-end-only", b"\x00" + b"\0" * 1024)


# ---- oci_json: mode byte (kind + 4 * announced), then the document.
def dg(c):
    return "sha256:" + (c * 64)


def desc(mt, c, size, **kw):
    x = {"mediaType": mt, "digest": dg(c), "size": size}
    x.update(kw)
    return x


OCI_M = "application/vnd.oci.image.manifest.v1+json"
DOCKER_M = "application/vnd.docker.distribution.manifest.v2+json"
manifest = {"schemaVersion": 2, "mediaType": OCI_M,
            "config": desc("application/vnd.oci.image.config.v1+json", "a", 1469),
            "layers": [desc("application/vnd.oci.image.layer.v1.tar+gzip", "b", 3623807),
                       desc("application/vnd.oci.image.layer.v1.tar+zstd", "c", 100,
                            annotations={"org.opencontainers.image.title": "x"})],
            "annotations": {"org.opencontainers.image.created": "2024-01-01T00:00:00Z"}}
docker = {"schemaVersion": 2, "mediaType": DOCKER_M,
          "config": desc("application/vnd.docker.container.image.v1+json", "d", 7023),
          "layers": [desc("application/vnd.docker.image.rootfs.diff.tar.gzip", "e", 32654),
                     desc("application/vnd.docker.image.rootfs.foreign.diff.tar.gzip", "f", 5,
                          urls=["https://example.invalid/l"])]}
index = {"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json",
         "manifests": [desc(OCI_M, "1", 500, platform={"os": "linux", "architecture": "arm64", "variant": "v8"}),
                       desc(OCI_M, "2", 501, platform={"os": "linux", "architecture": "amd64"}),
                       desc(OCI_M, "3", 502, annotations={"vnd.docker.reference.type": "attestation-manifest"},
                            platform={"os": "unknown", "architecture": "unknown"})]}
dlist = {"schemaVersion": 2, "mediaType": "application/vnd.docker.distribution.manifest.list.v2+json",
         "manifests": [desc(DOCKER_M, "4", 528, platform={"os": "linux", "architecture": "s390x"})]}
config = {"architecture": "amd64", "os": "linux", "created": "2024-01-01T00:00:00Z",
          "config": {"Env": ["PATH=/usr/bin"], "Cmd": ["/bin/sh"], "WorkingDir": "/",
                     "Labels": {"a": "b"}, "ExposedPorts": {"80/tcp": {}}},
          "rootfs": {"type": "layers", "diff_ids": [dg("5"), dg("6")]},
          "history": [{"created": "2024-01-01T00:00:00Z", "created_by": "/bin/sh -c #(nop) ADD x"},
                      {"empty_layer": True}]}
cache_artifact = {"schemaVersion": 2, "mediaType": OCI_M, "artifactType": "application/vnd.cbuild.cache.v1",
                  "config": desc("application/vnd.oci.empty.v1+json", "7", 2),
                  "layers": [desc("application/vnd.oci.image.layer.v1.tar+gzip", "8", 10)]}
d = reset("oci_json")
docs = [
    ("manifest-oci", 0, manifest), ("manifest-oci-announced", 4, manifest),
    ("manifest-docker", 8, docker), ("manifest-no-mediatype", 0, {k: v for k, v in manifest.items() if k != "mediaType"}),
    ("index-oci", 1, index), ("index-docker", 9, dlist), ("index-no-platform", 1, {"schemaVersion": 2, "manifests": [desc(OCI_M, "9", 1)]}),
    ("config", 2, config), ("config-minimal", 2, {"architecture": "arm", "os": "linux", "variant": "v7", "rootfs": {"type": "layers", "diff_ids": []}}),
    ("push-generic", 3, cache_artifact), ("push-docker", 3, docker),
    ("bad-schema", 0, {"schemaVersion": 1, "name": "x", "fsLayers": []}),
    ("bad-digest", 0, dict(manifest, config=desc("application/vnd.oci.image.config.v1+json", "A", 1))),
    ("bad-size", 3, dict(manifest, layers=[{"mediaType": OCI_M, "digest": dg("b"), "size": -1}])),
    ("bad-type-mismatch", 8, manifest), ("index-as-manifest", 0, index),
]
for name, mode, doc in docs:
    write(d, name, bytes([mode]) + json.dumps(doc, indent=2).encode())
write(d, "dup-keys", b"\x00" + b'{"schemaVersion":2,"schemaVersion":2}')
write(d, "not-object", b"\x02" + b'["a"]')
write(d, "huge-size", b"\x03" + b'{"config":{"mediaType":"x","digest":"' + dg("a").encode() +
      b'","size":18446744073709551615}}')

# ---- www_auth: the WWW-Authenticate value, NUL, a token server's answer.
d = reset("www_auth")
auth = [
    ("docker-hub", 'Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:library/alpine:pull"',
     {"token": "eyJhbGciOiJSUzI1NiJ9.e30.sig", "access_token": "eyJ", "expires_in": 300, "issued_at": "2024-01-01T00:00:00Z"}),
    ("ghcr", 'Bearer realm="https://ghcr.io/token",service="ghcr.io",scope="repository:o/r:pull",error="insufficient_scope"',
     {"token": "djE6b3Jn"}),
    ("basic", 'Basic realm="Registry Realm"', {"access_token": "x", "expires_in": 0}),
    ("several", 'Negotiate, Basic realm="x", Bearer realm="https://t/?a=1,b=2" , service=s', {"token": "t", "expires_in": 9223372036854775807}),
    ("escapes", 'Newauth realm="apps", type=1, title="Login to \\"apps\\"", Basic realm="simple"', {"token": "a\r\nX-Evil: 1"}),
    ("unterminated", 'Bearer realm="https://unterminated', {"expires_in": -5}),
    ("no-realm", 'Bearer service="x"', {"token": 5}),
]
for name, hdr, body in auth:
    write(d, name, hdr.encode() + b"\0" + json.dumps(body).encode())
write(d, "header-only", b"Bearer realm=https://r,scope=repository:a:pull")

# ---- http_headers: a response head as libcurl hands it over, then the body.
d = reset("http_headers")
heads = [
    ("upload-202", b"HTTP/1.1 202 Accepted\r\nLocation: /v2/a/b/blobs/uploads/4f1c?_state=abc\r\n"
     b"Range: 0-0\r\nDocker-Upload-UUID: 4f1c\r\nContent-Length: 0\r\n\r\n", b""),
    ("upload-status", b"HTTP/1.1 204 No Content\r\nLocation: https://other.example:5000/v2/a/uploads/x\r\n"
     b"Range: 0-33554431\r\n\r\n", b""),
    ("retry-seconds", b"HTTP/1.1 429 Too Many Requests\r\nRetry-After: 120\r\nContent-Type: application/json\r\n\r\n",
     b'{"errors":[{"code":"TOOMANYREQUESTS","message":"slow down","detail":{}}]}'),
    ("retry-date", b"HTTP/1.1 503 Service Unavailable\r\nRetry-After: Wed, 21 Oct 2015 07:28:00 GMT\r\n\r\n",
     b"<html><body>503 Service Unavailable</body></html>"),
    ("redirect", b"HTTP/1.1 307 Temporary Redirect\r\nLocation: https://storage.example/blob?sig=x\r\n\r\n"
     b"HTTP/2 200\r\ncontent-type: application/vnd.oci.image.manifest.v1+json\r\n"
     b"docker-content-digest: " + dg("a").encode() + b"\r\n\r\n", b'{"schemaVersion":2}'),
    ("unauthorized", b"HTTP/1.1 401 Unauthorized\r\nWWW-Authenticate: Bearer realm=\"https://auth/token\",service=\"r\"\r\n"
     b"WWW-Authenticate: Basic realm=\"r\"\r\n\r\n", b'{"errors":[{"code":"UNAUTHORIZED","message":"authentication required"}]}'),
    ("token-error", b"HTTP/1.1 403 Forbidden\r\n\r\n", b'{"details":"incorrect username or password"}'),
    ("overflow", b"HTTP/1.1 503 x\r\nRetry-After: 9223372036854775807\r\nRange: 0-9223372036854775807\r\n"
     b"Location: ://[::1\r\n\r\n", b""),
    ("folded", b"HTTP/1.1 500 x\r\nX-Long: a\r\n  continued\r\nRange:0-12\r\nLocation:\t../../x\r\n\r\n", b"\x00\x01binary"),
]
for name, head, body in heads:
    write(d, name, head + body)
