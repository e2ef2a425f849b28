# Shared by the integration tests: a temp dir, pass/fail counting, and
# helpers that run the real cbuild and judge its store with other tools.
# Source it; then call `finish` last.
set -u
: "${CBUILD:?CBUILD must name the cbuild binary}"
: "${CB_TESTDATA:?}"
T=$(mktemp -d)
trap 'chmod -R u+w "$T" 2>/dev/null; rm -rf "$T"' EXIT
export CBUILD_ROOT=$T/root
# No test reads the user's cbuild.conf; test_cli_config writes its own here.
export XDG_CONFIG_HOME=$T/config
# python3 is Debian's (tests/setup/install-test-deps.sh). A version manager's
# shim ahead of it on PATH (pyenv: a bash script that runs a dozen more) costs
# 0.8 s of CPU per call against 0.05 s, and the suite calls python3 hundreds
# of times; its children (the fixture scripts' `env python3`) get it too.
if [ -x /usr/bin/python3 ] && [ "$(command -v python3)" != /usr/bin/python3 ]; then
    mkdir -p "$T/bin" && ln -s /usr/bin/python3 "$T/bin/python3" && export PATH=$T/bin:$PATH
fi
pass=0 fail=0
ok() { pass=$((pass + 1)); }
bad() { echo "FAIL: $*"; fail=$((fail + 1)); }
# check DESCRIPTION COMMAND...: passes when the command succeeds.
check() {
    local what=$1
    shift
    if "$@" >"$T/check.out" 2>&1; then ok; else bad "$what"; head -20 "$T/check.out"; fi
}
# eq DESCRIPTION GOT WANT
eq() {
    if [ "$2" = "$3" ]; then ok; else bad "$1: got [$2], want [$3]"; fi
}
need() {
    for t in "$@"; do
        command -v "$t" >/dev/null || { echo "FAIL: $t is missing: run tests/setup/install-test-deps.sh"; exit 1; }
    done
}
# cb ARGS...: runs cbuild, output in $T/out and $T/err, status in $rc.
cb() {
    rc=0
    "$CBUILD" "$@" >"$T/out" 2>"$T/err" || rc=$?
}
# cb_ok DESCRIPTION ARGS...: cbuild must succeed.
cb_ok() {
    local what=$1
    shift
    cb "$@"
    if [ "$rc" -eq 0 ]; then ok; else bad "$what: exit $rc: $(tail -5 "$T/err")"; fi
}
# cb_fails DESCRIPTION ERE ARGS...: cbuild must fail (non-zero) with stderr matching ERE.
cb_fails() {
    local what=$1 pattern=$2
    shift 2
    cb "$@"
    if [ "$rc" -eq 0 ]; then
        bad "$what: succeeded, expected a failure"
    elif ! grep -qE -- "$pattern" "$T/err"; then
        bad "$what: stderr does not match /$pattern/: $(cat "$T/err")"
    else
        ok
    fi
}
# busybox_base DIR: the busybox OCI layout fixture at DIR (DIR.oci.tar and
# DIR.docker.tar beside it): a copy of the one ctest made for this run
# ($CB_FIXTURES/busybox, lib/make-fixtures.sh), else made here (a test run
# by hand).
busybox_base() {
    [ -d "$1" ] && return 0
    local f=${CB_FIXTURES:-/nonexistent}/busybox/bb
    if [ -f "$f/index.json" ]; then
        cp -a "$f" "$1" && cp -a "$f.oci.tar" "$1.oci.tar" &&
            { [ ! -e "$f.docker.tar" ] || cp -a "$f.docker.tar" "$1.docker.tar"; }
    else
        "$CB_TESTDATA/fixtures/make-busybox-oci.sh" "$1" latest >/dev/null
    fi
}
# config REF: the raw image config of a store image (Docker extensions included), via skopeo.
config() {
    skopeo inspect --raw --config "oci:$CBUILD_ROOT/store:$1"
}
# tree REF DIR: umoci unpacks the store image into DIR (a bundle); prints the rootfs path.
unpack() {
    rm -rf "$2"
    umoci unpack --rootless --image "$CBUILD_ROOT/store:$1" "$2" >/dev/null 2>"$T/umoci.err" || {
        bad "umoci unpack $1: $(cat "$T/umoci.err")"
        return 1
    }
}
# layers REF: every layer entry of a store image, one line each:
# "LAYER PATH TYPE MODE UID GID LINK" (python3's tarfile reads the blobs).
layers() {
    python3 "$CB_SOURCE_DIR/tests/integration/lib/layers.py" "$CBUILD_ROOT/store" "$1"
}
# Every process a test starts inherits this tag: how its processes are told
# from those of other tests and other users of the machine.
export CB_TEST_TAG=cbuild-test-$$-$RANDOM
# tagged_procs NAME: the pids of processes named NAME that carry our tag.
tagged_procs() {
    local p
    for p in $(pgrep -x "$1"); do
        { tr '\0' '\n' <"/proc/$p/environ"; } 2>/dev/null | grep -qx "CB_TEST_TAG=$CB_TEST_TAG" && echo "$p"
    done
}
# serve_token ADDR TOKEN PORTFILE: an HTTP listener on ADDR (port chosen by
# the kernel, written to PORTFILE once it listens) answering every GET with
# TOKEN; requests logged to $T/server.log. Its pid is added to $servers
# (the caller kills them).
servers=
serve_token() {
    python3 - "$@" <<'PY' >>"$T/server.log" 2>&1 &
import http.server, os, sys
addr, token, port_file = sys.argv[1], sys.argv[2].encode(), sys.argv[3]
class H(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        self.send_response(200)
        self.send_header("Content-Length", str(len(token)))
        self.end_headers()
        self.wfile.write(token)
srv = http.server.HTTPServer((addr, 0), H)
with open(port_file + ".tmp", "w") as f:
    f.write(str(srv.server_address[1]))
os.rename(port_file + ".tmp", port_file)
srv.serve_forever()
PY
    servers="$servers $!"
}
# start_bg PATTERN ARGS...: cbuild ARGS in the background with job control
# (its own process group and default signal dispositions, as a shell's
# foreground job has), output in $T/bg.out and $T/bg.err, its pid in
# $bg_pid; waits up to 20 s for a process whose command line is PATTERN (an
# ERE matched whole). Fails (cbuild killed) when none comes.
start_bg() {
    local pattern=$1
    shift
    set -m
    "$CBUILD" "$@" >"$T/bg.out" 2>"$T/bg.err" &
    bg_pid=$!
    set +m
    local i
    for i in $(seq 200); do pgrep -f "^($pattern)\$" >/dev/null && return 0; sleep 0.1; done
    kill -KILL "$bg_pid"
    wait "$bg_pid"
    return 1
}
finish() {
    echo "$pass passed, $fail failed"
    [ "$fail" -eq 0 ]
}
