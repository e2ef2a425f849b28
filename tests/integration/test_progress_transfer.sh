#!/bin/bash
# Long pulls and pushes show bytes and rates: a 64 MB image (one incompressible
# layer) through the loopback registry. plain: "push REF: blob 1/2 30 MB / 67.1 MB
# 210 MB/s" lines, then a last line with the totals; json: transfer events whose
# bytes only grow, end at the total and come at most ~10 times a second, for a FROM
# that pulls the image and for --push; a small image reports nothing.
source "$CB_SOURCE_DIR/tests/integration/lib/common.sh"
source "$CB_SOURCE_DIR/tests/integration/lib/registry.sh"
need jq skopeo
registry_plain || exit 1
# A second registry: the json build pushes where the layer is not yet.
_reg_run second "" http || exit 1
REG2=$REG_ADDR
mkdir -p "$T/ctx"
head -c $((64 << 20)) /dev/urandom >"$T/ctx/big.bin"
printf 'FROM scratch\nCOPY big.bin /big.bin\n' >"$T/ctx/Containerfile"
cb_ok "build the big image" build -q --compression none -t big:1 "$T/ctx"
ref=$REG_PLAIN/t/big:1

# ---- plain (stderr is not a terminal) ----
cb_ok "push" push big:1 "$ref"
grep -E "^push $ref: " "$T/err" >"$T/push.lines"
last=$(tail -1 "$T/push.lines")
[[ $last =~ ^push\ $ref:\ 2/2\ blobs,\ 67\.1\ MB\ in\ [0-9.]+s\ \([0-9.]+\ [kMG]?B/s\)$ ]] && ok || bad "push's last line: [$last]"
bad_lines=$(grep -vE "^push $ref: (blob [0-2]/2 [0-9.]+ [kMG]?B / 67\.1 MB [0-9.]+ [kMG]?B/s|2/2 blobs, .*)$" "$T/push.lines")
eq "push lines well formed" "$bad_lines" ""

cb_ok "pull (plain)" pull --root "$T/r2" "$ref"
grep -E "^pull $ref: " "$T/err" >"$T/pull.lines"
last=$(tail -1 "$T/pull.lines")
[[ $last =~ ^pull\ $ref:\ 1/1\ layers,\ 67\.1\ MB\ in\ [0-9.]+s\ \([0-9.]+\ [kMG]?B/s\)$ ]] && ok || bad "pull's last line: [$last]"
bad_lines=$(grep -vE "^pull $ref: (layer [01]/1 [0-9.]+ [kMG]?B / 67\.1 MB [0-9.]+ [kMG]?B/s|1/1 layers, .*)$" "$T/pull.lines")
eq "pull lines well formed" "$bad_lines" ""
# On a terminal (script(1) gives it one): one line redrawn in place, a newline after the last.
TERM=xterm script -qec "$CBUILD pull --root $T/r5 $ref" /dev/null >"$T/tty.out" 2>&1 || bad "pull on a terminal: $(tail -3 "$T/tty.out")"
tr '\r' '\n' <"$T/tty.out" | grep -a "^"$'\033'"\[Kpull $ref: " >"$T/tty.lines"
[ -s "$T/tty.lines" ] && ok || bad "no redrawn lines: $(cat -v "$T/tty.out" | head -5)"
grep -aq "^"$'\033'"\[Kpull $ref: 1/1 layers, 67\.1 MB in " "$T/tty.lines" && ok || bad "the last redrawn line: $(tail -2 "$T/tty.lines" | cat -v)"
cb_ok "pull -q" pull -q --root "$T/r3" "$ref"
eq "-q: no transfer lines" "$(grep -c "^pull " "$T/err")" 0

# ---- json: a FROM that pulls, and --push ----
printf 'FROM %s\nENV X=1\n' "$ref" >"$T/ctx/Json"
cb_ok "json build" build --root "$T/r4" --progress json -f "$T/ctx/Json" -t "$REG2/t/big:2" --push "$T/ctx"
jq -c 'select(.type == "transfer")' "$T/err" >"$T/transfer.json"
for action in pull push; do
    ev() { jq -c "select(.action == \"$action\")" "$T/transfer.json"; }
    eq "$action: one last event" "$(ev | jq -c 'select(.done)' | wc -l)" 1
    eq "$action: the last event is the last" "$(ev | tail -1 | jq .done)" true
    eq "$action: bytes end at the total" "$(ev | tail -1 | jq '.bytes == .total')" true
    eq "$action: bytes never go back" "$(ev | jq -s '[.[].bytes] | . == sort')" true
    eq "$action: numbers" "$(ev | jq -rs 'map([.bytes, .total, .rate, .blobs, .blobs_done, .duration] | map(type)) | flatten | unique | join(",")')" number
    # At most ~10 a second: the interim events are 0.1 s apart (less 10 ms of clock slack).
    eq "$action: throttled" "$(ev | jq -s '[.[] | select(.done | not) | .time] | [range(1; length) as $i | .[$i] - .[$i - 1]] | map(select(. < 0.09)) | length')" 0
done
eq "pull total: the layer" "$(jq -s '[.[] | select(.action == "pull")] | last | .total' "$T/transfer.json")" \
    "$(skopeo inspect --raw "oci:$CBUILD_ROOT/store:big:1" | jq '.layers[0].size')"
eq "push total: layer and config" "$(jq -s '[.[] | select(.action == "push")] | last | .total' "$T/transfer.json")" \
    "$(skopeo inspect --raw "oci:$T/r4/store:$REG2/t/big:2" | jq '[.layers[].size, .config.size] | add')"
# Bases are resolved before the first step; the push comes after the last.
eq "transfers outside steps" "$(jq -r '"\(.stage) \(.step)"' "$T/transfer.json" | sort -u)" "null null"
eq "the push's ref" "$(jq -r 'select(.action == "push") | .ref' "$T/transfer.json" | sort -u)" "$REG2/t/big:2"
n=$(jq -s '[.[] | select(.done | not)] | length' "$T/transfer.json")
echo "interim transfer events: $n; durations: $(jq -r 'select(.done) | "\(.action) \(.duration)s"' "$T/transfer.json" | paste -sd' ')"

# A small image moves without transfer lines.
printf 'FROM scratch\nCOPY Containerfile /c\n' >"$T/ctx/Small"
cb_ok "small build" build -q -f "$T/ctx/Small" -t small:1 "$T/ctx"
cb_ok "small push" push small:1 "$REG_PLAIN/t/small:1"
eq "small push: no transfer lines" "$(grep -c '^push ' "$T/err")" 0
finish
