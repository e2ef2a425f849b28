#!/usr/bin/env python3
"""An HTTP proxy in front of a plain-http registry that injects faults, for the tests.

Every request (except /_fault/...) is forwarded to --upstream with its Host header
unchanged (so the registry's Location URLs point back at the proxy), unless the seeded
random generator picks it for a fault (probability --rate, decided in arrival order):
  drop  read part of the request, then close the connection without an answer
  500   answer 500 with a registry-style error body (nothing forwarded)
  429   answer 429 with Retry-After: 1 (nothing forwarded)
  cut   (PATCH with a body only; others fall back to drop) forward the first half of
        the body to the registry as a complete PATCH, then close the client's
        connection: the registry holds more than the client knows of (distribution
        2.8 then refuses the client's last upload URL, its offset being stale)
  stall a GET whose answer has a body: forwarded, then the status, the headers and
        half the body are sent and the connection is held without another byte for
        --stall seconds (default 600); any other request: read, not forwarded, and
        nothing answered for as long (the client's low-speed limit must give up)
  trunc a GET whose answer has a body: forwarded, then sent with its full
        Content-Length but only half the body, and the connection closed (a
        download cut short); others fall back to drop
Control, never faulted:
  GET  /_fault/stats                  counters as JSON (requests, forwarded, faults per
                                      kind, bytes forwarded upstream per method, per
                                      method/kind request counts)
  POST /_fault/config?seed=&rate=&modes=drop,500,429,cut,stall,trunc&match=REGEX
                                      reconfigure and zero counters; with match, only
                                      requests whose path matches REGEX may be faulted
Each request is also logged to --log as "METHOD PATH STATUS|FAULT BYTES-UP".
"""
import argparse
import http.client
import json
import random
import re
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlparse

HOP = {"connection", "keep-alive", "proxy-connection", "transfer-encoding", "te", "trailer", "upgrade"}
MODES = ("drop", "500", "429", "cut", "stall", "trunc")
# What --modes and an empty modes= mean: stall and trunc only when asked for
# (a stall costs the client its whole low-speed timeout).
DEFAULT_MODES = ("drop", "500", "429", "cut")


class State:
    def __init__(self, seed, rate, modes, logpath):
        self.lock = threading.Lock()
        self.logf = open(logpath, "a")
        self.configure(seed, rate, modes)

    def configure(self, seed, rate, modes, match=None):
        with self.lock:
            self.seed, self.rate, self.modes = seed, rate, modes
            self.match = re.compile(match) if match else None
            self.rng = random.Random(seed)
            self.stats = {"requests": 0, "forwarded": 0, "faults": {m: 0 for m in MODES},
                          "bytes_up": {}, "methods": {}, "blob_uploads": 0, "blob_heads": 0,
                          "mounts": 0, "manifest_puts": 0}

    def decide(self, method, path, query):
        with self.lock:
            s = self.stats
            s["requests"] += 1
            s["methods"][method] = s["methods"].get(method, 0) + 1
            if method == "HEAD" and "/blobs/" in path:
                s["blob_heads"] += 1
            if method == "POST" and path.endswith("/blobs/uploads/") and "mount=" in query:
                s["mounts"] += 1
            if method == "PUT" and "/manifests/" in path:
                s["manifest_puts"] += 1
            if self.match and not self.match.search(path):
                return None
            if self.rate > 0 and self.rng.random() < self.rate:
                return self.modes[self.rng.randrange(len(self.modes))]
            return None

    def count(self, method, path, nbytes, fault, status):
        with self.lock:
            s = self.stats
            if fault:
                s["faults"][fault] += 1
            if status is not None:
                s["forwarded"] += 1
            if nbytes:
                s["bytes_up"][method] = s["bytes_up"].get(method, 0) + nbytes
                if "/blobs/uploads/" in path and method in ("PATCH", "PUT"):
                    s["blob_uploads"] += 1
            self.logf.write(f"{method} {path} {fault or status} {nbytes}\n")
            self.logf.flush()

    def snapshot(self):
        with self.lock:
            return json.dumps(dict(self.stats, seed=self.seed, rate=self.rate, modes=list(self.modes)))


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, fmt, *args):
        pass

    def small(self, code, body, extra=()):
        data = body.encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        for k, v in extra:
            self.send_header(k, v)
        self.end_headers()
        if self.command != "HEAD":  # a body after a HEAD answer would poison the connection
            self.wfile.write(data)

    def read_body(self, limit=None):
        """The request body (Content-Length or chunked); at most limit bytes when given."""
        te = self.headers.get("Transfer-Encoding", "").lower()
        if "chunked" in te:
            out = bytearray()
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    return bytes(out)
                out += self.rfile.read(size)
                self.rfile.readline()
                if limit is not None and len(out) >= limit:
                    return bytes(out[:limit])
        n = int(self.headers.get("Content-Length") or 0)
        if limit is not None:
            n = min(n, limit)
        return self.rfile.read(n) if n else b""

    def control(self, url):
        st = self.server.state
        if url.path == "/_fault/stats":
            self.small(200, st.snapshot())
        elif url.path == "/_fault/config" and self.command == "POST":
            q = parse_qs(url.query)
            modes = tuple(m for m in q.get("modes", [",".join(st.modes)])[0].split(",") if m in MODES)
            st.configure(int(q.get("seed", [st.seed])[0]), float(q.get("rate", [st.rate])[0]), modes or DEFAULT_MODES,
                         q.get("match", [None])[0])
            self.small(200, st.snapshot())
        else:
            self.small(404, "{}")

    def handle_any(self):
        url = urlparse(self.path)
        if url.path.startswith("/_fault/"):
            self.control(url)
            return
        st = self.server.state
        fault = st.decide(self.command, url.path, url.query)
        if fault == "cut" and not (self.command == "PATCH" and int(self.headers.get("Content-Length") or 0) > 1):
            fault = "drop"
        if fault == "trunc" and self.command != "GET":
            fault = "drop"
        if fault == "stall" and self.command != "GET":
            self.read_body()
            st.count(self.command, url.path, 0, fault, None)
            time.sleep(self.server.stall)
            self.close_connection = True
            return
        if fault == "500":
            self.read_body()
            st.count(self.command, url.path, 0, fault, None)
            self.small(500, '{"errors":[{"code":"UNKNOWN","message":"injected fault"}]}')
            return
        if fault == "429":
            self.read_body()
            st.count(self.command, url.path, 0, fault, None)
            self.small(429, '{"errors":[{"code":"TOOMANYREQUESTS","message":"injected fault"}]}',
                       [("Retry-After", "1")])
            return
        if fault == "drop":
            n = int(self.headers.get("Content-Length") or 0)
            self.read_body(n // 2) if n else None
            st.count(self.command, url.path, 0, fault, None)
            self.close_connection = True
            return
        body = self.read_body()
        headers = {k: v for k, v in self.headers.items() if k.lower() not in HOP}
        if fault == "cut":
            body = body[:len(body) // 2]
            rng = re.match(r"^(\d+)-(\d+)$", headers.get("Content-Range", ""))
            if rng:
                headers["Content-Range"] = f"{rng.group(1)}-{int(rng.group(1)) + len(body) - 1}"
        headers["Content-Length"] = str(len(body))
        conn = http.client.HTTPConnection(self.server.upstream, timeout=120)
        try:
            conn.request(self.command, self.path, body=body if body or self.command in ("PUT", "POST", "PATCH") else None,
                         headers=headers)
            resp = conn.getresponse()
            data = resp.read()
        except OSError as e:
            st.count(self.command, url.path, 0, None, None)
            self.small(502, json.dumps({"errors": [{"code": "UNKNOWN", "message": f"upstream: {e}"}]}))
            return
        finally:
            conn.close()
        st.count(self.command, url.path, len(body), fault, resp.status)
        if fault == "cut":
            self.close_connection = True
            return
        if fault in ("stall", "trunc") and len(data) < 2:
            if fault == "stall":  # nothing to cut in half: hold it all back
                time.sleep(self.server.stall)
            self.close_connection = True
            return
        if fault in ("stall", "trunc"):
            data_sent = data[:len(data) // 2]
        else:
            data_sent = data
        self.send_response(resp.status)
        length_sent = False
        for k, v in resp.getheaders():
            if k.lower() in HOP:
                continue
            if k.lower() == "content-length":
                if self.command != "HEAD":
                    v = str(len(data))  # the whole body's, also when only half is sent
                length_sent = True
            self.send_header(k, v)
        if not length_sent:
            self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data_sent)
        if fault == "stall":
            self.wfile.flush()
            time.sleep(self.server.stall)
        if fault in ("stall", "trunc"):
            self.close_connection = True

    do_GET = do_HEAD = do_PUT = do_POST = do_PATCH = do_DELETE = handle_any


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--upstream", required=True, help="host:port of a plain-http registry")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--rate", type=float, default=0.0)
    ap.add_argument("--modes", default=",".join(DEFAULT_MODES))
    ap.add_argument("--log", required=True)
    ap.add_argument("--stall", type=float, default=600.0, help="seconds a stalled answer is held")
    a = ap.parse_args()
    srv = ThreadingHTTPServer(("127.0.0.1", a.port), Handler)
    srv.daemon_threads = True
    srv.upstream = a.upstream
    srv.stall = a.stall
    srv.state = State(a.seed, a.rate, tuple(m for m in a.modes.split(",") if m in MODES) or DEFAULT_MODES, a.log)
    print("fault proxy on", a.port, "->", a.upstream, flush=True)
    srv.serve_forever()


if __name__ == "__main__":
    sys.exit(main())
