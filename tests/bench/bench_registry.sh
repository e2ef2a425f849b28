# shellcheck shell=bash disable=SC2154 # the globals tests/bench/run sets
# Scenarios push500 and pull500 of tests/bench/run (sourced): push and pull
# of an image of ~500 MB (busybox and five layers of random bytes; 50 MB with
# --quick) to Debian's distribution registry on 127.0.0.1
# (tests/integration/lib/registry.sh), cbuild and `skopeo copy` alternating.
# Each run starts a fresh registry, so neither tool finds a blob there to
# skip or mount (skopeo's blob-info cache only knows earlier registries), and
# cbuild's blob source records are removed. MB/s: manifest, config and layer
# bytes over wall time. Then the bytes a repeated cbuild push sends.

scenario_registry() {
    local d=$tmp/registry mb i
    mb=$([ "$quick" = 1 ] && echo 50 || echo 500)
    mkdir -p "$d/ctx"
    # registry.sh wants common.sh's $T and need(); its EXIT trap stops the
    # registries when this scenario's subshell ends.
    T=$d/t
    mkdir -p "$T"
    need() { bench_need "$@"; }
    CB_SOURCE_DIR=$src
    # shellcheck source=../integration/lib/registry.sh
    source "$src/tests/integration/lib/registry.sh"
    # Its trap, without this scenario's -e (a killed registry's wait is 143).
    trap 'set +e; _reg_cleanup; rm -rf "$T"' EXIT
    local root=$d/root
    {
        echo "FROM oci:$base:latest"
        for i in 1 2 3 4 5; do
            head -c "$((mb / 5))M" /dev/urandom >"$d/ctx/f$i"
            echo "COPY f$i /f$i"
        done
    } >"$d/ctx/Containerfile"
    "$cbuild" build --root "$root" -q -t big:1 "$d/ctx" >/dev/null
    rm -rf "$d/ctx"
    local size
    size=$("$cbuild" images --root "$root" --format json | jq '.[] | select(.name == "big:1") | .size')

    for i in $(seq "$hruns"); do
        _reg_run "run$i" "" http
        rm -rf "$root/blob-sources"
        m push500.cbuild "$cbuild" push --root "$root" big:1 "docker://$REG_ADDR/cbuild/big:1"
        m push500.skopeo skopeo copy -q --dest-tls-verify=false "oci:$root/store:big:1" "docker://$REG_ADDR/skopeo/big:1"
        m pull500.cbuild "$cbuild" pull -q --root "$d/pulled" "$REG_ADDR/cbuild/big:1"
        m pull500.skopeo skopeo copy -q --src-tls-verify=false "docker://$REG_ADDR/cbuild/big:1" "oci:$d/skopeo-oci:big"
        rm -rf "$d/pulled" "$d/skopeo-oci"
    done
    # The last registry has the image: a second push must move no layer.
    "$cbuild" push --root "$root" big:1 "docker://$REG_ADDR/cbuild/big:1" >/dev/null 2>"$d/again.err"
    local up sent
    up=$(grep -o '[0-9]* blobs uploaded, [0-9]* mounted' "$d/again.err" | awk '{ print $1 + $4 }')
    sent=$(grep -o '[0-9]* bytes sent' "$d/again.err" | cut -d' ' -f1)

    rate() { calc 'int(s / 1000 / t * 10) / 10' s="$size" t="$(med "$1")"; }
    local cp sp cl sl
    cp=$(rate push500.cbuild) sp=$(rate push500.skopeo) cl=$(rate pull500.cbuild) sl=$(rate pull500.skopeo)
    if [ "$only_registry" != pull500 ]; then
        fig push500 "push $(calc 'int(s / 1e5) / 10' s="$size") MB, MB/s" "$cp" skopeo "$sp" "$(ratio "$cp" "$sp")" \
            "$(peak push500.cbuild)" "$(peak push500.skopeo)" ">= skopeo" "$(verdict 'c >= s' c="$cp" s="$sp")"
        fig push500 "repeated push: blobs sent, bytes" "${up:-?}, ${sent:-?}" - - - - - "no layer moves" \
            "$(verdict 'u == "0"' u="${up:-x}")"
    fi
    if [ "$only_registry" != push500 ]; then
        fig pull500 "pull $(calc 'int(s / 1e5) / 10' s="$size") MB, MB/s" "$cl" skopeo "$sl" "$(ratio "$cl" "$sl")" \
            "$(peak pull500.cbuild)" "$(peak pull500.skopeo)" ">= skopeo" "$(verdict 'c >= s' c="$cl" s="$sl")"
    fi
}
