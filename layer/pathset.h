/* A set of strings (entry names), for "which directories did this layer
 * already write" and "which paths did this layer create". Grows with the
 * number of names, never with file contents. */
#ifndef CB_LAYER_PATHSET_H
#define CB_LAYER_PATHSET_H

#include <stdbool.h>
#include <stddef.h>

typedef struct cb_pathset {
    char **slots;
    size_t cap; /* power of two, or 0 */
    size_t len;
} cb_pathset_t;
#define CB_PATHSET_INIT {NULL, 0, 0}

/* Copies s; returns false when it was already there. */
bool cb_pathset_add(cb_pathset_t *set, const char *s);
bool cb_pathset_has(const cb_pathset_t *set, const char *s);
void cb_pathset_free(cb_pathset_t *set);

#endif
