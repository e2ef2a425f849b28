#!/bin/bash
# What a RUN step must not inherit from whoever runs cbuild: open file
# descriptors (a descriptor of a host directory is a way out of the
# container) and the umask (docker's step has 0022 and a 0755 "/"); and file
# names that are not UTF-8 are written as they are. A bad -t fails before any
# step runs. A build in the copy fallback (no overlay) gives the same layers
# as on overlayfs.
. "$(dirname "$0")/lib/common.sh"
need python3 umoci
base=$T/busybox
busybox_base "$base"
ctx=$T/ctx
mkdir -p "$ctx"

# file_in REF PATH: the content of PATH in the image's layers (last wins).
file_in() {
    python3 - "$CBUILD_ROOT/store" "$1" "$2" <<'PY'
import json, os, sys, tarfile
store, ref, path = sys.argv[1:]
idx = json.load(open(os.path.join(store, "index.json")))
m = [x for x in idx["manifests"] if x.get("annotations", {}).get("org.opencontainers.image.ref.name") == ref][0]
man = json.load(open(os.path.join(store, "blobs/sha256", m["digest"][7:])))
out = ""
for l in man["layers"]:
    t = tarfile.open(os.path.join(store, "blobs/sha256", l["digest"][7:]))
    for e in t.getmembers():
        if "/" + e.name == path:
            out = t.extractfile(e).read().decode()
print(" ".join(out.split()))
PY
}

printf '%s\n' "FROM oci:$base:latest" \
    'RUN ls /proc/self/fd > /fds; umask > /umask; stat -c %a / > /rootmode; touch /file; mkdir /dir' \
    "RUN touch \"\$(printf 'bad\\377name')\"" \
    'USER 1000' \
    'RUN id -u > /tmp/uid' >"$ctx/Containerfile"
(
    umask 077
    exec 9<"$T"
    "$CBUILD" --no-cache -t hyg:1 "$ctx" >"$T/out" 2>"$T/err"
) && ok || bad "build under umask 077 with fd 9 open: $(tail -5 "$T/err")"
# ls holds one directory descriptor itself (3); nothing else may be open.
eq "only stdio open in the step" "$(file_in hyg:1 /fds)" "0 1 2 3"
eq "the step's umask" "$(file_in hyg:1 /umask)" "0022"
eq "the step's / mode" "$(file_in hyg:1 /rootmode)" "755"
lines=$(layers hyg:1)
eq "modes under the caller's umask 077" \
    "$(awk '$2 == "file" || $2 == "dir/" || $2 == "dir" {print $2, $4}' <<<"$lines" | sort | tr '\n' ' ')" \
    "dir 0755 file 0644 "
grep -q $'bad\377name' <<<"$lines" && ok || bad "a non-UTF-8 name in the layer: $(grep bad <<<"$lines")"
eq "USER 1000 can run its shell" "$(file_in hyg:1 /tmp/uid)" "1000"

cb_fails "a bad -t is refused before any step runs" "invalid component" -t Bad:1 "$ctx"
if grep -q "STEP 2" "$T/err"; then bad "a step ran before the bad -t was refused"; else ok; fi

# The copy fallback writes the same entries as overlayfs.
printf '%s\n' "FROM oci:$base:latest" \
    'RUN echo hi > /hello && rm /bin/true && mkdir -p /d && chown 1000:1000 /d && ln -s /hello /d/link' \
    'RUN rm -rf /d && mkdir /d && touch /d/new' >"$ctx/Containerfile"
cb_ok "overlay build" --no-cache -t fb:overlay "$ctx"
CBUILD_RUN_ROOTFS=copy cb_ok "copy build" --no-cache -t fb:copy "$ctx"
grep -q "copy of the root file system" "$T/err" && ok || bad "the copy build does not say it copies: $(head -3 "$T/err")"
# The same entries apart from how a recreated dir is said: the copy diff
# whites out each old name, the overlay marks the dir opaque (both OCI).
eq "copy fallback layers = overlay layers (whiteouts aside)" \
    "$(layers fb:copy | grep -v '^0 ' | grep -v '/\.wh\.')" "$(layers fb:overlay | grep -v '^0 ' | grep -v '/\.wh\.')"
eq "the whited-out lower entries" "$(layers fb:copy | grep -c '^2 d/\.wh\.link ')" 1
listing() { (cd "$1/rootfs" && find . -printf '%p %y %m %U %G %s %l\n' | sort); }
if unpack fb:copy "$T/u-copy" && unpack fb:overlay "$T/u-overlay"; then
    eq "copy fallback tree = overlay tree" "$(listing "$T/u-copy")" "$(listing "$T/u-overlay")"
fi
finish
