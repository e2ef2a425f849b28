#!/bin/bash
# The CI recipes of examples/ci run their own build commands (read from the
# YAML by lib/ci_recipe.py) against the loopback registry, as an unprivileged
# user, each "runner" with an empty cbuild root: the first GitHub Actions run
# builds examples/c-app and pushes the image and its cache (--cache-to); a
# second run on a fresh runner, the GitLab job and the Kubernetes Job's
# command get every step from the remote cache (--cache-from) and run none.
# The Kubernetes manifest is checked for its structure (no cluster here):
# a batch/v1 Job, non-root, hostUsers: false, the command builds and pushes.
source "$CB_SOURCE_DIR/tests/integration/lib/common.sh"
source "$CB_SOURCE_DIR/tests/integration/lib/registry.sh"
need skopeo jq python3 gcc
python3 -c 'import yaml' 2>/dev/null || { echo "FAIL: python3 yaml is missing: run tests/setup/install-test-deps.sh"; exit 1; }
ci=$CB_SOURCE_DIR/examples/ci
registry_plain || exit 1
REG=$REG_PLAIN

# A directory the unprivileged user can read: cbuild, the examples, the bases.
w=$(mktemp -d /tmp/cbuild-ci.XXXXXX)
trap '_reg_cleanup; rm -rf "$w"; chmod -R u+w "$T" 2>/dev/null; rm -rf "$T"' EXIT
mkdir -p "$w/bin" "$w/src" "$w/fx"
cp "$CBUILD" "$w/bin/cbuild"
cp -a "$CB_SOURCE_DIR/examples" "$w/src/"
python3 "$CB_TESTDATA/fixtures/busybox_oci.py" /bin/busybox "$w/fx/bb" latest >/dev/null
"$CB_TESTDATA/fixtures/make-host-tool-oci.sh" gcc "$w/fx/gcc" >/dev/null || { bad "gcc fixture"; finish; exit; }
chmod -R a+rX "$w"
user=
if [ "$(id -u)" -eq 0 ]; then
    user=cbuild-test
    id "$user" >/dev/null 2>&1 || "$CB_SOURCE_DIR/tests/setup/rootless-user.sh" >/dev/null
fi

# runner NAME SCRIPT [VAR=VALUE...]: SCRIPT in a checkout (the examples'
# copy), as a fresh CI runner: its own home, root and runtime dir, cbuild on
# PATH; output in $T/NAME.out, status in $rc.
runner() {
    local name=$1 script=$2 d=$w/runner-$1
    shift 2
    mkdir -p "$d/home" "$d/run"
    chmod 0700 "$d/run"
    [ -z "$user" ] || chown -R "$user" "$d"
    rc=0
    ${user:+runuser -u "$user" --} env -i PATH="$w/bin:$PATH" HOME="$d/home" XDG_RUNTIME_DIR="$d/run" \
        CBUILD_ROOT="$d/root" TMPDIR=/tmp "$@" bash -c 'cd "$1" && bash "$2"' _ "$w/src" "$script" \
        >"$T/$name.out" 2>&1 || rc=$?
}
recipe() { # KIND FILE OUT: the recipe's build script, the registry and bases swapped
    CI_TEST_IMAGE=$REG/ci/hello-c CI_TEST_CACHE_REF=$REG/ci/hello-c:buildcache \
        CI_TEST_BUILDER=oci:$w/fx/gcc:latest CI_TEST_RUNTIME=oci:$w/fx/bb:latest "$@"
}
ran() { grep -c 'hello, build-stage: a static C binary' "$T/$1.out"; }
fetched() { grep -c -- '--> Fetched' "$T/$1.out"; }
steps=4 # WORKDIR, COPY, RUN and COPY --from

# ---- GitHub Actions
recipe env CI_TEST_TAG=run1 CI_TEST_REGISTRY=$REG CI_TEST_REGISTRY_USER=ci CI_TEST_REGISTRY_PASSWORD=pw \
    python3 "$CB_SOURCE_DIR/tests/integration/lib/ci_recipe.py" github "$ci/github-actions.yml" >"$w/gh1.sh" 2>"$T/recipe.err" ||
    bad "github recipe: $(cat "$T/recipe.err")"
grep -qF 'cbuild build --progress plain \' "$w/gh1.sh" && ok || bad "the workflow's build step: $(cat "$w/gh1.sh")"
grep -q 'sysctl -w kernel.apparmor_restrict_unprivileged_userns=0' "$ci/github-actions.yml" && ok || bad "userns step"
chmod a+r "$w/gh1.sh"
runner gh1 "$w/gh1.sh"
eq "github run 1 (exit)" "$rc" 0
[ "$rc" -eq 0 ] || tail -20 "$T/gh1.out"
eq "github run 1 ran the build" "$(ran gh1)" 1
grep -q "Exported $steps cache records" "$T/gh1.out" && ok || bad "github run 1 exported its cache: $(grep -i export "$T/gh1.out")"
eq "github run 1 pushed" "$(skopeo inspect --tls-verify=false "docker://$REG/ci/hello-c:run1" | jq -r '.Layers | length')" 2
if [ -n "$user" ]; then
    grep -q 'in a user namespace' "$T/gh1.out" && ok || bad "not rootless: $(grep -i 'RUN steps run' "$T/gh1.out")"
fi

sed 's/^export TAG=.*/export TAG=run2/' "$w/gh1.sh" >"$w/gh2.sh"
chmod a+r "$w/gh2.sh"
runner gh2 "$w/gh2.sh"
eq "github run 2 on a fresh runner (exit)" "$rc" 0
eq "github run 2: every step from the remote cache" "$(fetched gh2)" "$steps"
eq "github run 2 ran nothing" "$(ran gh2)" 0
layers() { skopeo inspect --tls-verify=false "docker://$REG/ci/hello-c:$1" | jq -c .Layers; }
eq "run 2's image has run 1's layers" "$(layers run2)" "$(layers run1)"

# ---- GitLab CI: same registry and cache (the project's), another runner.
recipe env CI_TEST_TAG=gl1 python3 "$CB_SOURCE_DIR/tests/integration/lib/ci_recipe.py" gitlab "$ci/gitlab-ci.yml" \
    >"$w/gl.sh" 2>"$T/recipe.err" || bad "gitlab recipe: $(cat "$T/recipe.err")"
chmod a+r "$w/gl.sh"
runner gl "$w/gl.sh" CI_REGISTRY="$REG" CI_REGISTRY_USER=ci CI_REGISTRY_PASSWORD=pw
eq "gitlab job (exit)" "$rc" 0
[ "$rc" -eq 0 ] || tail -20 "$T/gl.out"
eq "gitlab job: every step from the remote cache" "$(fetched gl)" "$steps"
eq "gitlab job pushed" "$(layers gl1)" "$(layers run1)"

# ---- Kubernetes: the manifest's structure, then its container's command.
python3 - "$ci/k8s-job.yaml" >"$T/k8s.check" 2>&1 <<'PY'
import sys, yaml
docs = list(yaml.safe_load_all(open(sys.argv[1])))
assert len(docs) == 1, "one document"
job = docs[0]
assert job["apiVersion"] == "batch/v1" and job["kind"] == "Job", "a batch/v1 Job"
pod = job["spec"]["template"]["spec"]
assert pod["restartPolicy"] == "Never", "restartPolicy Never"
assert pod["hostUsers"] is False, "hostUsers: false"
sc = pod["securityContext"]
assert sc["runAsNonRoot"] is True and sc["runAsUser"] != 0 and sc["runAsGroup"] != 0, "non-root"
(c,) = [c for c in pod["containers"] if c["name"] == "cbuild"]
assert c["securityContext"]["procMount"] == "Unmasked", "procMount Unmasked"
assert c["securityContext"].get("runAsUser", sc["runAsUser"]) != 0, "the container is not root"
cmd = c["command"]
assert cmd[:2] == ["cbuild", "build"], "cbuild build"
for flag in ("--push", "--cache-from=", "--cache-to=", "--authfile=/auth/"):
    assert any(a.startswith(flag) for a in cmd), "the command has " + flag
mounts = {m["name"]: m["mountPath"] for m in c["volumeMounts"]}
vols = {v["name"]: v for v in pod["volumes"]}
assert set(mounts) <= set(vols), "every mount has a volume"
assert vols["regcred"]["secret"]["secretName"] == "regcred", "credentials from the regcred secret"
assert cmd[-1].startswith(mounts["workspace"] + "/src/"), "the context is the cloned source"
init = pod["initContainers"][0]
assert init["args"][0] == "clone" and init["args"][-1] == mounts["workspace"] + "/src", "the init container clones it"
print("\n".join(cmd))
PY
if [ $? -eq 0 ]; then ok; else bad "k8s manifest: $(cat "$T/k8s.check")"; fi
# The command as the pod runs it: the registry, the checkout and the secret swapped.
mkdir -p "$w/auth"
echo '{"auths": {}}' >"$w/auth/.dockerconfigjson"
chmod -R a+rX "$w/auth"
mapfile -t cmd < <(sed -e "s|registry.example.com/team/|$REG/k8s/|" -e "s|^/workspace/src/|$w/src/|" \
    -e "s|^--authfile=/auth/|--authfile=$w/auth/|" "$T/k8s.check")
# The bases swapped as everywhere here: options go before the context.
cmd=("${cmd[@]:0:${#cmd[@]}-1}" --build-arg "BUILDER=oci:$w/fx/gcc:latest" --build-arg "RUNTIME=oci:$w/fx/bb:latest" \
    "${cmd[@]: -1}")
{
    printf 'set -e\nexec'
    printf ' %q' "${cmd[@]}"
    echo
} >"$w/k8s.sh"
# Its cache is another repository: prime it from run 1's by copying the artifact.
skopeo copy -q --all --src-tls-verify=false --dest-tls-verify=false \
    "docker://$REG/ci/hello-c:buildcache" "docker://$REG/k8s/hello-c:buildcache" 2>"$T/copy.err" || bad "copy the cache: $(cat "$T/copy.err")"
chmod a+r "$w/k8s.sh"
runner k8s "$w/k8s.sh"
eq "k8s command (exit)" "$rc" 0
[ "$rc" -eq 0 ] || tail -20 "$T/k8s.out"
eq "k8s command: every step from the remote cache" "$(fetched k8s)" "$steps"
eq "k8s command pushed" "$(skopeo inspect --tls-verify=false "docker://$REG/k8s/hello-c:latest" | jq -c .Layers)" "$(layers run1)"
finish
