#!/bin/bash
# ONBUILD: triggers stored in a parent image run right after FROM in a
# child build (COPY from the child's context, ENV, LABEL, WORKDIR), show in
# the STEP lines, are not passed on to the child's config, and so do not run
# again in a grandchild. A failing trigger fails the child build naming the
# child's Containerfile, the FROM line and the trigger. `ONBUILD COPY
# --from=helper` needs a stage named helper in the child's Containerfile.
# Builds without RUN only.
. "$(dirname "$0")/lib/common.sh"
need skopeo umoci jq
base=$T/busybox
busybox_base "$base"

# ---- the parent: four triggers, stored, not run --------------------------
mkdir -p "$T/parent"
echo "parent's a" >"$T/parent/a.txt"
cat >"$T/parent/Containerfile" <<EOF2
FROM oci:$base:latest
LABEL parent=yes
ONBUILD COPY a.txt /a.txt
ONBUILD ENV X=1
ONBUILD LABEL l=v
ONBUILD WORKDIR /w
EOF2
cb_ok "build the parent" -t parent:1 "$T/parent"
pcfg=$(config parent:1)
eq "parent config keeps the triggers in order" "$(jq -c .config.OnBuild <<<"$pcfg")" \
    '["COPY a.txt /a.txt","ENV X=1","LABEL l=v","WORKDIR /w"]'
eq "triggers do not run in the parent: no X" "$(jq -r '.config.Env | map(select(startswith("X="))) | length' <<<"$pcfg")" 0
eq "triggers do not run in the parent: no label l" "$(jq -r '.config.Labels.l' <<<"$pcfg")" null
eq "triggers do not run in the parent: no WorkingDir" "$(jq -r '.config.WorkingDir // ""' <<<"$pcfg")" ""
unpack parent:1 "$T/pb" && {
    [ ! -e "$T/pb/rootfs/a.txt" ] && ok || bad "parent image has /a.txt"
    [ ! -e "$T/pb/rootfs/w" ] && ok || bad "parent image has /w"
}

# ---- the child: the triggers run after FROM --------------------------------
mkdir -p "$T/child"
echo "child's a" >"$T/child/a.txt"
printf 'FROM parent:1\nLABEL child=yes\n' >"$T/child/Containerfile"
cb_ok "build the child" -t child:1 "$T/child"
grep -E '^STEP' "$T/err" >"$T/steps"
eq "STEP lines show the triggers right after FROM" "$(cat "$T/steps")" "STEP 1/6: FROM parent:1
STEP 2/6: ONBUILD COPY a.txt /a.txt
STEP 3/6: ONBUILD ENV X=1
STEP 4/6: ONBUILD LABEL l=v
STEP 5/6: ONBUILD WORKDIR /w
STEP 6/6: LABEL child=yes"
ccfg=$(config child:1)
eq "child env from the trigger" "$(jq -r '.config.Env | map(select(startswith("X="))) | join(",")' <<<"$ccfg")" X=1
eq "child label from the trigger" "$(jq -r .config.Labels.l <<<"$ccfg")" v
eq "child keeps the parent's label and its own" \
    "$(jq -r '[.config.Labels.parent, .config.Labels.child] | join(",")' <<<"$ccfg")" yes,yes
eq "child workdir from the trigger" "$(jq -r .config.WorkingDir <<<"$ccfg")" /w
eq "child config has no OnBuild (raw config)" "$(jq -c '.config | has("OnBuild")' <<<"$ccfg")" false
eq "child history: a trigger's COPY made a layer" \
    "$(jq -r '[.history[] | select(.created_by == "COPY a.txt /a.txt") | .empty_layer // false] | join(",")' <<<"$ccfg")" false
unpack child:1 "$T/cb" && {
    eq "the trigger copied from the child's context" "$(cat "$T/cb/rootfs/a.txt")" "child's a"
    [ -d "$T/cb/rootfs/w" ] && ok || bad "WORKDIR /w not created by the trigger"
    [ -x "$T/cb/rootfs/bin/busybox" ] && ok || bad "base content missing in the child"
}
# The same through --output local.
cb_ok "child with --output local" -q -t child:2 -o "type=local,dest=$T/local" "$T/child"
eq "--output local has the trigger's file" "$(cat "$T/local/a.txt" 2>/dev/null)" "child's a"

# ---- a grandchild does not run them again ----------------------------------
mkdir -p "$T/grand"
printf 'FROM child:1\nLABEL grand=yes\n' >"$T/grand/Containerfile"
cb_ok "build the grandchild" -t grand:1 "$T/grand"
eq "grandchild STEP lines: no trigger" "$(grep -E '^STEP' "$T/err")" "STEP 1/2: FROM child:1
STEP 2/2: LABEL grand=yes"
gcfg=$(config grand:1)
eq "grandchild layers are the child's" "$(jq -c .rootfs.diff_ids <<<"$gcfg")" "$(jq -c .rootfs.diff_ids <<<"$ccfg")"
eq "grandchild has no OnBuild" "$(jq -c '.config | has("OnBuild")' <<<"$gcfg")" false
eq "grandchild history: no second run" \
    "$(jq '[.history[] | select(.created_by == "ENV X=1")] | length' <<<"$gcfg")" 1

# A stage FROM a stage that ran the triggers does not run them again either.
mkdir -p "$T/stages"
echo s >"$T/stages/a.txt"
printf 'FROM parent:1 AS first\n\nFROM first\nLABEL second=yes\n' >"$T/stages/Containerfile"
cb_ok "build FROM a stage that ran the triggers" -t stages:1 "$T/stages"
eq "triggers run once, in the first stage" "$(grep -c '^STEP .*: ONBUILD ' "$T/err")" 4
eq "stage-on-stage: the file once" "$(config stages:1 | jq '[.history[] | select(.created_by == "COPY a.txt /a.txt")] | length')" 1

# ---- a failing trigger fails the child -------------------------------------
mkdir -p "$T/nofile"
printf '# a child without a.txt\n\nFROM parent:1\nLABEL never=1\n' >"$T/nofile/Containerfile"
cb_fails "a trigger's COPY of a missing file fails the child" \
    "^$T/nofile/Containerfile:3:1: ONBUILD trigger COPY a\\.txt /a\\.txt from image parent:1: .*a\\.txt" \
    -t nofile:1 "$T/nofile"
[ "$rc" -ne 0 ] && ok || bad "exit status 0"
eq "the failing trigger's STEP line was shown" "$(grep -E '^STEP' "$T/err" | tail -1)" "STEP 2/6: ONBUILD COPY a.txt /a.txt"
"$CBUILD" inspect nofile:1 >/dev/null 2>&1 && bad "a failed build tagged nofile:1" || ok

# A trigger that fails while its words are expanded (before anything runs).
mkdir -p "$T/p3" "$T/c3"
printf 'FROM scratch\nONBUILD ENV Y=${NOPE:?must_be_set}\n' >"$T/p3/Containerfile"
cb_ok "parent with an expansion trigger" -t parent3:1 "$T/p3"
printf 'ARG UNUSED=1\nFROM parent3:1\n' >"$T/c3/Containerfile"
cb_fails "a trigger failing in expansion fails the child at its FROM" \
    "^$T/c3/Containerfile:2:1: ONBUILD trigger ENV Y=\\\$\\{NOPE:\\?must_be_set\\} from image parent3:1: .*must_be_set" \
    -t c3:1 "$T/c3"
# Triggers of a stage the target does not need are not run.
printf 'FROM parent3:1 AS unused\nFROM scratch\nLABEL ok=1\n' >"$T/c3/Containerfile"
cb_ok "triggers of an unneeded stage do not run" -t c3:2 "$T/c3"
eq "nothing from the unneeded stage" "$(grep -c ONBUILD "$T/err")" 0

# ---- ONBUILD COPY --from=helper needs the child's stage helper -------------
mkdir -p "$T/p2" "$T/c2" "$T/c2bad"
printf 'FROM scratch\nONBUILD COPY --from=helper /h.txt /from-helper.txt\n' >"$T/p2/Containerfile"
cb_ok "parent with COPY --from=helper" -t parent2:1 "$T/p2"
echo helped >"$T/c2/h.txt"
cat >"$T/c2/Containerfile" <<EOF2
FROM oci:$base:latest AS helper
COPY h.txt /h.txt

FROM parent2:1
LABEL c=2
EOF2
cb_ok "child with a helper stage" -t c2:1 "$T/c2"
eq "the helper stage is built because the trigger needs it" "$(grep -E '^STEP' "$T/err")" "STEP 1/5: FROM oci:$base:latest AS helper
STEP 2/5: COPY h.txt /h.txt
STEP 3/5: FROM parent2:1
STEP 4/5: ONBUILD COPY --from=helper /h.txt /from-helper.txt
STEP 5/5: LABEL c=2"
unpack c2:1 "$T/c2b" && eq "file copied from the child's helper stage" "$(cat "$T/c2b/rootfs/from-helper.txt")" helped
# Without a stage named helper, helper is an image name, and there is none.
printf 'FROM parent2:1\nLABEL c=bad\n' >"$T/c2bad/Containerfile"
cb_fails "child without the helper stage" \
    "^$T/c2bad/Containerfile:1:1: ONBUILD trigger COPY --from=helper /h\\.txt /from-helper\\.txt from image parent2:1: .*helper" \
    -t c2bad:1 "$T/c2bad"
# The helper stage itself FROM the parent would need itself.
printf 'FROM parent2:1 AS helper\nFROM parent2:1\n' >"$T/c2bad/Containerfile"
cb_fails "helper stage that needs itself" "circular dependency.*helper" -t c2bad:2 "$T/c2bad"
finish
