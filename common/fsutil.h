/* File-system helpers shared by the modules. */
#ifndef CB_FSUTIL_H
#define CB_FSUTIL_H

#include "common/error.h"

/* Removes path and everything below it without following symlinks; read-only
 * directories (a layer may make them 0555) are made writable first. A missing
 * path is not an error. */
int cb_rm_rf(const char *path, cb_error_t **err);
/* The same for the entry name inside the directory dirfd. */
int cb_rm_rf_at(int dirfd, const char *name, cb_error_t **err);

#endif
