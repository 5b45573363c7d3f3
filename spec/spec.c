/* Instance spec parsing and validation. Every error names its field, so a
 * control plane (or a person editing a file) knows exactly what to fix. */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "spec/spec-internal.h"
#include "common/cleanup.h"
#include "image/img.h"
#include "runtime/rt.h"

const char *spec_qos_name(enum spec_qos q)
{
	return q == SPEC_QOS_BATCH ? "batch" : "online";
}

const char *spec_restart_name(enum spec_restart r)
{
	switch (r) {
	case SPEC_RESTART_ON_FAILURE:
		return "on-failure";
	case SPEC_RESTART_NEVER:
		return "never";
	default:
		return "always";
	}
}

const char *spec_net_name(enum spec_net n)
{
	switch (n) {
	case SPEC_NET_HOST:
		return "host";
	case SPEC_NET_NONE:
		return "none";
	default:
		return "bridge";
	}
}

bool spec_id_valid(const char *id)
{
	size_t n = strlen(id);

	if (n == 0 || n > 63)
		return false;
	if (!islower((unsigned char)id[0]) && !isdigit((unsigned char)id[0]))
		return false;
	for (size_t i = 1; i < n; i++) {
		char c = id[i];
		if (!islower((unsigned char)c) && !isdigit((unsigned char)c) && c != '_' && c != '.' &&
		    c != '-')
			return false;
	}
	return true;
}

struct spec *spec_free(struct spec *s)
{
	if (!s)
		return NULL;
	free(s->id);
	free(s->app);
	free(s->image);
	strv_freep(&s->command);
	strv_freep(&s->env);
	free(s->workdir);
	free(s->user);
	for (size_t i = 0; i < s->n_files; i++) {
		free(s->files[i].path);
		free(s->files[i].content);
	}
	free(s->files);
	free(s->ports);
	spec_free_probes(s);
	json_decref(s->raw);
	free(s);
	return NULL;
}

/* A JSON string usable as a C string: no embedded NUL, bounded length. */
int spec_get_string(json_t *v, const char *field, size_t max, char **ret, struct err **err)
{
	const char *s;

	if (!json_is_string(v))
		return err_field(err, field, EINVAL, "'%s' must be a string", field);
	s = json_string_value(v);
	if (strlen(s) != json_string_length(v))
		return err_field(err, field, EINVAL, "'%s' must not contain NUL bytes", field);
	if (strlen(s) > max)
		return err_field(err, field, EINVAL, "'%s' is longer than %zu characters", field, max);
	*ret = strdup(s);
	if (!*ret)
		return err_field(err, field, ENOMEM, "'%s': out of memory", field);
	return 0;
}

int spec_get_int(json_t *v, const char *field, int64_t min, int64_t max, int64_t *ret, struct err **err)
{
	json_int_t i;

	if (!json_is_integer(v))
		return err_field(err, field, EINVAL, "'%s' must be an integer", field);
	i = json_integer_value(v);
	if (i < min || i > max)
		return err_field(err, field, ERANGE, "'%s' must be between %lld and %lld, got %lld", field,
				 (long long)min, (long long)max, (long long)i);
	*ret = i;
	return 0;
}

int spec_check_keys(json_t *obj, const char *field, const char *const *allowed, struct err **err)
{
	const char *key;
	json_t *v;

	json_object_foreach (obj, key, v) {
		bool ok = false;
		for (const char *const *a = allowed; *a; a++)
			if (strcmp(key, *a) == 0)
				ok = true;
		if (!ok) {
			char f[256];
			snprintf(f, sizeof(f), "%s%s%s", field ? field : "", field ? "." : "", key);
			return err_field(err, f, EINVAL, "unknown field '%s'", f);
		}
	}
	return 0;
}

int spec_parse_strv(json_t *v, const char *field, size_t max_items, char ***ret, struct err **err)
{
	_cleanup_strv_ char **out = NULL;
	size_t i;
	json_t *item;
	int r;

	if (!json_is_array(v))
		return err_field(err, field, EINVAL, "'%s' must be an array of strings", field);
	if (json_array_size(v) == 0)
		return err_field(err, field, EINVAL, "'%s' must not be empty", field);
	if (json_array_size(v) > max_items)
		return err_field(err, field, EINVAL, "'%s' has more than %zu items", field, max_items);
	out = calloc(json_array_size(v) + 1, sizeof(char *));
	if (!out)
		return err_set(err, ENOMEM, "out of memory");
	json_array_foreach (v, i, item) {
		char f[64];
		snprintf(f, sizeof(f), "%s[%zu]", field, i);
		r = spec_get_string(item, f, 64 * 1024, &out[i], err);
		if (r < 0)
			return r;
	}
	*ret = TAKE_PTR(out);
	return 0;
}

static int parse_env(json_t *v, struct spec *s, struct err **err)
{
	const char *key;
	json_t *val;
	size_t i = 0;

	if (!json_is_object(v))
		return err_field(err, "env", EINVAL, "'env' must be an object of strings");
	if (json_object_size(v) > 4096)
		return err_field(err, "env", EINVAL, "'env' has more than 4096 variables");
	s->env = calloc(json_object_size(v) + 1, sizeof(char *));
	if (!s->env)
		return err_set(err, ENOMEM, "out of memory");
	json_object_foreach (v, key, val) {
		_cleanup_free_ char *value = NULL;
		char f[300];
		int r;

		snprintf(f, sizeof(f), "env.%.250s", key);
		if (key[0] == '\0' || strchr(key, '=') || strlen(key) > 256)
			return err_field(err, f, EINVAL, "environment variable name '%.250s' is not valid",
					 key);
		r = spec_get_string(val, f, 128 * 1024, &value, err);
		if (r < 0)
			return r;
		if (asprintf(&s->env[i], "%s=%s", key, value) < 0)
			return err_set(err, ENOMEM, "out of memory");
		i++;
	}
	return 0;
}

static const char *const top_keys[] = {"id",
				       "app",
				       "revision",
				       "image",
				       "command",
				       "env",
				       "workdir",
				       "user",
				       "files",
				       "resources",
				       "qos",
				       "network",
				       "health",
				       "restart",
				       "stop_grace_ms",
				       "labels",
				       "restart_backoff",
				       NULL};

static int parse_identity(json_t *doc, struct spec *s, struct err **err)
{
	json_t *v;
	int r;

	v = json_object_get(doc, "id");
	if (!v)
		return err_field(err, "id", EINVAL, "'id' is required");
	r = spec_get_string(v, "id", 63, &s->id, err);
	if (r < 0)
		return r;
	if (!spec_id_valid(s->id))
		return err_field(err, "id", EINVAL, "'id' must match [a-z0-9][a-z0-9_.-]{0,62}, got '%s'",
				 s->id);
	v = json_object_get(doc, "app");
	if (v && (r = spec_get_string(v, "app", 63, &s->app, err)) < 0)
		return r;
	v = json_object_get(doc, "revision");
	if (v && (r = spec_get_int(v, "revision", 0, INT64_MAX, &s->revision, err)) < 0)
		return r;
	v = json_object_get(doc, "image");
	if (!v)
		return err_field(err, "image", EINVAL, "'image' is required");
	r = spec_get_string(v, "image", 1024, &s->image, err);
	if (r < 0)
		return r;
	if (s->image[0] == '\0')
		return err_field(err, "image", EINVAL, "'image' must not be empty");
	if (img_ref_validate(s->image, err) < 0) {
		err_wrap(err, "'image'");
		if (err && *err && !(*err)->field) /* the caller may want no error at all */
			(*err)->field = strdup("image");
		return -EINVAL;
	}
	return 0;
}

static int parse_process(json_t *doc, struct spec *s, struct err **err)
{
	_cleanup_free_ char *norm = NULL;
	json_t *v;
	int r;

	v = json_object_get(doc, "command");
	if (v && (r = spec_parse_strv(v, "command", 4096, &s->command, err)) < 0)
		return r;
	v = json_object_get(doc, "env");
	if (v && (r = parse_env(v, s, err)) < 0)
		return r;
	v = json_object_get(doc, "workdir");
	if (v) {
		r = spec_get_string(v, "workdir", 4096, &s->workdir, err);
		if (r < 0)
			return r;
		r = rt_cwd_normalize(s->workdir, &norm);
		if (r < 0)
			return err_field(err, "workdir", r == -ENOMEM ? ENOMEM : EINVAL,
					 "'workdir' %s, got '%s'", rt_cwd_problem(r), s->workdir);
		free(s->workdir);
		s->workdir = TAKE_PTR(norm);
	}
	v = json_object_get(doc, "user");
	if (v) {
		r = spec_get_string(v, "user", 128, &s->user, err);
		if (r < 0)
			return r;
		if (s->user[0] == '\0' || s->user[0] == ':' || strchr(s->user, ':') != strrchr(s->user, ':'))
			return err_field(err, "user", EINVAL,
					 "'user' must be 'uid[:gid]' or 'name[:group]', got '%s'", s->user);
	}
	return 0;
}

static int parse_policy(json_t *doc, struct spec *s, struct err **err)
{
	json_t *v;
	int r;

	v = json_object_get(doc, "qos");
	if (v) {
		const char *q = json_string_value(v);
		if (q && strcmp(q, "online") == 0)
			s->qos = SPEC_QOS_ONLINE;
		else if (q && strcmp(q, "batch") == 0)
			s->qos = SPEC_QOS_BATCH;
		else
			return err_field(err, "qos", EINVAL, "'qos' must be \"online\" or \"batch\"");
	}
	v = json_object_get(doc, "restart");
	if (v) {
		const char *p = json_string_value(v);
		if (p && strcmp(p, "always") == 0)
			s->restart = SPEC_RESTART_ALWAYS;
		else if (p && strcmp(p, "on-failure") == 0)
			s->restart = SPEC_RESTART_ON_FAILURE;
		else if (p && strcmp(p, "never") == 0)
			s->restart = SPEC_RESTART_NEVER;
		else
			return err_field(err, "restart", EINVAL,
					 "'restart' must be \"always\", \"on-failure\" or \"never\"");
	}
	r = spec_parse_backoff(json_object_get(doc, "restart_backoff"), s, err);
	if (r < 0)
		return r;
	v = json_object_get(doc, "stop_grace_ms");
	if (v && (r = spec_get_int(v, "stop_grace_ms", 0, 3600 * 1000, &s->stop_grace_ms, err)) < 0)
		return r;
	v = json_object_get(doc, "labels");
	if (v) {
		const char *key;
		json_t *lv;
		if (!json_is_object(v))
			return err_field(err, "labels", EINVAL, "'labels' must be an object of strings");
		json_object_foreach (v, key, lv) {
			if (!json_is_string(lv))
				return err_field(err, "labels", EINVAL, "label '%.200s' must be a string",
						 key);
		}
	}
	return 0;
}

int spec_parse(json_t *doc, struct spec **ret, struct err **err)
{
	struct spec *s = NULL;
	int r;

	if (!json_is_object(doc))
		return err_field(err, "", EINVAL, "a spec must be a JSON object");
	s = calloc(1, sizeof(*s));
	if (!s)
		return err_set(err, ENOMEM, "out of memory");
	s->cpu_millis = s->memory = s->pids = -1;
	s->stop_grace_ms = 10000;
	spec_backoff_defaults(&s->backoff);
	s->net = SPEC_NET_BRIDGE;
	s->raw = json_incref(doc);
	r = spec_check_keys(doc, NULL, top_keys, err);
	if (r >= 0)
		r = parse_identity(doc, s, err);
	if (r >= 0)
		r = parse_process(doc, s, err);
	if (r >= 0)
		r = spec_parse_files(json_object_get(doc, "files"), s, err);
	if (r >= 0)
		r = spec_parse_resources(json_object_get(doc, "resources"), s, err);
	if (r >= 0)
		r = spec_parse_network(json_object_get(doc, "network"), s, err);
	if (r >= 0)
		r = spec_parse_health(json_object_get(doc, "health"), s, err);
	if (r >= 0)
		r = parse_policy(doc, s, err);
	if (r < 0) {
		spec_free(s);
		return r;
	}
	*ret = s;
	return 0;
}

/* jansson's text quotes the input near the error ("near 'xxx'"); a spec file may be anything the
 * agent can read, so status messages carry only line:column and a reason of our own. */
const char *spec_json_reason(const json_error_t *jerr)
{
	switch (json_error_code(jerr)) {
	case json_error_out_of_memory:
		return "out of memory";
	case json_error_stack_overflow:
		return "nested too deeply";
	case json_error_invalid_utf8:
		return "invalid UTF-8";
	case json_error_premature_end_of_input:
		return "unexpected end of input";
	case json_error_end_of_input_expected:
		return "text after the end of the document";
	case json_error_null_character:
	case json_error_null_byte_in_key:
		return "a NUL character";
	case json_error_duplicate_key:
		return "a duplicate object key";
	case json_error_numeric_overflow:
		return "a number out of range";
	default:
		return "invalid syntax";
	}
}

int spec_parse_text(const char *text, size_t len, struct spec **ret, struct err **err)
{
	json_error_t jerr;
	json_t *doc;
	int r;

	if (len > SPEC_MAX_BYTES)
		return err_field(err, "", EFBIG, "spec is %zu bytes, more than the %d allowed", len,
				 SPEC_MAX_BYTES);
	doc = json_loadb(text, len, JSON_REJECT_DUPLICATES, &jerr);
	if (!doc)
		return err_field(err, "", EINVAL, "malformed JSON at line %d column %d: %s", jerr.line,
				 jerr.column, spec_json_reason(&jerr));
	r = spec_parse(doc, ret, err);
	json_decref(doc);
	return r;
}

int spec_check_supported(const struct spec *s, struct err **err)
{
	for (size_t i = 0; i < s->n_ports; i++)
		if (s->ports[i].host != 0 && s->net != SPEC_NET_BRIDGE)
			return err_field(err, "network.ports", EINVAL,
					 "published ports need network mode \"bridge\", not \"%s\"",
					 spec_net_name(s->net));
	return 0;
}
