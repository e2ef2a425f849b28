#!/usr/bin/env python3
"""Builds buildah's docker-comparison cases with cbuild and judges the result.

usage:
  compare.py [options] CASE... | --all        build with buildah and with cbuild, compare
  compare.py --check [options] CASE... | --all
                                             compare cbuild with buildah's recorded result
                                             (testdata/conformance/buildah/expected/)
  compare.py --record [options] CASE... | --all
                                             build with buildah only and record its result
  compare.py --list                          every case: runs now, or why not

--all means every case of testdata/conformance/buildah/cases.json; the ones that
do not run now (tests/conformance/cases.py says why) print as "skipped". With
--record, --all records every case that is not skipped for good, including the
ones that wait for a cbuild feature (RUN), so switching them on is one line.

One line per case: "match ID", "differ ID: <first differences>", "known ID:
<differences, each a known cbuild bug or buildah divergence of cases.py>" or
"skipped ID: <reason>"; then "N match, N differ, N known, N skipped". Exit
status 1 when a case differs. tests/conformance/README.md describes what is compared and
every allowance.
"""

import argparse
import hashlib
import io
import json
import os
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
SOURCE_DIR = os.path.dirname(os.path.dirname(HERE))
CORPUS = os.path.join(SOURCE_DIR, "testdata", "conformance", "buildah")
EXPECTED_DIR = os.path.join(CORPUS, "expected")
FIXTURE_SCRIPT = os.path.join(SOURCE_DIR, "testdata", "fixtures", "make-busybox-oci.sh")

sys.path.insert(0, HERE)
import cases as policy  # noqa: E402

# Upstream sets the Dockerfile and the context dir to this time; the harness
# sets every file of the prepared context to it, so recorded results do not
# depend on when the repository was checked out.
TEST_DATE = 1485449953

# A time this close to the build (or later) is "the time of the build" and is
# recorded as "build" rather than as a number.
BUILD_TIME_SLACK = 120

# The config fields compared (Docker's names; OCI has the same ones under "config").
CONFIG_FIELDS = ["Env", "Cmd", "Entrypoint", "WorkingDir", "User", "Labels", "ExposedPorts",
                 "Volumes", "StopSignal", "Healthcheck", "Shell", "OnBuild"]
# What a RUN step leaves behind through the mounts a builder makes for it
# (upstream's global fsSkip): buildah's chroot isolation leaves these as empty
# files or dirs in the layer, docker does not. Not compared.
RUN_ARTEFACTS = ("/etc/hosts", "/etc/hostname", "/etc/resolv.conf", "/run/.containerenv", "/run/secrets")
# Labels a builder adds about itself.
IDENTITY_LABELS = {"io.buildah.version"}

class HarnessError(Exception):
    pass


def log(msg):
    sys.stderr.write("compare.py: %s\n" % msg)


def run(cmd, env=None, cwd=None):
    """Runs cmd; returns (status, stdout+stderr as text)."""
    p = subprocess.run(cmd, env=env, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    return p.returncode, p.stdout.decode("utf-8", "replace")


def must(cmd, env=None, what=None):
    rc, out = run(cmd, env=env)
    if rc != 0:
        raise HarnessError("%s failed (exit %d): %s" % (what or " ".join(cmd), rc, out.strip()[-2000:]))
    return out


# ---------------------------------------------------------------------------
# Cases

def load_cases():
    with open(os.path.join(CORPUS, "cases.json")) as f:
        data = json.load(f)
    cases = {c["id"]: c for c in data["cases"]}
    missing = sorted(set(cases) - set(policy.CASES))
    extra = sorted(set(policy.CASES) - set(cases))
    if missing or extra:
        raise HarnessError("tests/conformance/cases.py is out of step with cases.json: "
                           "unclassified %s, unknown %s" % (missing, extra))
    order = [c["id"] for c in data["cases"]]
    return cases, order


# ---------------------------------------------------------------------------
# Preparing a context (README.md of the corpus: "How to run one case")

def _write(path, data, mode, uid=0, gid=0, mtime=TEST_DATE):
    with open(path, "wb") as f:
        f.write(data)
    os.chmod(path, mode)
    if os.geteuid() == 0:
        os.chown(path, uid, gid)
    os.utime(path, (mtime, mtime))


def _tar(path, entries, fmt=tarfile.USTAR_FORMAT):
    """entries: (name, type, mode, uid, gid, content bytes, pax headers)."""
    with tarfile.open(path, "w", format=fmt) as tf:
        for name, typ, mode, uid, gid, content, pax in entries:
            ti = tarfile.TarInfo(name)
            ti.type = typ
            ti.mode = mode
            ti.uid, ti.gid = uid, gid
            ti.uname = ti.gname = ""
            ti.mtime = TEST_DATE
            if pax:
                ti.pax_headers = dict(pax)
            if typ == tarfile.REGTYPE:
                ti.size = len(content)
                tf.addfile(ti, io.BytesIO(content))
            else:
                tf.addfile(ti)
    os.chmod(path, 0o644)


def can_xattr(directory):
    probe = os.path.join(directory, ".xattr-probe")
    try:
        with open(probe, "w") as f:
            f.write("x")
        os.setxattr(probe, "user.test", b"test")
        return True
    except OSError:
        return False
    finally:
        if os.path.exists(probe):
            os.unlink(probe)


def setup_context(case_id, ctx, fixture):
    """The files upstream's Go callbacks make at test time. Returns a skip
    reason when this host cannot make them, else None."""
    content = b"test content"
    if case_id == "copy-escape-glob":
        for d, text in (("jkl?", b"another"), ("n?pe", b"and also"), ("st*uv", b"and yet")):
            p = os.path.join(ctx, "app", d)
            os.makedirs(p, exist_ok=True)
            _write(os.path.join(p, "file.txt"), text, 0o600)
            os.chmod(p, 0o700)
    elif case_id == "add-permissions":
        if os.geteuid() != 0:
            return "needs root to give context files to uid 99"
        os.mkdir(os.path.join(ctx, "archive"), 0o755)
        _write(os.path.join(ctx, "archive", "should-be-owned-by-root"), content, 0o640)
        _write(os.path.join(ctx, "archive", "should-be-owned-by-99"), content, 0o640, 99, 99)
        _tar(os.path.join(ctx, "archive.tar"), [
            ("archive/should-be-owned-by-root", tarfile.REGTYPE, 0o640, 0, 0, content, None),
            ("archive/should-be-owned-by-99", tarfile.REGTYPE, 0o640, 99, 99, content, None),
        ])
    elif case_id in ("copy-permissions", "copy-permissions-implicit"):
        if os.geteuid() != 0:
            return "needs root to give context files to uid 99"
        os.mkdir(os.path.join(ctx, "subdir"), 0o755)
        _write(os.path.join(ctx, "subdir", "would-be-owned-by-root"), content, 0o640)
        _write(os.path.join(ctx, "subdir", "would-be-owned-by-99"), content, 0o640, 99, 99)
    elif case_id == "setuid-file-in-context":
        _write(os.path.join(ctx, "should-be-setuid-file"), content, 0o4755)
        _write(os.path.join(ctx, "should-be-setgid-file"), content, 0o2755)
        _write(os.path.join(ctx, "should-be-sticky-file"), content, 0o1755)
        _write(os.path.join(ctx, "should-not-be-setuid-setgid-sticky-file"), content, 0o640)
    elif case_id == "setuid-file-in-archive":
        w = b"whatever"
        _tar(os.path.join(ctx, "archive.tar"), [
            ("setuid-file", tarfile.REGTYPE, 0o4755, 0, 0, w, None),
            ("setgid-file", tarfile.REGTYPE, 0o2755, 0, 0, w, None),
            ("sticky-file", tarfile.REGTYPE, 0o1755, 0, 0, w, None),
            ("setuid-dir", tarfile.DIRTYPE, 0o4755, 0, 0, b"", None),
            ("setgid-dir", tarfile.DIRTYPE, 0o2755, 0, 0, b"", None),
            ("sticky-dir", tarfile.DIRTYPE, 0o1755, 0, 0, b"", None),
        ])
    elif case_id in ("xattrs-file-in-context", "xattrs-file-in-other-stage"):
        if not can_xattr(ctx):
            return "the file system of the temp dir holds no user.* xattrs"
        p = os.path.join(ctx, "xattrs-file")
        _write(p, content, 0o640)
        os.setxattr(p, "user.a", b"test", follow_symlinks=False)
    elif case_id == "xattrs-file-in-archive":
        if not can_xattr(ctx):
            return "the file system of the temp dir holds no user.* xattrs"
        _tar(os.path.join(ctx, "archive.tar"), [
            ("xattr-file", tarfile.REGTYPE, 0o640, 0, 0, b"whatever", {"SCHILY.xattr.user.a": "test"}),
        ], fmt=tarfile.PAX_FORMAT)
    elif case_id.startswith("mount-targets-"):
        # Upstream builds a static do-nothing `true` from Go; busybox run under
        # the name "true" is one. Its digest is recorded as "<busybox>".
        _write(os.path.join(ctx, "true"), fixture.busybox_bytes(), 0o755)
    return None


def normalise_tree_modes(root):
    """Files copied from the corpus: dirs 0755, files 0644 (0755 when
    executable), whatever the checkout's umask was."""
    for dirpath, dirnames, filenames in os.walk(root):
        os.chmod(dirpath, 0o755)
        for n in filenames:
            p = os.path.join(dirpath, n)
            if os.path.islink(p):
                continue
            st = os.stat(p)
            os.chmod(p, 0o755 if st.st_mode & 0o111 else 0o644)


def set_times(root):
    for dirpath, dirnames, filenames in os.walk(root, topdown=False):
        for n in filenames + dirnames:
            os.utime(os.path.join(dirpath, n), (TEST_DATE, TEST_DATE), follow_symlinks=False)
    os.utime(root, (TEST_DATE, TEST_DATE))


def rewrite_dockerfile(path):
    with open(path, "rb") as f:
        text = f.read()
    new = text
    for old, repl in policy.REWRITES.items():
        new = new.replace(old.encode(), repl.encode())
    if new != text:
        with open(path, "wb") as f:
            f.write(new)


def prepare(case, workdir, fixture):
    """Makes the case's context under workdir. Returns (context, dockerfile,
    skip reason or None)."""
    ctx = os.path.join(workdir, "context")
    src_ctx = case.get("context_dir")
    if src_ctx:
        shutil.copytree(os.path.join(CORPUS, src_ctx), ctx, symlinks=True)
        normalise_tree_modes(ctx)
    else:
        os.mkdir(ctx)
    df_rel = case["dockerfile"]
    if df_rel.startswith("inline/"):
        dockerfile = os.path.join(ctx, "Dockerfile")
        shutil.copyfile(os.path.join(CORPUS, df_rel), dockerfile)
    elif src_ctx and df_rel.startswith(src_ctx + "/"):
        dockerfile = os.path.join(ctx, df_rel[len(src_ctx) + 1:])
    else:
        dockerfile = os.path.join(ctx, os.path.basename(df_rel))
        shutil.copyfile(os.path.join(CORPUS, df_rel), dockerfile)
    os.chmod(dockerfile, 0o644)
    rewrite_dockerfile(dockerfile)
    if case.get("dockerignore"):
        p = os.path.join(ctx, ".dockerignore")
        shutil.copyfile(os.path.join(CORPUS, case["dockerignore"]), p)
        os.chmod(p, int(case.get("dockerignore_mode", "0o644"), 8))
    skip = setup_context(case["id"], ctx, fixture)
    set_times(ctx)
    return ctx, dockerfile, skip


# ---------------------------------------------------------------------------
# Reading images: an OCI layout (cbuild's store) or a dir: copy (buildah push)

def _blob_path(base, digest):
    algo, hexd = digest.split(":", 1)
    return os.path.join(base, "blobs", algo, hexd)


def read_oci_layout(layout, ref):
    with open(os.path.join(layout, "index.json")) as f:
        index = json.load(f)
    desc = None
    for m in index.get("manifests", []):
        if m.get("annotations", {}).get("org.opencontainers.image.ref.name") == ref:
            desc = m
    if desc is None:
        raise HarnessError("%s: no image named %s" % (layout, ref))
    with open(_blob_path(layout, desc["digest"])) as f:
        manifest = json.load(f)
    with open(_blob_path(layout, manifest["config"]["digest"])) as f:
        config = json.load(f)
    layers = [(_blob_path(layout, l["digest"]), l["mediaType"]) for l in manifest["layers"]]
    return config, layers


def read_dir_image(d):
    with open(os.path.join(d, "manifest.json")) as f:
        manifest = json.load(f)

    def p(digest):
        return os.path.join(d, digest.split(":", 1)[1])
    with open(p(manifest["config"]["digest"])) as f:
        config = json.load(f)
    layers = [(p(l["digest"]), l["mediaType"]) for l in manifest["layers"]]
    return config, layers


def open_layer(path, media_type):
    if "zstd" in media_type:
        data = subprocess.run(["zstd", "-dc", path], check=True, stdout=subprocess.PIPE).stdout
        return tarfile.open(fileobj=io.BytesIO(data), mode="r:")
    return tarfile.open(path, mode="r:*")


# ---------------------------------------------------------------------------
# Applying layers to a tree, as upstream's fs.json does (whiteouts, opaque
# dirs, hard links resolved to their target, dir/non-dir replacement)

def _norm(name):
    name = name.lstrip("/")
    while name.startswith("./"):
        name = name[2:]
    name = name.rstrip("/")
    return "" if name == "." else name


def _node(ti, tf):
    n = {"mode": ti.mode & 0o7777, "uid": ti.uid, "gid": ti.gid, "mtime": int(ti.mtime)}
    xattrs = {}
    for k, v in ti.pax_headers.items():
        if k.startswith("SCHILY.xattr."):
            xattrs[k[len("SCHILY.xattr."):]] = v
    if xattrs:
        n["xattrs"] = xattrs
    if ti.isreg():
        n["type"] = "file"
        h = hashlib.sha256()
        f = tf.extractfile(ti)
        size = 0
        while True:
            chunk = f.read(1 << 20)
            if not chunk:
                break
            size += len(chunk)
            h.update(chunk)
        n["size"] = size
        n["sha256"] = h.hexdigest()
    elif ti.isdir():
        n["type"] = "dir"
    elif ti.issym():
        n["type"] = "symlink"
        n["link"] = ti.linkname
    elif ti.ischr() or ti.isblk():
        n["type"] = "char" if ti.ischr() else "block"
        n["dev"] = "%d,%d" % (ti.devmajor, ti.devminor)
    elif ti.isfifo():
        n["type"] = "fifo"
    else:
        n["type"] = "other:%s" % ti.type
    return n


class Tree:
    def __init__(self):
        self.nodes = {}   # path -> node
        self.links = {}   # path -> hard link group id
        self._next_group = 0

    def _remove(self, path):
        if path in self.nodes:
            if self.nodes[path]["type"] == "dir":
                prefix = path + "/"
                for p in [p for p in self.nodes if p.startswith(prefix)]:
                    del self.nodes[p]
                    self.links.pop(p, None)
            del self.nodes[path]
            self.links.pop(path, None)

    def _parents(self, path):
        parts = path.split("/")[:-1]
        for i in range(1, len(parts) + 1):
            p = "/".join(parts[:i])
            if p not in self.nodes or self.nodes[p]["type"] != "dir":
                self._remove(p)
                self.nodes[p] = {"type": "dir", "mode": 0o755, "uid": 0, "gid": 0, "mtime": None,
                                 "implicit": True}

    def apply(self, tf):
        """Applies one layer. Returns whether it changed anything: a layer
        whose entries are only directories that were there already with the
        same mode, owner and xattrs (their time aside), or only RUN_ARTEFACTS,
        changes nothing. Such layers are how builders differ (buildah commits
        one for every RUN and COPY, BuildKit drops them), so they are not
        counted."""
        whiteouts, entries = [], []
        for ti in tf:
            name = _norm(ti.name)
            if not name:
                continue
            base = name.rsplit("/", 1)[-1]
            parent = name[: -len(base) - 1] if "/" in name else ""
            if base == ".wh..wh..opq":
                whiteouts.append(("opaque", parent))
            elif base.startswith(".wh."):
                whiteouts.append(("file", (parent + "/" if parent else "") + base[4:]))
            elif ti.islnk():
                entries.append((name, ("hardlink", _norm(ti.linkname))))
            else:
                entries.append((name, _node(ti, tf)))
        changed = False
        for kind, path in whiteouts:
            if kind == "opaque":
                prefix = path + "/" if path else ""
                for p in [p for p in self.nodes if p.startswith(prefix) and p != path]:
                    changed = changed or not _run_artefact(p)
                    self.nodes.pop(p, None)
                    self.links.pop(p, None)
            else:
                changed = changed or (path in self.nodes and not _run_artefact(path))
                self._remove(path)
        for name, node in entries:
            if isinstance(node, tuple):
                target = node[1]
                if target not in self.nodes:
                    raise HarnessError("hard link %s to %s, which is not there" % (name, target))
                self._remove(name)
                self._parents(name)
                self.nodes[name] = dict(self.nodes[target])
                group = self.links.get(target)
                if group is None:
                    group = self._next_group
                    self._next_group += 1
                    self.links[target] = group
                self.links[name] = group
                changed = True
                continue
            old = self.nodes.get(name)
            if not _run_artefact(name) and not (
                    old is not None and old["type"] == "dir" and node["type"] == "dir"
                    and all(old.get(k) == node.get(k) for k in ("mode", "uid", "gid", "xattrs"))):
                changed = True   # a directory whose time alone changed is no change
            if old is not None and not (old["type"] == "dir" and node["type"] == "dir"):
                self._remove(name)
            self._parents(name)
            self.nodes[name] = node
            self.links.pop(name, None)
        return changed

    def hardlink_names(self):
        """path -> the first path (sorted) of its hard link group, for every
        member but that first one."""
        groups = {}
        for p, g in self.links.items():
            if p in self.nodes:
                groups.setdefault(g, []).append(p)
        out = {}
        for members in groups.values():
            if len(members) > 1:
                members.sort()
                for p in members[1:]:
                    out[p] = members[0]
        return out


def _run_artefact(path):
    return any(("/" + path) == r or ("/" + path).startswith(r + "/") for r in RUN_ARTEFACTS)


def load_tree(layers):
    """The applied tree, and for each layer whether it changed anything
    (see Tree.apply)."""
    tree = Tree()
    changes = []
    for path, media_type in layers:
        with open_layer(path, media_type) as tf:
            changes.append(tree.apply(tf))
    return tree, changes


# ---------------------------------------------------------------------------
# The base image fixture

class Fixture:
    def __init__(self, directory):
        self.dir = directory
        self.ref = "oci:%s:latest" % directory
        config, layers = read_oci_layout(directory, "latest")
        self.diff_ids = config["rootfs"]["diff_ids"]
        self.tree, _ = load_tree(layers)
        bb = self.tree.nodes.get("bin/busybox")
        if not bb or bb["type"] != "file":
            raise HarnessError("the fixture has no /bin/busybox")
        self.busybox_sha256 = bb["sha256"]
        self.busybox_size = bb["size"]
        self._layers = layers

    def busybox_bytes(self):
        for path, media_type in self._layers:
            with open_layer(path, media_type) as tf:
                for ti in tf:
                    if _norm(ti.name) == "bin/busybox" and ti.isreg():
                        return tf.extractfile(ti).read()
        raise HarnessError("the fixture has no /bin/busybox")


def make_fixture(directory):
    if not os.path.exists(os.path.join(directory, "index.json")):
        must(["bash", FIXTURE_SCRIPT, directory, "latest"], what="make-busybox-oci.sh")
    return Fixture(directory)


# ---------------------------------------------------------------------------
# Describing an image: the normalised JSON that is recorded and compared

def _config_fields(config):
    c = config.get("config") or {}
    out = {}
    for k in CONFIG_FIELDS:
        v = c.get(k)
        if k == "Labels" and v:
            v = {a: b for a, b in v.items() if a not in IDENTITY_LABELS}
        if k in ("ExposedPorts", "Volumes") and v is not None:
            v = sorted(v)
        if v in (None, "", [], {}):
            continue   # absent, null, "", [] and {} all say "no value"

        out[k] = v
    return out


def _mtime(value, start):
    if value is None:
        return None
    return "build" if value >= start - BUILD_TIME_SLACK else value


def _entry(node, start, fixture, hardlink):
    e = {"type": node["type"], "mode": "%04o" % node["mode"], "uid": node["uid"], "gid": node["gid"]}
    if node["type"] == "file":
        if node["sha256"] == fixture.busybox_sha256:
            e["sha256"], e["size"] = "<busybox>", "<busybox>"
        else:
            e["sha256"], e["size"] = node["sha256"], node["size"]
    for k in ("link", "dev", "xattrs"):
        if k in node:
            e[k] = node[k]
    if node.get("implicit"):
        e["implicit"] = True
    m = _mtime(node.get("mtime"), start)
    if m is not None:
        e["mtime"] = m
    if hardlink:
        e["hardlink"] = "/" + hardlink
    return e


def _same_as_base(e, b):
    """An entry equal to the base image's, but for a directory's mtime."""
    keys = set(e) | set(b)
    if e.get("type") == "dir":
        keys.discard("mtime")
    return all(e.get(k) == b.get(k) for k in keys)


def describe(config, layers, start, fixture):
    tree, changes = load_tree(layers)
    diff_ids = config.get("rootfs", {}).get("diff_ids", [])
    on_busybox = diff_ids[: len(fixture.diff_ids)] == fixture.diff_ids and fixture.diff_ids
    base_nodes = fixture.tree.nodes if on_busybox else {}
    hard = tree.hardlink_names()
    fs, removed = {}, []
    for path in sorted(tree.nodes):
        e = _entry(tree.nodes[path], start, fixture, hard.get(path))
        b = base_nodes.get(path)
        if b is not None and _same_as_base(e, _entry(b, start, fixture, None)):
            continue
        fs["/" + path] = e
    for path in sorted(base_nodes):
        if path not in tree.nodes:
            removed.append("/" + path)
    return {
        "result": "success",
        "base": "busybox" if on_busybox else "scratch",
        "config": _config_fields(config),
        "layers": sum(1 for c in changes[len(fixture.diff_ids) if on_busybox else 0:] if c),
        "fs": fs,
        "removed": removed,
    }


# ---------------------------------------------------------------------------
# Builders

class Cbuild:
    name = "cbuild"

    def __init__(self, binary, workdir, fixture):
        self.binary = binary
        self.root = os.path.join(workdir, "cbuild-root")
        self.env = dict(os.environ, CBUILD_ROOT=self.root)
        for k in ("SOURCE_DATE_EPOCH",):
            self.env.pop(k, None)
        seed = os.path.join(workdir, "seed")
        os.makedirs(seed, exist_ok=True)
        with open(os.path.join(seed, "Containerfile"), "w") as f:
            f.write("FROM %s\n" % fixture.ref)
        for name in policy.BASES:
            must([binary, "build", "-q", "-t", name, seed], env=self.env, what="cbuild: storing the base as " + name)

    def build(self, case, ctx, dockerfile, tag):
        cmd = [self.binary, "build", "-t", tag, "-f", dockerfile]
        for k, v in sorted(case.get("build_args", {}).items()):
            cmd += ["--build-arg", "%s=%s" % (k, v)]
        cmd.append(ctx)
        rc, out = run(cmd, env=self.env)
        if rc != 0:
            return None, out
        return read_oci_layout(os.path.join(self.root, "store"), tag), out


class Buildah:
    name = "buildah"

    def __init__(self, workdir, fixture):
        self.workdir = workdir
        self.g = ["buildah", "--root", os.path.join(workdir, "buildah-root"),
                  "--runroot", os.path.join(workdir, "buildah-runroot"), "--storage-driver", "overlay"]
        out = must(self.g + ["pull", "-q", fixture.ref], what="buildah pull of the fixture")
        image = out.strip().splitlines()[-1]
        must(self.g + ["tag", image] + policy.BASES, what="buildah tag")

    def close(self):
        """Removes buildah's working containers and unmounts what its storage
        left mounted under the work dir, so the work dir can be removed."""
        run(self.g + ["rm", "--all"])
        with open("/proc/self/mountinfo") as f:
            points = [line.split()[4] for line in f]
        mine = sorted((p for p in points if p.startswith(self.workdir + "/")), key=len, reverse=True)
        for p in mine:
            run(["umount", p])

    def build(self, case, ctx, dockerfile, tag):
        cmd = self.g + ["build", "--isolation", "chroot", "--layers", "--no-cache", "--format", "docker",
                        "--pull-never", "-t", tag, "-f", dockerfile]
        for k, v in sorted(case.get("build_args", {}).items()):
            cmd += ["--build-arg", "%s=%s" % (k, v)]
        cmd.append(ctx)
        rc, out = run(cmd)
        if rc != 0:
            return None, out
        d = os.path.join(self.workdir, "push-" + tag.replace(":", "-").replace("/", "-"))
        shutil.rmtree(d, ignore_errors=True)
        must(self.g + ["push", "-q", tag, "dir:" + d], what="buildah push")
        img = read_dir_image(d)
        return img, out


def build_and_describe(builder, case, workdir, fixture):
    """Prepares a fresh context, builds, and describes the result. Returns
    (description, skip reason)."""
    d = tempfile.mkdtemp(prefix=builder.name + "-", dir=workdir)
    ctx, dockerfile, skip = prepare(case, d, fixture)
    if skip:
        return None, skip
    tag = "conformance:" + case["id"][:100]
    start = time.time()
    img, out = builder.build(case, ctx, dockerfile, tag)
    if img is None:
        out = out.replace(ctx, "<context>").replace(workdir, "<workdir>")
        return {"result": "fail", "error": _squash(out)[-1500:]}, None
    config, layers = img
    desc = describe(config, layers, start, fixture)
    shutil.rmtree(d, ignore_errors=True)
    return desc, None


def _squash(text):
    return re.sub(r"\s+", " ", text).strip()


# ---------------------------------------------------------------------------
# Comparing

def _fmt(v):
    return json.dumps(v, sort_keys=True)


def _check_failure(case, got):
    """Both failed: cbuild's error must name a line at or after the one the
    case fails at, and match the case's regex."""
    diffs = []
    err = got.get("error", "")
    line = case.get("fails_at_line")
    if line:
        lines = [int(n) for n in re.findall(r"(?:Dockerfile|Containerfile)[^\s:]*:(\d+)", err)]
        if not lines:
            diffs.append("error: does not name the failing line (want >= %d): %s" % (line, err[-300:]))
        elif max(lines) < line:
            diffs.append("error: names line %d, want >= %d: %s" % (max(lines), line, err[-300:]))
    rx = case.get("failure_regex")
    if rx and not re.search(rx, err, re.I):
        diffs.append("error: does not match /%s/: %s" % (rx, err[-300:]))
    return diffs


def compare(case, want, got, other="buildah"):
    """Differences between the reference (want) and cbuild (got), as lines
    "KEY: cbuild X, buildah Y"."""
    diffs = []
    expect = case.get("expect", "success")
    if got["result"] != want["result"]:
        if got["result"] == "fail":
            return ["result: cbuild failed, %s built it: %s" % (other, got.get("error", "")[-400:])]
        return ["result: cbuild built it, %s failed: %s" % (other, want.get("error", "")[-400:])]
    if got["result"] == "fail":
        if expect != "fail":
            return ["result: both failed, the case expects success: cbuild: %s; %s: %s"
                    % (got.get("error", "")[-300:], other, want.get("error", "")[-300:])]
        return _check_failure(case, got)
    if expect == "fail":
        diffs.append("result: both built it, the case expects a failure at line %s" % case.get("fails_at_line"))
    for k in CONFIG_FIELDS:
        a, b = got["config"].get(k), want["config"].get(k)
        if a != b:
            diffs.append("config.%s: cbuild %s, %s %s" % (k, _fmt(a), other, _fmt(b)))
    for k in ("base", "layers"):
        if got[k] != want[k]:
            diffs.append("%s: cbuild %s, %s %s" % (k, _fmt(got[k]), other, _fmt(want[k])))
    gr, wr = set(got["removed"]), set(want["removed"])
    for p in sorted(gr - wr):
        diffs.append("fs %s: removed by cbuild, kept by %s" % (p, other))
    for p in sorted(wr - gr):
        diffs.append("fs %s: removed by %s, kept by cbuild" % (p, other))
    gfs, wfs = got["fs"], want["fs"]
    for p in sorted(set(gfs) | set(wfs)):
        if any(p == r or p.startswith(r + "/") for r in RUN_ARTEFACTS):
            continue
        a, b = gfs.get(p), wfs.get(p)
        if a is None and p in wr:
            continue
        if b is None and p in gr:
            continue
        if a is None:
            diffs.append("fs %s: only in %s (%s)" % (p, other, b["type"]))
            continue
        if b is None:
            diffs.append("fs %s: only in cbuild (%s)" % (p, a["type"]))
            continue
        for k in sorted(set(a) | set(b)):
            if k == "mtime" and "dir" in (a.get("type"), b.get("type")) and b.get("mtime") in ("build", None):
                continue   # a directory the reference builder touched: its time says nothing
            if a.get(k) != b.get(k):
                diffs.append("fs %s %s: cbuild %s, %s %s" % (p, k, _fmt(a.get(k)), other, _fmt(b.get(k))))
    return diffs


def sort_out(case_id, diffs):
    """Splits diffs into (unexplained, explained) with cases.DIVERGENCES and
    cases.CBUILD_BUGS. An entry that no longer explains any difference is
    itself a difference, so neither list outlives what it describes."""
    real, explained = [], []
    entries = [("known divergence", e) for e in policy.DIVERGENCES] + \
              [("known cbuild bug", e) for e in policy.CBUILD_BUGS]
    used = set()
    for d in diffs:
        hit = None
        for label, e in entries:
            if case_id in e["cases"] and any(re.fullmatch(k, d, re.S) for k in e["keys"]):
                hit = (label, e)
                used.add(id(e))
                break
        if hit:
            explained.append("%s [%s: %s]" % (d, hit[0], hit[1]["what"]))
        else:
            real.append(d)
    for label, e in entries:
        if case_id in e["cases"] and id(e) not in used:
            real.append("stale %s entry in tests/conformance/cases.py (no difference left for keys %s: "
                        "take %s out of its cases): %s" % (label, e["keys"], case_id, e["what"]))
    return real, explained


# ---------------------------------------------------------------------------

def expected_path(case_id):
    return os.path.join(EXPECTED_DIR, case_id + ".json")


def write_expected(case, desc):
    os.makedirs(EXPECTED_DIR, exist_ok=True)
    out = {"case": case["id"], "name": case["name"],
           "recorded_with": "buildah build --isolation chroot --layers --no-cache --format docker "
                            "(%s)" % buildah_version()}
    out.update(desc)
    with open(expected_path(case["id"]), "w") as f:
        json.dump(out, f, indent=1, sort_keys=True)
        f.write("\n")


_BUILDAH_VERSION = None


def buildah_version():
    global _BUILDAH_VERSION
    if _BUILDAH_VERSION is None:
        _BUILDAH_VERSION = run(["buildah", "--version"])[1].strip()
    return _BUILDAH_VERSION


def main(argv):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("cases", nargs="*")
    ap.add_argument("--all", action="store_true", help="every case")
    mode = ap.add_mutually_exclusive_group()
    mode.add_argument("--check", action="store_true", help="compare cbuild with the recorded results")
    mode.add_argument("--record", action="store_true", help="run buildah and record its results")
    mode.add_argument("--list", action="store_true", help="list the cases and whether they run")
    ap.add_argument("--cbuild", default=os.environ.get("CBUILD", os.path.join(SOURCE_DIR, "build", "cbuild")),
                    help="the cbuild binary (default $CBUILD, else build/cbuild)")
    ap.add_argument("--fixture", help="a busybox OCI layout made by make-busybox-oci.sh (default: make one)")
    ap.add_argument("--workdir", help="keep temp files here (default: a temp dir, removed)")
    ap.add_argument("-v", "--verbose", action="store_true", help="print every difference")
    args = ap.parse_args(argv)

    cases, order = load_cases()
    if args.list:
        for cid in order:
            why = policy.selected(cid)
            print("%-8s %s%s" % ("runs" if why is None else "skipped", cid, "" if why is None else ": " + why))
        return 0
    if args.all:
        ids = order
    else:
        ids = args.cases
        unknown = [c for c in ids if c not in cases]
        if unknown or not ids:
            ap.error("unknown cases %s" % unknown if unknown else "name cases or --all")

    workdir = args.workdir or tempfile.mkdtemp(prefix="cbuild-conformance-")
    os.makedirs(workdir, exist_ok=True)
    try:
        return _main(args, cases, ids, workdir)
    finally:
        if not args.workdir:
            subprocess.run(["chmod", "-R", "u+rwx", workdir], stderr=subprocess.DEVNULL)
            shutil.rmtree(workdir, ignore_errors=True)


def _main(args, cases, ids, workdir):
    fixture = make_fixture(args.fixture or os.path.join(workdir, "busybox"))
    # What runs: --record takes every case not skipped for good; the others
    # take the cases cbuild can build today.
    todo, skipped = [], []
    for cid in ids:
        if args.record:
            why = policy.CASES[cid].get("skip")
        else:
            why = policy.selected(cid)
        (skipped.append((cid, why)) if why else todo.append(cid))
    cb = bh = None
    if todo and not args.record:
        if not os.access(args.cbuild, os.X_OK):
            raise HarnessError("no cbuild binary at %s (--cbuild)" % args.cbuild)
        cb = Cbuild(args.cbuild, workdir, fixture)
    if todo and not args.check:
        bh = Buildah(workdir, fixture)

    try:
        return _run_cases(args, cases, todo, skipped, cb, bh, fixture, workdir)
    finally:
        if bh:
            bh.close()


def _run_cases(args, cases, todo, skipped, cb, bh, fixture, workdir):
    n_match = n_differ = n_known = 0
    for cid, why in skipped:
        print("skipped %s: %s" % (cid, why))
    for cid in todo:
        case = cases[cid]
        try:
            if args.record:
                desc, why = build_and_describe(bh, case, workdir, fixture)
                if why:
                    print("skipped %s: %s" % (cid, why))
                    skipped.append((cid, why))
                    continue
                write_expected(case, desc)
                note = desc["result"]
                if desc["result"] == "fail" and case.get("expect") != "fail":
                    note += " (the case expects success): " + desc["error"][-300:]
                print("recorded %s: %s" % (cid, note))
                n_match += 1
                continue
            if args.check:
                path = expected_path(cid)
                if not os.path.exists(path):
                    diffs = ["no recorded result: run tests/conformance/compare.py --record %s" % cid]
                    print("differ %s: %s" % (cid, diffs[0]))
                    n_differ += 1
                    continue
                with open(path) as f:
                    want = json.load(f)
            else:
                want, why = build_and_describe(bh, case, workdir, fixture)
                if why:
                    print("skipped %s: %s" % (cid, why))
                    skipped.append((cid, why))
                    continue
            got, why = build_and_describe(cb, case, workdir, fixture)
            if why:
                print("skipped %s: %s" % (cid, why))
                skipped.append((cid, why))
                continue
            diffs, known = sort_out(cid, compare(case, want, got))
        except HarnessError as e:
            diffs, known = ["harness: %s" % e], []
        if diffs:
            n_differ += 1
            shown = diffs if args.verbose else diffs[:3]
            more = "" if len(shown) == len(diffs) else " (and %d more)" % (len(diffs) - len(shown))
            print("differ %s: %s%s" % (cid, "; ".join(shown), more))
        elif known:
            n_known += 1
            shown = known if args.verbose else known[:1]
            more = "" if len(shown) == len(known) else " (and %d more)" % (len(known) - len(shown))
            print("known %s: %s%s" % (cid, "; ".join(shown), more))
        else:
            n_match += 1
            print("match %s" % cid)
    if args.record:
        print("%d recorded, %d failed, %d skipped" % (n_match, n_differ, len(skipped)))
        return 1 if n_differ else 0
    print("%d match, %d differ, %d known, %d skipped" % (n_match, n_differ, n_known, len(skipped)))
    return 1 if n_differ else 0


if __name__ == "__main__":
    try:
        sys.exit(main(sys.argv[1:]))
    except HarnessError as e:
        log(str(e))
        sys.exit(2)
