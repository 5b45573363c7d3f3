/* The agent's cgroup root (cg_root_choose: --cgroup-root, its delegated cgroup under systemd, or
 * /drover), the tiers' limits, and what the node can give to instances. */
#include <fcntl.h>
#include <stdlib.h>
#include <unistd.h>

#include "agent/admission.h"
#include "agent/agent.h"
#include "agent/cgroot.h"
#include "agent/node-resources.h"
#include "common/cleanup.h"
#include "common/fs.h"
#include "common/log.h"

static bool under_systemd(void)
{
	return getenv("INVOCATION_ID") && access("/run/systemd/system", F_OK) == 0;
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
	r = cg_root_choose(mount, ver, a->cfg->cgroup_root, under_systemd(), &root, err);
	if (r < 0)
		return r;
	r = cg_ctx_new_tiers(mount, ver, root, a->cfg->batch_cgroup, &a->cg, err);
	if (r < 0)
		return err_wrap(err, "prepare cgroup root '%s'", root);
	if (a->cfg->batch_cgroup) {
		log_info("cgroup %s root '%s', batch tier '%s'", cg_version_name(ver), root,
			 a->cfg->batch_cgroup);
		if (cg_nested_batch_left(a->cg))
			log_warn("'%s/batch' still holds cgroups of batch instances started before "
				 "--batch-cgroup: their limits, usage and eviction are no longer tracked; "
				 "restart them (remove and re-add their specs)",
				 root);
	} else
		log_info("cgroup %s root '%s'", cg_version_name(ver), root);
	set_tier_limits(a);
	return 0;
}
