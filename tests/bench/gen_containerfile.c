#include "gen_containerfile.h"

#include <string.h>

/* One stage; %1$zu is the stage number, %2$zu the stage before it. Each
 * instruction kind the parser has a separate path for appears at least once. */
static const char stage_fmt[] =
    "# ---- stage %1$zu: build a component ----\n"
    "FROM ${BASE_IMAGE} AS stage%1$zu\n"
    "ARG VERSION=1.%1$zu.0 COMMIT\n"
    "ENV APP_HOME=/opt/app%1$zu PATH=/opt/app%1$zu/bin:$PATH LANG=C.UTF-8\n"
    "LABEL org.opencontainers.image.title=\"component %1$zu\" \\\n"
    "      org.opencontainers.image.version=\"${VERSION}\"\n"
    "WORKDIR /src/component%1$zu\n"
    "COPY --chown=1000:1000 --chmod=0644 go.mod go.sum ./\n"
    "COPY --from=stage%2$zu /out/ /deps/\n"
    "RUN --mount=type=cache,target=/root/.cache,id=cache%1$zu \\\n"
    "    apt-get update && \\\n"
    "    apt-get install -y --no-install-recommends \\\n"
    "        ca-certificates curl git make && \\\n"
    "    rm -rf /var/lib/apt/lists/*\n"
    "\n"
    "RUN <<EOF\n"
    "set -e\n"
    "echo \"building component %1$zu at $VERSION\"\n"
    "make -C /src/component%1$zu -j4 all\n"
    "EOF\n"
    "COPY <<config.ini /etc/app%1$zu.ini\n"
    "[server]\n"
    "port = 80%1$zu\n"
    "config.ini\n"
    "EXPOSE 8080/tcp 9090/udp\n"
    "USER 1000:1000\n"
    "HEALTHCHECK --interval=30s --timeout=3s CMD [\"curl\", \"-f\", \"http://localhost:8080/\"]\n"
    "CMD [\"/opt/app/bin/server\", \"--port\", \"8080\"]\n"
    "\n";

size_t cb_bench_gen_containerfile(cb_buf_t *b, size_t lines) {
    static const char header[] = "# syntax=docker/dockerfile:1\n"
                                 "ARG BASE_IMAGE=debian:12-slim\n"
                                 "FROM ${BASE_IMAGE} AS stage0\n"
                                 "RUN mkdir -p /out\n";
    cb_buf_puts(b, header);
    size_t n = 4;
    for (size_t stage = 1; n < lines; stage++) {
        size_t before = b->len;
        cb_buf_printf(b, stage_fmt, stage, stage - 1);
        for (const char *p = b->data + before; (p = memchr(p, '\n', b->data + b->len - p)); p++)
            n++;
    }
    return n;
}
