/* Where the agent's cgroups live: an explicit root if given; for an agent that systemd started
 * (Delegate=yes), its own cgroup; otherwise /drover. */
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

const char *cg_version_name(enum cg_version v)
{
	return v == CG_V2 ? "v2" : "v1";
}

int cg_self_path(char *text, enum cg_version ver, char **ret)
{
	const char *key = ver == CG_V2 ? "" : "memory";
	char *save = NULL;

	for (char *line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		char *ctrls = strchr(line, ':'), *path = ctrls ? strchr(ctrls + 1, ':') : NULL;
		char *tok, *s2 = NULL;

		if (!path)
			continue;
		*ctrls++ = '\0';
		*path++ = '\0';
		if (!*key && strcmp(line, "0") == 0 && *ctrls == '\0')
			return (*ret = strdup(path)) ? 0 : -ENOMEM;
		/* v1 lines may list several controllers: "4:cpu,cpuacct:/x" */
		for (tok = strtok_r(ctrls, ",", &s2); *key && tok; tok = strtok_r(NULL, ",", &s2))
			if (strcmp(tok, key) == 0)
				return (*ret = strdup(path)) ? 0 : -ENOMEM;
	}
	return -ENOENT;
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

/* The delegated cgroup of this process, or NULL when there is none to use (unreadable, or "/"). */
static char *delegated_root(enum cg_version ver)
{
	_cleanup_free_ char *text = NULL;
	char *root = NULL;

	if (fs_read_file(AT_FDCWD, "/proc/self/cgroup", 64 * 1024, &text, NULL, NULL) < 0)
		return NULL;
	if (cg_self_path(text, ver, &root) < 0)
		return NULL;
	if (strcmp(root, "/") == 0) {
		free(root);
		return NULL;
	}
	return root;
}

int cg_root_choose(const char *mount, enum cg_version ver, const char *explicit_root, bool delegated,
		   char **ret, struct err **err)
{
	_cleanup_free_ char *root = NULL;

	if (!explicit_root && delegated) {
		root = delegated_root(ver);
		if (root && ver == CG_V2 && move_self_to_leaf(mount, root, err) < 0)
			return err_wrap(err, "move this process into its delegated cgroup '%s'", root);
	}
	if (!root && !(root = strdup(explicit_root ? explicit_root : "/drover")))
		return err_set(err, ENOMEM, "out of memory");
	*ret = TAKE_PTR(root);
	return 0;
}
