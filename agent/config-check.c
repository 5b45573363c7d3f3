/* Flags checked at start, before anything is created: a bad value is refused with a one-line
 * message naming the flag, not found when the first instance fails. */
#include <errno.h>
#include <string.h>
#include <sys/un.h>

#include "agent/config.h"
#include "net/net.h"

#define SOCK_NAME "/droverd.sock"

static int check_dir(const char *flag, const char *v, struct err **err)
{
	if (!v || v[0] != '/')
		return err_field(err, flag, EINVAL, "--%s must be an absolute path, got '%s'", flag,
				 v ? v : "");
	if (strstr(v, "/../") || (strlen(v) >= 3 && strcmp(v + strlen(v) - 3, "/..") == 0))
		return err_field(err, flag, EINVAL, "--%s must not contain '..', got '%s'", flag, v);
	return 0;
}

/* "/drover", "/a/b": absolute, no empty, "." or ".." component, printable. */
static bool cgroup_root_valid(const char *v)
{
	const char *c = v;

	if (!v || v[0] != '/' || strlen(v) < 2 || strlen(v) > 1024)
		return false;
	while (*c == '/') {
		size_t n = strcspn(c + 1, "/");

		if (n == 0 || (n == 1 && c[1] == '.') || (n == 2 && c[1] == '.' && c[2] == '.'))
			return false;
		for (size_t k = 1; k <= n; k++)
			if ((unsigned char)c[k] <= ' ' || c[k] == 0x7f)
				return false;
		c += n + 1;
	}
	return *c == '\0';
}

static int check_numbers(const struct agent_config *c, struct err **err)
{
	if (c->pull_parallel < 1 || c->pull_parallel > 64)
		return err_field(err, "pull-parallel", EINVAL, "--pull-parallel must be 1 to 64, got %lld",
				 (long long)c->pull_parallel);
	if (c->image_gc_high > 100)
		return err_field(err, "image-gc-high", EINVAL,
				 "--image-gc-high must be a percentage 0 to 100, got %lld",
				 (long long)c->image_gc_high);
	if (c->image_gc_low > c->image_gc_high)
		return err_field(err, "image-gc-low", EINVAL,
				 "--image-gc-low (%lld) must not be above --image-gc-high (%lld)",
				 (long long)c->image_gc_low, (long long)c->image_gc_high);
	if (c->log_max_bytes < 4096)
		return err_field(err, "container-log-max", EINVAL,
				 "--container-log-max must be at least 4Ki, got %lld bytes",
				 (long long)c->log_max_bytes);
	return 0;
}

int config_check(const struct agent_config *c, struct err **err)
{
	struct sockaddr_un sa;
	int r;

	if ((r = check_dir("state-dir", c->state_dir, err)) < 0 ||
	    (r = check_dir("run-dir", c->run_dir, err)) < 0 ||
	    (!c->no_assignments_dir && (r = check_dir("assignments-dir", c->assignments_dir, err)) < 0) ||
	    (r = check_dir("cgroup-mount", c->cgroup_mount, err)) < 0)
		return r;
	if (strlen(c->run_dir) + sizeof(SOCK_NAME) > sizeof(sa.sun_path))
		return err_field(err, "run-dir", ENAMETOOLONG,
				 "--run-dir '%s' is too long for a socket path (at most %zu characters)",
				 c->run_dir, sizeof(sa.sun_path) - sizeof(SOCK_NAME));
	if (c->cgroup_root && !cgroup_root_valid(c->cgroup_root))
		return err_field(err, "cgroup-root", EINVAL,
				 "--cgroup-root must be an absolute cgroup path like /drover, got '%s'",
				 c->cgroup_root);
	if (c->batch_cgroup && !cgroup_root_valid(c->batch_cgroup))
		return err_field(
		    err, "batch-cgroup", EINVAL,
		    "--batch-cgroup must be an absolute cgroup path like /drover-batch, got '%s'",
		    c->batch_cgroup);
	if (c->node_name && !*c->node_name)
		return err_field(err, "node-name", EINVAL, "--node-name must not be empty");
	if (!c->runtime || !*c->runtime)
		return err_field(err, "runtime", EINVAL, "--runtime must name a program");
	if ((r = check_numbers(c, err)) < 0)
		return r;
	return net_config_check(c->bridge, c->subnet, c->nft_table, err);
}
