/* Which cgroup version a mount point serves, from filesystem magic numbers. */
#include <errno.h>
#include <linux/magic.h>
#include <stdbool.h>
#include <stdlib.h>
#include <sys/statfs.h>

#include "cg-internal.h"
#include "common/cleanup.h"
#include "common/fs.h"

static bool is_fs(const struct statfs *s, unsigned long magic)
{
	return (unsigned long)s->f_type == magic;
}

/* v1 (and hybrid, where the controllers stay on v1): a tmpfs holding controller hierarchies. */
static int has_v1_controllers(const char *mount, bool *ret)
{
	static const char *const names[] = {"memory", "cpu",	 "pids",   "cpuacct",
					    "blkio",  "devices", "freezer"};

	for (size_t i = 0; i < ELEMENTSOF(names); i++) {
		_cleanup_free_ char *p = fs_path_join(mount, names[i]);
		struct statfs s;

		if (!p)
			return -ENOMEM;
		if (statfs(p, &s) < 0) {
			if (errno == ENOENT)
				continue;
			return -errno;
		}
		if (is_fs(&s, CGROUP_SUPER_MAGIC)) {
			*ret = true;
			return 0;
		}
	}
	*ret = false;
	return 0;
}

int cg_detect(const char *mount, enum cg_version *ret, struct err **err)
{
	struct statfs s;
	bool v1 = false;
	int r;

	if (statfs(mount, &s) < 0)
		return err_set(err, errno, "statfs cgroup mount '%s'", mount);
	if (is_fs(&s, CGROUP2_SUPER_MAGIC)) {
		*ret = CG_V2;
		return 0;
	}
	if (!is_fs(&s, TMPFS_MAGIC))
		return err_set(err, ENOMEDIUM, "'%s' is neither cgroup2 nor a tmpfs of cgroup v1 hierarchies",
			       mount);
	r = has_v1_controllers(mount, &v1);
	if (r < 0)
		return err_set(err, -r, "look for cgroup v1 hierarchies under '%s'", mount);
	if (!v1)
		return err_set(err, ENOMEDIUM, "'%s' is a tmpfs without cgroup v1 controller hierarchies",
			       mount);
	*ret = CG_V1;
	return 0;
}
