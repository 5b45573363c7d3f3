#pragma once
/* Private declarations shared by the runtime library's files (not for other modules). */
#include <stddef.h>

#include <jansson.h>

#include "common/cleanup.h"
#include "common/err.h"
#include "runtime/rt.h"

/* jansson (>= 2.11) provides json_decrefp, NULL-safe; common/cleanup.h does not cover jansson yet. */
#ifndef _cleanup_json_
#define _cleanup_json_ _cleanup_(json_decrefp)
#endif

/* Sets obj[key] = val, stealing val even on failure; -ENOMEM when val is NULL or the set fails. */
int rt_json_set(json_t *obj, const char *key, json_t *val);
/* Appends val (stolen, even on failure) to arr; -ENOMEM when val is NULL or the append fails. */
int rt_json_append(json_t *arr, json_t *val);
/* A JSON array of strings from a NULL-terminated list (NULL list: empty array).
 * -EINVAL when an entry is not valid UTF-8 (its index in *ret_bad), -ENOMEM on OOM. */
int rt_json_strv(char *const *v, json_t **ret, size_t *ret_bad);
/* A JSON array from n constant strings. NULL on OOM. */
json_t *rt_json_strn(const char *const *v, size_t n);

/* config.json parts, built in rt-config-linux.c / rt-config-mounts.c. */
int rt_config_linux(const struct rt_bundle_spec *s, json_t **ret, struct err **err);
int rt_config_mounts(const struct rt_bundle_spec *s, json_t **ret, struct err **err);
