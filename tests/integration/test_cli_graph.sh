#!/bin/bash
# cbuild graph: the DOT text's structure (clusters, nodes, edges, skipped
# stages, cache outcomes after a build) and Graphviz accepting it.
. "$(dirname "$0")/lib/common.sh"
need dot
mkdir -p "$T/ctx"
echo a >"$T/ctx/a"
cat >"$T/ctx/Containerfile" <<'CF'
FROM scratch AS base
COPY a /a
FROM base AS build
WORKDIR /w
FROM scratch AS unused
COPY a /b
FROM scratch
COPY --from=build /a /a
LABEL say="a \"quoted\" word"
CF

cb_ok "graph" graph "$T/ctx"
cp "$T/out" "$T/g.dot"
head -1 "$T/g.dot" | grep -q '^digraph cbuild {$' && ok || bad "not a digraph: $(head -1 "$T/g.dot")"
eq "clusters" "$(grep -c '^  subgraph cluster_s[0-9]' "$T/g.dot")" 4
eq "instruction nodes" "$(grep -cE '^    s[0-9]+_[0-9]+ \[label=' "$T/g.dot")" 9
eq "image nodes" "$(grep -c 'shape=cylinder' "$T/g.dot")" 3
grep -q 's0_1 -> s1_0 \[label="FROM"' "$T/g.dot" && ok || bad "FROM base edge"
grep -q 's1_1 -> s3_1 \[label="COPY --from"' "$T/g.dot" && ok || bad "COPY --from edge"
grep -q 'label="stage 3 (target)"' "$T/g.dot" && ok || bad "target cluster"
sed -n '/cluster_s2/,/^  }/p' "$T/g.dot" | grep -q 'style=dashed; color=grey' && ok || bad "unused stage not grey"
grep -qF 's3_2 [label="LABEL say=\"a \\\"quoted\\\" word\""' "$T/g.dot" && ok || bad "quotes escaped: $(grep s3_2 "$T/g.dot")"
grep -q fillcolor "$T/g.dot" && bad "outcomes before any build" || ok
check "dot reads it" dot -Tsvg -o "$T/g.svg" "$T/g.dot"
cb_ok "graph --target build" graph --target build "$T/ctx"
grep -q 'label="stage 1: build (target)"' "$T/out" && ok || bad "--target"
sed -n '/cluster_s3/,/^  }/p' "$T/out" | grep -q 'style=dashed; color=grey' && ok || bad "stage 3 not skipped with --target build"

# SVG through Graphviz, to stdout and to -o.
cb_ok "graph --format svg" graph --format svg "$T/ctx"
grep -q '<svg' "$T/out" && ok || bad "no svg"
python3 -c 'import sys, xml.dom.minidom; xml.dom.minidom.parse(sys.argv[1])' "$T/out" && ok || bad "svg is not XML"
cb_ok "graph -o" graph --format svg -o "$T/x.svg" -f "$T/ctx/Containerfile" "$T/ctx"
grep -q '<svg' "$T/x.svg" && ok || bad "-o wrote no svg"
# Without dot: a clear error and no file.
mkdir -p "$T/nodot"
rc=0
PATH=$T/nodot "$CBUILD" graph --format svg -o "$T/y.svg" "$T/ctx" >"$T/out" 2>"$T/err" || rc=$?
eq "svg without dot fails" "$rc" 2
grep -q "needs Graphviz's dot on PATH (Debian package graphviz)" "$T/err" && ok || bad "svg without dot: $(cat "$T/err")"
[ -e "$T/y.svg" ] && bad "a half-written file without dot" || ok

# After a build: hits green with CACHED, steps that ran blue.
cb_ok "first build" -q -t g:1 "$T/ctx"
cb_ok "graph after a build" graph "$T/ctx"
eq "ran" "$(grep -c 'fillcolor="#bbdefb"' "$T/out")" 3
grep -q CACHED "$T/out" && bad "CACHED after the first build" || ok
cb_ok "second build" -q -t g:1 "$T/ctx"
cb_ok "graph after a cached build" graph "$T/ctx"
eq "cached" "$(grep -c '(CACHED)", style="rounded,filled", fillcolor="#c8e6c9"' "$T/out")" 3
echo b >"$T/ctx/a"
sed -i 's|^WORKDIR /w|WORKDIR /w2|' "$T/ctx/Containerfile"
cb_ok "graph after an edit" graph "$T/ctx"
grep -q 's1_1 \[label="WORKDIR /w2"\]' "$T/out" && ok || bad "an edited line keeps its old outcome: $(grep s1_1 "$T/out")"
check "dot reads the coloured graph" dot -Tsvg -o /dev/null "$T/out"

# Errors name the file and line; nothing on stdout.
printf 'FROM scratch\nCOPY --from=nosuch-stage-x /a /a\nFROM scratch AS a\nFROM scratch AS a\n' >"$T/bad"
cb_fails "duplicate stage" "$T/bad:4:1: duplicate stage name" graph -f "$T/bad" "$T/ctx"
eq "exit 2" "$rc" 2
[ -s "$T/out" ] && bad "output on an error" || ok
cb_fails "no Containerfile" "no Containerfile or Dockerfile" graph "$T/nodot"
cb_ok "graph with a root that does not exist" graph --root "$T/noroot" "$T/ctx"
[ -e "$T/noroot" ] && bad "graph created a root" || ok
cb_fails "bad format" "expected dot or svg" graph --format png "$T/ctx"
finish
