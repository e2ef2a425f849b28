#!/bin/bash
# --no-cache-filter STAGE[,STAGE]: the named stages (by name or index) run
# every step again, the others still reuse theirs; a stage that comes out the
# same (SOURCE_DATE_EPOCH) leaves the keys of its dependants unchanged, so
# they hit, as with BuildKit. An unknown stage is an error before any step.
. "$(dirname "$0")/lib/common.sh"
base=$T/busybox
busybox_base "$base"
ctx=$T/ctx
mkdir -p "$ctx"
export SOURCE_DATE_EPOCH=1700000000
printf '%s\n' "FROM oci:$base:latest AS a" 'RUN echo a > /a' \
    "FROM oci:$base:latest AS b" 'RUN echo b > /b' \
    "FROM oci:$base:latest" 'COPY --from=a /a /a' 'COPY --from=b /b /b' 'RUN cat /a /b > /ab' >"$ctx/Containerfile"
# ran: how many steps missed the cache.
ran() { grep -c -- "--> Cache miss" "$T/err" || true; }
cb_ok "first build" --jobs 1 --explain-cache -t f:1 "$ctx"
id=$(cat "$T/out")
cb_ok "rebuild" --jobs 1 --explain-cache -t f:1 "$ctx"
eq "rebuild: no miss" "$(ran)" 0
cb_ok "filter a" --jobs 1 --explain-cache --no-cache-filter a -t f:1 "$ctx"
eq "filter a: one miss (stage a's RUN)" "$(ran)" 1
eq "filter a: said why" "$(grep -c -- '--> Cache miss: --no-cache-filter' "$T/err")" 1
eq "filter a: same image" "$(cat "$T/out")" "$id"
cb_ok "filter by index and name" --jobs 1 --explain-cache --no-cache-filter 1,2 -t f:1 "$ctx"
eq "filter 1,2: b's RUN and the final stage's three steps" "$(ran)" 4
cb_ok "filter twice" --jobs 1 --explain-cache --no-cache-filter a --no-cache-filter b -t f:1 "$ctx"
eq "filter a, b: two misses" "$(ran)" 2
cb_fails "unknown stage" 'no-cache-filter nope: .*Containerfile has no stage' --no-cache-filter nope -t f:1 "$ctx"
grep -q '^STEP' "$T/err" && bad "unknown stage: a step ran" || ok
finish
