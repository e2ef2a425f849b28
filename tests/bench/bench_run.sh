# shellcheck shell=bash disable=SC2154 # the globals tests/bench/run sets
# Scenario run10 of tests/bench/run (sourced): the cost of a RUN step.
# Ten `RUN echo N > /fN` steps on the busybox base against a FROM-only build
# of the same base, cold (cbuild --no-cache, buildah --layers --no-cache);
# per-step overhead = (median 10-step build - median FROM-only build) / 10.
# Each tool keeps one warm root (the base imported, one build of each file
# before timing), builds alternate between the tools, $runs times each.

scenario_run10() {
    local d=$tmp/run10 f i
    mkdir -p "$d"
    tools "$d"
    printf 'FROM oci:%s:latest\n' "$base" >"$d/Containerfile.from"
    {
        printf 'FROM oci:%s:latest\n' "$base"
        for i in $(seq 1 10); do printf 'RUN echo %s > /f%s\n' "$i" "$i"; done
    } >"$d/Containerfile.run10"
    for f in from run10; do # warm-up: imports the base, fills the page cache
        m warm "${CB[@]}" --no-cache -t bench:$f -f "$d/Containerfile.$f" "$d"
        m warm "${BH[@]}" --no-cache -t bench-$f -f "$d/Containerfile.$f" "$d"
    done
    for i in $(seq "$runs"); do
        for f in from run10; do
            m run10.cbuild.$f "${CB[@]}" --no-cache -t bench:$f -f "$d/Containerfile.$f" "$d"
            m run10.buildah.$f "${BH[@]}" --no-cache -t bench-$f -f "$d/Containerfile.$f" "$d"
        done
    done
    local cf cr bf br cs bs
    cf=$(med run10.cbuild.from) cr=$(med run10.cbuild.run10)
    bf=$(med run10.buildah.from) br=$(med run10.buildah.run10)
    cs=$(calc '(r - f) / 10' r="$cr" f="$cf") bs=$(calc '(r - f) / 10' r="$br" f="$bf")
    fig run10 "FROM-only build, ms" "$cf" buildah "$bf" "$(ratio "$bf" "$cf")" \
        "$(peak run10.cbuild.from)" "$(peak run10.buildah.from)"
    fig run10 "10 RUN steps, ms" "$cr" buildah "$br" "$(ratio "$br" "$cr")" \
        "$(peak run10.cbuild.run10)" "$(peak run10.buildah.run10)"
    fig run10 "per RUN step, ms" "$cs" buildah "$bs" "$(ratio "$bs" "$cs")" - - \
        "<10 ms, >=50x buildah" "$(verdict 'c < 10 && c > 0 && b / c >= 50' c="$cs" b="$bs")"
}
