/* Where the agent's cgroups live: --cgroup-root if given; under systemd the
 * agent's own delegated cgroup (Delegate=yes); otherwise /drover. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "agent/agent.h"
#include "agent/cgroot.h"
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
	return 0;
}
