#!/bin/bash
# buildah's docker-comparison cases (testdata/conformance/buildah): builds each
# case cbuild can build today and compares the image (config fields, layer
# count, the applied file tree) with what buildah built for it, recorded in
# testdata/conformance/buildah/expected/. tests/conformance/compare.py does the
# work; tests/conformance/README.md says what is compared and what is allowed.
# One check per case; a case that differs fails with its differences printed.
. "$(dirname "$0")/lib/common.sh"
need python3 skopeo
busybox_base "$T/busybox"

rc=0
python3 "$CB_SOURCE_DIR/tests/conformance/compare.py" --check --all -v --cbuild "$CBUILD" \
    --fixture "$T/busybox" --workdir "$T/work" >"$T/conformance.out" 2>&1 || rc=$?
# The cases that ran: match, differ (fails the test) or known (every difference
# is a known cbuild bug or a known buildah divergence, tests/conformance/cases.py).
grep -v '^skipped ' "$T/conformance.out"
echo "skipped (reasons: tests/conformance/compare.py --list): $(grep -c '^skipped ' "$T/conformance.out")"

pass=$(grep -c -E '^(match|known) ' "$T/conformance.out")
fail=$(grep -c '^differ ' "$T/conformance.out")
if [ "$rc" -ne 0 ] && [ "$fail" -eq 0 ]; then
    bad "compare.py exited $rc"
fi
[ "$pass" -gt 0 ] || bad "no case ran"
finish
