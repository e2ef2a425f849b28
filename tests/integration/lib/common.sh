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
# busybox_base DIR: the busybox OCI layout fixture (made once per test).
busybox_base() {
    [ -d "$1" ] || "$CB_TESTDATA/fixtures/make-busybox-oci.sh" "$1" latest >/dev/null
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
finish() {
    echo "$pass passed, $fail failed"
    [ "$fail" -eq 0 ]
}
