#!/usr/bin/env python3
"""Turns a CI recipe of examples/ci into the shell script its build job runs,
so that a test runs the recipe's own command lines, not a copy of them.

usage: ci_recipe.py github|gitlab FILE

github: the workflow's env, then for the steps "Log in to the registry" and
"Build and push" their env and their run: script, in order. gitlab: the job
build-image's variables, then its script: lines.

An env key whose value comes from the CI system (${{ ... }} or $CI_...), or
names a public registry the test cannot reach, must be given by the test as
CI_TEST_<KEY> in the environment; other values are kept as written. Keys the
test gives that the recipe lacks are an error too: the recipe changed shape.
"""

import os
import shlex
import sys

import yaml


def die(msg):
    sys.stderr.write("ci_recipe.py: %s\n" % msg)
    sys.exit(1)


def exports(env, used):
    lines = []
    for key, value in env.items():
        value = str(value)
        given = os.environ.get("CI_TEST_" + key)
        if given is not None:
            used.add(key)
            value = given
        elif "${{" in value or "$CI_" in value or "docker.io/" in value or "ghcr.io" in value:
            die("%s=%s comes from outside: the test must set CI_TEST_%s" % (key, value, key))
        lines.append("export %s=%s" % (key, shlex.quote(value)))
    return lines


def main():
    if len(sys.argv) != 3 or sys.argv[1] not in ("github", "gitlab"):
        die("usage: ci_recipe.py github|gitlab FILE")
    kind, path = sys.argv[1:]
    with open(path) as f:
        doc = yaml.safe_load(f)
    used = set()
    out = ["set -euo pipefail"]
    if kind == "github":
        out += exports(doc.get("env", {}), used)
        steps = {s.get("name"): s for s in doc["jobs"]["build"]["steps"]}
        for name in ("Log in to the registry", "Build and push"):
            if name not in steps:
                die("%s has no step named %r" % (path, name))
            out += exports(steps[name].get("env", {}), used)
            out.append(steps[name]["run"])
    else:
        job = doc["build-image"]
        out += exports(job.get("variables", {}), used)
        out += job["script"]
    given = {k[len("CI_TEST_"):] for k in os.environ if k.startswith("CI_TEST_")}
    if given - used:
        die("the recipe has no %s" % ", ".join(sorted(given - used)))
    print("\n".join(out))


if __name__ == "__main__":
    main()
