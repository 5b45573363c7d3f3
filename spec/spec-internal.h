#pragma once
/* Shared by the spec parser's files. */
#include "spec/spec.h"

int spec_get_string(json_t *v, const char *field, size_t max, char **ret, struct err **err);
int spec_get_int(json_t *v, const char *field, int64_t min, int64_t max, int64_t *ret, struct err **err);
int spec_check_keys(json_t *obj, const char *field, const char *const *allowed, struct err **err);
int spec_parse_files(json_t *v, struct spec *s, struct err **err);
int spec_parse_resources(json_t *v, struct spec *s, struct err **err);
int spec_parse_network(json_t *v, struct spec *s, struct err **err);
int spec_parse_backoff(json_t *v, struct spec *s, struct err **err);
int spec_parse_health(json_t *v, struct spec *s, struct err **err); /* spec-health.c */
void spec_free_probes(struct spec *s);
int spec_parse_strv(json_t *v, const char *field, size_t max_items, char ***ret, struct err **err);
/* An absolute path with no "." or ".." component and no empty component; not "/". */
bool spec_path_safe(const char *p);
