#!/bin/bash
# The man page and bash completion: installed by `cmake --install`, the page
# renders without a warning, and it (and the completion) knows every
# subcommand and every option that --help lists.
. "$(dirname "$0")/lib/common.sh"
need man groff cmake
check "cmake --install" cmake --install "$CB_BINARY_DIR" --prefix "$T/inst"
page=$T/inst/share/man/man1/cbuild.1
comp=$T/inst/share/bash-completion/completions/cbuild
[ -f "$page" ] && ok || bad "no installed man page"
[ -f "$comp" ] && ok || bad "no installed bash completion"

rc=0
MANWIDTH=80 man --warnings -l "$page" >"$T/man.txt" 2>"$T/man.err" || rc=$?
eq "man -l exit" "$rc" 0
[ -s "$T/man.err" ] && bad "man --warnings: $(cat "$T/man.err")" || ok
groff -man -ww -z "$page" 2>"$T/groff.err" && [ ! -s "$T/groff.err" ] && ok || bad "groff -ww: $(cat "$T/groff.err")"
grep -q "^NAME" "$T/man.txt" && ok || bad "the page rendered nothing"
eq "the page's version" "$(sed -n 's/^\.TH CBUILD 1 "[^"]*" "cbuild \([^"]*\)".*/\1/p' "$page")" \
    "$("$CBUILD" --version | sed -n '1s/^cbuild //p')"

# Every subcommand has a section; every option of its --help is in the page
# and in the completion's list for that command.
"$CBUILD" --help >"$T/help"
cmds=$(awk '/^Commands:/ {on = 1; next} on && /^  [a-z]/ {print $1}' "$T/help")
[ -n "$cmds" ] && ok || bad "no commands in --help"
for c in $cmds; do
    grep -q "^$(echo "$c" | tr a-z A-Z)\$" "$T/man.txt" && ok || bad "no section for $c in the man page"
    "$CBUILD" "$c" --help >"$T/h.$c"
    # Options are what the option lines start with and what the usage line offers.
    opts=$( (grep -oE -- '^ +(-[a-zA-Z], )?--[a-z][a-z-]+' "$T/h.$c"
        sed -n '/^Usage:/,/^$/p' "$T/h.$c" | grep -oE -- '\[--[a-z][a-z-]+') | grep -oE -- '--[a-z][a-z-]+' | sort -u)
    [ "$c" = version ] || [ -n "$opts" ] || bad "$c --help lists no options"
    for o in $opts; do
        grep -qE -- "(^|[^a-z-])$o([^a-z-]|\$)" "$T/man.txt" && ok || bad "$c: $o is not in the man page"
        (
            . "$comp"
            COMP_WORDS=(cbuild "$c" --)
            COMP_CWORD=2
            _cbuild
            printf '%s\n' "${COMPREPLY[@]}"
        ) >"$T/comp.$c"
        grep -qx -- "$o" "$T/comp.$c" && ok || bad "$c: $o is not completed"
    done
done
# The implicit build (cbuild --...) completes build's options; commands complete.
complete_words() {
    (
        . "$comp"
        COMP_WORDS=("$@")
        COMP_CWORD=$((${#COMP_WORDS[@]} - 1))
        _cbuild
        printf '%s\n' "${COMPREPLY[@]}"
    )
}
complete_words cbuild --prog >"$T/c1"
eq "cbuild --prog" "$(cat "$T/c1")" "--progress"
complete_words cbuild --progress "" >"$T/c2"
eq "--progress values" "$(sort "$T/c2" | tr '\n' ' ')" "auto json plain quiet tty "
complete_words cbuild gr >"$T/c3"
grep -qx graph "$T/c3" && ok || bad "cbuild gr does not complete to graph: $(cat "$T/c3")"
complete_words cbuild graph --format "" >"$T/c4"
eq "graph --format values" "$(sort "$T/c4" | tr '\n' ' ')" "dot svg "
cb_ok "build an image to complete" -q -t compl:1 "$CB_SOURCE_DIR/examples/hello"
PATH=$(dirname "$CBUILD"):$PATH complete_words cbuild history co >"$T/c5"
eq "image names complete" "$(cat "$T/c5")" "compl:1"
finish
