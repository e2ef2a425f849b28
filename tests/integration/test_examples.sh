#!/bin/bash
# examples/c-app and examples/python-app build as they are, with only their
# base images swapped by --build-arg (no network here): the C toolchain and
# Python come from this Debian host, packed into local base images by
# testdata/fixtures/make-host-tool-oci.sh; the runtime base of the C app is the
# busybox fixture. The built images run: their own programs through a RUN step
# of a further build (any user), and under podman with runc (as root).
. "$(dirname "$0")/lib/common.sh"
need skopeo jq python3 gcc
ex=$CB_SOURCE_DIR/examples
busybox_base "$T/bb"
"$CB_TESTDATA/fixtures/make-host-tool-oci.sh" gcc "$T/gcc" >/dev/null || { bad "gcc fixture"; finish; exit; }
"$CB_TESTDATA/fixtures/make-host-tool-oci.sh" python3 "$T/py" >/dev/null || { bad "python3 fixture"; finish; exit; }

# The examples name real public bases, as a user would.
grep -qx 'ARG BUILDER=docker.io/library/gcc:12-bookworm' "$ex/c-app/Containerfile" && ok || bad "c-app's BUILDER"
grep -qx 'ARG PYTHON=docker.io/library/python:3.11-slim-bookworm' "$ex/python-app/Containerfile" && ok || bad "python-app's PYTHON"

# ---- C: compiled in the toolchain stage (which runs it once), shipped static.
cb_ok "c-app" build --progress plain --build-arg BUILDER=oci:$T/gcc:latest --build-arg RUNTIME=oci:$T/bb:latest \
    --build-arg BUILD_ID=t1 -t hello-c:t -o "type=local,dest=$T/c-rootfs" "$ex/c-app"
grep -q '^\[build 5/10\] hello, build-stage: a static C binary built by cbuild' "$T/err" && ok ||
    bad "the build stage ran the program: $(grep -F 'build 5/10' "$T/err" | head -3)"
cfg=$(config hello-c:t)
eq "c-app config" "$(jq -c '[.config.User, .config.Entrypoint, .config.Cmd]' <<<"$cfg")" '["1000:1000",["/usr/local/bin/hello"],["world"]]'
eq "c-app layers: the base's and the binary" "$(jq '.rootfs.diff_ids | length' <<<"$cfg")" 2
file_type=$(python3 -c 'import sys; d=open(sys.argv[1],"rb").read(); print("static-elf" if d[:4]==b"\x7fELF" and b"/lib64/ld-linux" not in d else "other")' "$T/c-rootfs/usr/local/bin/hello")
eq "the shipped binary is a static ELF" "$file_type" static-elf
eq "the binary runs (static: on the host too)" "$("$T/c-rootfs/usr/local/bin/hello" you | tail -1)" "build t1"
mkdir -p "$T/run"
printf 'FROM hello-c:t\nRUN ["/usr/local/bin/hello", "from-run"]\n' >"$T/run/C"
cb_ok "run c-app's binary in its image" build --progress plain --no-cache -f "$T/run/C" "$T/run"
grep -q 'hello, from-run: a static C binary built by cbuild' "$T/err" && ok || bad "hello in its image: $(tail -3 "$T/err")"

# ---- Python: the unit tests run in the test stage; a failing test fails the build.
cb_ok "python-app" build --progress plain --build-arg PYTHON=oci:$T/py:latest -t words:t "$ex/python-app"
grep -qE '^\[test [0-9]+/[0-9]+\] Ran 2 tests' "$T/err" && ok || bad "the unit tests ran: $(grep -F 'Ran' "$T/err")"
cfg=$(config words:t)
eq "python-app config" "$(jq -c '[.config.User, .config.Entrypoint, .config.Cmd, .config.WorkingDir]' <<<"$cfg")" \
    '["1000:1000",["python3","-m","app"],["3"],"/srv"]'
printf 'FROM words:t\nRUN echo "The cat and the hat. THE end." | python3 -m app 2 >/tmp/out.json && cat /tmp/out.json && ls app/__pycache__\n' >"$T/run/Py"
cb_ok "run python-app in its image" build --progress plain --no-cache -f "$T/run/Py" "$T/run"
grep -qF '[{"word": "the", "count": 3}, {"word": "cat", "count": 1}]' "$T/err" && ok || bad "words: $(tail -5 "$T/err")"
grep -q '__init__.cpython-311.pyc' "$T/err" && ok || bad "byte-compiled: $(tail -5 "$T/err")"
cp -a "$ex/python-app" "$T/py-broken"
sed -i 's/("the", 3)/("the", 4)/' "$T/py-broken/tests/test_app.py"
cb_fails "a failing unit test fails the build" 'Containerfile:[0-9]+:1: RUN exited with status 1' \
    build --progress plain --build-arg PYTHON=oci:$T/py:latest -t words:broken "$T/py-broken"
grep -q 'FAIL: test_counts_case_insensitively' "$T/err" && ok || bad "the failing test is shown"

# ---- Their ENTRYPOINT and USER as a container engine runs them.
if [ "$(id -u)" -eq 0 ] && command -v podman >/dev/null && command -v runc >/dev/null; then
    # Limits the sandbox we may run in allows (podman's defaults raise nofile and nproc).
    pm() { podman --root "$T/podman" --runroot "$T/podman-run" --storage-driver vfs "$@"; }
    # podman names an oci: image after its path, which must then be lower-case.
    lc=/tmp/cbuild-test-podman-$$-$RANDOM
    ln -s "$CBUILD_ROOT/store" "$lc"
    prun() { pm --runtime runc run --rm -i --network none --ulimit nofile=1024:1024 --ulimit nproc=1024:1024 "$@"; }
    eq "podman run c-app" "$(prun "oci:$lc:hello-c:t" 2>"$T/pm.err" | head -1)" \
        "hello, world: a static C binary built by cbuild, running on $(uname -m)"
    eq "podman run python-app" "$(echo 'a b a' | prun "oci:$lc:words:t" 1 2>"$T/pm.err")" \
        '[{"word": "a", "count": 2}]'
    eq "python-app runs as uid 1000" "$(prun --entrypoint /bin/sh "oci:$lc:words:t" -c 'id -u' 2>"$T/pm.err")" 1000
    rm -f "$lc"
else
    echo "SKIP: podman run of the examples needs root, podman and runc"
fi
finish
