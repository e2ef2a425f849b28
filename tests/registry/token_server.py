#!/usr/bin/env python3
"""A tiny Docker token server (distribution's token auth) for the tests.

GET /token?service=S&scope=repository:NAME:pull,push[&scope=...] with optional Basic
credentials answers {"token", "access_token", "expires_in", "issued_at"}: an RS256 JWT
that the registry checks against its rootcertbundle (the signer's self-signed
certificate travels in the header's x5c). Python's standard library has no RSA, so
the signature comes from the openssl command line (openssl is a test dependency).

Grants: a user from --users (lines "name:password") gets every action asked for;
anonymous requests get only "pull"; wrong credentials get 401. Every request is
logged to --log as one JSON line (account, scopes asked, access granted), so tests
can count token fetches.
"""
import argparse
import base64
import json
import subprocess
import sys
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlparse


def b64url(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


class Signer:
    def __init__(self, key, cert):
        self.key = key
        der = subprocess.run(["openssl", "x509", "-in", cert, "-outform", "DER"],
                             check=True, capture_output=True).stdout
        self.x5c = base64.b64encode(der).decode()

    def jwt(self, claims):
        header = {"typ": "JWT", "alg": "RS256", "x5c": [self.x5c]}
        signing_input = (b64url(json.dumps(header, separators=(",", ":")).encode()) + "." +
                         b64url(json.dumps(claims, separators=(",", ":")).encode()))
        sig = subprocess.run(["openssl", "dgst", "-sha256", "-sign", self.key],
                             input=signing_input.encode(), check=True, capture_output=True).stdout
        return signing_input + "." + b64url(sig)


def parse_scope(scope):
    """'repository:a/b:pull,push' -> (type, name, [actions]); None when malformed."""
    first, last = scope.find(":"), scope.rfind(":")
    if first < 0 or last == first:
        return None
    return scope[:first], scope[first + 1:last], [a for a in scope[last + 1:].split(",") if a]


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, fmt, *args):
        pass

    def reply(self, code, body, extra=()):
        data = json.dumps(body).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        for k, v in extra:
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(data)

    def account(self):
        """(name or None, ok): ok is False when credentials were given and are wrong."""
        auth = self.headers.get("Authorization", "")
        if not auth.startswith("Basic "):
            return None, True
        try:
            user, _, password = base64.b64decode(auth[6:]).decode().partition(":")
        except Exception:
            return None, False
        return user, self.server.users.get(user) == password

    def do_GET(self):
        url = urlparse(self.path)
        if url.path != "/token":
            self.reply(404, {"errors": [{"code": "NOT_FOUND", "message": url.path}]})
            return
        q = parse_qs(url.query)
        user, ok = self.account()
        scopes = q.get("scope", [])
        entry = {"account": user, "service": q.get("service", [None])[0], "scopes": scopes}
        if not ok:
            entry["result"] = "denied"
            self.server.log(entry)
            self.reply(401, {"errors": [{"code": "UNAUTHORIZED", "message": "wrong user name or password"}]},
                       [("WWW-Authenticate", 'Basic realm="cbuild-test-token"')])
            return
        access = []
        for s in scopes:
            for part in s.split(" "):
                p = parse_scope(part)
                if p is None:
                    continue
                typ, name, actions = p
                granted = actions if user else [a for a in actions if a == "pull"]
                access.append({"type": typ, "name": name, "actions": granted})
        now = int(time.time())
        claims = {"iss": self.server.issuer, "sub": user or "", "aud": q.get("service", [self.server.service])[0],
                  "exp": now + self.server.ttl, "nbf": now - 10, "iat": now, "jti": uuid.uuid4().hex,
                  "access": access}
        token = self.server.signer.jwt(claims)
        entry.update(result="granted", access=access)
        self.server.log(entry)
        self.reply(200, {"token": token, "access_token": token, "expires_in": self.server.ttl,
                         "issued_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(now))})


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--key", required=True)
    ap.add_argument("--cert", required=True)
    ap.add_argument("--users", required=True)
    ap.add_argument("--issuer", required=True)
    ap.add_argument("--service", required=True)
    ap.add_argument("--ttl", type=int, default=300)
    ap.add_argument("--log", required=True)
    a = ap.parse_args()
    srv = ThreadingHTTPServer(("127.0.0.1", a.port), Handler)
    srv.daemon_threads = True
    srv.signer = Signer(a.key, a.cert)
    srv.users = {}
    with open(a.users) as f:
        for line in f:
            name, _, pw = line.rstrip("\n").partition(":")
            if name:
                srv.users[name] = pw
    srv.issuer, srv.service, srv.ttl = a.issuer, a.service, a.ttl
    lock = threading.Lock()
    logf = open(a.log, "a")

    def log(entry):
        with lock:
            logf.write(json.dumps(entry) + "\n")
            logf.flush()
    srv.log = log
    print("token server on", a.port, flush=True)
    srv.serve_forever()


if __name__ == "__main__":
    sys.exit(main())
