#!/bin/bash
# The command line itself: --help of every subcommand, --version with the
# libraries' versions, suggestions for mistyped commands and flags.
. "$(dirname "$0")/lib/common.sh"

cb_ok "cbuild --help" --help
cmds=$(awk '/^Commands:/ {on = 1; next} on && /^  [a-z]/ {print $1}' "$T/out")
eq "the command list" "$(echo $cmds)" "build images inspect history tag rmi prune fsck df push pull login logout parse graph version"
for c in $cmds; do
    cb_ok "$c --help" "$c" --help
    grep -q "^Usage: cbuild" "$T/out" && ok || bad "$c --help prints no usage: $(head -3 "$T/out")"
    cb_ok "$c -h" "$c" -h
done

# --version: cbuild's and every library's version, the build-time one
# matching the headers this tree was compiled against.
cb_ok "--version" --version
grep -qE "^cbuild [0-9]+\.[0-9]+\.[0-9]+$" "$T/out" && ok || bad "version line: $(head -1 "$T/out")"
for lib in libarchive libcurl OpenSSL jansson zstd zlib libseccomp; do
    grep -qE "^  $lib +[0-9]+\.[0-9]+" "$T/out" && ok || bad "--version lacks $lib: $(cat "$T/out")"
done
hdr_zlib=$(sed -n 's/^#define ZLIB_VERSION "\(.*\)"/\1/p' /usr/include/zlib.h)
grep -qE "^  zlib +$hdr_zlib( |$)" "$T/out" && ok || bad "zlib built-with is not the header's $hdr_zlib"
hdr_curl=$(sed -n 's/^#define LIBCURL_VERSION "\(.*\)"/\1/p' /usr/include/*/curl/curlver.h /usr/include/curl/curlver.h 2>/dev/null | head -1)
grep -qE "^  libcurl +$hdr_curl( |$)" "$T/out" && ok || bad "libcurl built-with is not the header's $hdr_curl"
cb_ok "version command" version
eq "version = --version" "$("$CBUILD" version)" "$("$CBUILD" --version)"

# Mistyped commands and flags get the nearest name; far-off ones none.
cb_fails "mistyped command" "unknown command 'imagse'.*did you mean 'images'" imagse
eq "exit code" "$rc" 2
cb_fails "mistyped command 2" "did you mean 'history'" histroy
cb_fails "far-off command" "unknown command 'zzzzzzzz'" zzzzzzzz
grep -q "did you mean" "$T/err" && bad "a suggestion for zzzzzzzz: $(cat "$T/err")" || ok
cb_fails "build flag" "unknown option --bulid-arg \(did you mean --build-arg\?\)" build --bulid-arg X=1 .
eq "exit code" "$rc" 2
cb_fails "implicit build flag" "did you mean --no-cache" --no-cahce .
cb_fails "images flag" "did you mean --format" images --frmat json
cb_fails "history flag" "did you mean --no-trunc" history --no-trunk x
cb_fails "df flag" "did you mean --format" df --formta json
cb_fails "graph flag" "did you mean --target" graph --targte x
cb_fails "parse flag" "did you mean --dump" parse --dupm
cb_fails "prune flag" "did you mean --keep-storage" prune --keep-storge 1
cb_fails "a flag without its value" "option --target needs a value" build --target
cb_fails "no flag is near" "unknown or incomplete option --zzzzzzzzzz" images --zzzzzzzzzz
grep -q "did you mean" "$T/err" && bad "a suggestion for --zzzzzzzzzz" || ok
cb_fails "a flag another command has" "unknown .*option --no-trunc" inspect --no-trunc x
finish
