# shellcheck shell=bash disable=SC2154 # the globals tests/bench/run sets
# Scenarios noop, edit1 and multistage of tests/bench/run (sourced): the
# build cache and the stage scheduler, builds alternating between the tools.
#   noop        fully cached rebuild of 5 RUN steps, a COPY of a 2,000-file
#               context (~10 MB; 200 files in --quick) and 5 more RUN steps;
#   edit1       one context file changed (a new content every build): the
#               COPY and the 5 RUN steps after it run again, the 5 before are
#               reused (counted from each tool's output);
#   multistage  two independent stages each burning ~1 s of CPU (0.2 s in
#               --quick), then a final stage copying from both, cold: the
#               build against the longer stage built alone (cbuild --jobs 2),
#               and buildah, which builds stages one after another.

# cache_setup: the context and a cold build by each tool (once).
cache_setup() {
    cdir=$tmp/cache
    tools "$cdir"
    [ -f "$cdir/ready" ] && return 0
    bench_rm "$cdir" # what a failed setup left
    mkdir -p "$cdir/ctx"
    python3 - "$cdir/ctx/src" "$([ "$quick" = 1 ] && echo 200 || echo 2000)" <<'PY'
import os, random, sys
random.seed(7)
root, n = sys.argv[1], int(sys.argv[2])
for i in range(n):
    d = os.path.join(root, "d%02d" % (i % 40))
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, "f%04d.txt" % i), "w") as f:
        f.write(("line %d of file %d\n" % (random.randrange(1 << 30), i)) * random.randrange(40, 400))
PY
    {
        printf 'FROM oci:%s:latest\n' "$base"
        for i in $(seq 1 5); do printf 'RUN echo %s > /f%s\n' "$i" "$i"; done
        printf 'COPY src /src\n'
        for i in $(seq 6 10); do printf 'RUN echo %s > /f%s\n' "$i" "$i"; done
    } >"$cdir/Containerfile"
    m warm "${CB[@]}" -t bench:noop -f "$cdir/Containerfile" "$cdir/ctx"
    m warm "${BH[@]}" -t bench-noop -f "$cdir/Containerfile" "$cdir/ctx"
    touch "$cdir/ready"
}

scenario_noop() {
    cache_setup
    local i
    for i in $(seq "$runs"); do
        m noop.cbuild "${CB[@]}" -t bench:noop -f "$cdir/Containerfile" "$cdir/ctx"
        m noop.buildah "${BH[@]}" -t bench-noop -f "$cdir/Containerfile" "$cdir/ctx"
    done
    local c b
    c=$(med noop.cbuild) b=$(med noop.buildah)
    fig noop "cached rebuild, 10 RUN + COPY $(find "$cdir/ctx/src" -type f | wc -l) files, ms" "$c" buildah "$b" \
        "$(ratio "$b" "$c")" "$(peak noop.cbuild)" "$(peak noop.buildah)" "<30 ms, >=50x buildah" \
        "$(verdict 'c < 30 && b / c >= 50' c="$c" b="$b")"
}

scenario_edit1() {
    cache_setup
    local i ch=0 bh=0
    # Both tools say "--> Using cache" for a reused step, buildah on stdout.
    hits() { cat "$tmp/last.out" "$tmp/last.err" | grep -c -- '--> Using cache' || true; }
    for i in $(seq "$runs"); do
        echo "edit $i $RANDOM" >"$cdir/ctx/src/d07/f0007.txt"
        m edit1.cbuild "${CBV[@]}" -t bench:noop -f "$cdir/Containerfile" "$cdir/ctx"
        ch=$(hits)
        m edit1.buildah "${BHV[@]}" -t bench-noop -f "$cdir/Containerfile" "$cdir/ctx"
        bh=$(hits)
    done
    local c b
    c=$(med edit1.cbuild) b=$(med edit1.buildah)
    fig edit1 "one context file changed, ms" "$c" buildah "$b" "$(ratio "$b" "$c")" \
        "$(peak edit1.cbuild)" "$(peak edit1.buildah)"
    fig edit1 "steps reused (of 11)" "$ch" buildah "$bh" - - - "5 reused" "$(verdict 'c == 5' c="$ch")"
}

scenario_multistage() {
    local d=$tmp/multistage n t i
    mkdir -p "$d"
    tools "$d"
    # ~1 s of CPU in one RUN: a busybox shell loop, its count calibrated here.
    # shellcheck disable=SC2016 # $i is the container shell's
    burn() { printf 'RUN i=0; while [ $i -lt %s ]; do i=$((i+1)); done; echo done > /%s\n' "$1" "$2"; }
    local want=1000
    [ "$quick" = 0 ] || want=200
    n=100000
    printf 'FROM oci:%s:latest\n%s\n' "$base" "$(burn $n a)" >"$d/Containerfile.cal"
    m cal "${CB[@]}" --no-cache -f "$d/Containerfile.cal" "$d"
    m cal "${CB[@]}" --no-cache -f "$d/Containerfile.cal" "$d"
    t=$(tail -1 "$tmp/m/cal.cpu")
    n=$(calc 'int(n * w / 1000 / (t > 0.05 ? t : 0.05))' n=$n w="$want" t="$t")
    {
        printf 'FROM oci:%s:latest AS a\n%s\n' "$base" "$(burn "$n" a)"
        printf 'FROM oci:%s:latest AS b\n%s\n' "$base" "$(burn "$n" b)"
        printf 'FROM oci:%s:latest\nCOPY --from=a /a /a\nCOPY --from=b /b /b\n' "$base"
    } >"$d/Containerfile.stages"
    printf 'FROM oci:%s:latest\n%s\n' "$base" "$(burn "$n" a)" >"$d/Containerfile.one"
    for i in $(seq "$runs"); do
        m multistage.cbuild.one "${CB[@]}" --no-cache -f "$d/Containerfile.one" "$d"
        m multistage.cbuild "${CB[@]}" --no-cache --jobs 2 -f "$d/Containerfile.stages" "$d"
        m multistage.buildah "${BH[@]}" --no-cache -f "$d/Containerfile.stages" "$d"
    done
    local one c b
    one=$(med multistage.cbuild.one) c=$(med multistage.cbuild) b=$(med multistage.buildah)
    fig multistage "one ~$want ms stage alone, ms" "$one" - - - "$(peak multistage.cbuild.one)"
    fig multistage "two such stages + final, ms" "$c" buildah "$b" "$(ratio "$b" "$c")" \
        "$(peak multistage.cbuild)" "$(peak multistage.buildah)" "within 15% of one stage" \
        "$(verdict 'c <= 1.15 * o' c="$c" o="$one")"
}
