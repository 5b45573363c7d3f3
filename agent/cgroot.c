/* Where the agent's cgroups live: --cgroup-root if given; under systemd the
 * agent's own delegated cgroup (Delegate=yes); otherwise /drover. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "agent/admission.h"
#include "agent/agent.h"
#include "agent/cgroot.h"
#include "agent/node-resources.h"
#include "common/cleanup.h"
#include "common/fs.h"
#include "common/log.h"

/* Our path in the hierarchy named by key ("" for v2's "0::", "memory" for v1). */
static char *own_cgroup(const char *key)
{
	_cleanup_free_ char *text = NULL;
	char *save = NULL;

	if (fs_read_file(AT_FDCWD, "/proc/self/cgroup", 64 * 1024, &text, NULL, NULL) < 0)
		return NULL;
	for (char *line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		char *ctrls = strchr(line, ':'), *path = ctrls ? strchr(ctrls + 1, ':') : NULL;
		char *tok, *s2 = NULL;

		if (!path)
			continue;
		*ctrls++ = '\0';
		*path++ = '\0';
		if (!*key && strcmp(line, "0") == 0 && *ctrls == '\0')
			return strdup(path);
		/* v1 lines may list several controllers: "4:cpu,cpuacct:/x" */
		for (tok = strtok_r(ctrls, ",", &s2); *key && tok; tok = strtok_r(NULL, ",", &s2))
			if (strcmp(tok, key) == 0)
				return strdup(path);
	}
	return NULL;
}

static bool under_systemd(void)
{
	return getenv("INVOCATION_ID") && access("/run/systemd/system", F_OK) == 0;
}

/* On v2 a cgroup with children that have controllers may hold no process: the agent
 * (and the shims it starts) move into a leaf "agent" next to online/ and batch/. */
static int move_self_to_leaf(const char *mount, const char *root, struct err **err)
{
	_cleanup_free_ char *dir = NULL;
	char pid[32];

	if (asprintf(&dir, "%s%s/agent", mount, root) < 0)
		return err_set(err, ENOMEM, "out of memory");
	if (mkdir(dir, 0755) < 0 && errno != EEXIST)
		return err_set(err, errno, "create '%s'", dir);
	snprintf(pid, sizeof(pid), "%d", (int)getpid());
	_cleanup_close_ int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return err_set(err, errno, "open '%s'", dir);
	return fs_write_knob(fd, "cgroup.procs", pid, err);
}

static int64_t read_sysctl(const char *path)
{
	char buf[32];

	if (fs_read_knob(AT_FDCWD, path, buf, sizeof(buf), NULL) <= 0)
		return 0;
	return strtoll(buf, NULL, 10);
}

/* What instances may hold together: memory capacity minus --system-reserved (page-aligned, as v1
 * stores it), and 90% of the kernel's pid and thread limits, so the host keeps some for itself. */
void cgroot_node_allocatable(struct agent *a)
{
	long page = sysconf(_SC_PAGESIZE);
	int64_t cap = (int64_t)sysconf(_SC_PHYS_PAGES) * page;
	int64_t pid_max = read_sysctl("/proc/sys/kernel/pid_max");
	int64_t threads = read_sysctl("/proc/sys/kernel/threads-max");

	struct node_res reserved = {0};

	(void)node_res_parse(a->cfg->system_reserved, &reserved, NULL); /* checked at start */
	a->memory_allocatable = admission_allocatable(cap, reserved.memory_bytes);
	a->memory_allocatable -= a->memory_allocatable % (page > 0 ? page : 4096);
	if (threads > 0 && (pid_max <= 0 || threads < pid_max))
		pid_max = threads;
	a->pids_allocatable = pid_max > 0 ? pid_max / 10 * 9 : 0;
}

/* A safety net under the per-instance limits: each tier as a whole stays inside the node. */
static void set_tier_limits(struct agent *a)
{
	static const enum cg_qos tiers[] = {CG_QOS_ONLINE, CG_QOS_BATCH};

	for (size_t k = 0; k < ELEMENTSOF(tiers); k++) {
		_cleanup_err_ struct err *e = NULL;

		if (cg_set_tier_limits(a->cg, tiers[k], a->memory_allocatable, a->pids_allocatable, &e) < 0)
			log_warn("cgroup tier limits: %s, ignoring", err_msg(e));
	}
	log_info("tier limits memory=%lld pids=%lld", (long long)a->memory_allocatable,
		 (long long)a->pids_allocatable);
}

int cgroot_setup(struct agent *a, struct err **err)
{
	const char *mount = a->cfg->cgroup_mount;
	_cleanup_free_ char *root = NULL;
	enum cg_version ver;
	int r;

	r = cg_detect(mount, &ver, err);
	if (r < 0)
		return r;
	if (a->cfg->cgroup_root) {
		root = strdup(a->cfg->cgroup_root);
	} else if (under_systemd()) {
		root = own_cgroup(ver == CG_V2 ? "" : "memory");
		if (root && strcmp(root, "/") == 0) {
			free(root);
			root = NULL;
		}
		if (root && ver == CG_V2 && move_self_to_leaf(mount, root, err) < 0)
			return err_wrap(err, "move droverd into its delegated cgroup '%s'", root);
	}
	if (!root && !(root = strdup("/drover")))
		return err_set(err, ENOMEM, "out of memory");
	r = cg_ctx_new(mount, ver, root, &a->cg, err);
	if (r < 0)
		return err_wrap(err, "prepare cgroup root '%s'", root);
	log_info("cgroup %s root '%s'", ver == CG_V2 ? "v2" : "v1", root);
	set_tier_limits(a);
	return 0;
}
