#!/bin/bash
# A stage's RUN steps share one step directory (builder/run_step.c): on a
# journal-less ext4 every inode made and freed slows the next allocations
# (tests/bench/README.md, run10). Checked here:
#   - a 10-RUN build makes and removes the step directories (run-*, upper,
#     work, rootfs) about once, not once per step (strace: at most 2 of those
#     mkdir/rmdir calls a step; the per-step directories made 9 a step);
#   - what the next step sees and what its layer holds are as with a new
#     directory: each layer only its own change, the earlier files there, an
#     rw bind's writes gone, a "/" the step chmodded back to 755 in the next
#     one, a removed file's whiteout, "/" with the step's start as its
#     time; a failed step leaves nothing behind;
#   - two stages built in parallel, each with its RUNs, and the copy mode
#     give the same layers.
. "$(dirname "$0")/lib/common.sh"
need strace python3
base=$T/busybox
busybox_base "$base"
ctx=$T/ctx
mkdir -p "$ctx/data"
echo ctx >"$ctx/data/file"
# Kernel overlayfs: the mode whose directory is kept.
export CBUILD_RUN_ROOTFS=overlay

{
    echo "FROM oci:$base:latest"
    for i in $(seq 1 10); do echo "RUN echo $i > /f$i"; done
} >"$ctx/Containerfile"
cb_ok "warm build" --no-cache -t dir:warm "$ctx"
ASAN_OPTIONS="${ASAN_OPTIONS:-}:detect_leaks=0" strace -f -qq -o "$T/strace" \
    -e trace=mkdir,mkdirat,rmdir,unlinkat "$CBUILD" --no-cache -t dir:10 "$ctx" >/dev/null 2>"$T/err" ||
    bad "traced 10-RUN build: $(tail -5 "$T/err")"
churn=$(grep -v ' = -1' "$T/strace" | grep -E '^[0-9]+ +(mkdir|mkdirat|rmdir|unlinkat)\(' |
    grep -E '(mkdir|mkdirat|rmdir)\(|AT_REMOVEDIR' |
    grep -cE '"([^"]*/)?(run-[^"/]*|upper|work|rootfs)"' || true)
[ "$churn" -le 20 ] && ok || bad "10 RUN steps made and removed $churn step directories (at most 20)"
lines=$(layers dir:10)
for i in 1 5 10; do
    eq "layer $i holds only its file" "$(awk -v n="$i" '$1 == n {print $2}' <<<"$lines" | tr '\n' ' ')" "f$i "
done

printf '%s\n' "FROM oci:$base:latest" \
    'RUN echo 1 > /f1' \
    'RUN test -f /f1 && echo 2 > /f2' \
    'RUN --mount=type=bind,source=data,target=/data,rw echo x > /data/new && ls /data > /seen' \
    'RUN ls /data > /after 2>&1 || echo none > /after' \
    'RUN chmod 700 /' \
    'RUN stat -c %a / > /rootmode' \
    'RUN rm /f1' \
    'RUN test ! -e /f1 && echo gone > /gone' >"$ctx/Containerfile"
cb_ok "build with binds, chmod and rm" --no-cache -t dir:mix "$ctx"
lines=$(layers dir:mix)
only() { awk -v n="$1" '$1 == n {print $2}' <<<"$lines" | sort | tr '\n' ' '; }
eq "step 2 saw /f1, its layer only /f2" "$(only 2)" "f2 "
eq "the rw bind's layer: only what the step wrote outside it" "$(only 3)" "seen "
eq "the rw bind's writes are gone in the next step" "$(only 4)" "after "
unpack dir:mix "$T/mix"
eq "the bind saw its write" "$(tr '\n' ' ' <"$T/mix/rootfs/seen")" "file new "
eq "the next step does not" "$(cat "$T/mix/rootfs/after")" "none"
eq "/ chmodded in a step is 755 in the next" "$(cat "$T/mix/rootfs/rootmode")" "755"
# chmod of / alone changes no entry: no layer, the later ones one index lower.
eq "the removal's layer is a whiteout" "$(only 6)" ".wh.f1 "
eq "the step after the removal" "$(cat "$T/mix/rootfs/gone")" "gone"
eq "the build's workspace is gone" "$(ls "$CBUILD_ROOT/tmp" | grep -c build- || true)" 0

# "/" has the step's start as its time, as a new upper dir has, not the
# commit's of a step seconds before.
printf '%s\n' "FROM oci:$base:latest" 'RUN echo a > /a' 'RUN sleep 2' \
    'RUN echo $(($(date +%s) - $(stat -c %Y /))) > /age' >"$ctx/Containerfile"
cb_ok "build with a slow step" --no-cache -t dir:age "$ctx"
unpack dir:age "$T/age"
age=$(cat "$T/age/rootfs/age")
[ "$age" -le 1 ] && ok || bad "the step's / was ${age} s old"

printf '%s\n' "FROM oci:$base:latest" 'RUN echo a > /a' 'RUN echo b > /b && false' >"$ctx/Containerfile"
cb_fails "a failed step fails the build" "exited with status 1" --no-cache -t dir:fail "$ctx"
eq "a failed build leaves no workspace" "$(ls "$CBUILD_ROOT/tmp" | grep -c build- || true)" 0

# Two stages in parallel, each with its steps, then the copy mode.
printf '%s\n' "FROM oci:$base:latest AS one" 'RUN echo 1a > /a' 'RUN echo 1b > /b' 'RUN cat /a /b > /ab' \
    "FROM oci:$base:latest AS two" 'RUN echo 2a > /a' 'RUN echo 2b > /b' 'RUN cat /a /b > /ab' \
    "FROM oci:$base:latest" 'COPY --from=one /ab /one' 'COPY --from=two /ab /two' >"$ctx/Containerfile"
cb_ok "two stages in parallel" --no-cache --jobs 2 -t dir:par "$ctx"
unpack dir:par "$T/par"
eq "stage one's steps" "$(tr '\n' ' ' <"$T/par/rootfs/one")" "1a 1b "
eq "stage two's steps" "$(tr '\n' ' ' <"$T/par/rootfs/two")" "2a 2b "
printf '%s\n' "FROM oci:$base:latest" 'RUN echo 1 > /f1' 'RUN echo 2 > /f2 && rm /f1' >"$ctx/Containerfile"
cb_ok "overlay" --no-cache -t dir:ov "$ctx"
CBUILD_RUN_ROOTFS=copy cb_ok "copy mode" --no-cache -t dir:copy "$ctx"
eq "copy mode gives the same entries" "$(layers dir:copy | awk '{print $1, $2, $3, $4}')" \
    "$(layers dir:ov | awk '{print $1, $2, $3, $4}')"
finish
