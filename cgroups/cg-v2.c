/* cgroup v2 backend: one unified tree; controllers are handed down via cgroup.subtree_control. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cg-internal.h"
#include "common/cleanup.h"
#include "common/fs.h"

static const char *const v2_wanted[] = {"cpu", "memory", "pids"};

/* Builds "+cpu +memory +pids" from what dir may enable and has not enabled yet. */
static int v2_missing_controllers(int fd, const char *dir, char *req, size_t size, struct err **err)
{
	_cleanup_free_ char *avail = NULL;
	_cleanup_free_ char *cur = NULL;
	int r;

	r = fs_read_file(fd, "cgroup.controllers", 4096, &avail, NULL, err);
	if (r >= 0)
		r = fs_read_file(fd, "cgroup.subtree_control", 4096, &cur, NULL, err);
	if (r < 0)
		return err_wrap(err, "cgroup '%s'", dir);
	req[0] = '\0';
	for (size_t i = 0; i < ELEMENTSOF(v2_wanted); i++) {
		size_t len = strlen(req);

		if (!cg_list_has(avail, v2_wanted[i]) || cg_list_has(cur, v2_wanted[i]))
			continue;
		r = snprintf(req + len, size - len, "%s+%s", len ? " " : "", v2_wanted[i]);
		if (r < 0 || (size_t)r >= size - len)
			return err_set(err, ENAMETOOLONG, "cgroup '%s': controller list too long", dir);
	}
	return 0;
}

/* One write() of all missing controllers; the kernel applies the list as one request. */
static int v2_enable(const char *dir, struct err **err)
{
	_cleanup_close_ int fd = -1;
	char req[64] = ""; /* "+cpu +memory +pids" */
	int r;

	fd = open(dir[0] ? dir : "/", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return err_set(err, errno, "open cgroup '%s'", dir);
	r = v2_missing_controllers(fd, dir, req, sizeof(req), err);
	if (r < 0 || !req[0])
		return r;
	r = fs_write_knob(fd, "cgroup.subtree_control", req, err);
	if (r == -EBUSY)
		return err_wrap(err, "enable '%s' in cgroup '%s', which holds processes", req, dir);
	if (r < 0)
		return err_wrap(err, "enable '%s' in cgroup '%s'", req, dir);
	return 0;
}

/* Every cgroup from the mount down to path, path included. */
static int v2_enable_chain(const struct cg_ctx *c, const char *path, struct err **err)
{
	_cleanup_free_ char *full = NULL;
	size_t mlen = strlen(c->mount);
	int r = 0;

	if (asprintf(&full, "%s%s", c->mount, path) < 0)
		return err_set(err, ENOMEM, "cgroup '%s'", path);
	for (size_t i = mlen;; i++) {
		char ch = full[i];

		if (ch != '/' && ch != '\0')
			continue;
		full[i] = '\0';
		r = v2_enable(full, err);
		full[i] = ch;
		if (r < 0 || ch == '\0')
			break;
	}
	return r;
}

/* Down to each tier (through the root for online, and for batch when it is below it), so each tier
 * hands the controllers on to its instances. Levels already enabled are only read. */
static int v2_enable_path(const struct cg_ctx *c, struct err **err)
{
	int r = v2_enable_chain(c, cg_tier(c, CG_QOS_ONLINE), err);

	return r < 0 ? r : v2_enable_chain(c, cg_tier(c, CG_QOS_BATCH), err);
}

static int v2_set_tier_cpu(const struct cg_ctx *c, enum cg_qos qos, struct err **err)
{
	_cleanup_free_ char *dir = NULL;
	_cleanup_close_ int fd = -1;

	if (asprintf(&dir, "%s%s", c->mount, cg_tier(c, qos)) < 0)
		return err_set(err, ENOMEM, "cgroup '%s'", cg_tier(c, qos));
	fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return err_set(err, errno, "open cgroup '%s'", dir);
	if (faccessat(fd, "cpu.weight", F_OK, 0) < 0) {
		if (errno == ENOENT)
			return 0; /* the cpu controller is not available on this host */
		return err_set(err, errno, "cgroup '%s': cpu.weight", dir);
	}
	if (qos == CG_QOS_BATCH)
		return cg_set_idle_tier(fd, dir, cg_weight_of(CG_V2)->knob, cg_weight_of(CG_V2)->lowest, err);
	return cg_set_knob(fd, dir, cg_weight_of(CG_V2)->knob, cg_weight_of(CG_V2)->normal, err);
}

static int v2_create_parents(const struct cg_ctx *c, struct err **err)
{
	int r;

	r = cg_mkdir_tiers(c->mount, c, err);
	if (r < 0)
		return r;
	r = v2_enable_path(c, err);
	if (r < 0)
		return r;
	r = v2_set_tier_cpu(c, CG_QOS_BATCH, err);
	if (r < 0)
		return r;
	return v2_set_tier_cpu(c, CG_QOS_ONLINE, err);
}

static int v2_instance_remove(const struct cg_ctx *c, const char *path, struct err **err)
{
	_cleanup_free_ char *dir = NULL;

	if (asprintf(&dir, "%s%s", c->mount, path) < 0)
		return err_set(err, ENOMEM, "cgroup '%s'", path);
	return cg_tree_remove(dir, true, cg_remove_deadline(), err);
}

static char *v2_oom_file(const struct cg_ctx *c, const char *path)
{
	char *p = NULL;

	if (asprintf(&p, "%s%s/memory.events", c->mount, path) < 0)
		return NULL;
	return p;
}

static char *v2_knob_path(const struct cg_ctx *c, const char *path, const char *controller, const char *knob)
{
	char *p = NULL;

	(void)controller; /* one tree: the knob name alone places it */
	if (asprintf(&p, "%s%s/%s", c->mount, path, knob) < 0)
		return NULL;
	return p;
}

static int v2_remove_root(const struct cg_ctx *c, struct err **err)
{
	return cg_remove_root_dirs(c->mount, c, err);
}

static int v2_tier_limits(const struct cg_ctx *c, const char *tier, int64_t memory_bytes, int64_t pids,
			  struct err **err)
{
	_cleanup_free_ char *dir = NULL;
	int r;

	if (asprintf(&dir, "%s%s", c->mount, tier) < 0)
		return err_set(err, ENOMEM, "cgroup '%s'", tier);
	r = cg_set_limit_knob(dir, "memory.max", memory_bytes, err);
	if (r < 0)
		return r;
	return cg_set_limit_knob(dir, "pids.max", pids, err);
}

static void v2_usage(const struct cg_ctx *c, const char *path, struct cg_usage *u)
{
	char p[4096];
	int64_t usec, inactive;

	snprintf(p, sizeof(p), "%s%s/cpu.stat", c->mount, path);
	usec = cg_read_stat(p, "usage_usec");
	u->cpu_ns = usec >= 0 ? usec * 1000 : -1;
	snprintf(p, sizeof(p), "%s%s/memory.current", c->mount, path);
	u->memory_bytes = cg_read_int(p);
	snprintf(p, sizeof(p), "%s%s/memory.stat", c->mount, path);
	inactive = cg_read_stat(p, "inactive_file");
	if (u->memory_bytes >= 0)
		u->memory_working_set =
		    inactive > u->memory_bytes ? 0 : u->memory_bytes - (inactive > 0 ? inactive : 0);
	snprintf(p, sizeof(p), "%s%s/pids.current", c->mount, path);
	u->pids = cg_read_int(p);
}

const struct cg_ops cg_v2_ops = {
    .init = NULL,
    .create_parents = v2_create_parents,
    .instance_remove = v2_instance_remove,
    .oom_file = v2_oom_file,
    .knob_path = v2_knob_path,
    .remove_root = v2_remove_root,
    .tier_limits = v2_tier_limits,
    .usage = v2_usage,
};
