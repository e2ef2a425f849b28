#include "layer/pathset.h"

#include <stdint.h>
#include <string.h>

#include "common/util.h"

static uint64_t hash(const char *s) {
    uint64_t h = 1469598103934665603ull; /* FNV-1a */
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 1099511628211ull;
    return h;
}

static size_t find(char *const *slots, size_t cap, const char *s) {
    size_t i = (size_t)hash(s) & (cap - 1);
    while (slots[i] && strcmp(slots[i], s) != 0)
        i = (i + 1) & (cap - 1);
    return i;
}

bool cb_pathset_has(const cb_pathset_t *set, const char *s) {
    return set->cap && set->slots[find(set->slots, set->cap, s)] != NULL;
}

static void grow(cb_pathset_t *set) {
    size_t cap = set->cap ? set->cap * 2 : 64;
    char **slots = cb_xcalloc(cap, sizeof *slots);
    for (size_t i = 0; i < set->cap; i++)
        if (set->slots[i])
            slots[find(slots, cap, set->slots[i])] = set->slots[i];
    free(set->slots);
    set->slots = slots;
    set->cap = cap;
}

bool cb_pathset_add(cb_pathset_t *set, const char *s) {
    if ((set->len + 1) * 4 > set->cap * 3)
        grow(set);
    size_t i = find(set->slots, set->cap, s);
    if (set->slots[i])
        return false;
    set->slots[i] = cb_xstrdup(s);
    set->len++;
    return true;
}

void cb_pathset_free(cb_pathset_t *set) {
    for (size_t i = 0; i < set->cap; i++)
        free(set->slots[i]);
    free(set->slots);
    set->slots = NULL;
    set->cap = set->len = 0;
}
