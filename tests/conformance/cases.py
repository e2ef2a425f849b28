"""Which of buildah's conformance cases the harness runs, and why the others not.

compare.py reads this file; nothing else does. Every one of the 187 cases in
testdata/conformance/buildah/cases.json has an entry in CASES (compare.py
refuses to start otherwise), so a case is never left out silently.

A case runs when it has no `skip` and every word in its `needs` is in
CBUILD_HAS. `needs` names what cbuild lacks today; `skip` is for what no
change to cbuild will bring here (a base image that cannot be made without a
registry, the network, a buildah-only option).
"""

# What cbuild can do beyond a build without RUN. This is the one list to change
# when a feature lands: add "run" when RUN does, "run-mount" for RUN --mount.
# The expected results of those cases are already recorded (buildah ran them).
CBUILD_HAS = {"run", "run-mount"}

# Base images the cases name, and what stands in for them. Every one becomes the
# busybox fixture (testdata/fixtures/make-busybox-oci.sh), stored in both
# builders' stores under the name the case uses, so the Dockerfiles stay as they
# are and `$BASE` in a RUN still says "mirror.gcr.io/alpine". alpine and
# centos:7 are stand-ins only where the case does not look at what the real
# image holds (no bash, no apk, no names from its /etc/passwd); cases that do
# are skipped below with the reason.
BASES = [
    "mirror.gcr.io/busybox",
    "mirror.gcr.io/alpine",
    "quay.io/libpod/centos:7",
]

# Pinned references cbuild's store cannot name (a digest is not a tag). The
# prepared Dockerfile says the tag instead; the digest pinned a manifest list
# of busybox, which the fixture stands for anyway.
REWRITES = {
    "mirror.gcr.io/busybox@sha256:9ae97d36d26566ff84e8893c64a6dc4fe8ca6d1144bf5b87b2b85a32def253c7":
        "mirror.gcr.io/busybox",
}

_CENTOS_BASH = "needs quay.io/libpod/centos:7 itself (bash), which cannot be made without a registry"
_PARENTS = "buildah 1.28.2 (Debian 12's) has no COPY --parents, so there is no reference to record"
_EXCLUDE = "buildah 1.28.2 (Debian 12's) has no COPY/ADD --exclude, so there is no reference to record"

RUN = {"needs": ["run"]}
RUN_MOUNT = {"needs": ["run", "run-mount"]}
NONE = {}

CASES = {
    "shell-test": {"skip": _CENTOS_BASH + " (SHELL [\"/bin/bash\", \"-xc\"])"},
    "copy-escape-glob": {"skip": "buildah 1.28.2 fails at line 5 (reads the Go-style \"[[]\" escape "
                                 "as a file name), so there is no reference to record"},
    "copy-file-to-root": RUN,
    "copy-file-to-same-file": RUN,
    "copy-file-to-workdir": RUN,
    "copy-file-to-workdir-rename": RUN,
    "copy-folder-contents-to-higher-level": RUN,
    "copy-wildcard-folder-contents-to-higher-level": RUN,
    "copy-folder-with-dot-contents-to-higher-level": RUN,
    "copy-root-file-to-different-root-name": RUN,
    "copy-nested-file-to-different-root-name": RUN,
    "copy-file-to-deeper-directory-with-explicit-slash": RUN,
    "copy-file-to-deeper-directory-without-explicit-slash": RUN,
    "copy-directory-to-deeper-directory-without-explicit-slash": RUN,
    "copy-directory-to-root-without-explicit-slash": RUN,
    "copy-directory-trailing-to-root-without-explicit-slash": RUN,
    "multi-stage-base": RUN,
    "directory": NONE,
    "copy-to-dir": RUN,
    "copy-dir": RUN,
    "copy-from-symlink-source": NONE,
    "copy-symlink-2": RUN,
    "copy-from-subdir-to-new-directory": NONE,
    "copy-to-renamed-file": RUN,
    "copy-with---chown": {"skip": "needs the user and group names of quay.io/libpod/centos:7 "
                                  "(lp, adm, mail, bin), which the busybox fixture lacks"},
    "directory-with-slash": NONE,
    "directory-without-slash": NONE,
    "environment": NONE,
    "edgecases": RUN,
    "exposed-default": NONE,
    "add": {"skip": "ADD of github.com URLs: needs the network"},
    "run-with-JSON": RUN,
    "wildcard": NONE,
    "volume": NONE,
    "volumerun": RUN,
    "mount": {"skip": "buildah only: transient mounts (buildah build --volume), no docker reference"},
    "transient-mount": {"skip": "buildah only: transient mounts (buildah build --volume), no docker reference"},
    "ci-pipeline-modified": RUN,
    "add-permissions": NONE,
    "copy-permissions": NONE,
    "copy-permissions-implicit": NONE,
    "stage-container-as-source-plus-hardlinks": RUN,
    "dockerfile-in-subdirectory": NONE,
    "setuid-file-in-context": NONE,
    "xattrs-file-in-context": NONE,
    "from-scratch-simple-file": NONE,
    "setuid-file-in-archive": NONE,
    "xattrs-file-in-archive": NONE,
    "setuid-file-in-other-stage": RUN,
    "xattrs-file-in-other-stage": NONE,
    "copy-multiple-some-missing": NONE,
    "copy-multiple-missing-file-with-glob": NONE,
    "copy-multiple-missing-file-with-nomatch-on-glob": NONE,
    "copy-multiple-some-missing-glob": NONE,
    "file-in-workdir-in-other-stage": NONE,
    "copy-integration1": NONE,
    "copy-integration2": NONE,
    # Fails at line 4 (a COPY), before its RUN at line 5.
    "copy-integration3": NONE,
    "copy-empty-1": NONE,
    "copy-empty-2": NONE,
    "copy-absolute-directory-1": RUN,
    "copy-absolute-directory-2": RUN,
    "copy-absolute-directory-3": RUN,
    "multi-stage-through-base": RUN,
    "multi-stage-derived": RUN,
    "dockerignore-minimal-test": NONE,
    "dockerignore-is-even-there": NONE,
    "dockerignore-irrelevant": NONE,
    "dockerignore-exceptions-dot": NONE,
    "dockerignore-extensions-star": NONE,
    "dockerignore-includes-dot": NONE,
    "add--exclude-includes-star": {"skip": _EXCLUDE},
    "add--exclude-includes-slash": {"skip": _EXCLUDE},
    "add--exclude-includes-dot": {"skip": _EXCLUDE},
    "copy--exclude-includes-subdir-slash": {"skip": _EXCLUDE},
    "copy--exclude-includes-dot-slash": {"skip": _EXCLUDE},
    "copy--exclude-includes-slash": {"skip": _EXCLUDE},
    "copy--exclude-subdir-under-source": {"skip": _EXCLUDE},
    "copy--form-and--exclude-subdir-under-source": {"skip": _EXCLUDE},
    "copy--exclude-exception-under-source": {"skip": _EXCLUDE},
    "copy--parents": {"skip": _PARENTS},
    "copy--parents-directories": {"skip": _PARENTS},
    "copy--parents-dir-with-links": {"skip": _PARENTS},
    "copy--parents-all-directories": {"skip": _PARENTS},
    "copy--parents-directory-with-parent-directory": {"skip": _PARENTS},
    "copy--parents-path-with-star": {"skip": _PARENTS},
    "copy--parents-two-parent-directories": {"skip": _PARENTS},
    "copy--parents-unknown-count-parent-directories": {"skip": _PARENTS},
    "copy--parents-directory-limit-parents-unknown-count-parent-directories": {"skip": _PARENTS},
    "copy--parents-limit-parents-unknown-count-parent-directories": {"skip": _PARENTS},
    "copy--parents-limit-parent-directories": {"skip": _PARENTS},
    "copy--parents-limit-parent-directories-1": {"skip": _PARENTS},
    "dockerignore-includes-star": NONE,
    "dockerignore-exclude-plain-dot": NONE,
    "dockerignore-exclude-plain-star": NONE,
    "dockerignore-exclude-plain-dot--2": NONE,
    "dockerignore-exclude-plain-star--2": NONE,
    "dockerignore-exclude-wildcard-dot": NONE,
    "dockerignore-exclude-wildcard-star": NONE,
    "dockerignore-exclude-deep-wildcard-dot": NONE,
    "dockerignore-exclude-deep-wildcard-star": NONE,
    "dockerignore-exclude-deep-subdir-dot": NONE,
    "dockerignore-exclude-deep-subdir-star": NONE,
    "dockerignore-exclude-not-so-deep-subdir-dot": NONE,
    "dockerignore-exclude-not-so-deep-subdir-star": NONE,
    "dockerignore-exclude-kind-of-deep-subdir-dot": NONE,
    "dockerignore-exclude-kind-of-deep-subdir-star": NONE,
    "dockerignore-exclude-deep-subdir-dot--2": NONE,
    "dockerignore-exclude-deep-subdir-star--2": NONE,
    "env-whitespace": NONE,
    "env-simple": NONE,
    "env-unquoted-list": NONE,
    "env-dquoted-list": NONE,
    "env-escaped-value": NONE,
    "env-squote-in-dquote": NONE,
    "env-dquote-in-squote": NONE,
    "env-escaped-list": NONE,
    "env-eddquote": NONE,
    "env-invalid-ssquote": NONE,
    "env-esdquote": NONE,
    "env-essquote": NONE,
    "env-edsquote": NONE,
    "env-empty-squote-in-empty-dquote": NONE,
    "env-multiline": NONE,
    "copy-from-owner": RUN,
    "copy-from-owner-with-chown": RUN,
    "copy-for-user": NONE,
    "copy-for-user-with-chown": NONE,
    "add-parent-symlink": NONE,
    "add-parent-dangling": RUN,
    "add-parent-clean": RUN,
    "add-archive-1": NONE,
    "add-archive-2": NONE,
    "add-archive-3": NONE,
    "add-archive-4": NONE,
    "add-archive-5": NONE,
    "add-archive-6": NONE,
    "add-archive-7": NONE,
    "add-dir-not-dir": RUN,
    "add-not-dir-dir": RUN,
    "add-populated-dir-not-dir": RUN,
    "dockerignore-allowlist-subdir-nofile-dir": NONE,
    "dockerignore-allowlist-subdir-nofile-file": NONE,
    "dockerignore-allowlist-subdir-file-dir": NONE,
    "dockerignore-allowlist-subdir-file-file": NONE,
    "dockerignore-allowlist-nothing-dot": RUN,
    "dockerignore-allowlist-nothing-slash": RUN,
    "dockerignore-allowlist-subsubdir-file": RUN,
    "dockerignore-allowlist-subsubdir-nofile": RUN,
    "dockerignore-allowlist-subsubdir-nosubdir": RUN,
    "dockerignore-allowlist-alternating": NONE,
    "dockerignore-allowlist-alternating-nothing": NONE,
    "dockerignore-allowlist-alternating-other": NONE,
    "tar-g": NONE,
    "dockerignore-exceptions-skip": NONE,
    "dockerignore-exceptions-weirdness-1": NONE,
    "dockerignore-exceptions-weirdness-2": NONE,
    "multistage-builtin-args": {"skip": "needs mirror.gcr.io/alpine itself (touch -r /etc/os-release)"},
    "heredoc-copy": {"skip": "buildah 1.28.2 has no COPY heredocs (stat \"/<<robots.txt\"), so there is "
                             "no reference to record"},
    "replace-symlink-with-directory": NONE,
    "replace-directory-with-symlink": NONE,
    "replace-symlink-with-directory-subdir": NONE,
    "replace-directory-with-symlink-subdir": NONE,
    "workdir-owner": {"skip": "needs mirror.gcr.io/alpine itself (USER daemon from its /etc/passwd)"},
    "buildin-args": RUN,
    "env-precedence": RUN,
    "multistage-copyback": {"skip": "needs mirror.gcr.io/alpine itself (touch -r /etc/os-release)"},
    "heredoc-quoting": {"skip": "buildah 1.28.2 cannot parse it (RUN heredoc bodies read as "
                                "instructions), so there is no reference to record"},
    "workdir-with-trailing-separator": NONE,
    "workdir-without-trailing-separator": NONE,
    "chown-volume": RUN,
    "builtins": {"skip": "needs mirror.gcr.io/alpine and busybox themselves (/etc/nsswitch.conf)"},
    "header-builtin": {"skip": "needs quay.io/fedora/python-311 and digest-pinned busybox manifests "
                               "(readelf on their libc)"},
    "copyglob-1": NONE,
    "copyglob-2": NONE,
    "copyglob-3": NONE,
    "copyglob-4": {"skip": "buildah 1.28.2 finds nothing for e/**/**/*sub/*.txt (docker does), so there "
                           "is no reference to record"},
    "mount-cache-by-ownership": RUN_MOUNT,
    "mount-targets-new": RUN_MOUNT,
    "mount-targets-old": {"skip": "buildah only: its CompatLayerOmissions mode, no docker reference"},
    "mount-targets-mount": RUN_MOUNT,
    "quoted-and-inherited-arg": {"skip": _CENTOS_BASH + " (printf %q)"},
    "build-arg-overrides-header-arg-for-FROM": RUN,
    "header-arg-default-for-FROM-when-no-build-arg": RUN,
    "stage-arg-overrides-header-arg-in-same-stage": RUN,
    "multiple-ARGs-in-single-instruction": RUN,
    "multiple-ARGs-in-single-instruction-with-build-arg-override": RUN,
}

# Differences that are explained. Each entry: "what" (the explanation),
# "cases" (ids) and "keys": regular expressions, one of which must match the
# whole of a difference line as compare.py prints it ("config.Env: cbuild X,
# buildah Y", "fs /path: only in cbuild (dir)", "result: ..."). An entry that
# explains no difference of a case it names fails that case, so these lists
# shrink as cbuild is fixed and cannot hide a new difference.
#
# DIVERGENCES: buildah differs from docker and cbuild is right. "what" says
# what docker does and where that is written down.
DIVERGENCES = [
    {"what": "buildah 1.28 leaves an empty /tmp beside what it extracted; the archive holds only "
             "content.txt (and a pax global header), so the image holds only that (buildah-only case, "
             "no docker reference)",
     "cases": ["tar-g"], "keys": [r"fs /tmp: only in buildah \(dir\)"]},
    # For RUN cases (inert until "run" is in CBUILD_HAS):
    {"what": "VOLUME then RUN changing files under it: BuildKit, docker's builder, keeps the "
             "changes (a VOLUME only goes into the config: upstream's 'new' volume mode); buildah "
             "1.28's default is the classic builder's, which drops them",
     "cases": ["volumerun", "chown-volume"],
     "keys": [r"fs /var/www/file3: only in cbuild \(file\)",
              r"fs /volume[abc] (uid|gid): cbuild 1000, buildah 0",
              r"layers: cbuild (4, buildah 3|2, buildah 1)"]},
    {"what": "RUN on a FROM scratch stage: the directories a builder makes to mount /dev, /proc, "
             "/sys, /run and /etc files on must not land in the layer (BuildKit leaves them out, "
             "which is what mount-targets-new checks); buildah 1.28 leaves them",
     "cases": ["mount-targets-new"],
     "keys": [r"fs /(dev|proc|sys|run|etc): only in buildah \(dir\)",
              r"layers: cbuild 1, buildah 2"]},
    {"what": "buildah 1.28's RUN with tmpfs, bind and cache mounts on a FROM scratch stage commits "
             "a layer that deletes /true, which the Dockerfile copied in and never removes; docker "
             "keeps it (the case checks that mounts leave nothing behind, not that files vanish)",
     "cases": ["mount-targets-mount"],
     "keys": [r"fs /true: only in cbuild \(file\)", r"layers: cbuild 1, buildah 2"]},
    {"what": "WORKDIR naming a directory that is not there: BuildKit makes it with a mkdir file "
             "operation, a layer of its own; buildah 1.28 makes it in the layer of the next step",
     "cases": ["copy-file-to-workdir", "copy-file-to-workdir-rename", "ci-pipeline-modified"],
     "keys": [r"layers: cbuild 2, buildah 1"]},
]

_PATH = r'"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"'

# CBUILD_BUGS: cbuild differs from buildah, and docker sides with buildah.
# Each one is printed on every run ("known ID: ..."); fix cbuild, then take the
# case out of "cases" (the run says so once the difference is gone).
CBUILD_BUGS = [
]


def selected(case_id):
    """The reason a case does not run now, or None when it runs."""
    entry = CASES[case_id]
    if entry.get("skip"):
        return entry["skip"]
    missing = [n for n in entry.get("needs", []) if n not in CBUILD_HAS]
    if missing:
        return "needs " + ", ".join(missing) + " (not in cbuild yet)"
    return None
