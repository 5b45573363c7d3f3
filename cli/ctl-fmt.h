#pragma once
/* droverctl text helpers: agent error bodies, URL escaping, generic JSON printing. */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <jansson.h>

#include "common/cleanup.h"

/* jansson ships json_decrefp (NULL-safe) for this. */
#ifndef _cleanup_json_
#define _cleanup_json_ _cleanup_(json_decrefp)
#endif

/* One line for an agent failure: "<error> (field 'X')" from {"error","field"}, else the body's first
 * line, else "HTTP <status>". Control characters become '?'. Caller frees; NULL on OOM. */
char *ctl_agent_error(long status, const char *body, size_t len);
/* Percent-encodes everything but RFC 3986 unreserved characters. Caller frees; NULL on OOM. */
char *ctl_url_escape(const char *s);
/* A scalar as text: strings as-is, numbers, true/false, null as "" (tables show "-"); objects and arrays
 * as compact JSON. Caller frees; NULL on OOM. */
char *ctl_json_text(const json_t *v);
/* Prints v as "key: value" lines, nested objects as "key.sub: value", arrays of objects as
 * "key[0].sub: value", arrays of scalars as "key: a, b". */
void ctl_print_flat(FILE *out, const char *prefix, const json_t *v);
/* One event as "SEQ TIME ID PHASE REASON" (missing fields as "-"). */
void ctl_print_event(FILE *out, const json_t *ev);
/* asprintf that returns the string, or NULL on failure. */
char *ctl_strdupf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Strips leading and trailing whitespace in place; returns s. */
char *ctl_strip(char *s);
