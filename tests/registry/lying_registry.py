#!/usr/bin/env python3
"""A registry that lies, for test_hostile_registry.sh. Standard library only.

Serves the one image of an OCI layout (--layout DIR, its first manifest) as
/v2/<lie>/img, where the repository's first component says how it lies:
  honest      tells the truth (the control)
  dcd         Docker-Content-Digest of the manifest is another digest
  blob        the layer's bytes have one byte flipped (same length)
  config      the config has one byte flipped (same length)
  short       the manifest says the layer is 100 bytes shorter than it is
  long        the manifest says the layer is 100 bytes longer than it is
  mediatype   the manifest calls the layer a config
  endless     the layer's body never ends (chunks until the client goes)
  manifestbomb the manifest's body never ends
  redirect    the layer answers 307 to itself, forever
  badref      the layer's digest in the manifest is "sha256:../../../../x"
The manifests served are made here, so each has a digest of its own that a
pull by tag accepts; only the lie named is wrong. The port is written to
--port-file once the server listens; requests are logged to stderr.
"""
import argparse
import hashlib
import json
import os
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"


def load(layout):
    blobs = os.path.join(layout, "blobs", "sha256")
    read = lambda d: open(os.path.join(blobs, d.split(":", 1)[1]), "rb").read()
    top = json.load(open(os.path.join(layout, "index.json")))["manifests"][0]
    manifest = json.loads(read(top["digest"]))
    return manifest, {d: read(d) for d in [manifest["config"]["digest"]] + [l["digest"] for l in manifest["layers"]]}


def sha(b):
    return "sha256:" + hashlib.sha256(b).hexdigest()


class Lies:
    def __init__(self, layout):
        self.manifest, self.blobs = load(layout)

    def manifest_for(self, lie):
        m = json.loads(json.dumps(self.manifest))
        layer = m["layers"][-1]
        if lie == "short":
            layer["size"] -= 100
        elif lie == "long":
            layer["size"] += 100
        elif lie == "mediatype":
            layer["mediaType"] = "application/vnd.oci.image.config.v1+json"
        elif lie == "badref":
            layer["digest"] = "sha256:../../../../x"
        return json.dumps(m, indent=1).encode()

    def blob_for(self, lie, digest):
        data = self.blobs.get(digest)
        if data is None:
            return None
        if (lie == "blob" and digest == self.manifest["layers"][-1]["digest"]) or \
                (lie == "config" and digest == self.manifest["config"]["digest"]):
            b = bytearray(data)
            b[len(b) // 2] ^= 0x01
            return bytes(b)
        return data


def handler(lies):
    class H(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, fmt, *args):
            sys.stderr.write("%s %s\n" % (self.command, self.path))

        def send(self, status, body=b"", headers=()):
            self.send_response(status)
            for k, v in headers:
                self.send_header(k, v)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(body)

        def endless(self, ctype):
            self.send_response(200)
            self.send_header("Content-Type", ctype)
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            chunk = b"\0" * 65536
            try:
                while True:
                    self.wfile.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
            except OSError:
                pass  # the client went away: what it should do
            self.close_connection = True

        def do_GET(self):
            if self.path == "/v2/":
                return self.send(200, b"{}", [("Docker-Distribution-API-Version", "registry/2.0")])
            parts = self.path.split("/")
            # /v2/<lie>/img/(manifests|blobs)/<ref>
            if len(parts) != 6 or parts[0] != "" or parts[1] != "v2" or parts[3] != "img":
                return self.send(404, b'{"errors":[{"code":"NAME_UNKNOWN"}]}')
            lie, kind, ref = parts[2], parts[4], parts[5]
            if kind == "manifests":
                if lie == "manifestbomb":
                    return self.endless(OCI_MANIFEST)
                body = lies.manifest_for(lie)
                digest = sha(body) if lie != "dcd" else sha(body + b"lie")
                return self.send(200, body, [("Content-Type", OCI_MANIFEST), ("Docker-Content-Digest", digest)])
            if kind == "blobs":
                if lie == "redirect" and ref == lies.manifest["layers"][-1]["digest"]:
                    return self.send(307, b"", [("Location", self.path)])
                if lie == "endless" and ref == lies.manifest["layers"][-1]["digest"]:
                    return self.endless("application/octet-stream")
                data = lies.blob_for(lie, ref)
                if data is None:
                    return self.send(404, b'{"errors":[{"code":"BLOB_UNKNOWN"}]}')
                return self.send(200, data, [("Content-Type", "application/octet-stream"),
                                             ("Docker-Content-Digest", ref)])
            return self.send(404)

        do_HEAD = do_GET

    return H


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--layout", required=True)
    ap.add_argument("--port-file", required=True)
    a = ap.parse_args()
    srv = ThreadingHTTPServer(("127.0.0.1", 0), handler(Lies(a.layout)))
    srv.daemon_threads = True
    with open(a.port_file + ".tmp", "w") as f:
        f.write(str(srv.server_address[1]))
    os.rename(a.port_file + ".tmp", a.port_file)
    srv.serve_forever()


main()
