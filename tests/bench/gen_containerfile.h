/* A synthetic but realistic Containerfile of a given size, for benchmarks:
 * multi-stage FROMs with meta ARGs, RUN with continuations and cache mounts,
 * ENV/LABEL/ARG, COPY with flags and --from, heredocs, exec-form CMD and
 * HEALTHCHECK, comments and blank lines. The same line count always gives
 * the same bytes. */
#ifndef CB_BENCH_GEN_CONTAINERFILE_H
#define CB_BENCH_GEN_CONTAINERFILE_H

#include <stddef.h>

#include "common/util.h"

/* Appends stages to b until it holds at least `lines` lines (a stage is
 * never cut in half, so it may be a few lines more). Returns the line count. */
size_t cb_bench_gen_containerfile(cb_buf_t *b, size_t lines);

#endif
