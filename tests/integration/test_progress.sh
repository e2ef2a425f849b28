#!/bin/bash
# --progress plain, json and quiet: what each prints, judged line by line
# (jq parses every json line), with two stages running at once, a cache
# hit, a long and a non-UTF-8 output line, and a failing step.
. "$(dirname "$0")/lib/common.sh"
need jq skopeo python3
base=$T/busybox
busybox_base "$base"
mkdir -p "$T/ctx"
cat >"$T/ctx/Containerfile" <<EOF
FROM oci:$base:latest AS a
RUN for i in \$(seq 1 200); do echo "a line \$i"; done; printf 'no newline'; echo a > /a
FROM oci:$base:latest AS b
RUN for i in \$(seq 1 200); do echo "b line \$i" >&2; done; head -c 10000 /dev/zero | tr '\\0' x; echo; printf 'bad \\377\\376 bytes\\n'; echo b > /b
FROM scratch
COPY --from=a /a /a
COPY --from=b /b /b
ENV DONE=1
EOF
digest() { skopeo inspect "oci:$CBUILD_ROOT/store:$1" | jq -r .Digest; }

# ---- plain ----
cb_ok "plain build" --progress plain --jobs 2 -t p:1 "$T/ctx"
cp "$T/err" "$T/plain1"
eq "the ID alone on stdout" "$(wc -l <"$T/out")" 1
eq "every output line of stage a, prefixed" "$(grep -c '^\[a 2/8\] a line [0-9]*$' "$T/plain1")" 200
eq "every output line of stage b, prefixed" "$(grep -c '^\[b 4/8\] b line [0-9]*$' "$T/plain1")" 200
grep -qx '\[a 2/8\] no newline' "$T/plain1" && ok || bad "the last unfinished line"
eq "a 10000-byte line in prefixed pieces" "$(grep '^\[b 4/8\] x' "$T/plain1" | sed 's/^\[b 4\/8\] //' | tr -d '\n' | wc -c)" 10000
grep -q '^STEP 2/8: RUN ' "$T/plain1" && ok || bad "STEP lines"
grep -qE '^--> \[a 2/8\] DONE [0-9]+\.[0-9]{2}s$' "$T/plain1" && ok || bad "step time of a 2/8"
grep -qE '^--> \[stage-2 6/8\] DONE [0-9]+\.[0-9]{2}s$' "$T/plain1" && ok || bad "step time of COPY"
grep -q 'ENV DONE' "$T/plain1" && ! grep -q '^--> \[stage-2 8/8\]' "$T/plain1" && ok || bad "ENV has no end line"
grep -q '^RUN steps run on ' "$T/plain1" && ok || bad "the isolation used is said"
# No line of one stage breaks into another's: everything is a known kind.
bad_lines=$(grep -vE '^(\[(a|b|stage-2) [0-9]/8\] |STEP [0-9]/8: |--> |RUN steps run on |rootfs: |Tagged |Built )' "$T/plain1" | head -3)
eq "no mixed lines" "$bad_lines" ""
eq "the last line: tags and digest" "$(tail -1 "$T/plain1" | sed -E 's/ in [0-9.]+s$//')" "Built p:1 $(digest p:1)"

cb_ok "plain rebuild" --progress plain -t p:1 -t p:2 "$T/ctx"
eq "hits are CACHED" "$(grep -cE '^--> \[(a|b|stage-2) [0-9]/8\] CACHED$' "$T/err")" 4
grep -q '^\[a 2/8\] ' "$T/err" && bad "a cached step printed output" || ok
eq "two tags on the last line" "$(tail -1 "$T/err" | sed -E 's/ in [0-9.]+s$//')" "Built p:1, p:2 $(digest p:1)"

# ---- json ----
cb_ok "json build" --progress json --no-cache --explain-cache -t j:1 "$T/ctx"
cp "$T/err" "$T/j1"
n=$(wc -l <"$T/j1")
eq "every line is one JSON object" "$(jq -c 'select(type == "object" and (.type | type) == "string" and (.time | type) == "number")' "$T/j1" | wc -l)" "$n"
eq "event types" "$(jq -r .type "$T/j1" | sort -u | tr '\n' ' ')" "cache image log step step_end "
eq "a start and an end for each step" "$(jq -r 'select(.type == "step") | "\(.stage) \(.step)"' "$T/j1" | sort)" \
    "$(jq -r 'select(.type == "step_end") | "\(.stage) \(.step)"' "$T/j1" | sort)"
eq "8 steps" "$(jq -r 'select(.type == "step") | .step' "$T/j1" | sort -n | tr '\n' ' ')" "1 2 3 4 5 6 7 8 "
eq "durations are numbers" "$(jq -r 'select(.type == "step_end") | .duration | type' "$T/j1" | sort -u)" number
eq "misses with their reason" "$(jq -r 'select(.type == "cache") | "\(.hit) \(.reason)"' "$T/j1" | sort -u)" "false --no-cache"
eq "output lines of a" "$(jq -r 'select(.type == "log" and .stream == "output" and .stage == "a") | .line' "$T/j1" | grep -c '^a line')" 200
eq "output lines of b" "$(jq -r 'select(.type == "log" and .stream == "output" and .stage == "b" and .step == 4) | .line' "$T/j1" | grep -c '^b line')" 200
eq "the long line, whole across events" "$(jq -j 'select(.type == "log" and .stream == "output") | .line | select(startswith("xxx"))' "$T/j1" | wc -c)" 10000
eq "bytes that are not UTF-8" "$(jq -r 'select(.type == "log" and .stream == "output") | .line | select(startswith("bad "))' "$T/j1")" "bad �� bytes"
longest=$(awk '{ if (length($0) > m) m = length($0) } END { print m }' "$T/j1")
[ "$longest" -lt 4096 ] && ok || bad "an event of $longest bytes (more than PIPE_BUF)"
eq "the image event" "$(jq -r 'select(.type == "image") | "\(.digest) \(.tags | join(",")) \(.id)"' "$T/j1")" \
    "$(digest j:1) j:1 sha256:$(cat "$T/out")"
eq "the image event is last" "$(tail -1 "$T/j1" | jq -r .type)" image
cb_ok "json rebuild" --progress json -t j:1 "$T/ctx"
eq "hits" "$(jq -r 'select(.type == "cache") | .hit' "$T/err" | sort | uniq -c | awk '{print $1, $2}')" "4 true"
eq "cached ends" "$(jq -r 'select(.type == "step_end" and .cached) | "\(.stage) \(.step)"' "$T/err" | sort | tr '\n' ,)" \
    "a 2,b 4,stage-2 6,stage-2 7,"
grep -q '^STEP\|^-->' "$T/err" && bad "plain lines among the events" || ok

# A failing step: an error event with the place, nothing else on stderr.
printf 'FROM oci:%s:latest\nRUN echo before; exit 3\n' "$base" >"$T/ctx/Bad"
cb_fails "json failure" '"type":"error"' --progress json -f "$T/ctx/Bad" "$T/ctx"
eq "exit status" "$rc" 1
eq "all JSON" "$(jq -c . "$T/err" | wc -l)" "$(wc -l <"$T/err")"
eq "error event" "$(jq -r 'select(.type == "error") | "\(.file | endswith("/Bad")) \(.line) \(.exit_code) \(.stage) \(.step)"' "$T/err")" \
    "true 2 1 stage-0 2"
jq -r 'select(.type == "error") | .message' "$T/err" | grep -q 'exited with status 3' && ok || bad "error message"
eq "the step's output came first" "$(jq -r 'select(.type == "log" and .stream == "output") | .line' "$T/err")" before
# A failing step in a forked stage builder (two stages at once): the error event names it too.
cat >"$T/ctx/BadFork" <<EOF
FROM oci:$base:latest AS ok
RUN sleep 1; echo fine >/f
FROM oci:$base:latest AS broken
RUN echo about to fail
RUN exit 4
FROM scratch
COPY --from=ok /f /f
COPY --from=broken /etc/passwd /p
EOF
cb_fails "json failure in a forked stage" '"type":"error"' --progress json --jobs 2 -f "$T/ctx/BadFork" "$T/ctx"
eq "forked: error event" "$(jq -r 'select(.type == "error") | "\(.file | endswith("/BadFork")) \(.line) \(.stage) \(.step)"' "$T/err")" \
    "true 5 broken 5"
cb_fails "json error outside any step" '"type":"error"' --progress json -f "$T/ctx/Missing" "$T/ctx"
eq "no step: null stage and step" "$(jq -c 'select(.type == "error") | [.stage, .step]' "$T/err")" "[null,null]"

# ---- quiet ----
cb_ok "quiet" -q -t q:1 "$T/ctx"
eq "nothing on stderr" "$(cat "$T/err")" ""
eq "the ID on stdout" "$(cat "$T/out")" "$(skopeo inspect --raw --config "oci:$CBUILD_ROOT/store:q:1" | sha256sum | cut -c1-64)"
cb_ok "--progress quiet" --progress quiet --no-cache -t q:2 "$T/ctx"
eq "nothing on stderr, RUN output neither" "$(cat "$T/err")" ""
cb_fails "quiet failure still says why" "Bad:2:1: .*exited with status 3" -q -f "$T/ctx/Bad" "$T/ctx"

# ---- auto, flags ----
cb_ok "auto without a terminal is plain" -t p:1 "$T/ctx"
grep -q '^STEP 1/8' "$T/err" && grep -qE '^--> \[a 2/8\] CACHED' "$T/err" && ok || bad "auto: $(head -3 "$T/err")"
cb_fails "bad mode" "--progress fancy: expected auto, tty, plain, json or quiet" --progress fancy "$T/ctx"
cb_fails "mistyped flag" "did you mean --progress" --progess plain "$T/ctx"
finish
