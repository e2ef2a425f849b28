/* libcurl is loaded on first use (see curl_lazy.c): code includes
 * <curl/curl.h> and calls libcurl as usual, and calls cb_curl_load() first
 * to turn a missing or unusable libcurl into a clear error. */
#ifndef CB_COMMON_CURL_LAZY_H
#define CB_COMMON_CURL_LAZY_H

#include "common/error.h"

/* Loads libcurl once per process; later calls only report the outcome. */
int cb_curl_load(cb_error_t **err);

#endif
