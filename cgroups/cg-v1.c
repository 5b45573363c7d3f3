/* cgroup v1 backend: one hierarchy per controller (or group of controllers) under a tmpfs. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cg-internal.h"
#include "common/cleanup.h"
#include "common/fs.h"

/* Hierarchies drover prepares root/online/batch in. cpuset is left out on purpose: a new cpuset
 * dir needs cpuset.cpus/mems copied in before use, and the OCI runtime does that for its own dirs. */
static const char *const v1_prepared[] = {"cpu", "cpuacct", "memory", "pids", "blkio", "devices", "freezer"};

#define V1_MAX_HIER 64

struct dir_id {
	dev_t dev;
	ino_t ino;
};

static bool seen_before(const struct dir_id *seen, size_t n, const struct stat *st)
{
	for (size_t i = 0; i < n; i++)
		if (seen[i].dev == st->st_dev && seen[i].ino == st->st_ino)
			return true;
	return false;
}

static void free_namelist(struct dirent **list, int n)
{
	for (int i = 0; i < n; i++)
		free(list[i]);
	free(list);
}

/* A hierarchy: a directory under the mount; a symlink such as cpu -> cpu,cpuacct counts once (the
 * caller dedupes by inode). The cgroup2 mount of a hybrid layout is included, because the OCI runtime
 * may put instances there too. Test trees are plain dirs, so no cgroupfs magic is required. */
static bool is_hier(int mfd, const char *name, struct stat *st)
{
	if (name[0] == '.')
		return false;
	return fstatat(mfd, name, st, 0) == 0 && S_ISDIR(st->st_mode);
}

/* A cgroup2 hierarchy (hybrid's "unified") has cgroup.controllers at its top; v1 ones do not. */
static bool is_cgroup2(int mfd, const char *name)
{
	char p[512];

	return snprintf(p, sizeof(p), "%s/cgroup.controllers", name) < (int)sizeof(p) &&
	       faccessat(mfd, p, F_OK, 0) == 0;
}

static int v1_collect(struct cg_ctx *c, int mfd, struct dirent **list, int n, struct err **err)
{
	struct dir_id seen[V1_MAX_HIER];
	size_t kept = 0;

	c->hier = calloc(V1_MAX_HIER + 1, sizeof(*c->hier));
	if (!c->hier)
		return err_set(err, ENOMEM, "cgroup v1 hierarchies");
	for (int i = 0; i < n && kept < V1_MAX_HIER; i++) {
		struct stat st;

		if (!is_hier(mfd, list[i]->d_name, &st) || seen_before(seen, kept, &st))
			continue;
		c->hier[kept] = strdup(list[i]->d_name);
		if (!c->hier[kept])
			return err_set(err, ENOMEM, "cgroup v1 hierarchies");
		if (!c->unified && is_cgroup2(mfd, list[i]->d_name))
			c->unified = c->hier[kept];
		seen[kept].dev = st.st_dev;
		seen[kept].ino = st.st_ino;
		kept++;
	}
	return 0;
}

/* Finds every hierarchy once, so removal also covers those the OCI runtime populated itself
 * (cpuset, name=systemd, hybrid's unified, ...). Sorted: "cpu" wins over "cpu,cpuacct". */
static int v1_init(struct cg_ctx *c, struct err **err)
{
	_cleanup_close_ int mfd = -1;
	struct dirent **list = NULL;
	int n, r;

	mfd = open(c->mount[0] ? c->mount : "/", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (mfd < 0)
		return err_set(err, errno, "open cgroup mount '%s'", c->mount);
	n = scandir(c->mount[0] ? c->mount : "/", &list, NULL, alphasort);
	if (n < 0)
		return err_set(err, errno, "list cgroup v1 hierarchies in '%s'", c->mount);
	r = v1_collect(c, mfd, list, n, err);
	free_namelist(list, n);
	return r;
}

/* online: the default weight; batch: the lowest one, and idle where the kernel has v1 cpu.idle. */
static int v1_set_tier_cpu(const char *base, const struct cg_ctx *c, enum cg_qos qos, struct err **err)
{
	_cleanup_free_ char *dir = NULL;
	_cleanup_close_ int fd = -1;

	if (asprintf(&dir, "%s%s", base, cg_tier(c, qos)) < 0)
		return err_set(err, ENOMEM, "cgroup '%s%s'", base, cg_tier(c, qos));
	fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return err_set(err, errno, "open cgroup '%s'", dir);
	if (qos == CG_QOS_BATCH)
		return cg_set_idle_tier(fd, dir, cg_weight_of(CG_V1)->knob, cg_weight_of(CG_V1)->lowest, err);
	return cg_set_knob(fd, dir, cg_weight_of(CG_V1)->knob, cg_weight_of(CG_V1)->normal, err);
}

static int v1_create_parents(const struct cg_ctx *c, struct err **err)
{
	struct dir_id seen[ELEMENTSOF(v1_prepared)];
	size_t kept = 0;
	int r;

	for (size_t i = 0; i < ELEMENTSOF(v1_prepared); i++) {
		_cleanup_free_ char *base = NULL;
		struct stat st;

		if (asprintf(&base, "%s/%s", c->mount, v1_prepared[i]) < 0)
			return err_set(err, ENOMEM, "cgroup '%s'", c->root);
		if (stat(base, &st) < 0 || !S_ISDIR(st.st_mode) || seen_before(seen, kept, &st))
			continue; /* not mounted here, or the same hierarchy under another name */
		seen[kept].dev = st.st_dev;
		seen[kept].ino = st.st_ino;
		kept++;
		r = cg_mkdir_tiers(base, c, err);
		if (r < 0)
			return r;
		if (strcmp(v1_prepared[i], "cpu") != 0)
			continue;
		r = v1_set_tier_cpu(base, c, CG_QOS_BATCH, err);
		if (r < 0)
			return r;
		r = v1_set_tier_cpu(base, c, CG_QOS_ONLINE, err);
		if (r < 0)
			return r;
	}
	/* The tiers in hybrid's cgroup2 hierarchy too, so their PSI is there before the first instance.
	 * Best effort: without them the sampler falls back to the tasks' schedstats. */
	if (c->unified) {
		_cleanup_free_ char *base = NULL;

		if (asprintf(&base, "%s/%s", c->mount, c->unified) >= 0)
			(void)cg_mkdir_tiers(base, c, NULL);
	}
	return 0;
}

/* A frozen v1 task does not act on SIGKILL until thawed. */
static void v1_thaw(const struct cg_ctx *c, const char *path)
{
	_cleanup_free_ char *dir = NULL;
	_cleanup_close_ int fd = -1;
	_cleanup_err_ struct err *e = NULL;

	if (asprintf(&dir, "%s/freezer%s", c->mount, path) < 0)
		return;
	fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return;
	/* best effort: no freezer, or not frozen; the kill loop reports what stays behind */
	(void)fs_write_knob(fd, "freezer.state", "THAWED", &e);
}

static int v1_instance_remove(const struct cg_ctx *c, const char *path, struct err **err)
{
	int64_t deadline = cg_remove_deadline();
	int r = 0;

	v1_thaw(c, path);
	for (char **h = c->hier; h && *h; h++) {
		_cleanup_free_ char *dir = NULL;
		_cleanup_err_ struct err *e = NULL;
		int q;

		if (asprintf(&dir, "%s/%s%s", c->mount, *h, path) < 0)
			q = err_set(&e, ENOMEM, "cgroup '%s'", path);
		else
			q = cg_tree_remove(dir, false, deadline, &e);
		r = cg_first_err(r, q, &e, err);
	}
	return r;
}

static char *v1_oom_file(const struct cg_ctx *c, const char *path)
{
	char *p = NULL;

	if (asprintf(&p, "%s/memory%s/memory.oom_control", c->mount, path) < 0)
		return NULL;
	return p;
}

static char *v1_knob_path(const struct cg_ctx *c, const char *path, const char *controller, const char *knob)
{
	char *p = NULL;

	if (!controller) {
		errno = EINVAL; /* v1 needs the hierarchy the knob lives in */
		return NULL;
	}
	if (asprintf(&p, "%s/%s%s/%s", c->mount, controller, path, knob) < 0)
		return NULL;
	return p;
}

static int v1_remove_root(const struct cg_ctx *c, struct err **err)
{
	int r = 0;

	for (char **h = c->hier; h && *h; h++) {
		_cleanup_free_ char *base = NULL;
		_cleanup_err_ struct err *e = NULL;
		int q;

		if (asprintf(&base, "%s/%s", c->mount, *h) < 0)
			q = err_set(&e, ENOMEM, "cgroup '%s'", c->root);
		else
			q = cg_remove_root_dirs(base, c, &e);
		r = cg_first_err(r, q, &e, err);
	}
	return r;
}

static int v1_tier_limits(const struct cg_ctx *c, const char *tier, int64_t memory_bytes, int64_t pids,
			  struct err **err)
{
	_cleanup_free_ char *mem = NULL, *pid = NULL;
	int r;

	if (asprintf(&mem, "%s/memory%s", c->mount, tier) < 0 ||
	    asprintf(&pid, "%s/pids%s", c->mount, tier) < 0)
		return err_set(err, ENOMEM, "cgroup '%s'", tier);
	r = cg_set_limit_knob(mem, "memory.limit_in_bytes", memory_bytes, err);
	if (r < 0)
		return r;
	return cg_set_limit_knob(pid, "pids.max", pids, err);
}

static void v1_usage(const struct cg_ctx *c, const char *path, struct cg_usage *u)
{
	char p[4096];
	int64_t inactive;

	snprintf(p, sizeof(p), "%s/cpuacct%s/cpuacct.usage", c->mount, path);
	u->cpu_ns = cg_read_int(p);
	snprintf(p, sizeof(p), "%s/memory%s/memory.usage_in_bytes", c->mount, path);
	u->memory_bytes = cg_read_int(p);
	snprintf(p, sizeof(p), "%s/memory%s/memory.stat", c->mount, path);
	inactive = cg_read_stat(p, "total_inactive_file");
	if (u->memory_bytes >= 0)
		u->memory_working_set =
		    inactive > u->memory_bytes ? 0 : u->memory_bytes - (inactive > 0 ? inactive : 0);
	snprintf(p, sizeof(p), "%s/pids%s/pids.current", c->mount, path);
	u->pids = cg_read_int(p);
}

const struct cg_ops cg_v1_ops = {
    .init = v1_init,
    .create_parents = v1_create_parents,
    .instance_remove = v1_instance_remove,
    .oom_file = v1_oom_file,
    .knob_path = v1_knob_path,
    .remove_root = v1_remove_root,
    .tier_limits = v1_tier_limits,
    .usage = v1_usage,
};
