# shellcheck shell=bash disable=SC2154 # the globals tests/bench/run sets
# Scenario copy500 of tests/bench/run (sourced): `FROM scratch` + `COPY . /`
# of a generated ~520 MB mixed tree (gen_tree.py: text, machine-code-like
# binaries, random and already-compressed files; ~26 MB with --quick), cold,
# each build in a fresh root. Per run, alternating: cbuild --compression
# gzip, buildah build, `pigz -p$(nproc) -6` of the layer tar, cbuild
# --compression zstd, `zstd -T0 -3` of the same tar. The tar is cbuild's own
# uncompressed layer (one --compression none build), so every MB/s is of the
# same bytes: layer tar bytes (MB = 10^6 bytes) over wall time. `gzip -6` of
# that tar (once) gives the size to match.

# copy_tree: the tree, made once per scale and kept in the build dir; the
# stamp holds the generator's checksum, so a changed generator makes it again.
copy_tree() {
    local scale=$1
    tree=${CB_BENCH_TREE:-$build/bench-tree-s$scale}
    local stamp
    stamp="$(sha256sum "$src/tests/bench/gen_tree.py" | cut -c1-16) scale $scale"
    if [ "$(cat "$tree.stamp" 2>/dev/null)" != "$stamp" ]; then
        rm -rf "$tree" "$tree.stamp"
        echo "bench: making the copy500 tree in $tree ..." >&2
        python3 "$src/tests/bench/gen_tree.py" --scale "$scale" "$tree" >/dev/null
        echo "$stamp" >"$tree.stamp"
    fi
}

# layer_of ROOT FIELD: FIELD (digest, size) of the last layer of bench:copy in ROOT.
layer_of() { "$cbuild" inspect --root "$1" bench:copy | jq -r ".[0].Manifest.layers[-1].$2"; }

scenario_copy500() {
    local d=$tmp/copy500
    mkdir -p "$d"
    copy_tree "$([ "$quick" = 1 ] && echo 20 || echo 1)"
    tar -C "$tree" -cf - . | cat >/dev/null # every run reads a warm page cache
    printf 'FROM scratch\nCOPY . /\n' >"$d/Containerfile"
    tools "$d"

    # The tar: cbuild's layer, uncompressed; gzip -6 of it for the size.
    m copy500.cbuild.none "${CB[@]}" --compression none -t bench:copy -f "$d/Containerfile" "$tree"
    local dig bytes
    dig=$(layer_of "$d/cbuild" digest)
    bytes=$(layer_of "$d/cbuild" size)
    mv "$d/cbuild/store/blobs/sha256/${dig#sha256:}" "$d/layer.tar"
    bench_rm "$d/cbuild"
    m copy500.gzip6 gzip -6 -c "$d/layer.tar"
    local gz6
    gz6=$(stat -c %s "$tmp/last.out")

    local digests=$d/gzip-digests gzsize zsize
    for _ in $(seq "$hruns"); do
        m copy500.cbuild.gzip "${CB[@]}" --compression gzip -t bench:copy -f "$d/Containerfile" "$tree"
        layer_of "$d/cbuild" digest >>"$digests"
        gzsize=$(layer_of "$d/cbuild" size)
        bench_rm "$d/cbuild"
        m copy500.buildah "${BH[@]}" -t bench-copy -f "$d/Containerfile" "$tree"
        bench_rm "$d/buildah"
        bench_rm "$d/buildah-run"
        m copy500.pigz pigz -p "$(nproc)" -6 -c "$d/layer.tar"
        m copy500.cbuild.zstd "${CB[@]}" --compression zstd -t bench:copy -f "$d/Containerfile" "$tree"
        zsize=$(layer_of "$d/cbuild" size)
        bench_rm "$d/cbuild"
        m copy500.zstd zstd -T0 -3 -q -c "$d/layer.tar"
    done
    rm -f "$d/layer.tar" "$tmp/last.out"

    # rate NAME: MB/s of the layer tar over NAME's median wall time.
    rate() { calc 'int(b / 1000 / t * 10) / 10' b="$bytes" t="$(med "$1")"; }
    local mb cg bh pz cz zs cn
    mb=$(calc 'int(b / 1e5) / 10' b="$bytes")
    cg=$(rate copy500.cbuild.gzip) bh=$(rate copy500.buildah) pz=$(rate copy500.pigz)
    cz=$(rate copy500.cbuild.zstd) zs=$(rate copy500.zstd) cn=$(rate copy500.cbuild.none)
    fig copy500 "COPY $mb MB, gzip, MB/s" "$cg" "buildah build" "$bh" "$(ratio "$cg" "$bh")" \
        "$(peak copy500.cbuild.gzip)" "$(peak copy500.buildah)" ">=150 MB/s" "$(verdict 'c >= 150' c="$cg")"
    fig copy500 "gzip against pigz -p$(nproc) -6, MB/s" "$cg" pigz "$pz" "$(ratio "$cg" "$pz")" \
        "$(peak copy500.cbuild.gzip)" "$(peak copy500.pigz)" ">=2x pigz" "$(verdict 'c >= 2 * p' c="$cg" p="$pz")"
    fig copy500 "gzip layer size, MB" "$(calc 'int(s / 1e5) / 10' s="$gzsize")" "gzip -6" \
        "$(calc 'int(s / 1e5) / 10' s="$gz6")" "$(calc 'int((c / g - 1) * 1000) / 10' c="$gzsize" g="$gz6")%" \
        - "$(peak copy500.gzip6)" "within 3% of gzip -6" "$(verdict 'c <= 1.03 * g' c="$gzsize" g="$gz6")"
    fig copy500 "zstd, MB/s" "$cz" "zstd -T0 -3" "$zs" "$(ratio "$cz" "$zs")" \
        "$(peak copy500.cbuild.zstd)" "$(peak copy500.zstd)" ">=80% of zstd -T0 -3" "$(verdict 'c >= 0.8 * z' c="$cz" z="$zs")"
    fig copy500 "zstd layer size, MB" "$(calc 'int(s / 1e5) / 10' s="$zsize")"
    fig copy500 "no compression (tar, digests), MB/s" "$cn" - - - "$(peak copy500.cbuild.none)"
    if [ "$hruns" -gt 1 ]; then
        fig copy500 "gzip layer digest, $hruns runs" "$([ "$(sort -u "$digests" | wc -l)" -eq 1 ] && echo same || echo DIFFERENT)" \
            - - - - - "the same" "$(verdict 'n == 1' n="$(sort -u "$digests" | wc -l)")"
    fi
}
