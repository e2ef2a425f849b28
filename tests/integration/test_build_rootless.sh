#!/bin/bash
# The build and RUN tests again as a non-root user (the rootless path): run as root,
# this copies the binary and what the tests read to a directory that user can
# read, and runs them with runuser. Run as a non-root user, the other build
# tests already are the rootless path, so this has nothing more to do.
set -u
: "${CBUILD:?}" "${CB_TESTDATA:?}" "${CB_SOURCE_DIR:?}"
if [ "$(id -u)" -ne 0 ]; then
    echo "already not root: the build tests ran rootless"
    echo "1 passed, 0 failed"
    exit 0
fi
user=cbuild-test
id "$user" >/dev/null 2>&1 || "$CB_SOURCE_DIR/tests/setup/rootless-user.sh" >/dev/null
id "$user" >/dev/null 2>&1 || { echo "FAIL: could not create $user"; exit 1; }

w=$(mktemp -d /tmp/cbuild-rootless.XXXXXX)
trap 'rm -rf "$w"' EXIT
mkdir -p "$w/src/tests" "$w/src/testdata"
cp "$CBUILD" "$w/cbuild"
cp -a "$CB_SOURCE_DIR/tests/integration" "$w/src/tests/"
cp -a "$CB_TESTDATA/fixtures" "$CB_TESTDATA/build" "$CB_TESTDATA/run" "$w/src/testdata/"
# The shared fixtures ctest made (lib/make-fixtures.sh), where that user can read them.
if [ -d "${CB_FIXTURES:-/nonexistent}/busybox" ]; then
    mkdir -p "$w/fixtures"
    cp -a "$CB_FIXTURES/busybox" "$w/fixtures/"
fi
chmod -R a+rX "$w"
chown -R "$user" "$w/src"

pass=0 fail=0
for t in build_scratch build_base build_outputs build_errors run_layers run_isolation run_failures run_mounts run_hygiene \
    run_network run_fuse run_many_layers run_spawner sandbox; do
    if runuser -u "$user" -- env -i PATH="$PATH" HOME="/home/$user" TMPDIR=/tmp \
        CBUILD="$w/cbuild" CB_TESTDATA="$w/src/testdata" CB_SOURCE_DIR="$w/src" CB_FIXTURES="$w/fixtures" \
        bash "$w/src/tests/integration/test_$t.sh" >"$w/$t.log" 2>&1; then
        pass=$((pass + 1))
        # What a test could not check as this user, it says.
        grep '^SKIP' "$w/$t.log" | sed "s/^/$t as $user: /"
    else
        fail=$((fail + 1))
        echo "FAIL: $t as $user:"
        tail -20 "$w/$t.log"
    fi
done
echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
