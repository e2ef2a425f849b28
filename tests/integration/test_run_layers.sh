#!/bin/bash
# RUN steps on the busybox base: what each step's layer holds (new, changed,
# chmod/chown'd files, hardlinks, symlinks, whiteouts, opaque directories,
# setuid/setgid/sticky modes, a file capability written inside the step),
# judged from the layer blobs by python3's tarfile and from the image as
# umoci unpacks it; and what a step sees: ENV and ARG (ARG not in the
# config), WORKDIR (created when missing), USER by name and by uid:gid,
# SHELL, exec form without a shell, heredocs, an empty step (no layer), and
# /etc/hosts, /etc/resolv.conf, /etc/hostname (never in a layer; on kernel
# overlayfs, on a tmpfs of the step's own).
. "$(dirname "$0")/lib/common.sh"
need skopeo umoci jq python3 cc
base=$T/busybox
busybox_base "$base"
ctx=$T/ctx
mkdir -p "$ctx"
# setcap is not in busybox: a static stand-in, built here, sets the
# capability from inside the step.
cc -static -O2 -o "$ctx/fcap" "$CB_TESTDATA/run/fcap.c" 2>"$T/cc.err" || {
    echo "FAIL: cannot build a static fcap (needs libc6-dev): $(head -5 "$T/cc.err")"
    exit 1
}

# The entries of layer N in LISTING (the output of `layers REF`), sorted:
# "PATH TYPE MODE UID GID LINK".
layer_entries() {
    awk -v n="$2" '$1 == n { $1 = ""; sub(/^ /, ""); print }' "$1" | sort
}
# The xattrs of every layer entry: "N PATH NAME HEX".
layer_xattrs() {
    python3 - "$CBUILD_ROOT/store" "$1" <<'PY'
import io, json, os, sys, tarfile
layout, ref = sys.argv[1], sys.argv[2]
def blob(d):
    with open(os.path.join(layout, "blobs", *d.split(":")), "rb") as f:
        return f.read()
with open(os.path.join(layout, "index.json")) as f:
    index = json.load(f)
desc = [m for m in index["manifests"]
        if m.get("annotations", {}).get("org.opencontainers.image.ref.name") == ref][0]
for n, layer in enumerate(json.loads(blob(desc["digest"]))["layers"]):
    with tarfile.open(fileobj=io.BytesIO(blob(layer["digest"])), mode="r:*") as tar:
        for e in tar:
            for k, v in sorted(e.pax_headers.items()):
                if k.startswith("SCHILY.xattr."):
                    raw = v.encode("utf-8", "surrogateescape")
                    print(n, e.name, k[len("SCHILY.xattr."):], raw.hex())
PY
}
# A listing of the tree under DIR/PATH as umoci unpacked it (owners left
# out: a rootless unpack cannot keep them): "PATH TYPE MODE SIZE LINK".
tree_list() {
    (cd "$1" && find "$2" -printf '%p %y %m %s %l\n' | awk '{ if ($2 != "f") $4 = "-"; print $1, $2, $3, $4, (NF > 4 ? $5 : "-") }' | sort)
}

# ---------------------------------------------------------------- layers
cat >"$ctx/Containerfile" <<'EOF'
FROM oci:BASE:latest
COPY fcap /usr/local/bin/fcap
RUN mkdir -p /data/gone/sub /data/opq && echo a > /data/a && echo b > /data/b \
 && echo old > /data/opq/old && echo del > /data/del && echo m > /data/mod && echo g > /data/gone/sub/g \
 && mkdir -p /data/t/d2f/sub /data/t/d2l /data/mv/a/b && echo f > /data/t/f2d && ln -s /x /data/t/l2d \
 && echo c > /data/mv/a/b/c
RUN echo changed >> /data/mod \
 && chmod 0600 /data/a && chown 1000:1000 /data/b \
 && echo n > /data/nobody && chown 65534:65534 /data/nobody \
 && ln /data/a /data/a.hard && echo h > /data/h1 && ln /data/h1 /data/h2 \
 && ln -s ../data/b /data/b.sym \
 && rm /data/del && rm -rf /data/gone && rm /usr/bin/yes \
 && rm -rf /data/opq && mkdir /data/opq && echo new > /data/opq/new \
 && cp /bin/busybox /data/suid && chmod 4755 /data/suid \
 && cp /bin/busybox /data/sgid && chmod 2711 /data/sgid \
 && mkdir -m 1777 /data/sticky \
 && cp /bin/busybox /data/ping && fcap set /data/ping 2000 \
 && rm -rf /data/t/d2f && echo nowfile > /data/t/d2f && rm /data/t/f2d && mkdir /data/t/f2d \
 && rm /data/t/l2d && mkdir /data/t/l2d && rmdir /data/t/d2l && ln -s /tmp /data/t/d2l \
 && mkfifo /data/fifo && mv /data/mv/a /data/mv/moved
RUN fcap get /data/ping > /data/ping.cap
RUN ls -A /data /data/opq /usr/bin/yes > /seen 2>&1; true
EOF
sed -i "s|BASE|$base|" "$ctx/Containerfile"
cb_ok "RUN layers build" -t layers:1 "$ctx"
layers layers:1 >"$T/layers.l"

cat >"$T/want2" <<'EOF'
data dir 0755 0 0 -
data/a file 0644 0 0 -
data/b file 0644 0 0 -
data/del file 0644 0 0 -
data/gone dir 0755 0 0 -
data/gone/sub dir 0755 0 0 -
data/gone/sub/g file 0644 0 0 -
data/mod file 0644 0 0 -
data/opq dir 0755 0 0 -
data/opq/old file 0644 0 0 -
EOF
layer_entries "$T/layers.l" 2 | grep -vE '^data/(t|mv)( |/)' >"$T/got2"
diff "$T/want2" "$T/got2" >"$T/d2" && ok || bad "layer 2 (new files): $(cat "$T/d2")"

# Changed files come whole; a removed file or directory is a whiteout, a
# directory removed and made again is opaque; the hardlink to a lower file
# and the one between new files are hardlink entries; owners and special
# mode bits are kept.
cat >"$T/want3" <<'EOF'
data dir 0755 0 0 -
data/.wh.del file 0000 0 0 -
data/.wh.gone file 0000 0 0 -
data/a file 0600 0 0 -
data/a.hard hardlink 0600 0 0 data/a
data/b file 0644 1000 1000 -
data/b.sym symlink 0777 0 0 ../data/b
data/h1 file 0644 0 0 -
data/h2 hardlink 0644 0 0 data/h1
data/mod file 0644 0 0 -
data/nobody file 0644 65534 65534 -
data/opq dir 0755 0 0 -
data/opq/.wh..wh..opq file 0000 0 0 -
data/opq/new file 0644 0 0 -
data/ping file 0755 0 0 -
data/sgid file 2711 0 0 -
data/sticky dir 1777 0 0 -
data/suid file 4755 0 0 -
usr dir 0755 0 0 -
usr/bin dir 0755 0 0 -
usr/bin/.wh.yes file 0000 0 0 -
EOF
layer_entries "$T/layers.l" 3 >"$T/all3"
grep -vE '^data/(t|mv|fifo)( |/)' "$T/all3" >"$T/got3"
diff "$T/want3" "$T/got3" >"$T/d3" && ok || bad "layer 3 (changes): $(cat "$T/d3")"
# A path whose type changed is an entry of its new type (opaque markers in
# the new directories allowed); a renamed lower directory is a whiteout of
# the old name and the new one in full; a fifo is kept.
cat >"$T/want3b" <<'EOF'
data/fifo fifo 0644 0 0 -
data/mv dir 0755 0 0 -
data/mv/.wh.a file 0000 0 0 -
data/mv/moved dir 0755 0 0 -
data/mv/moved/b dir 0755 0 0 -
data/mv/moved/b/c file 0644 0 0 -
data/t dir 0755 0 0 -
data/t/d2f file 0644 0 0 -
data/t/d2l symlink 0777 0 0 /tmp
data/t/f2d dir 0755 0 0 -
data/t/l2d dir 0755 0 0 -
EOF
grep -E '^data/(t|mv|fifo)( |/)' "$T/all3" | grep -vE '^data/t/(f2d|l2d)/\.wh\.\.wh\.\.opq ' >"$T/got3b"
diff "$T/want3b" "$T/got3b" >"$T/d3b" && ok || bad "layer 3 (type changes, rename): $(cat "$T/d3b")"
# The hardlink's target precedes it in the tar (else it cannot be extracted).
awk '$1 == 3 { print $2 }' "$T/layers.l" >"$T/order3"
[ "$(grep -n '^data/a$' "$T/order3" | cut -d: -f1)" -lt "$(grep -n '^data/a.hard$' "$T/order3" | cut -d: -f1)" ] &&
    [ "$(grep -n '^data/h1$' "$T/order3" | cut -d: -f1)" -lt "$(grep -n '^data/h2$' "$T/order3" | cut -d: -f1)" ] &&
    ok || bad "hardlink before its target: $(cat "$T/order3")"
cat >"$T/want4" <<'EOF'
data dir 0755 0 0 -
data/ping.cap file 0644 0 0 -
EOF
layer_entries "$T/layers.l" 4 >"$T/got4"
diff "$T/want4" "$T/got4" >"$T/d4" && ok || bad "layer 4: $(cat "$T/d4")"

# The capability: a VFS_CAP_REVISION_2 value (no namespace root id, so it
# means the same wherever the image runs) with CAP_NET_RAW (bit 13), seen by
# the next step; no other xattr leaks from the overlay (user.overlay.*).
layer_xattrs layers:1 >"$T/xattrs"
eq "file capability in the layer" "$(cat "$T/xattrs")" \
    "3 data/ping security.capability 0100000200200000000000000000000000000000"
unpack layers:1 "$T/l1" && {
    r=$T/l1/rootfs
    eq "the next step sees the capability" "$(cat "$r/data/ping.cap")" "v2 permitted=2000 effective=1"
    # A later step sees the tree the earlier steps left (whiteouts and the
    # opaque directory applied to the stage's tree).
    eq "a later step's view" "$(tr '\n' ' ' <"$r/seen")" \
        "ls: /usr/bin/yes: No such file or directory /data: a a.hard b b.sym fifo h1 h2 mod mv nobody opq ping ping.cap sgid sticky suid t  /data/opq: new "
    cat >"$T/wanttree" <<'EOF'
data d 755 - -
data/a f 600 2 -
data/a.hard f 600 2 -
data/b f 644 2 -
data/b.sym l 777 - ../data/b
data/h1 f 644 2 -
data/h2 f 644 2 -
data/mod f 644 10 -
data/nobody f 644 2 -
data/opq d 755 - -
data/opq/new f 644 4 -
data/ping f 755 SIZE -
data/ping.cap f 644 30 -
data/sgid f 2711 SIZE -
data/sticky d 1777 - -
data/suid f 4755 SIZE -
EOF
    sed -i "s/SIZE/$(stat -c %s "$r/bin/busybox")/" "$T/wanttree"
    tree_list "$r" data | grep -vE '^data/(t|mv|fifo)( |/)' >"$T/gottree"
    diff "$T/wanttree" "$T/gottree" >"$T/dtree" && ok || bad "unpacked /data: $(cat "$T/dtree")"
    eq "changed file" "$(cat "$r/data/mod")" "$(printf 'm\nchanged')"
    tree_list "$r" data/t >"$T/gott"
    tree_list "$r" data/mv >>"$T/gott"
    eq "type changes and a renamed directory, unpacked" "$(tr '\n' ' ' <"$T/gott")" \
        "data/t d 755 - - data/t/d2f f 644 8 - data/t/d2l l 777 - /tmp data/t/f2d d 755 - - data/t/l2d d 755 - - data/mv d 755 - - data/mv/moved d 755 - - data/mv/moved/b d 755 - - data/mv/moved/b/c f 644 2 - "
    [ -p "$r/data/fifo" ] && ok || bad "the fifo is not a fifo once unpacked"
    eq "hardlink to a lower file" "$(stat -c %i "$r/data/a")" "$(stat -c %i "$r/data/a.hard")"
    eq "hardlink between new files" "$(stat -c %i "$r/data/h1")" "$(stat -c %i "$r/data/h2")"
    [ ! -e "$r/usr/bin/yes" ] && [ ! -L "$r/usr/bin/yes" ] && ok || bad "whiteout of a base file: /usr/bin/yes still there"
    [ -L "$r/usr/bin/tac" ] && ok || bad "the whiteout took a neighbour along"
}
# Owners as a privileged unpack sets them (root only).
if [ "$(id -u)" -eq 0 ]; then
    rm -rf "$T/l1p"
    if umoci unpack --image "$CBUILD_ROOT/store:layers:1" "$T/l1p" >/dev/null 2>"$T/umoci.err"; then
        eq "owners unpacked" "$(cd "$T/l1p/rootfs/data" && stat -c '%n %u:%g' a b nobody opq/new | tr '\n' ' ')" \
            "a 0:0 b 1000:1000 nobody 65534:65534 opq/new 0:0 "
        if command -v getcap >/dev/null; then
            eq "getcap on the unpacked file" "$(getcap "$T/l1p/rootfs/data/ping" | awk '{print $2}')" cap_net_raw=ep
        fi
    else
        bad "umoci unpack (privileged): $(cat "$T/umoci.err")"
    fi
fi

# ---------------------------------------------------------------- what a step sees
printf 'from-copy\n' >"$ctx/hosts"
cat >"$ctx/Containerfile.sem" <<'EOF'
FROM oci:BASE:latest
ARG A=argdefault
ARG B
ARG C=unused
ARG D
ENV E=envval
RUN env | sort > /env.txt
WORKDIR /w/x
RUN pwd > /pwd1.txt
WORKDIR /wd
RUN rmdir /wd
RUN pwd > /pwd2.txt
WORKDIR /
USER app
RUN echo "$(id -u):$(id -g) $HOME" > /tmp/id.app
USER 65534:1000
RUN echo "$(id -u):$(id -g) $HOME" > /tmp/id.num
USER root
SHELL ["/bin/sh", "-c", "echo \"via $0: $1\" > /shell.txt; eval \"$1\"", "myshell"]
RUN echo ran > /ran.txt
SHELL ["/bin/sh", "-c"]
RUN ["/bin/touch", "/exec;$HOME"]
RUN ["touch", "/exec-path"]
RUN <<EOT
echo line1 > /hd1
echo "line2 $E" >> /hd1
EOT
RUN cat <<EOT > /hd2
pid $$ $E
EOT
RUN cat <<'EOT' > /hd3
literal $E
EOT
RUN awk '$5 ~ /^\/etc\/(hosts|resolv\.conf|hostname)$/ { print $5, $(NF - 2) }' /proc/self/mountinfo | sort > /etcfs
RUN true
COPY hosts /etc/hosts
RUN echo 10.0.0.1 evil >> /etc/hosts && echo nameserver 10.0.0.2 >> /etc/resolv.conf \
 && echo other > /etc/hostname && cat /etc/hostname > /hostname.seen && echo m > /etc/motd
EOF
sed -i "s|BASE|$base|" "$ctx/Containerfile.sem"
# Nothing of cbuild's own environment reaches the step.
CB_LEAK=leaked cb_ok "RUN semantics build" -t sem:1 --build-arg B=cli -f "$ctx/Containerfile.sem" "$ctx"
cfg=$(config sem:1)
eq "ENV in the config, ARG not" "$(jq -r '.config.Env | map(select(test("^(A|B|C|E)="))) | join(" ")' <<<"$cfg")" "E=envval"
# The empty step: a history entry marked empty_layer, no layer.
eq "RUN true: empty_layer" "$(jq -r '.history[] | select(.created_by | test("RUN true")) | .empty_layer' <<<"$cfg")" true
eq "one layer per non-empty history entry" "$(jq '.rootfs.diff_ids | length' <<<"$cfg")" \
    "$(jq '[.history[] | select(.empty_layer != true)] | length' <<<"$cfg")"
jq -r '.history[].created_by' <<<"$cfg" >"$T/created_by"
grep -q 'argdefault\|B=cli' "$T/created_by" && bad "build arg values in the history: $(cat "$T/created_by")" || ok
layers sem:1 >"$T/sem.layers"
grep -E ' etc/(hosts|resolv\.conf|hostname) ' "$T/sem.layers" | awk '{print $1, $2}' >"$T/etcfiles"
n_copy=$(jq '[.history[] | select(.empty_layer != true) | .created_by | test("COPY hosts")] | index(true)' <<<"$cfg")
eq "/etc/hosts, resolv.conf, hostname only in the COPY layer" "$(cat "$T/etcfiles")" "$n_copy etc/hosts"
eq "the /etc step's layer" "$(layer_entries "$T/sem.layers" "$(jq '.rootfs.diff_ids | length - 1' <<<"$cfg")")" \
    "$(printf 'etc dir 0755 0 0 -\netc/motd file 0644 0 0 -\nhostname.seen file 0644 0 0 -')"
grep -q ' tmp/id.app file 0644 1000 1000 ' "$T/sem.layers" && ok || bad "file of USER app: $(grep id.app "$T/sem.layers")"
grep -q ' tmp/id.num file 0644 65534 1000 ' "$T/sem.layers" && ok || bad "file of USER 65534:1000: $(grep id.num "$T/sem.layers")"

unpack sem:1 "$T/s1" && {
    r=$T/s1/rootfs
    # The ARGs in scope that have a value (used in the command or not),
    # ENV, PATH and HOME; sh adds PWD and SHLVL.
    eq "the step's environment" "$(tr '\n' ' ' <"$r/env.txt")" \
        "A=argdefault B=cli C=unused E=envval HOME=/root PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin PWD=/ SHLVL=1 "
    eq "WORKDIR is the cwd" "$(cat "$r/pwd1.txt")" /w/x
    eq "a missing WORKDIR is created" "$(cat "$r/pwd2.txt")" /wd
    [ -d "$r/wd" ] && ok || bad "the created working directory is not in the image"
    eq "USER app" "$(cat "$r/tmp/id.app")" "1000:1000 /home/app"
    eq "USER 65534:1000" "$(cat "$r/tmp/id.num")" "65534:1000 /nonexistent"
    eq "SHELL" "$(cat "$r/shell.txt")" "via myshell: echo ran > /ran.txt"
    eq "SHELL runs the command" "$(cat "$r/ran.txt")" ran
    [ -f "$r/exec;\$HOME" ] && ok || bad "exec form went through a shell: $(ls "$r" | grep exec)"
    [ -f "$r/exec-path" ] && ok || bad "exec form with a program name from PATH"
    eq "RUN <<EOT script" "$(cat "$r/hd1")" "$(printf 'line1\nline2 envval')"
    eq "RUN cat <<EOT > file (expanded by the step's shell, pid 1)" "$(cat "$r/hd2")" "pid 1 envval"
    eq "RUN cat <<'EOT' > file" "$(cat "$r/hd3")" 'literal $E'
    eq "/etc/hosts as COPY left it" "$(cat "$r/etc/hosts")" from-copy
    [ ! -e "$r/etc/resolv.conf" ] && [ ! -e "$r/etc/hostname" ] && ok ||
        bad "step files in the image: $(ls "$r/etc")"
    eq "the step saw its own /etc/hostname" "$(cat "$r/hostname.seen")" other
    # On kernel overlayfs the step's process makes these files (and the
    # stub of mount points) in a tmpfs of its own: nothing on the disk.
    [ -n "${CBUILD_RUN_ROOTFS:-}" ] ||
        eq "/etc files of the step on its tmpfs" "$(tr '\n' ' ' <"$r/etcfs")" \
            "/etc/hostname tmpfs /etc/hosts tmpfs /etc/resolv.conf tmpfs "
}
# runc runs the images (root only: a rootless runc needs a cgroup set-up
# that the rootless path does not have).
if [ "$(id -u)" -eq 0 ] && command -v runc >/dev/null; then
    run_image() { # REF COMMAND: prints the command's output in a runc container of the image
        local b=$T/runc-$1
        rm -rf "$b"
        umoci unpack --image "$CBUILD_ROOT/store:$1" "$b" >/dev/null 2>&1 || { echo "umoci unpack failed"; return; }
        jq --arg c "$2" '.process.terminal = false | .process.args = ["/bin/sh", "-c", $c]' "$b/config.json" >"$b/c" &&
            mv "$b/c" "$b/config.json"
        runc --root "$T/runc-state" run -b "$b" "cbuild-test-$$-$RANDOM" </dev/null 2>&1
    }
    eq "runc: the layers image" "$(run_image layers:1 'cat /data/opq/new /data/a.hard; ls /data/opq; stat -c %a /data/suid')" \
        "$(printf 'new\na\nnew\n4755')"
    eq "runc: the config of the semantics image" "$(run_image sem:1 'echo "$E $(id -u) $(pwd)"; cat /ran.txt')" \
        "$(printf 'envval 0 /\nran')"
fi

# ---------------------------------------------------------------- reproducible
# With --timestamp, the same steps give the same image in another root at
# another time: file times clamped, history and config times fixed.
cat >"$ctx/Containerfile.repro" <<'EOF'
FROM oci:BASE:latest
RUN mkdir -p /r/d && echo a > /r/a && ln -s a /r/l && ln /r/a /r/h && touch -d @2000000000 /r/future && rm /usr/bin/yes
RUN echo b >> /r/a && chmod 4755 /r/a
EOF
sed -i "s|BASE|$base|" "$ctx/Containerfile.repro"
for i in 1 2; do
    CBUILD_ROOT=$T/repro$i cb_ok "reproducible build $i" -t repro:1 --timestamp 1000 -f "$ctx/Containerfile.repro" "$ctx"
    jq -r '.manifests[0].digest' "$T/repro$i/store/index.json" >"$T/repro$i.digest"
    [ "$i" = 2 ] || sleep 1
done
eq "--timestamp: the same manifest digest twice" "$(cat "$T/repro2.digest")" "$(cat "$T/repro1.digest")"
eq "--timestamp: created" "$(skopeo inspect --config "oci:$T/repro1/store:repro:1" | jq -r '[.created, .history[-1].created] | join(" ")')" \
    "1970-01-01T00:16:40Z 1970-01-01T00:16:40Z"
finish
