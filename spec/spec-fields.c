/* Spec sections with nested structure: files, resources, network (health: spec-health.c). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "spec/spec-internal.h"
#include "common/cleanup.h"

bool spec_path_safe(const char *p)
{
	const char *c;

	if (p[0] != '/' || p[1] == '\0')
		return false;
	for (c = p + 1;;) {
		const char *slash = strchr(c, '/');
		size_t n = slash ? (size_t)(slash - c) : strlen(c);

		if (n == 0 || (n == 1 && c[0] == '.') || (n == 2 && c[0] == '.' && c[1] == '.'))
			return false;
		if (!slash)
			return true;
		c = slash + 1;
	}
}

static int parse_mode(json_t *v, const char *field, mode_t *ret, struct err **err)
{
	long long m;

	if (json_is_integer(v)) {
		m = json_integer_value(v);
	} else if (json_is_string(v)) {
		const char *s = json_string_value(v);
		char *end = NULL;
		errno = 0;
		m = strtoll(s, &end, 8);
		if (errno || end == s || *end)
			return err_field(err, field, EINVAL, "'%s' must be an octal mode like \"0644\"",
					 field);
	} else {
		return err_field(err, field, EINVAL, "'%s' must be an octal mode like \"0644\"", field);
	}
	if (m < 0 || m > 07777)
		return err_field(err, field, ERANGE, "'%s' must be between 0 and 07777", field);
	*ret = (mode_t)m;
	return 0;
}

static int parse_file(json_t *item, size_t i, struct spec_file *f, struct err **err)
{
	static const char *const keys[] = {"path", "content", "mode", NULL};
	char field[64];
	json_t *v;
	int r;

	snprintf(field, sizeof(field), "files[%zu]", i);
	if (!json_is_object(item))
		return err_field(err, field, EINVAL, "'%s' must be an object", field);
	r = spec_check_keys(item, field, keys, err);
	if (r < 0)
		return r;
	snprintf(field, sizeof(field), "files[%zu].path", i);
	v = json_object_get(item, "path");
	if (!v)
		return err_field(err, field, EINVAL, "'%s' is required", field);
	r = spec_get_string(v, field, 4096, &f->path, err);
	if (r < 0)
		return r;
	if (!spec_path_safe(f->path))
		return err_field(
		    err, field, EINVAL,
		    "'%s' must be an absolute path inside the container without '.' or '..', got '%s'", field,
		    f->path);
	snprintf(field, sizeof(field), "files[%zu].content", i);
	v = json_object_get(item, "content");
	if (!json_is_string(v))
		return err_field(err, field, EINVAL, "'%s' must be a string", field);
	f->len = json_string_length(v);
	f->content = malloc(f->len + 1);
	if (!f->content)
		return err_set(err, ENOMEM, "out of memory");
	memcpy(f->content, json_string_value(v), f->len + 1);
	f->mode = 0644;
	snprintf(field, sizeof(field), "files[%zu].mode", i);
	v = json_object_get(item, "mode");
	if (v)
		return parse_mode(v, field, &f->mode, err);
	return 0;
}

int spec_parse_files(json_t *v, struct spec *s, struct err **err)
{
	size_t i;
	json_t *item;
	int r;

	if (!v)
		return 0;
	if (!json_is_array(v))
		return err_field(err, "files", EINVAL, "'files' must be an array");
	if (json_array_size(v) > 256)
		return err_field(err, "files", EINVAL, "'files' has more than 256 entries");
	s->files = calloc(json_array_size(v) ? json_array_size(v) : 1, sizeof(*s->files));
	if (!s->files)
		return err_set(err, ENOMEM, "out of memory");
	json_array_foreach (v, i, item) {
		r = parse_file(item, i, &s->files[i], err);
		s->n_files = i + 1;
		if (r < 0)
			return r;
		for (size_t j = 0; j < i; j++)
			if (strcmp(s->files[j].path, s->files[i].path) == 0)
				return err_field(err, "files", EINVAL, "'files' lists '%s' twice",
						 s->files[i].path);
	}
	return 0;
}

/* A quantity may be a JSON string ("500m") or number (0.5, 2). */
static int quantity_text(json_t *v, const char *field, char *buf, size_t size, struct err **err)
{
	if (json_is_string(v))
		snprintf(buf, size, "%s", json_string_value(v));
	else if (json_is_integer(v))
		snprintf(buf, size, "%lld", (long long)json_integer_value(v));
	else if (json_is_real(v))
		snprintf(buf, size, "%.9f", json_real_value(v));
	else
		return err_field(err, field, EINVAL, "'%s' must be a quantity like \"500m\" or \"128Mi\"",
				 field);
	return 0;
}

int spec_parse_resources(json_t *v, struct spec *s, struct err **err)
{
	static const char *const keys[] = {"cpu", "memory", "pids", NULL};
	char buf[64];
	json_t *q;
	int r;

	if (!v)
		return 0;
	if (!json_is_object(v))
		return err_field(err, "resources", EINVAL, "'resources' must be an object");
	r = spec_check_keys(v, "resources", keys, err);
	if (r < 0)
		return r;
	q = json_object_get(v, "cpu");
	if (q) {
		r = quantity_text(q, "resources.cpu", buf, sizeof(buf), err);
		if (r < 0)
			return r;
		/* trailing zeros of "%.9f" are harmless: "0.500000000" is 500m */
		if (quantity_parse_cpu(buf, &s->cpu_millis) < 0 || s->cpu_millis <= 0)
			return err_field(
			    err, "resources.cpu", EINVAL,
			    "'resources.cpu' must be a positive quantity like \"500m\" or 2, got '%s'", buf);
		/* below 10m the CFS quota would be under the kernel's 1 ms minimum */
		if (s->cpu_millis < SPEC_CPU_MIN_MILLIS)
			return err_field(err, "resources.cpu", ERANGE,
					 "'resources.cpu' %s is below the minimum of 10m (0.01 CPU)", buf);
		if (s->cpu_millis > 1024 * 1000)
			return err_field(err, "resources.cpu", ERANGE,
					 "'resources.cpu' %s is more than 1024 CPUs", buf);
	}
	q = json_object_get(v, "memory");
	if (q) {
		r = quantity_text(q, "resources.memory", buf, sizeof(buf), err);
		if (r < 0)
			return r;
		if (quantity_parse_bytes(buf, &s->memory) < 0)
			return err_field(
			    err, "resources.memory", EINVAL,
			    "'resources.memory' must be a quantity like \"128Mi\" or \"1G\", got '%s'", buf);
		if (s->memory < 4 * 1024 * 1024)
			return err_field(err, "resources.memory", ERANGE,
					 "'resources.memory' %s is below the 4Mi a container needs to start",
					 buf);
	}
	q = json_object_get(v, "pids");
	if (q && (r = spec_get_int(q, "resources.pids", 1, 4194304, &s->pids, err)) < 0)
		return r;
	return 0;
}

static int parse_port(json_t *item, size_t i, struct spec_port *p, struct err **err)
{
	static const char *const keys[] = {"container", "host", "protocol", NULL};
	char field[64];
	int64_t n;
	json_t *v;
	int r;

	snprintf(field, sizeof(field), "network.ports[%zu]", i);
	if (!json_is_object(item))
		return err_field(err, field, EINVAL, "'%s' must be an object", field);
	r = spec_check_keys(item, field, keys, err);
	if (r < 0)
		return r;
	snprintf(field, sizeof(field), "network.ports[%zu].container", i);
	v = json_object_get(item, "container");
	if (!v)
		return err_field(err, field, EINVAL, "'%s' is required", field);
	r = spec_get_int(v, field, 1, 65535, &n, err);
	if (r < 0)
		return r;
	p->container = (uint16_t)n;
	snprintf(field, sizeof(field), "network.ports[%zu].host", i);
	v = json_object_get(item, "host");
	if (v) {
		r = spec_get_int(v, field, 0, 65535, &n, err);
		if (r < 0)
			return r;
		p->host = (uint16_t)n;
	}
	snprintf(field, sizeof(field), "network.ports[%zu].protocol", i);
	v = json_object_get(item, "protocol");
	if (v) {
		const char *proto = json_string_value(v);
		if (proto && strcmp(proto, "udp") == 0)
			p->udp = true;
		else if (!proto || strcmp(proto, "tcp") != 0)
			return err_field(err, field, EINVAL, "'%s' must be \"tcp\" or \"udp\"", field);
	}
	return 0;
}

static int parse_ports(json_t *v, struct spec *s, struct err **err)
{
	size_t i;
	json_t *item;
	int r;

	if (!json_is_array(v))
		return err_field(err, "network.ports", EINVAL, "'network.ports' must be an array");
	if (json_array_size(v) > 128)
		return err_field(err, "network.ports", EINVAL, "'network.ports' has more than 128 entries");
	s->ports = calloc(json_array_size(v) ? json_array_size(v) : 1, sizeof(*s->ports));
	if (!s->ports)
		return err_set(err, ENOMEM, "out of memory");
	json_array_foreach (v, i, item) {
		r = parse_port(item, i, &s->ports[i], err);
		if (r < 0)
			return r;
		s->n_ports = i + 1;
		for (size_t j = 0; j < i; j++)
			if (s->ports[i].host && s->ports[j].host == s->ports[i].host &&
			    s->ports[j].udp == s->ports[i].udp)
				return err_field(err, "network.ports", EINVAL,
						 "host port %u is published twice", s->ports[i].host);
	}
	return 0;
}

int spec_parse_network(json_t *v, struct spec *s, struct err **err)
{
	static const char *const keys[] = {"mode", "ports", NULL};
	json_t *m, *p;
	int r;

	if (!v)
		return 0;
	if (!json_is_object(v))
		return err_field(err, "network", EINVAL, "'network' must be an object");
	r = spec_check_keys(v, "network", keys, err);
	if (r < 0)
		return r;
	m = json_object_get(v, "mode");
	if (m) {
		const char *mode = json_string_value(m);
		if (mode && strcmp(mode, "bridge") == 0)
			s->net = SPEC_NET_BRIDGE;
		else if (mode && strcmp(mode, "host") == 0)
			s->net = SPEC_NET_HOST;
		else if (mode && strcmp(mode, "none") == 0)
			s->net = SPEC_NET_NONE;
		else
			return err_field(err, "network.mode", EINVAL,
					 "'network.mode' must be \"bridge\", \"host\" or \"none\"");
	}
	p = json_object_get(v, "ports");
	if (p)
		return parse_ports(p, s, err);
	return 0;
}
