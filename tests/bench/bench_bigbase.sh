# shellcheck shell=bash disable=SC2154 # the globals tests/bench/run sets
# Scenario bigbase of tests/bench/run (sourced): time to the first RUN on a
# large base. The base is busybox and 50 layers of ~6 MB
# (testdata/fixtures/many_layers_oci.py with padding: ~300 MB unpacked; 10
# layers of ~1 MB with --quick), made once and kept in the build dir. Each
# run, in a fresh root per tool: `FROM big` + `RUN true`, cold, so the time
# is importing and unpacking the 51 layers, then one RUN.

scenario_bigbase() {
    local d=$tmp/bigbase layers pad
    if [ "$quick" = 1 ]; then layers=10 pad=1000000; else layers=50 pad=6000000; fi
    mkdir -p "$d"
    tools "$d"
    local big=$build/bench-bigbase-$layers-$pad stamp
    stamp="$(cat "$src/testdata/fixtures/many_layers_oci.py" "$src/testdata/fixtures/busybox_oci.py" | sha256sum | cut -c1-16)"
    if [ "$(cat "$big.stamp" 2>/dev/null)" != "$stamp" ]; then
        echo "bench: making the bigbase image in $big ..." >&2
        rm -rf "$big" "$big.stamp" "$big.busybox"
        "$src/testdata/fixtures/make-busybox-oci.sh" "$big.busybox" latest >/dev/null
        python3 "$src/testdata/fixtures/many_layers_oci.py" "$big.busybox" "$big" "$layers" "$pad" >/dev/null
        rm -rf "$big.busybox" "$big.busybox".*
        echo "$stamp" >"$big.stamp"
    fi
    printf 'FROM oci:%s:latest\nRUN true\n' "$big" >"$d/Containerfile"
    local mb
    mb=$(calc 'int(l * p / 1e6)' l="$layers" p="$pad")
    for _ in $(seq "$hruns"); do
        m bigbase.cbuild "${CB[@]}" --no-cache -f "$d/Containerfile" "$d"
        bench_rm "$d/cbuild"
        m bigbase.buildah "${BH[@]}" --no-cache -f "$d/Containerfile" "$d"
        bench_rm "$d/buildah"
        bench_rm "$d/buildah-run"
    done
    local c b
    c=$(med bigbase.cbuild) b=$(med bigbase.buildah)
    fig bigbase "FROM $((layers + 1)) layers (~$mb MB) + RUN, ms" "$c" buildah "$b" "$(ratio "$b" "$c")" \
        "$(peak bigbase.cbuild)" "$(peak bigbase.buildah)"
}
