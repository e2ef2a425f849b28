#!/bin/bash
# --progress tty (and auto on a terminal): script(1) gives cbuild a
# terminal and keeps what it drew; tmux runs a build in a pane of known size
# and captures the screen as a person would see it.
. "$(dirname "$0")/lib/common.sh"
need script tmux skopeo jq
base=$T/busybox
busybox_base "$base"
mkdir -p "$T/ctx"
cat >"$T/ctx/Containerfile" <<EOF
FROM oci:$base:latest AS a
RUN for i in 1 2 3 4 5 6; do echo "a says \$i"; sleep 0.3; done; echo a > /a
FROM oci:$base:latest AS b
RUN for i in 1 2 3 4 5 6; do echo "b says \$i"; sleep 0.3; done; echo b > /b
FROM scratch
COPY --from=a /a /a
COPY --from=b /b /b
EOF
digest() { skopeo inspect "oci:$CBUILD_ROOT/store:$1" | jq -r .Digest; }
# in_tty OUT CMD...: runs cbuild on a terminal; OUT gets what it wrote (CRs dropped).
in_tty() {
    local out=$1
    shift
    rc=0
    script -qefc "$(printf '%q ' "$CBUILD" "$@")" /dev/null >"$T/raw" </dev/null || rc=$?
    tr -d '\r' <"$T/raw" >"$out"
}

in_tty "$T/t1" -t t:1 --jobs 2 "$T/ctx"
eq "build on a terminal" "$rc" 0
grep -q $'\e\[36m=> \[a 2/7\] RUN' "$T/t1" && ok || bad "a running step, in colour"
grep -q '\[+\] Building [0-9.]*s ([0-9]/7)' "$T/t1" && ok || bad "the running total"
grep -q ' => > a says 3' "$T/t1" && ok || bad "output folded under the step"
# Both stages' steps on screen at once: one frame holds both running lines.
awk 'BEGIN { RS = "\033\\[J" } /=> \[a 2\/7\] RUN/ && /=> \[b 4\/7\] RUN/ { found = 1 } END { exit !found }' "$T/t1" && ok ||
    bad "the two stages never showed side by side"
grep -qE $'=> \\[a 2/7\\] RUN .* [0-9]+\\.[0-9]s\e\\[0m$' "$T/t1" && ok || bad "the finished step with its time"
grep -q 'FINISHED' "$T/t1" && ok || bad "no FINISHED"
id=$(skopeo inspect --raw --config "oci:$CBUILD_ROOT/store:t:1" | sha256sum | cut -c1-64)
eq "the last two lines: the tags and digest, then the ID" "$(tail -2 "$T/t1")" "=> built t:1 $(digest t:1)
$id"

in_tty "$T/t2" -t t:1 --progress tty "$T/ctx"
eq "rebuild on a terminal" "$rc" 0
grep -q '=> CACHED \[a 2/7\] RUN' "$T/t2" && ok || bad "CACHED steps"
grep -q '(7/7, 4 cached) FINISHED' "$T/t2" && ok || bad "the summary: $(grep FINISHED "$T/t2")"
NO_COLOR=1 in_tty "$T/t3" -t t:1 "$T/ctx"
grep -q $'\e\[[0-9;]*m' "$T/t3" && bad "colours with NO_COLOR" || ok
grep -q '=> CACHED \[b 4/7\]' "$T/t3" && ok || bad "NO_COLOR view"
in_tty "$T/t4" -t t:1 --progress plain "$T/ctx"
grep -q '^STEP 1/7' "$T/t4" && ! grep -q '\[+\]' "$T/t4" && ok || bad "--progress plain on a terminal"

# A failure: the step in red with its output, FAILED, then the error.
printf 'FROM oci:%s:latest\nRUN echo one; echo two; exit 4\n' "$base" >"$T/ctx/Bad"
in_tty "$T/t5" -f "$T/ctx/Bad" "$T/ctx"
eq "exit status" "$rc" 1
grep -q $'\e\[31m=> ERROR \[stage-0 2/2\] RUN echo one' "$T/t5" && ok || bad "the failed step in red"
grep -A2 'ERROR \[stage-0 2/2\]' "$T/t5" | grep -q ' => > two' && ok || bad "its output under it"
grep -q 'FAILED' "$T/t5" && ok || bad "FAILED"
tail -4 "$T/t5" | grep -q "Bad:2:1: RUN exited with status 4" && ok || bad "the error after the view: $(tail -4 "$T/t5")"

# tmux: a 100x30 pane, the screen after the build.
sock=$T/tmux.sock
tmux -S "$sock" new-session -d -x 100 -y 30 -s cb \
    "$(printf '%q ' env CBUILD_ROOT="$CBUILD_ROOT" XDG_CONFIG_HOME="$XDG_CONFIG_HOME" "$CBUILD" -t tm:1 --no-cache "$T/ctx"); echo EXIT=\$?; sleep 60"
trap 'tmux -S "$sock" kill-server 2>/dev/null; chmod -R u+w "$T" 2>/dev/null; rm -rf "$T"' EXIT
mid=""
for _ in $(seq 100); do
    tmux -S "$sock" capture-pane -p -t cb >"$T/pane"
    grep -q '=> > [ab] says' "$T/pane" && [ -z "$mid" ] && mid=$(cat "$T/pane")
    grep -q '^EXIT=' "$T/pane" && break
    sleep 0.1
done
tmux -S "$sock" kill-server 2>/dev/null
echo "$mid" | grep -qE '^=> \[(a 2|b 4)/7\] RUN .* [0-9]+\.[0-9]s$' && ok || bad "tmux: no running step with a timer: $mid"
echo "$mid" | grep -q '\[+\] Building' && ok || bad "tmux: no total line while running"
echo "$mid" | grep -qE '^ => > [ab] says [0-9]$' && ok || bad "tmux: no output folded under a running step"
grep -qx 'EXIT=0' "$T/pane" && ok || bad "tmux: the build failed: $(cat "$T/pane")"
grep -qE '^=> \[a 2/7\] RUN .*[0-9]+\.[0-9]s$' "$T/pane" && ok || bad "tmux: the finished steps"
grep -qE '^\[\+\] Building [0-9.]+s \(7/7, 0 cached\) FINISHED$' "$T/pane" && ok || bad "tmux: the summary"
grep -qx "=> built tm:1 $(digest tm:1)" "$T/pane" && ok || bad "tmux: the digest line: $(cat "$T/pane")"
grep -q '\[+\] Building [0-9.]*s ([0-9]/7)$' "$T/pane" && bad "tmux: a stale live line left on the screen" || ok
finish
