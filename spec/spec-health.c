/* The spec's "health" section: readiness, liveness and startup probes, each one of http, tcp or exec
 * (readiness may instead be "notify": true, readiness told by the service over NOTIFY_SOCKET). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "spec/spec-internal.h"
#include "common/cleanup.h"

#define PROBE_MAX_THRESHOLD 1000
#define PROBE_MAX_ARGS 256
#define PROBE_PATH_MAX 2048

static const char *const role_names[] = {
    [SPEC_PROBE_READINESS] = "readiness",
    [SPEC_PROBE_LIVENESS] = "liveness",
    [SPEC_PROBE_STARTUP] = "startup",
};

static const char *const kind_names[] = {
    [SPEC_PROBE_NONE] = "none", [SPEC_PROBE_HTTP] = "http",	[SPEC_PROBE_TCP] = "tcp",
    [SPEC_PROBE_EXEC] = "exec", [SPEC_PROBE_NOTIFY] = "notify",
};

const char *spec_probe_role_name(enum spec_probe_role r)
{
	return r >= 0 && r < _SPEC_PROBE_ROLE_MAX ? role_names[r] : "?";
}

const char *spec_probe_kind_name(enum spec_probe_kind k)
{
	return k >= 0 && k <= SPEC_PROBE_NOTIFY ? kind_names[k] : "?";
}

bool spec_probe_path_valid(const char *path)
{
	size_t n = strlen(path);

	if (n == 0 || n > PROBE_PATH_MAX || path[0] != '/')
		return false;
	for (const char *c = path; *c; c++)
		if (*c <= ' ' || *c >= 0x7f)
			return false;
	return true;
}

void spec_free_probes(struct spec *s)
{
	for (int r = 0; r < _SPEC_PROBE_ROLE_MAX; r++) {
		free(s->probes[r].path);
		strv_freep(&s->probes[r].command);
	}
}

static int parse_port(json_t *obj, const char *field, uint16_t *ret, struct err **err)
{
	char f[128];
	int64_t port;
	int r;

	snprintf(f, sizeof(f), "%s.port", field);
	if (!json_object_get(obj, "port"))
		return err_field(err, f, EINVAL, "'%s' is required", f);
	r = spec_get_int(json_object_get(obj, "port"), f, 1, 65535, &port, err);
	if (r < 0)
		return r;
	*ret = (uint16_t)port;
	return 0;
}

static int parse_http(json_t *v, const char *field, struct spec_probe *p, struct err **err)
{
	static const char *const keys[] = {"port", "path", NULL};
	char f[128];
	json_t *path;
	int r;

	snprintf(f, sizeof(f), "%s.http", field);
	if (!json_is_object(v))
		return err_field(err, f, EINVAL,
				 "'%s' must be an object like {\"port\": 8080, \"path\": \"/\"}", f);
	r = spec_check_keys(v, f, keys, err);
	if (r < 0 || (r = parse_port(v, f, &p->port, err)) < 0)
		return r;
	snprintf(f, sizeof(f), "%s.http.path", field);
	path = json_object_get(v, "path");
	r = path ? spec_get_string(path, f, PROBE_PATH_MAX, &p->path, err) : 0;
	if (r < 0)
		return r;
	if (!p->path && !(p->path = strdup("/")))
		return err_set(err, ENOMEM, "out of memory");
	if (!spec_probe_path_valid(p->path))
		return err_field(err, f, EINVAL,
				 "'%s' must start with '/' and hold no spaces or control characters", f);
	p->kind = SPEC_PROBE_HTTP;
	return 0;
}

static int parse_tcp(json_t *v, const char *field, struct spec_probe *p, struct err **err)
{
	static const char *const keys[] = {"port", NULL};
	char f[128];
	int r;

	snprintf(f, sizeof(f), "%s.tcp", field);
	if (!json_is_object(v))
		return err_field(err, f, EINVAL, "'%s' must be an object like {\"port\": 8080}", f);
	r = spec_check_keys(v, f, keys, err);
	if (r < 0 || (r = parse_port(v, f, &p->port, err)) < 0)
		return r;
	p->kind = SPEC_PROBE_TCP;
	return 0;
}

static int parse_exec(json_t *v, const char *field, struct spec_probe *p, struct err **err)
{
	static const char *const keys[] = {"command", NULL};
	char f[128];
	int r;

	snprintf(f, sizeof(f), "%s.exec", field);
	if (!json_is_object(v))
		return err_field(err, f, EINVAL,
				 "'%s' must be an object like {\"command\": [\"cat\", \"/tmp/ok\"]}", f);
	r = spec_check_keys(v, f, keys, err);
	if (r < 0)
		return r;
	snprintf(f, sizeof(f), "%s.exec.command", field);
	if (!json_object_get(v, "command"))
		return err_field(err, f, EINVAL, "'%s' is required", f);
	r = spec_parse_strv(json_object_get(v, "command"), f, PROBE_MAX_ARGS, &p->command, err);
	if (r < 0)
		return r;
	if (p->command[0][0] == '\0')
		return err_field(err, f, EINVAL, "'%s' must name a program", f);
	p->kind = SPEC_PROBE_EXEC;
	return 0;
}

/* "notify": true under readiness: no probe traffic, the service says READY=1 itself. */
static int parse_notify(json_t *v, const char *field, enum spec_probe_role role, struct spec_probe *p,
			struct err **err)
{
	static const char *const others[] = {"http",
					     "tcp",
					     "exec",
					     "interval_ms",
					     "timeout_ms",
					     "failure_threshold",
					     "success_threshold",
					     "initial_delay_ms",
					     NULL};
	json_t *n = json_object_get(v, "notify");
	char f[128];

	snprintf(f, sizeof(f), "%s.notify", field);
	if (!json_is_boolean(n))
		return err_field(err, f, EINVAL, "'%s' must be true or false", f);
	if (!json_is_true(n))
		return 0;
	if (role != SPEC_PROBE_READINESS)
		return err_field(err, f, EINVAL, "'%s' is only allowed under health.readiness", f);
	for (const char *const *k = others; *k; k++)
		if (json_object_get(v, *k)) {
			snprintf(f, sizeof(f), "%s.%s", field, *k);
			return err_field(err, f, EINVAL, "'%s' has no meaning with \"notify\": true", f);
		}
	p->kind = SPEC_PROBE_NOTIFY;
	return 0;
}

static int get_ms(json_t *v, const char *field, const char *key, int64_t min, int64_t max, int64_t *ret,
		  struct err **err)
{
	char f[128];

	snprintf(f, sizeof(f), "%s.%s", field, key);
	if (!json_object_get(v, key))
		return 0;
	return spec_get_int(json_object_get(v, key), f, min, max, ret, err);
}

static int parse_timing(json_t *v, const char *field, enum spec_probe_role role, struct spec_probe *p,
			struct err **err)
{
	int64_t ft = 3, st = 1;
	char f[128];
	int r;

	p->interval_ms = 10000;
	p->initial_delay_ms = 0;
	if ((r = get_ms(v, field, "interval_ms", SPEC_PROBE_MIN_INTERVAL_MS, SPEC_PROBE_MAX_MS,
			&p->interval_ms, err)) < 0)
		return r;
	p->timeout_ms = p->interval_ms < 1000 ? p->interval_ms : 1000;
	if ((r = get_ms(v, field, "timeout_ms", 1, p->interval_ms, &p->timeout_ms, err)) < 0 ||
	    (r = get_ms(v, field, "initial_delay_ms", 0, SPEC_PROBE_MAX_MS, &p->initial_delay_ms, err)) < 0 ||
	    (r = get_ms(v, field, "failure_threshold", 1, PROBE_MAX_THRESHOLD, &ft, err)) < 0 ||
	    (r = get_ms(v, field, "success_threshold", 1, PROBE_MAX_THRESHOLD, &st, err)) < 0)
		return r;
	if (role != SPEC_PROBE_READINESS && st != 1) {
		snprintf(f, sizeof(f), "%s.success_threshold", field);
		return err_field(err, f, EINVAL, "'%s' must be 1 for a %s probe", f,
				 spec_probe_role_name(role));
	}
	p->failure_threshold = (int)ft;
	p->success_threshold = (int)st;
	return 0;
}

static int parse_probe(json_t *v, enum spec_probe_role role, struct spec_probe *p, struct err **err)
{
	static const char *const keys[] = {"http",
					   "tcp",
					   "exec",
					   "notify",
					   "interval_ms",
					   "timeout_ms",
					   "failure_threshold",
					   "success_threshold",
					   "initial_delay_ms",
					   NULL};
	char field[64];
	int kinds, r;

	snprintf(field, sizeof(field), "health.%s", spec_probe_role_name(role));
	if (!json_is_object(v))
		return err_field(err, field, EINVAL, "'%s' must be an object", field);
	r = spec_check_keys(v, field, keys, err);
	if (r < 0)
		return r;
	if (json_object_get(v, "notify") && (r = parse_notify(v, field, role, p, err)) < 0)
		return r;
	if (p->kind == SPEC_PROBE_NOTIFY)
		return 0;
	kinds = !!json_object_get(v, "http") + !!json_object_get(v, "tcp") + !!json_object_get(v, "exec");
	if (kinds != 1)
		return err_field(err, field, EINVAL,
				 "'%s' needs exactly one of \"http\", \"tcp\" or \"exec\"%s", field,
				 role == SPEC_PROBE_READINESS ? " (or \"notify\": true)" : "");
	if (json_object_get(v, "http"))
		r = parse_http(json_object_get(v, "http"), field, p, err);
	else if (json_object_get(v, "tcp"))
		r = parse_tcp(json_object_get(v, "tcp"), field, p, err);
	else
		r = parse_exec(json_object_get(v, "exec"), field, p, err);
	if (r < 0)
		return r;
	return parse_timing(v, field, role, p, err);
}

int spec_parse_health(json_t *v, struct spec *s, struct err **err)
{
	static const char *const keys[] = {"readiness", "liveness", "startup", NULL};
	int r;

	if (!v)
		return 0;
	if (!json_is_object(v))
		return err_field(err, "health", EINVAL, "'health' must be an object");
	r = spec_check_keys(v, "health", keys, err);
	if (r < 0)
		return r;
	for (int role = 0; role < _SPEC_PROBE_ROLE_MAX; role++) {
		json_t *p = json_object_get(v, role_names[role]);
		if (!p)
			continue;
		r = parse_probe(p, (enum spec_probe_role)role, &s->probes[role], err);
		if (r < 0)
			return r;
		s->has_health = true;
	}
	return 0;
}
