#!/bin/bash
# make-fixtures.sh DIR: the fixtures several integration tests start from,
# made once per ctest run (the fixtures.setup test, FIXTURES_SETUP) instead
# of once per test: DIR/busybox/bb, the busybox OCI layout of
# testdata/fixtures/make-busybox-oci.sh (tag latest), with bb.oci.tar and
# bb.docker.tar beside it. busybox_base (lib/common.sh) copies them.
# Made beside DIR/busybox and renamed over it, so that a test never sees
# half a fixture.
set -euo pipefail
: "${CB_TESTDATA:?}"
dir=$1
mkdir -p "$dir"
new=$(mktemp -d "$dir/busybox.new.XXXXXX")
trap 'rm -rf "$new"' EXIT
"$CB_TESTDATA/fixtures/make-busybox-oci.sh" "$new/bb" latest
chmod 755 "$new"
rm -rf "$dir/busybox"
mv "$new" "$dir/busybox"
