#!/bin/bash
# A base of 1 + 150 layers (testdata/fixtures/many_layers_oci.py: files
# added, rewritten, whited out and an opaque directory, layer after layer),
# more lower dirs than a kernel overlay takes: RUN on it sees exactly the
# tree umoci unpacks from the base, and its layer is exactly the change
# (the stage's one materialized tree is the overlay's only lower). The
# same through fuse-overlayfs where /dev/fuse can be used.
. "$(dirname "$0")/lib/common.sh"
need umoci jq python3 skopeo
base=$T/busybox
busybox_base "$base"
many=$T/many
python3 "$CB_TESTDATA/fixtures/many_layers_oci.py" "$base" "$many" 150 >/dev/null ||
    { echo "FAIL: many_layers_oci.py"; exit 1; }
eq "the fixture has 151 layers" "$(skopeo inspect "oci:$many:latest" | jq '.Layers | length')" 151
# What umoci makes of the base: the reference for what the step sees.
rm -rf "$T/base.b"
umoci unpack --rootless --image "$many:latest" "$T/base.b" >/dev/null 2>"$T/umoci.err" ||
    { echo "FAIL: umoci unpack of the fixture: $(cat "$T/umoci.err")"; exit 1; }
(cd "$T/base.b/rootfs" && find many -printf '/%p %y %m %s\n' | sort) >"$T/want.find"
eq "umoci's view: 137 entries in /many" "$(ls "$T/base.b/rootfs/many" | wc -l)" 137

ctx=$T/ctx
mkdir -p "$ctx"
cat >"$ctx/Containerfile" <<EOF
FROM oci:$many:latest
RUN find /many -exec stat -c '%n %F %a %s' {} + | sed 's/ regular file / f /; s/ regular empty file / f /; s/ directory / d /' \\
      | awk '{ if (\$2 == "d") \$4 = 4096; print }' | sort > /seen.find; \\
    cat /many/latest > /seen.latest; ls /many/opq > /seen.opq; echo new > /many/f001; rm /many/f002
EOF
# stat's %s of a directory depends on the file system: both sides say 4096.
sed 's/^\(.* d [0-7]*\) [0-9]*$/\1 4096/' "$T/want.find" >"$T/want.find2"

check_build() { # LABEL
    local label=$1
    cb_ok "$label: RUN on 151 layers" --no-cache -t "many:$label" "$ctx"
    local cfg
    cfg=$(config "many:$label")
    eq "$label: 152 layers" "$(jq '.rootfs.diff_ids | length' <<<"$cfg")" 152
    layers "many:$label" >"$T/$label.layers"
    eq "$label: the RUN layer" "$(awk '$1 == 151 { $1 = ""; sub(/^ /, ""); print }' "$T/$label.layers" | sort | tr '\n' ';')" \
        "many dir 0755 0 0 -;many/.wh.f002 file 0000 0 0 -;many/f001 file 0644 0 0 -;seen.find file 0644 0 0 -;seen.latest file 0644 0 0 -;seen.opq file 0644 0 0 -;"
    unpack "many:$label" "$T/$label.b" && {
        local r=$T/$label.b/rootfs
        diff "$T/want.find2" "$r/seen.find" >"$T/$label.diff" && ok ||
            bad "$label: the step's /many differs from umoci's unpack: $(head -20 "$T/$label.diff")"
        eq "$label: /many/latest" "$(cat "$r/seen.latest")" 150
        eq "$label: /many/opq" "$(cat "$r/seen.opq")" o150
        eq "$label: the changed file" "$(cat "$r/many/f001")" new
        [ ! -e "$r/many/f002" ] && ok || bad "$label: /many/f002 still there"
        eq "$label: /many after the step" "$(ls "$r/many" | wc -l)" 136
    }
}
check_build overlay
if { exec 3<>/dev/fuse; } 2>/dev/null && command -v fuse-overlayfs >/dev/null; then
    exec 3>&-
    CBUILD_RUN_ROOTFS=fuse check_build fuse
    grep -q '^rootfs: fuse-overlayfs$' "$T/err" && ok || bad "the fuse build did not use fuse-overlayfs: $(head -5 "$T/err")"
else
    echo "SKIP: /dev/fuse cannot be opened by $(id -un) (or fuse-overlayfs is missing): the fuse-overlayfs case"
fi
CBUILD_RUN_ROOTFS=copy check_build copy
finish
