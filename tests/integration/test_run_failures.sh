#!/bin/bash
# A failing RUN stops the build: non-zero exit, an error naming
# Containerfile:LINE and the status, with the output's last lines; and it
# leaves nothing behind: no process of the step (a background one
# included), no mount, nothing in ROOT/tmp, the store's tags unchanged.
# The same after SIGINT in the middle of a step, sent to cbuild alone and
# to its process group as a terminal's ^C does: exit 130 within seconds.
. "$(dirname "$0")/lib/common.sh"
need jq sha256sum pgrep
base=$T/busybox
busybox_base "$base"
ctx=$T/ctx
mkdir -p "$ctx"

printf 'FROM oci:%s:latest\nRUN echo kept > /kept\n' "$base" >"$ctx/Containerfile.good"
cb_ok "a good build first" -t keep:1 -f "$ctx/Containerfile.good" "$ctx"
index_before=$(sha256sum <"$CBUILD_ROOT/store/index.json")

# leftovers WHAT PATTERN: no process whose command line is PATTERN (an ERE
# matched whole), no mount under the root, ROOT/tmp empty, the tags as
# before.
leftovers() {
    local what=$1 pattern=$2
    local procs
    procs=$(pgrep -a -f "^($pattern)\$")
    [ -z "$procs" ] && ok || bad "$what: processes left: $procs"
    grep -F "$CBUILD_ROOT" /proc/self/mountinfo >"$T/mounts" && bad "$what: mounts left: $(cat "$T/mounts")" || ok
    local tmp
    tmp=$(find "$CBUILD_ROOT/tmp" -mindepth 1 2>/dev/null | head -5)
    [ -z "$tmp" ] && ok || bad "$what: left in ROOT/tmp: $tmp"
    eq "$what: index.json unchanged" "$(sha256sum <"$CBUILD_ROOT/store/index.json")" "$index_before"
}

# A unique sleep time, so that another run of this test is not mistaken
# for ours.
n=$((100000 + RANDOM * 4 + $$ % 4))
cat >"$ctx/Containerfile" <<EOF
FROM oci:$base:latest
RUN echo before > /before
# the failing step is on line 5, after a continuation
RUN sleep $n & setsid sleep $((n + 1)) & \\
    for i in 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19 20; do echo "output line \$i"; done; echo oops; exit 3
RUN echo never > /never
EOF
start=$(date +%s)
cb -t bad:1 "$ctx"
eq "failing RUN: exit status" "$([ "$rc" -ne 0 ] && echo non-zero || echo 0)" non-zero
# The error is the last lines of stderr: file:line, the status, the output's tail.
grep -n 'Containerfile:[0-9]' "$T/err" | tail -1 >"$T/errline"
grep -qE 'Containerfile:4(:[0-9]+)?: .*status 3' "$T/errline" && ok || bad "error names Containerfile:4 and status 3: $(cat "$T/err")"
sed -n "$(cut -d: -f1 "$T/errline"),\$p" "$T/err" >"$T/errmsg"
grep -q '^oops$' "$T/errmsg" && grep -q '^output line 20$' "$T/errmsg" && ok ||
    bad "the error shows the output's last lines: $(cat "$T/errmsg")"
grep -q 'never' "$T/err" && bad "the build went on after the failing step" || ok
leftovers "failing RUN" "sleep ($n|$((n + 1)))"
[ $(($(date +%s) - start)) -lt 20 ] && ok || bad "the failing step waited for its background processes"

# A command that cannot be found: the error says so (exit status 127 or an
# exec error), with the line.
printf 'FROM oci:%s:latest\nRUN ["/no/such/program"]\n' "$base" >"$ctx/Containerfile.noexec"
cb_fails "exec of a missing program" 'Containerfile.noexec:2(:[0-9]+)?: .*(/no/such/program|127)' \
    -t bad:2 -f "$ctx/Containerfile.noexec" "$ctx"
leftovers "missing program" "sleep $n"

# SIGINT in the middle of `RUN sleep N`. Job control gives the background
# cbuild its own process group and default signal dispositions, as a shell's
# foreground job has.
interrupt() { # WHAT TARGET(pid|group)
    local what=$1 target=$2 m=$((n + 10 + RANDOM % 1000))
    printf 'FROM oci:%s:latest\nRUN echo first > /first\nRUN sleep %s\n' "$base" "$m" >"$ctx/Containerfile.int"
    start_bg "sleep $m" -t int:1 -f "$ctx/Containerfile.int" "$ctx" || { bad "$what: the step did not start: $(cat "$T/bg.err")"; return; }
    local pid=$bg_pid t0
    t0=$(date +%s%N)
    if [ "$target" = group ]; then kill -INT -- "-$pid"; else kill -INT "$pid"; fi
    local st=0
    wait "$pid" || st=$?
    local ms=$((($(date +%s%N) - t0) / 1000000))
    eq "$what: exit status" "$st" 130
    [ "$ms" -lt 5000 ] && ok || bad "$what: cbuild took $ms ms to stop"
    grep -qi 'interrupt' "$T/bg.err" && ok || bad "$what: no word of the interrupt: $(tail -3 "$T/bg.err")"
    leftovers "$what" "sleep $m"
}
interrupt "SIGINT to cbuild" pid
interrupt "SIGINT to the process group" group
finish
