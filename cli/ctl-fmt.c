/* droverctl text helpers: turn what the agent sends into one-line errors and readable text. */
#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "cli/ctl-fmt.h"
#include "cli/ctl-table.h"
#include "common/cleanup.h"

#define CTL_ERR_LINE_MAX 512

char *ctl_strdupf(const char *fmt, ...)
{
	char *s = NULL;
	va_list ap;
	int r;

	va_start(ap, fmt);
	r = vasprintf(&s, fmt, ap);
	va_end(ap);
	return r < 0 ? NULL : s;
}

char *ctl_strip(char *s)
{
	char *start = s, *end;

	while (isspace((unsigned char)*start))
		start++;
	memmove(s, start, strlen(start) + 1);
	end = s + strlen(s);
	while (end > s && isspace((unsigned char)end[-1]))
		*--end = '\0';
	return s;
}

/* {"error": "...", "field": "..."} -> "error (field 'x')"; NULL if the body is not that shape. */
static char *error_from_json(const char *body, size_t len)
{
	_cleanup_json_ json_t *doc = NULL;
	const char *msg, *field;

	doc = json_loadb(body, len, 0, NULL);
	if (!json_is_object(doc))
		return NULL;
	msg = json_string_value(json_object_get(doc, "error"));
	if (!msg || !*msg)
		return NULL;
	field = json_string_value(json_object_get(doc, "field"));
	if (field && *field)
		return ctl_strdupf("%s (field '%s')", msg, field);
	return strdup(msg);
}

/* The first non-empty line of a text body, capped. */
static char *error_from_text(const char *body, size_t len)
{
	size_t start = 0, end;

	while (start < len && isspace((unsigned char)body[start]))
		start++;
	end = start;
	while (end < len && body[end] != '\n' && body[end] != '\r' && end - start < CTL_ERR_LINE_MAX)
		end++;
	if (end == start)
		return NULL;
	return strndup(body + start, end - start);
}

char *ctl_agent_error(long status, const char *body, size_t len)
{
	_cleanup_free_ char *raw = NULL;

	if (body && len > 0) {
		raw = error_from_json(body, len);
		if (!raw)
			raw = error_from_text(body, len);
	}
	if (!raw)
		raw = ctl_strdupf("agent returned HTTP %ld", status);
	if (!raw)
		return NULL;
	if (strlen(raw) > CTL_ERR_LINE_MAX)
		raw[CTL_ERR_LINE_MAX] = '\0';
	return ctl_sanitize(ctl_strip(raw));
}

char *ctl_url_escape(const char *s)
{
	static const char hex[] = "0123456789ABCDEF";
	size_t n = strlen(s);
	char *out, *o;

	out = malloc(n * 3 + 1);
	if (!out)
		return NULL;
	o = out;
	for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
		if (isalnum(*p) || strchr("-._~", *p)) {
			*o++ = (char)*p;
			continue;
		}
		*o++ = '%';
		*o++ = hex[*p >> 4];
		*o++ = hex[*p & 0xf];
	}
	*o = '\0';
	return out;
}

char *ctl_json_text(const json_t *v)
{
	if (!v)
		return strdup("");
	switch (json_typeof(v)) {
	case JSON_STRING:
		return strdup(json_string_value(v));
	case JSON_INTEGER:
		return ctl_strdupf("%" JSON_INTEGER_FORMAT, json_integer_value(v));
	case JSON_REAL:
		return ctl_strdupf("%g", json_real_value(v));
	case JSON_TRUE:
		return strdup("true");
	case JSON_FALSE:
		return strdup("false");
	case JSON_OBJECT:
	case JSON_ARRAY:
		return json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
	case JSON_NULL:
	default:
		return strdup("");
	}
}

static bool is_container(const json_t *v)
{
	return json_is_object(v) || json_is_array(v);
}

static void print_leaf(FILE *out, const char *key, const json_t *v)
{
	_cleanup_free_ char *text = ctl_json_text(v);
	_cleanup_free_ char *clean = NULL;

	clean = ctl_sanitize(text && *text ? text : "-");
	fprintf(out, "%s: %s\n", key, clean ? clean : "-");
}

/* An array of scalars on one line: "key: a, b, c". */
static void print_scalar_list(FILE *out, const char *key, const json_t *arr)
{
	size_t i;
	json_t *item;

	fprintf(out, "%s: ", key);
	json_array_foreach (arr, i, item) {
		_cleanup_free_ char *text = ctl_json_text(item);
		_cleanup_free_ char *clean = ctl_sanitize(text);

		fprintf(out, "%s%s", i ? ", " : "", clean ? clean : "");
	}
	fputc('\n', out);
}

static bool has_container(const json_t *arr)
{
	size_t i;
	json_t *item;

	json_array_foreach (arr, i, item)
		if (is_container(item))
			return true;
	return false;
}

static void print_array(FILE *out, const char *prefix, const json_t *arr)
{
	size_t i;
	json_t *item;

	if (!has_container(arr)) {
		print_scalar_list(out, prefix, arr);
		return;
	}
	json_array_foreach (arr, i, item) {
		_cleanup_free_ char *key = NULL;

		key = ctl_strdupf("%s[%zu]", prefix, i);
		if (!key)
			return;
		ctl_print_flat(out, key, item);
	}
}

void ctl_print_flat(FILE *out, const char *prefix, const json_t *v)
{
	const char *k;
	json_t *child;

	if (json_is_array(v)) {
		print_array(out, prefix ? prefix : "items", v);
		return;
	}
	if (!json_is_object(v)) {
		print_leaf(out, prefix ? prefix : "value", v);
		return;
	}
	json_object_foreach ((json_t *)v, k, child) {
		_cleanup_free_ char *key = NULL;

		key = prefix ? ctl_strdupf("%s.%s", prefix, k) : strdup(k);
		if (!key)
			return;
		ctl_print_flat(out, key, child);
	}
}

static char *event_field(const json_t *ev, const char *name)
{
	const json_t *v = json_object_get(ev, name);
	_cleanup_free_ char *text = NULL;

	if (!v && strcmp(name, "time") == 0)
		v = json_object_get(ev, "timestamp");
	text = ctl_json_text(v);
	return ctl_sanitize(text && *text ? text : "-");
}

void ctl_print_event(FILE *out, const json_t *ev)
{
	static const char *const names[] = {"seq", "time", "id", "phase", "reason"};

	for (size_t i = 0; i < ELEMENTSOF(names); i++) {
		_cleanup_free_ char *f = event_field(ev, names[i]);

		fprintf(out, "%s%s", i ? " " : "", f ? f : "-");
	}
	fputc('\n', out);
}
