/* The stage scheduler: every stage the target needs runs once the stages
 * it depends on are done; independent stages run at the same time, up to
 * --jobs (default: the CPUs this process may use).
 *
 * A stage that runs alone runs in this process. When several are ready,
 * each runs in a forked child (the builder is single-threaded here: its
 * compression threads live only while a layer is written). A child builds
 * its stage into the shared store exactly as this process would (blobs and
 * cache records are safe to write concurrently), then sends back what the
 * later stages need, as JSON on a pipe: the stage's key, its config and its
 * layers. Its materialised tree, if it made one, stays in the build's
 * directory and is adopted. STEP numbers are fixed per stage beforehand, so
 * they do not depend on the order stages finish in.
 *
 * The first stage that fails stops the others (SIGTERM; their RUN steps
 * die with them) and its error is the build's. */
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "builder/build_state.h"
#include "builder/progress.h"
#include "cache/sealer.h"
#include "common/interrupt.h"
#include "common/log.h"
#include "parser/graph.h"

typedef enum { PENDING, RUNNING, DONE } stage_run_t;

typedef struct running {
    size_t stage;
    pid_t pid;
    int fd; /* the child's result pipe */
    cb_buf_t out;
} running_t;

static unsigned jobs_default(void) {
    cpu_set_t set;
    long n = sched_getaffinity(0, sizeof set, &set) == 0 ? CPU_COUNT(&set) : sysconf(_SC_NPROCESSORS_ONLN);
    return n < 1 ? 1 : (unsigned)n;
}

/* ---- the child's report -------------------------------------------------- */

static void send_all(int fd, const char *s) {
    size_t n = strlen(s);
    while (n > 0) {
        ssize_t w = write(fd, s, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return;
        s += w;
        n -= (size_t)w;
    }
}

static char *result_json(const cb_build_t *b, size_t stage) {
    const cb_stage_state_t *st = &b->stages[stage];
    json_t *layers = json_array();
    for (size_t i = 0; i < st->nlayers; i++)
        json_array_append_new(layers, json_pack("{s:s,s:s,s:I,s:s}", "mediaType", st->layers[i].desc.media_type,
                                                "digest", st->layers[i].desc.digest, "size",
                                                (json_int_t)st->layers[i].desc.size, "diffID", st->layers[i].diff_id));
    cb_autofree char *config = cb_image_config_serialize(st->config);
    json_t *j = json_pack("{s:b,s:s,s:s,s:o,s:I}", "ok", 1, "key", st->key, "config", config, "layers", layers,
                          "kept", (json_int_t)st->nlayers_kept);
    char *s = json_dumps(j, JSON_COMPACT);
    json_decref(j);
    return s;
}

static char *error_json(const cb_error_t *err) {
    const cb_error_t *at = err;
    while (at && at->file == NULL)
        at = at->cause;
    const cb_error_t *root = cb_error_root(err);
    cb_autofree char *msg = cb_error_message(err);
    json_t *j = json_pack("{s:b,s:i,s:i,s:s,s:s?,s:i,s:i}", "ok", 0, "kind", root ? (int)root->kind : 1, "status",
                          root ? root->status : 0, "message", msg, "file", at ? at->file : NULL, "line",
                          at ? at->line : 0, "col", at ? at->col : 0);
    /* The step it failed in, for the parent's error event. */
    const char *label;
    unsigned step, nsteps;
    if (cb_progress_where(&label, &step, &nsteps))
        json_object_set_new(j, "where", json_pack("{s:s,s:i,s:i}", "stage", label, "step", (int)step, "steps",
                                                  (int)nsteps));
    char *s = json_dumps(j, JSON_COMPACT);
    json_decref(j);
    return s;
}

_Noreturn static void run_child(cb_build_t *b, size_t stage, int fd) {
    /* SIGTERM from the parent (another stage failed, or Ctrl-C) keeps
     * cmd_build's handler: the stage unwinds and removes its temp files. */
    b->tree_tag = (int)getpid(); /* trees it makes do not collide with another child's */
    cb_error_t *err = NULL;
    int rc = cb_stage_execute(b, stage, &err);
    /* The tree the parent adopts must hold every layer it is told of, and
     * the layers must be in the store. */
    int tree;
    if (rc == 0 && b->stages[stage].rootfs_fd >= 0)
        rc = cb_stage_rootfs(b, stage, &tree, &err);
    if (rc == 0) {
        rc = cb_sealer_wait(b->sealer, &err);
    } else if (cb_interrupt_signal() == 0) {
        /* As the parent's cleanup: a failed stage keeps what its steps made. */
        cb_autoerr cb_error_t *serr = NULL;
        (void)cb_sealer_wait(b->sealer, &serr);
    }
    cb_sealer_free(b->sealer);
    char *report = rc == 0 ? result_json(b, stage) : error_json(err);
    send_all(fd, report);
    /* No cleanup of the build: its directory and store are the parent's. */
    _exit(rc == 0 ? 0 : 1);
}

/* ---- adopting a result --------------------------------------------------- */

static int adopt(cb_build_t *b, size_t stage, pid_t pid, const char *text, cb_error_t **err) {
    json_error_t jerr;
    json_t *j = json_loads(text, 0, &jerr);
    if (j == NULL)
        return cb_error_kind_set(err, CB_ERR_INTERNAL, "stage %zu: its builder sent no result (%s)", stage, jerr.text);
    int rc = 0;
    if (!json_is_true(json_object_get(j, "ok"))) {
        const char *msg = json_string_value(json_object_get(j, "message"));
        int kind = (int)json_integer_value(json_object_get(j, "kind"));
        cb_error_kind_set(err, kind >= CB_ERR_SYSTEM && kind <= CB_ERR_INTERRUPTED ? (cb_error_kind_t)kind : CB_ERR_INTERNAL,
                          "%s", msg ? msg : "failed");
        (*err)->status = (int)json_integer_value(json_object_get(j, "status"));
        const char *file = json_string_value(json_object_get(j, "file"));
        if (file)
            cb_error_locate(err, file, (int)json_integer_value(json_object_get(j, "line")),
                            (int)json_integer_value(json_object_get(j, "col")));
        json_t *where = json_object_get(j, "where");
        const char *label = json_string_value(json_object_get(where, "stage"));
        if (label)
            cb_progress_failed_in(label, (unsigned)json_integer_value(json_object_get(where, "step")),
                                  (unsigned)json_integer_value(json_object_get(where, "steps")));
        json_decref(j);
        return -1;
    }
    cb_stage_state_t *st = &b->stages[stage];
    const char *key = json_string_value(json_object_get(j, "key"));
    const char *config = json_string_value(json_object_get(j, "config"));
    if (key == NULL || config == NULL || strlen(key) != CB_DIGEST_STR_LEN)
        rc = cb_error_kind_set(err, CB_ERR_INTERNAL, "stage %zu: a malformed result", stage);
    cb_image_config_free(st->config);
    st->config = NULL;
    if (rc == 0)
        rc = cb_image_config_parse(config, strlen(config), &st->config, err);
    if (rc == 0) {
        memcpy(st->key, key, CB_DIGEST_STR_LEN + 1);
        cb_image_layers_free(st->layers, st->nlayers);
        json_t *layers = json_object_get(j, "layers");
        st->nlayers = json_array_size(layers);
        st->layers = cb_xcalloc(st->nlayers + 1, sizeof *st->layers);
        for (size_t i = 0; i < st->nlayers; i++) {
            json_t *l = json_array_get(layers, i);
            cb_image_layer_t *d = &st->layers[i];
            d->desc.media_type = cb_xstrdup(json_string_value(json_object_get(l, "mediaType")));
            d->desc.digest = cb_xstrdup(json_string_value(json_object_get(l, "digest")));
            d->desc.size = json_integer_value(json_object_get(l, "size"));
            d->diff_id = cb_xstrdup(json_string_value(json_object_get(l, "diffID")));
        }
        json_int_t kept = json_integer_value(json_object_get(j, "kept"));
        st->nlayers_kept = kept > 0 && (size_t)kept <= st->nlayers ? (size_t)kept : 0;
        /* The child's tree, when it made one, is the stage's result. */
        cb_autofree char *tree = cb_xasprintf("%s/stage-%zu.%d", b->scratch, stage, (int)pid);
        int fd = open(tree, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (fd >= 0) {
            st->rootfs = cb_steal_pointer(&tree);
            st->rootfs_fd = fd;
        }
        st->built = true;
    }
    json_decref(j);
    return rc;
}

/* ---- the loop ------------------------------------------------------------ */

static bool ready(const cb_build_t *b, const stage_run_t *state, size_t s) {
    const cb_graph_stage_t *gs = &b->ev->graph->stages[s];
    for (size_t i = 0; i < gs->ndeps; i++)
        if (state[gs->deps[i].stage] != DONE)
            return false;
    return true;
}

int cb_schedule_stages(cb_build_t *b, cb_error_t **err) {
    const cb_graph_t *g = b->ev->graph;
    unsigned jobs = b->opts->jobs ? b->opts->jobs : jobs_default();
    unsigned *first_step = cb_xcalloc(g->nstages, sizeof *first_step);
    for (size_t i = 0, step = 0; i < g->norder; i++) {
        first_step[g->order[i]] = (unsigned)step;
        step += 1 + b->prog->stages[g->order[i]].ninstrs;
    }
    stage_run_t *state = cb_xcalloc(g->nstages, sizeof *state);
    running_t *run = cb_xcalloc(jobs, sizeof *run);
    size_t nrun = 0, ndone = 0;
    int rc = 0;
    /* SIGINT and SIGTERM: cmd_build's handler (common/interrupt.h), which
     * the stages' builders inherit. */

    while (ndone < g->norder && rc == 0) {
        /* Start what is ready: alone in this process, or in children. */
        size_t nready = 0, pick = 0;
        for (size_t i = 0; i < g->norder; i++) {
            size_t s = g->order[i];
            if (state[s] == PENDING && ready(b, state, s)) {
                if (nready++ == 0)
                    pick = s;
            }
        }
        if ((nready == 1 && nrun == 0) || jobs <= 1) {
            if (nready == 0)
                break; /* cannot happen: the graph is acyclic */
            b->step = first_step[pick];
            rc = cb_stage_execute(b, pick, err);
            state[pick] = DONE;
            ndone++;
            continue;
        }
        for (size_t i = 0; i < g->norder && nrun < jobs; i++) {
            size_t s = g->order[i];
            if (state[s] != PENDING || !ready(b, state, s))
                continue;
            /* A child gets no thread of ours: the sealer's ends first (the
             * child starts its own). */
            if (cb_sealer_wait(b->sealer, err) < 0) {
                rc = -1;
                break;
            }
            int p[2];
            if (pipe2(p, O_CLOEXEC) < 0) {
                rc = cb_error_set(err, errno, "pipe");
                break;
            }
            fflush(NULL);
            b->step = first_step[s];
            pid_t pid = fork();
            if (pid == 0) {
                close(p[0]);
                run_child(b, s, p[1]);
            }
            close(p[1]);
            if (pid < 0) {
                close(p[0]);
                rc = cb_error_set(err, errno, "fork");
                break;
            }
            run[nrun++] = (running_t){.stage = s, .pid = pid, .fd = p[0], .out = CB_BUF_INIT};
            state[s] = RUNNING;
        }
        /* Wait for a child to finish (its pipe closes), reading results. */
        while (rc == 0 && nrun > 0) {
            struct pollfd pfd[64];
            size_t n = nrun < 64 ? nrun : 64;
            for (size_t i = 0; i < n; i++)
                pfd[i] = (struct pollfd){.fd = run[i].fd, .events = POLLIN};
            if (poll(pfd, n, -1) < 0 && errno != EINTR)
                break;
            if (cb_interrupt_check(err) < 0) {
                rc = -1;
                break;
            }
            bool finished = false;
            for (size_t i = 0; i < n && !finished; i++) {
                if (!(pfd[i].revents & (POLLIN | POLLHUP | POLLERR)))
                    continue;
                char buf[8192];
                ssize_t k = read(run[i].fd, buf, sizeof buf);
                if (k < 0 && errno == EINTR)
                    continue;
                if (k > 0) {
                    cb_buf_add(&run[i].out, buf, (size_t)k);
                    continue;
                }
                int st = 0;
                while (waitpid(run[i].pid, &st, 0) < 0 && errno == EINTR) {
                }
                close(run[i].fd);
                rc = adopt(b, run[i].stage, run[i].pid, cb_buf_str(&run[i].out), err);
                if (rc == 0 && !(WIFEXITED(st) && WEXITSTATUS(st) == 0))
                    rc = cb_error_kind_set(err, CB_ERR_INTERNAL, "stage %zu: its builder died (status %d)",
                                           run[i].stage, st);
                state[run[i].stage] = DONE;
                ndone++;
                cb_buf_free(&run[i].out);
                run[i] = run[--nrun];
                finished = true;
            }
            if (finished)
                break;
        }
    }
    /* After a failure: the others stop, and nothing of theirs is kept. */
    for (size_t i = 0; i < nrun; i++) {
        kill(run[i].pid, SIGTERM);
        while (waitpid(run[i].pid, NULL, 0) < 0 && errno == EINTR) {
        }
        close(run[i].fd);
        cb_buf_free(&run[i].out);
    }
    free(run);
    free(state);
    free(first_step);
    return rc;
}
