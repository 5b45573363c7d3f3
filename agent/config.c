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
#include "spec/spec.h"
#include "common/cleanup.h"
#include "common/fs.h"
#include "net/net.h"

enum key_kind { KEY_STR, KEY_BYTES, KEY_BOOL, KEY_INT, KEY_PORTS, KEY_DURATION };

struct key {
	const char *name;
	enum key_kind kind;
	size_t off;
	const char *def;
	const char *help;
};

// clang-format off: one flag per line, a table to read across
#define K(n, kind, field, def, help)                                                                         \
	{                                                                                                    \
		n, kind, offsetof(struct agent_config, field), def, help                                     \
	}
static const struct key keys[] = {
    K("config", KEY_STR, config, "/etc/drover/droverd.conf", "config file (key = value lines)"),
    K("assignments-dir", KEY_STR, assignments_dir, "/etc/drover/assignments.d",
      "static assignments (*.json)"),
    K("state-dir", KEY_STR, state_dir, "/var/lib/drover", "persistent state"),
    K("run-dir", KEY_STR, run_dir, "/run/drover", "runtime state: API socket, runtime root"),
    K("cgroup-root", KEY_STR, cgroup_root, NULL,
      "cgroup parent (default: own delegated cgroup, else /drover)"),
    K("cgroup-mount", KEY_STR, cgroup_mount, "/sys/fs/cgroup", "where cgroupfs is mounted"),
    K("bridge", KEY_STR, bridge, "drover0", "bridge for bridge networking"),
    K("subnet", KEY_STR, subnet, "10.77.0.0/24", "instance subnet"),
    K("nft-table", KEY_STR, nft_table, "drover", "the nftables tables (ip and bridge) drover owns"),
    K("reserved-host-ports", KEY_PORTS, reserved_host_ports, "22",
      "host ports no instance may publish, e.g. 22,2379-2380 (ports host processes hold are refused too)"),
    K("allow-host-access", KEY_BOOL, allow_host_access, NULL,
      "let instances reach the node's own addresses and 169.254.0.0/16 (cloud metadata)"),
    K("node-name", KEY_STR, node_name, NULL, "node name (default: hostname)"),
    K("runtime", KEY_STR, runtime, "runc", "OCI runtime binary"),
    K("runtime-timeout", KEY_DURATION, runtime_timeout_ms, "2m",
      "deadline of the runtime exec that starts a container (then it is killed and the start fails)"),
    K("shim", KEY_STR, shim, NULL, "drover-shim binary (default: next to droverd)"),
    K("log-level", KEY_STR, log_level, "info", "err, warning, notice, info or debug"),
    K("listen", KEY_STR, listen, NULL,
      "also serve the API on ADDR:PORT over TLS (needs --tls-client-ca and/or --token-file)"),
    K("tls-cert", KEY_STR, tls_cert, NULL, "TLS certificate for --listen"),
    K("tls-key", KEY_STR, tls_key, NULL, "TLS key for --listen"),
    K("tls-client-ca", KEY_STR, tls_client_ca, NULL, "CA that signs client certificates (mutual TLS)"),
    K("token-file", KEY_STR, token_file, NULL, "bearer token for --listen (a regular file, mode 0600)"),
    K("api-idle-timeout", KEY_INT, api_idle_timeout, "60",
      "seconds before an idle TCP API connection is closed (waiting long-polls and log follows are exempt)"),
    K("system-reserved", KEY_STR, system_reserved, "memory=512Mi",
      "kept for the host: cpu=500m,memory=512Mi,pids=N,ephemeral-storage=SIZE"),
    K("container-log-max", KEY_BYTES, log_max_bytes, "10Mi", "container log size before rotation"),
    K("registry-auth", KEY_STR, registry_auth, "/etc/drover/auth.json",
      "registry credentials (Docker config.json 'auths'; mode 0600)"),
    K("registry-ca", KEY_STR, registry_ca, NULL, "extra CA certificate for registries"),
    K("insecure-registry", KEY_STR, insecure_registry, NULL,
      "HOST:PORT[,HOST:PORT...] reachable over plain HTTP"),
    K("pull-parallel", KEY_INT, pull_parallel, "3", "layers downloaded in parallel"),
    K("image-gc-high", KEY_INT, image_gc_high, "85",
      "image store disk use (percent) that starts garbage collection"),
    K("image-gc-low", KEY_INT, image_gc_low, "80",
      "disk use (percent) garbage collection brings the store down to"),
    K("default-pids", KEY_INT, default_pids, "1024", "pids limit of a spec without resources.pids (0: none)"),
    K("default-memory", KEY_BYTES, default_memory, "512Mi",
      "memory limit of a spec without resources.memory (0: none)"),
    K("max-instances", KEY_INT, max_instances, "250",
      "most instances the node holds (0: no cap; the /24 subnet has 253 addresses)"),
    K("max-stop-grace", KEY_INT, stop_grace_cap_ms, "300000",
      "longest stop grace in ms; a longer stop_grace_ms is cut to it (0: no cap)"),
    K("image-layout-root", KEY_STR, image_layout_root, "/var/lib/drover/layouts",
      "directories oci: image layouts must be under (comma-separated)"),
    K("image-pull-timeout", KEY_DURATION, image_pull_timeout_ms, "30m",
      "deadline of one image pull (then it is killed)"),
    K("image-pull-low-speed", KEY_BYTES, image_pull_low_speed, "10Ki",
      "bytes/s a registry transfer must average ..."),
    K("image-pull-low-speed-time", KEY_DURATION, image_pull_low_speed_time_ms, "60s",
      "... over this long, or it is aborted"),
    K("image-max-size", KEY_BYTES, image_max_size, "20Gi", "declared (compressed) size of an image's layers"),
    K("image-max-layer-size", KEY_BYTES, image_max_layer_size, "10Gi",
      "declared (compressed) size of one layer"),
    K("image-max-unpacked", KEY_BYTES, image_max_unpacked, "50Gi",
      "bytes one image may unpack (sparse files count in full)"),
    K("image-max-entries", KEY_INT, image_max_entries, "1000000", "files, dirs and links in one layer"),
    K("image-min-free", KEY_BYTES, image_min_free, "1Gi",
      "free space a pull leaves on the image store's filesystem"),
    K("image-tag-ttl", KEY_DURATION, image_tag_ttl_ms, "5m",
      "how long a resolved tag (or private image) is reused before asking the registry again"),
    K("control-plane", KEY_STR, control_plane, NULL,
      "pull assignments from this control plane URL and report to it"),
    K("control-plane-ca", KEY_STR, control_plane_ca, NULL, "CA certificate to verify the control plane with"),
    K("control-plane-cert", KEY_STR, control_plane_cert, NULL,
      "client certificate for the control plane (mutual TLS)"),
    K("control-plane-key", KEY_STR, control_plane_key, NULL, "key of --control-plane-cert"),
    K("control-plane-token-file", KEY_STR, control_plane_token_file, NULL,
      "bearer token for the control plane (mode 0600)"),
    K("status-interval", KEY_DURATION, status_interval_ms, "10s",
      "status heartbeat to the control plane (e.g. 10s, 500ms)"),
    K("etcd", KEY_STR, etcd, NULL, "read assignments from etcd at this URL and write statuses there"),
    K("etcd-prefix", KEY_STR, etcd_prefix, "/drover", "key prefix in etcd"),
    K("etcd-ca", KEY_STR, etcd_ca, NULL, "CA certificate to verify etcd with"),
    K("etcd-cert", KEY_STR, etcd_cert, NULL, "client certificate for etcd (mutual TLS)"),
    K("etcd-key", KEY_STR, etcd_key, NULL, "key of --etcd-cert"),
    K("etcd-lease-ttl", KEY_DURATION, etcd_lease_ttl_ms, "10s",
      "TTL of the lease the statuses are written under"),
    K("history-limit", KEY_INT, history_limit, "10", "specs kept in each instance's history"),
    K("no-assignments-dir", KEY_BOOL, no_assignments_dir, NULL, "do not read the assignments dir"),
    /* container security (issue 7) */
    K("runtime-version-check", KEY_STR, runtime_version_check, "refuse",
      "a runtime with known escapes: refuse, warn or off"),
    K("allow-setuid-files", KEY_BOOL, allow_setuid_files, NULL,
      "keep setuid/setgid/sticky bits in spec files' modes"),
    /* colocation (issue 12) */
    K("batch-cpu-target", KEY_INT, batch_cpu_target, "100",
      "static cap on batch CPU: PERCENT x allocatable - online - system usage (100: none; batch is cut under "
      "online CPU pressure either way)"),
    K("batch-cpu-min", KEY_STR, batch_cpu_min, "100m", "batch CPU quota never goes below this"),
    K("batch-cpu-class", KEY_STR, batch_cpu_class, "idle",
      "batch tier's CPU class: idle (cpu.idle; online preempts it at once) or weight (lowest weight only, "
      "kubelet's BestEffort)"),
    K("eviction-hard", KEY_STR, eviction_hard, "memory.available<100Mi",
      "evict (batch first) below this: memory.available<SIZE or <N%, or none"),
    K("eviction-batch-memory", KEY_STR, eviction_batch_memory, "80%",
      "batch tier memory limit: PERCENT of what online leaves, or a SIZE"),
    K("batch-cgroup", KEY_STR, batch_cgroup, NULL,
      "the batch tier's own cgroup beside the root, e.g. /drover-batch (default: <cgroup-root>/batch; "
      "change it only with no batch instance on the node)"),
};
// clang-format on
#undef K

void config_usage(void)
{
	printf("Usage: droverd [OPTIONS]\n\nThe drover node agent.\n\nOptions:\n");
	for (size_t i = 0; i < ELEMENTSOF(keys); i++)
		printf("  --%-20s %s%s%s%s\n", keys[i].name, keys[i].help, keys[i].def ? " [" : "",
		       keys[i].def ? keys[i].def : "", keys[i].def ? "]" : "");
	printf("  --%-20s %s\n  --%-20s %s\n", "help", "this text", "version", "print the version");
	printf("  --%-20s %s\n  --%-20s %s\n", "print-config", "print an example config file with every key",
	       "cleanup",
	       "remove the bridge, nftables table, namespaces and cgroups once no instance is left");
}

void config_print_example(void)
{
	printf("# droverd.conf: droverd settings, one \"key = value\" per line.\n"
	       "# The keys are droverd's long flags without the dashes; a flag on the command\n"
	       "# line wins over the same key here. Lines starting with '#' are comments.\n"
	       "# Generated by 'droverd --print-config': every key, commented out at its default.\n");
	for (size_t i = 0; i < ELEMENTSOF(keys); i++) {
		if (strcmp(keys[i].name, "config") == 0)
			continue;
		const char *def = keys[i].def ? keys[i].def : keys[i].kind == KEY_BOOL ? "false" : NULL;

		printf("\n# %s\n#%s =%s%s\n", keys[i].help, keys[i].name, def ? " " : "", def ? def : "");
	}
}

static const struct key *find_key(const char *name)
{
	for (size_t i = 0; i < ELEMENTSOF(keys); i++)
		if (strcmp(keys[i].name, name) == 0)
			return &keys[i];
	return NULL;
}

/* "500ms", "90s", "30m", "2h" or plain seconds; at most a week. */
static int parse_duration_ms(const char *s, int64_t *ret)
{
	static const struct {
		const char *unit;
		int64_t ms;
	} units[] = {{"ms", 1}, {"s", 1000}, {"m", 60000}, {"h", 3600000}, {"", 1000}};
	char *end = NULL;
	long long v;

	if (!isdigit((unsigned char)*s))
		return -EINVAL;
	errno = 0;
	v = strtoll(s, &end, 10);
	if (errno || v < 0 || v > 7LL * 24 * 3600 * 1000)
		return -EINVAL;
	for (size_t i = 0; i < ELEMENTSOF(units); i++)
		if (strcmp(end, units[i].unit) == 0) {
			if (v * units[i].ms > 7LL * 24 * 3600 * 1000)
				return -EINVAL;
			*ret = v * units[i].ms;
			return 0;
		}
	return -EINVAL;
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
			return err_field(err, k->name, EINVAL, "'%s' must be a size like 10Mi, got '%s'",
					 k->name, value);
		return 0;
	case KEY_INT: {
		char *end = NULL;
		long long v;
		errno = 0;
		v = strtoll(value, &end, 10);
		if (errno || end == value || *end || v < 0 || v > 1000000)
			return err_field(err, k->name, EINVAL,
					 "'%s' must be a non-negative integer, got '%s'", k->name, value);
		*(int64_t *)p = v;
		return 0;
	}
	case KEY_PORTS:
		if (net_portset_parse(value, p) < 0)
			return err_field(err, k->name, EINVAL,
					 "'%s' must list ports 1-65535 like 22,2379-2380, got '%s'", k->name,
					 value);
		return 0;
	case KEY_DURATION:
		if (parse_duration_ms(value, (int64_t *)p) < 0)
			return err_field(err, k->name, EINVAL,
					 "'%s' must be a duration like 90s, 30m or 1h, got '%s'", k->name,
					 value);
		return 0;
	case KEY_BOOL:
		if (strcmp(value, "true") == 0 || strcmp(value, "1") == 0 || strcmp(value, "yes") == 0)
			*(bool *)p = true;
		else if (strcmp(value, "false") == 0 || strcmp(value, "0") == 0 || strcmp(value, "no") == 0)
			*(bool *)p = false;
		else
			return err_field(err, k->name, EINVAL, "'%s' must be true or false, got '%s'",
					 k->name, value);
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
	struct option opts[ELEMENTSOF(keys) + 5];
	bool config_given = false;
	int r;

	memset(c, 0, sizeof(*c));
	r = apply_defaults(c, err);
	if (r < 0)
		return r;
	for (size_t i = 0; i < ELEMENTSOF(keys); i++)
		opts[i] = (struct option){keys[i].name,
					  keys[i].kind == KEY_BOOL ? optional_argument : required_argument,
					  NULL, (int)(1000 + i)};
	opts[ELEMENTSOF(keys)] = (struct option){"help", no_argument, NULL, 'h'};
	opts[ELEMENTSOF(keys) + 1] = (struct option){"version", no_argument, NULL, 'V'};
	opts[ELEMENTSOF(keys) + 2] = (struct option){"print-config", no_argument, NULL, 'P'};
	opts[ELEMENTSOF(keys) + 3] = (struct option){"cleanup", no_argument, NULL, 'C'};
	opts[ELEMENTSOF(keys) + 4] = (struct option){NULL, 0, NULL, 0};

	for (int pass = 0; pass < 2; pass++) {
		int o;
		optind = 1;
		opterr = pass == 0;
		while ((o = getopt_long(argc, argv, "hV", opts, NULL)) != -1) {
			if (o == 'h' || o == 'V' || o == 'P')
				return o == 'h' ? 1 : o == 'V' ? 2 : 3;
			if (o == 'C') {
				c->cleanup = true;
				continue;
			}
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
