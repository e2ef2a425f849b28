#!/bin/bash
# `cbuild parse --json`: the instruction graph of a multi-stage Containerfile,
# checked with python3 (ARG scoping, --build-arg, platforms, mounts, heredocs,
# dependencies, target pruning).
set -u
: "${CBUILD:?}"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

cat >"$tmp/Containerfile" <<'CONTAINERFILE'
# syntax=docker/dockerfile:1
ARG BASE=alpine
ARG VERSION=3.19
FROM --platform=$BUILDPLATFORM ${BASE}:${VERSION} AS Build
ARG VERSION
ARG TARGETARCH
ENV OUT=/out
WORKDIR $OUT/$TARGETARCH
RUN --mount=type=cache,target=/root/.cache,id=go-$TARGETARCH \
    --mount=type=secret,id=token,required \
    echo building $VERSION
COPY <<EOF <<'RAW' /etc/
hello "$VERSION"
EOF
raw $VERSION
RAW

FROM scratch AS assets
COPY README /README

FROM build AS test
RUN make test

FROM alpine:${VERSION}
COPY --from=build --chown=1000:1000 $OUT/bin /usr/bin/
COPY --from=1 /README /
RUN --mount=from=assets,target=/a ls /a
LABEL version=$VERSION
EXPOSE 80 443
CONTAINERFILE

fail=0
run() {
    local out=$1
    shift
    if ! "$CBUILD" parse "$@" >"$tmp/$out" 2>"$tmp/$out.err"; then
        echo "FAIL: cbuild parse $* exited non-zero: $(cat "$tmp/$out.err")"
        fail=1
    fi
}
run all.json --json --build-arg VERSION=3.20 --platform linux/arm64 "$tmp"
run test.json --json --target TEST -f "$tmp/Containerfile" "$tmp"
run summary.txt "$tmp"
VERSION=3.21 run fromenv.json --json --build-arg VERSION --build-arg UNSET_IN_ENV "$tmp"
[ "$fail" -eq 0 ] || exit 1

python3 - "$tmp" <<'PY' || exit 1
import json, sys
tmp = sys.argv[1]
failures = []
def check(cond, what):
    if not cond:
        failures.append(what)

j = json.load(open(tmp + "/all.json"))
st = j["stages"]
check([s["name"] for s in st] == ["build", "assets", "test", None], "stage names")
check([s["index"] for s in st] == [0, 1, 2, 3], "stage indexes")
check(st[0]["base"] == "alpine:3.20", "global ARGs and --build-arg in FROM: %r" % st[0]["base"])
check(st[0]["platform"] == j["build_platform"], "FROM --platform=$BUILDPLATFORM")
check(j["target_platform"] == "linux/arm64", "--platform sets the target platform")
check(st[3]["base"] == "alpine:3.20" and st[3]["platform"] == "linux/arm64", "final FROM")
check(j["target"] == {"index": 3, "name": None}, "default target is the last stage")
check(j["build_order"] == [0, 1, 3], "build order keeps what the target needs: %r" % j["build_order"])
check([s["kept"] for s in st] == [True, True, False, True], "kept stages")
check(st[2]["base_stage"] == 0 and st[3]["base_stage"] is None, "base_stage")
deps = [(d["stage"], d["via"], d["line"]) for d in st[3]["dependencies"]]
check(deps == [(0, "COPY", 25), (1, "COPY", 26)], "final stage dependencies: %r" % deps)

b = st[0]["instructions"]
check([i["keyword"] for i in b] == ["FROM", "ARG", "ARG", "ENV", "WORKDIR", "RUN", "COPY"], "keywords")
check(b[0]["start_line"] == 4 and b[0]["flags"] == {"platform": j["build_platform"]}, "FROM line and flag")
check(b[1]["args"] == ["VERSION=3.20"], "ARG VERSION takes the build arg: %r" % b[1]["args"])
check(b[4]["args"] == ["/out/arm64"], "WORKDIR expanded: %r" % b[4]["args"])
check(b[4]["build_args"] == {"TARGETARCH": "arm64"}, "WORKDIR build args: %r" % b[4]["build_args"])
run = b[5]
check(run["start_line"] == 9 and run["end_line"] == 11, "RUN lines %r-%r" % (run["start_line"], run["end_line"]))
check(run["args"] == ["echo building $VERSION"], "RUN body not expanded: %r" % run["args"])
check(run["build_args"] == {"VERSION": "3.20", "TARGETARCH": "arm64"}, "RUN build args: %r" % run["build_args"])
m = run["flags"]["mount"]
check(m[0]["type"] == "cache" and m[0]["target"] == "/root/.cache" and m[0]["id"] == "go-arm64"
      and m[0]["sharing"] == "shared" and m[0]["readonly"] is False, "cache mount: %r" % m[0])
check(m[1]["type"] == "secret" and m[1]["id"] == "token" and m[1]["target"] == "/run/secrets/token"
      and m[1]["required"] is True, "secret mount: %r" % m[1])
h = b[6].get("heredocs", [])
check(len(h) == 2 and h[0]["name"] == "EOF" and h[0]["content"] == 'hello "3.20"\n' and h[0]["expand"]
      and h[1]["name"] == "RAW" and h[1]["content"] == "raw $VERSION\n" and not h[1]["expand"],
      "COPY heredocs: %r" % h)
check(b[6]["args"] == ["<<EOF", "<<'RAW'", "/etc/"], "COPY heredoc args: %r" % b[6]["args"])
check(b[6]["start_line"] == 12 and b[6]["end_line"] == 16, "heredoc lines")

f = st[3]["instructions"]
check(f[1]["args"] == ["/bin", "/usr/bin/"], "$OUT is not set in the final stage: %r" % f[1]["args"])
check(f[1]["flags"] == {"from": "build", "chown": "1000:1000"}, "COPY flags: %r" % f[1]["flags"])
check(f[3]["flags"]["mount"][0]["from"] == "assets", "mount from=")
check(f[4]["args"] == ["version="], "VERSION not redeclared in the final stage: %r" % f[4]["args"])
check(f[4]["build_args"] == {}, "LABEL uses no build arg")
check(f[5]["args"] == ["80", "443"], "EXPOSE")
check(st[2]["instructions"][1]["expanded"] is False, "pruned stage is not expanded")
check(j["warnings"] == [], "no warnings: %r" % j["warnings"])
check(j["meta_args"][1]["args"] == ["VERSION=3.20"], "meta ARG value")

t = json.load(open(tmp + "/test.json"))
check(t["target"] == {"index": 2, "name": "test"}, "--target is case-insensitive")
check(t["build_order"] == [0, 2], "--target test keeps build and test: %r" % t["build_order"])
check(t["stages"][0]["base"] == "alpine:3.19", "default VERSION")

e = json.load(open(tmp + "/fromenv.json"))
check(e["stages"][0]["base"] == "alpine:3.21", "--build-arg NAME takes $NAME from the environment")
check(e["warnings"] == [], "a --build-arg NAME not in the environment is dropped: %r" % e["warnings"])

s = open(tmp + "/summary.txt").read()
check("4 stages" in s and "(target)" in s and "(skipped)" in s, "summary: %r" % s)

for f_ in failures:
    print("FAIL:", f_)
print("parse --json: %d failures" % len(failures))
sys.exit(1 if failures else 0)
PY
