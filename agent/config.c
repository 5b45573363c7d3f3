/* Flags and the config file share one table of keys, so they never drift apart. */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "agent/config.h"
#include "agent/spec.h"
#include "common/cleanup.h"
#include "common/fs.h"

enum key_kind { KEY_STR, KEY_BYTES, KEY_BOOL, KEY_INT, KEY_MS };

struct key {
	const char *name;
	enum key_kind kind;
	size_t off;
	const char *def;
	const char *help;
};

#define K(n, kind, field, def, help) {n, kind, offsetof(struct agent_config, field), def, help}
static const struct key keys[] = {
	K("config", KEY_STR, config, "/etc/drover/droverd.conf", "config file (key = value lines)"),
	K("assignments-dir", KEY_STR, assignments_dir, "/etc/drover/assignments.d", "static assignments (*.json)"),
	K("state-dir", KEY_STR, state_dir, "/var/lib/drover", "persistent state"),
	K("run-dir", KEY_STR, run_dir, "/run/drover", "runtime state: API socket, runtime root"),
	K("cgroup-root", KEY_STR, cgroup_root, NULL, "cgroup parent (default: own delegated cgroup, else /drover)"),
	K("cgroup-mount", KEY_STR, cgroup_mount, "/sys/fs/cgroup", "where cgroupfs is mounted"),
	K("bridge", KEY_STR, bridge, "drover0", "bridge for bridge networking"),
	K("subnet", KEY_STR, subnet, "10.77.0.0/24", "instance subnet"),
	K("nft-table", KEY_STR, nft_table, "drover", "the nftables table drover owns (NAT, published ports)"),
	K("node-name", KEY_STR, node_name, NULL, "node name (default: hostname)"),
	K("runtime", KEY_STR, runtime, "runc", "OCI runtime binary"),
	K("shim", KEY_STR, shim, NULL, "drover-shim binary (default: next to droverd)"),
	K("log-level", KEY_STR, log_level, "info", "err, warning, notice, info or debug"),
	K("listen", KEY_STR, listen, NULL, "also serve the API on ADDR:PORT (needs TLS or a token)"),
	K("tls-cert", KEY_STR, tls_cert, NULL, "TLS certificate for --listen"),
	K("tls-key", KEY_STR, tls_key, NULL, "TLS key for --listen"),
	K("tls-client-ca", KEY_STR, tls_client_ca, NULL, "CA that signs client certificates (mutual TLS)"),
	K("token-file", KEY_STR, token_file, NULL, "bearer token file for --listen"),
	K("container-log-max", KEY_BYTES, log_max_bytes, "10Mi", "container log size before rotation"),
	K("registry-auth", KEY_STR, registry_auth, "/etc/drover/auth.json", "registry credentials (Docker config.json 'auths'; mode 0600)"),
	K("registry-ca", KEY_STR, registry_ca, NULL, "extra CA certificate for registries"),
	K("insecure-registry", KEY_STR, insecure_registry, NULL, "HOST:PORT[,HOST:PORT...] reachable over plain HTTP"),
	K("pull-parallel", KEY_INT, pull_parallel, "3", "layers downloaded in parallel"),
	K("image-gc-high", KEY_INT, image_gc_high, "85", "image store disk use (percent) that starts garbage collection"),
	K("image-gc-low", KEY_INT, image_gc_low, "80", "disk use (percent) garbage collection brings the store down to"),
	K("control-plane", KEY_STR, control_plane, NULL, "pull assignments from this control plane URL and report to it"),
	K("control-plane-ca", KEY_STR, control_plane_ca, NULL, "CA certificate to verify the control plane with"),
	K("control-plane-cert", KEY_STR, control_plane_cert, NULL, "client certificate for the control plane (mutual TLS)"),
	K("control-plane-key", KEY_STR, control_plane_key, NULL, "key of --control-plane-cert"),
	K("control-plane-token-file", KEY_STR, control_plane_token_file, NULL, "bearer token for the control plane (mode 0600)"),
	K("status-interval", KEY_MS, status_interval_ms, "10s", "status heartbeat to the control plane (e.g. 10s, 500ms)"),
	K("etcd", KEY_STR, etcd, NULL, "read assignments from etcd at this URL and write statuses there"),
	K("etcd-prefix", KEY_STR, etcd_prefix, "/drover", "key prefix in etcd"),
	K("etcd-ca", KEY_STR, etcd_ca, NULL, "CA certificate to verify etcd with"),
	K("etcd-cert", KEY_STR, etcd_cert, NULL, "client certificate for etcd (mutual TLS)"),
	K("etcd-key", KEY_STR, etcd_key, NULL, "key of --etcd-cert"),
	K("etcd-lease-ttl", KEY_MS, etcd_lease_ttl_ms, "10s", "TTL of the lease the statuses are written under"),
	K("history-limit", KEY_INT, history_limit, "10", "specs kept in each instance's history"),
	K("no-assignments-dir", KEY_BOOL, no_assignments_dir, NULL, "do not read the assignments dir"),
};
#undef K

void config_usage(void)
{
	printf("Usage: droverd [OPTIONS]\n\nThe drover node agent.\n\nOptions:\n");
	for (size_t i = 0; i < ELEMENTSOF(keys); i++)
		printf("  --%-20s %s%s%s%s\n", keys[i].name, keys[i].help, keys[i].def ? " [" : "",
		       keys[i].def ? keys[i].def : "", keys[i].def ? "]" : "");
	printf("  --%-20s %s\n  --%-20s %s\n", "help", "this text", "version", "print the version");
}

static const struct key *find_key(const char *name)
{
	for (size_t i = 0; i < ELEMENTSOF(keys); i++)
		if (strcmp(keys[i].name, name) == 0)
			return &keys[i];
	return NULL;
}

/* "10s", "500ms", "2m" or plain seconds; 1 ms to 1 day. */
static int parse_ms(const char *s, int64_t *ret)
{
	char *end = NULL;
	long long v;
	int64_t mult = 1000;

	errno = 0;
	v = strtoll(s, &end, 10);
	if (errno || end == s || v <= 0)
		return -EINVAL;
	if (strcmp(end, "ms") == 0)
		mult = 1;
	else if (strcmp(end, "m") == 0)
		mult = 60000;
	else if (*end && strcmp(end, "s") != 0)
		return -EINVAL;
	if (v > 86400000LL / mult)
		return -EINVAL;
	*ret = v * mult;
	return 0;
}

static int set_key(struct agent_config *c, const struct key *k, const char *value, struct err **err)
{
	void *p = (char *)c + k->off;

	switch (k->kind) {
	case KEY_STR: {
		char **s = p;
		free(*s);
		*s = strdup(value);
		return *s ? 0 : err_set(err, ENOMEM, "out of memory");
	}
	case KEY_BYTES:
		if (quantity_parse_bytes(value, (int64_t *)p) < 0)
			return err_field(err, k->name, EINVAL, "'%s' must be a size like 10Mi, got '%s'", k->name, value);
		return 0;
	case KEY_INT: {
		char *end = NULL;
		long long v;
		errno = 0;
		v = strtoll(value, &end, 10);
		if (errno || end == value || *end || v < 0 || v > 1000000)
			return err_field(err, k->name, EINVAL, "'%s' must be a non-negative integer, got '%s'", k->name,
					 value);
		*(int64_t *)p = v;
		return 0;
	}
	case KEY_MS:
		if (parse_ms(value, (int64_t *)p) < 0)
			return err_field(err, k->name, EINVAL, "'%s' must be a duration like 10s or 500ms, got '%s'",
					 k->name, value);
		return 0;
	case KEY_BOOL:
		if (strcmp(value, "true") == 0 || strcmp(value, "1") == 0 || strcmp(value, "yes") == 0)
			*(bool *)p = true;
		else if (strcmp(value, "false") == 0 || strcmp(value, "0") == 0 || strcmp(value, "no") == 0)
			*(bool *)p = false;
		else
			return err_field(err, k->name, EINVAL, "'%s' must be true or false, got '%s'", k->name, value);
		return 0;
	}
	return -EINVAL;
}

static char *trim(char *s)
{
	char *e;

	while (isspace((unsigned char)*s))
		s++;
	e = s + strlen(s);
	while (e > s && isspace((unsigned char)e[-1]))
		*--e = '\0';
	return s;
}

static int load_file(struct agent_config *c, const char *path, bool must_exist, struct err **err)
{
	_cleanup_free_ char *text = NULL;
	char *line, *save = NULL;
	int lineno = 0, r;

	r = fs_read_file(AT_FDCWD, path, 1024 * 1024, &text, NULL, err);
	if (r == -ENOENT && !must_exist) {
		err_free(err);
		return 0;
	}
	if (r < 0)
		return err_wrap(err, "config file");
	for (line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		char *eq, *key, *val;
		const struct key *k;

		lineno++;
		line = trim(line);
		if (*line == '\0' || *line == '#')
			continue;
		eq = strchr(line, '=');
		if (!eq)
			return err_set(err, EINVAL, "%s:%d: expected 'key = value'", path, lineno);
		*eq = '\0';
		key = trim(line);
		val = trim(eq + 1);
		k = find_key(key);
		if (!k || strcmp(key, "config") == 0)
			return err_set(err, EINVAL, "%s:%d: unknown key '%s'", path, lineno, key);
		r = set_key(c, k, val, err);
		if (r < 0)
			return err_wrap(err, "%s:%d", path, lineno);
	}
	return 0;
}

static int apply_defaults(struct agent_config *c, struct err **err)
{
	for (size_t i = 0; i < ELEMENTSOF(keys); i++) {
		if (!keys[i].def)
			continue;
		int r = set_key(c, &keys[i], keys[i].def, err);
		if (r < 0)
			return r;
	}
	return 0;
}

/* Pass 1 finds --config; the file is loaded; pass 2 applies flags so they win. */
int config_load(int argc, char **argv, struct agent_config *c, struct err **err)
{
	struct option opts[ELEMENTSOF(keys) + 3];
	bool config_given = false;
	int r;

	memset(c, 0, sizeof(*c));
	r = apply_defaults(c, err);
	if (r < 0)
		return r;
	for (size_t i = 0; i < ELEMENTSOF(keys); i++)
		opts[i] = (struct option){keys[i].name, keys[i].kind == KEY_BOOL ? optional_argument : required_argument,
					  NULL, (int)(1000 + i)};
	opts[ELEMENTSOF(keys)] = (struct option){"help", no_argument, NULL, 'h'};
	opts[ELEMENTSOF(keys) + 1] = (struct option){"version", no_argument, NULL, 'V'};
	opts[ELEMENTSOF(keys) + 2] = (struct option){NULL, 0, NULL, 0};

	for (int pass = 0; pass < 2; pass++) {
		int o;
		optind = 1;
		opterr = pass == 0;
		while ((o = getopt_long(argc, argv, "hV", opts, NULL)) != -1) {
			if (o == 'h' || o == 'V')
				return o == 'h' ? 1 : 2;
			if (o == '?')
				return err_set(err, EINVAL, "unknown option; see droverd --help");
			const struct key *k = &keys[o - 1000];
			if ((pass == 0) != (strcmp(k->name, "config") == 0))
				continue;
			if (pass == 0)
				config_given = true;
			r = set_key(c, k, optarg ? optarg : "true", err);
			if (r < 0)
				return r;
		}
		if (pass == 0 && optind < argc)
			return err_set(err, EINVAL, "unexpected argument '%s'", argv[optind]);
		if (pass == 0 && (r = load_file(c, c->config, config_given, err)) < 0)
			return r;
	}
	return 0;
}

void config_done(struct agent_config *c)
{
	for (size_t i = 0; i < ELEMENTSOF(keys); i++)
		if (keys[i].kind == KEY_STR) {
			char **s = (char **)((char *)c + keys[i].off);
			free(*s);
			*s = NULL;
		}
}
