/* Everything between "start this spec" and "exec the shim": image, rootfs,
 * the spec's files, the user, and the OCI bundle. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "agent/agent.h"
#include "agent/instance-internal.h"
#include "agent/limits.h"
#include "common/cleanup.h"
#include "common/crash.h"
#include "common/fs.h"

/* Image env first, the spec's env over it (same key: the spec wins). */
static char **merge_env(char **image_env, char **spec_env, const char *hostname)
{
	size_t n = 0, m = 0;
	char **out;

	for (char **e = image_env; e && *e; e++)
		n++;
	for (char **e = spec_env; e && *e; e++)
		n++;
	out = calloc(n + 3, sizeof(char *));
	if (!out)
		return NULL;
	for (char **e = image_env; e && *e; e++) {
		size_t klen = strcspn(*e, "=");
		bool overridden = false;
		for (char **s = spec_env; s && *s; s++)
			if (strncmp(*s, *e, klen + 1) == 0)
				overridden = true;
		if (!overridden && !(out[m++] = strdup(*e)))
			goto out_oom;
	}
	for (char **e = spec_env; e && *e; e++)
		if (!(out[m++] = strdup(*e)))
			goto out_oom;
	bool has_path = false, has_host = false;
	for (size_t k = 0; k < m; k++) {
		has_path |= strncmp(out[k], "PATH=", 5) == 0;
		has_host |= strncmp(out[k], "HOSTNAME=", 9) == 0;
	}
	if (!has_path &&
	    !(out[m++] = strdup("PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin")))
		goto out_oom;
	if (!has_host && asprintf(&out[m++], "HOSTNAME=%s", hostname) < 0) {
		out[m - 1] = NULL;
		goto out_oom;
	}
	return out;
out_oom:
	strv_freep(&out);
	return NULL;
}

static char **build_args(const struct spec *s, const struct img_config *ic)
{
	size_t n = 0, m = 0;
	char **out;

	if (s->command) {
		for (char **c = s->command; *c; c++)
			n++;
	} else {
		for (char **c = ic->entrypoint; c && *c; c++)
			n++;
		for (char **c = ic->cmd; c && *c; c++)
			n++;
	}
	if (n == 0)
		return NULL;
	out = calloc(n + 1, sizeof(char *));
	if (!out)
		return NULL;
	if (s->command) {
		for (char **c = s->command; *c; c++)
			out[m++] = *c;
	} else {
		for (char **c = ic->entrypoint; c && *c; c++)
			out[m++] = *c;
		for (char **c = ic->cmd; c && *c; c++)
			out[m++] = *c;
	}
	return out; /* borrowed strings: free only the array */
}

/* The container's user, looked up in the rootfs. */
struct run_as {
	uid_t uid;
	gid_t gid;
	gid_t *gids;
	size_t n_gids;
};

static void run_as_done(struct run_as *u)
{
	free(u->gids);
	u->gids = NULL;
}

/* The spec's files, then the user (whose /etc/passwd the files may have written), then the files
 * are given to that user so a "0600" file is readable by the process that needs it. */
static int files_and_user(const struct instance *i, const struct img_image *img, const char *rootfs,
			  struct run_as *u, struct err **err)
{
	const struct spec *s = i->spec;
	int flags = i->a->cfg->allow_setuid_files ? RT_FILES_KEEP_SPECIAL : 0;
	_cleanup_free_ struct rt_file *files = NULL;
	_cleanup_close_ int fd = -1;
	int r;

	fd = open(rootfs, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return err_set(err, errno, "open rootfs '%s'", rootfs);
	if (s->n_files > 0) {
		files = calloc(s->n_files, sizeof(*files));
		if (!files)
			return err_set(err, ENOMEM, "out of memory");
		for (size_t k = 0; k < s->n_files; k++)
			files[k] = (struct rt_file){s->files[k].path, s->files[k].content, s->files[k].len,
						    s->files[k].mode};
		r = rt_files_write(fd, files, s->n_files, flags, err);
		if (r < 0)
			return r;
	}
	r = rt_user_resolve(rootfs, s->user ? s->user : img->config.user, &u->uid, &u->gid, &u->gids,
			    &u->n_gids, err);
	if (r < 0)
		return r;
	return rt_files_chown(fd, files, s->n_files, u->uid, u->gid, flags, err);
}

/* The spec's workdir (normalised when it was parsed), else the image's WorkingDir, which comes from
 * whoever built the image: it gets the same rules, and a refusal names the image. */
static int image_workdir(const struct spec *s, const struct img_config *ic, char **ret, struct err **err)
{
	const char *wd = s->workdir ? s->workdir : ic->workdir && *ic->workdir ? ic->workdir : "/";
	int r;

	r = rt_cwd_normalize(wd, ret);
	if (r < 0)
		return err_set(err, -r, "%s '%s' %s", s->workdir ? "workdir" : "the image's WorkingDir", wd,
			       rt_cwd_problem(r));
	return 0;
}

static int write_bundle(struct instance *i, const struct img_image *img, const char *rootfs,
			const struct run_as *u, struct err **err)
{
	const struct spec *s = i->spec;
	struct rt_bundle_spec b = {0};
	const struct limits_policy pol = {i->a->cfg->default_memory, i->a->cfg->default_pids,
					  i->a->oom_adj_online};
	struct limits lim;
	_cleanup_free_ char **args = NULL;
	_cleanup_strv_ char **env = NULL;
	_cleanup_free_ char *cgpath = NULL;
	_cleanup_free_ char *cwd = NULL;
	_cleanup_free_ char *notify_dir = NULL;
	int r;

	args = build_args(s, &img->config);
	if (!args)
		return err_field(
		    err, "command", EINVAL,
		    "nothing to run: the spec has no 'command' and the image has no Entrypoint or Cmd");
	env = merge_env(img->config.env, s->env, s->id);
	cgpath = cg_instance_path(i->a->cg, s->qos == SPEC_QOS_BATCH ? CG_QOS_BATCH : CG_QOS_ONLINE, s->id);
	if (!env || !cgpath)
		return err_set(err, ENOMEM, "out of memory");
	b.id = s->id;
	b.hostname = s->id;
	b.rootfs = rootfs;
	b.args = args;
	b.env = env;
	r = image_workdir(s, &img->config, &cwd, err);
	if (r < 0)
		return r;
	b.cwd = cwd;
	b.uid = u->uid;
	b.gid = u->gid;
	b.extra_gids = u->gids;
	b.n_extra_gids = u->n_gids;
	b.cgroups_path = cgpath;
	limits_compute(&pol, s, &lim);
	b.cpu_quota_us = lim.cpu_quota_us;
	b.cpu_period_us = lim.cpu_period_us;
	b.cpu_shares = lim.cpu_shares;
	b.oom_score_adj = lim.oom_score_adj;
	b.memory_limit = lim.memory;
	b.pids_limit = lim.pids;
	b.net = s->net == SPEC_NET_HOST ? RT_NET_HOST : s->net == SPEC_NET_BRIDGE ? RT_NET_PATH : RT_NET_NONE;
	b.netns_path = i->netns_path;
	if (s->probes[SPEC_PROBE_READINESS].kind == SPEC_PROBE_NOTIFY) {
		/* the shim makes the socket in it before the runtime runs (drover-shim --notify) */
		if (!(notify_dir = fs_path_join(i->bundle_dir, RT_NOTIFY_DIR_NAME)))
			return err_set(err, ENOMEM, "out of memory");
		b.notify_dir = notify_dir;
	}
	return rt_bundle_write(i->bundle_dir, &b, err);
}

static void remove_stale(const char *dir)
{
	static const char *const names[] = {RT_EXIT_FILE, RT_SHIM_PID_FILE, RT_CONTAINER_PID_FILE,
					    RT_NOTIFY_STATE_FILE, "runc.log"};
	_cleanup_close_ int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);

	if (fd < 0)
		return;
	for (size_t k = 0; k < ELEMENTSOF(names); k++)
		(void)unlinkat(fd, names[k], 0); /* absent is the normal case */
}

/* A restart gets a fresh writable layer, as a new container would. */
/* The old layer goes to the trash (a rename), never deleted here: a workload may have left millions
 * of files in it, and this runs on the agent's loop. */
static int fresh_rootfs(struct instance *i, const char *dir, const struct img_image *img, struct err **err)
{
	_cleanup_free_ char *upper = fs_path_join(dir, "upper");
	_cleanup_free_ char *work = fs_path_join(dir, "work");
	int r;

	r = agent_trash_rootfs(i->a, dir, i->id, err);
	if (r < 0)
		return r;
	if (!upper || !work)
		return err_set(err, ENOMEM, "out of memory");
	if ((r = agent_trash_path(i->a, upper, i->id)) < 0 || (r = agent_trash_path(i->a, work, i->id)) < 0)
		return err_set(err, -r, "remove the old writable layer in '%s'", dir);
	return img_rootfs_mount(img, dir, err);
}

int inst_prepare(struct instance *i, const struct img_image *img, struct err **err)
{
	_cleanup_(run_as_done) struct run_as u = {0};
	_cleanup_free_ char *rootfs = NULL;
	int r;

	if (!i->bundle_dir && !(i->bundle_dir = fs_path_join(i->a->bundles_dir, i->id)))
		return err_set(err, ENOMEM, "out of memory");
	if (mkdir(i->bundle_dir, 0700) < 0 && errno != EEXIST)
		return err_set(err, errno, "create bundle dir '%s'", i->bundle_dir);
	remove_stale(i->bundle_dir);
	free(i->image_digest);
	i->image_digest = strdup(img->manifest_digest);
	rootfs = fs_path_join(i->bundle_dir, "rootfs");
	if (!rootfs)
		return err_set(err, ENOMEM, "out of memory");
	r = fresh_rootfs(i, i->bundle_dir, img, err);
	crash_point("bundle"); /* test hook: the agent dies during the bundle write */
	if (r >= 0)
		r = files_and_user(i, img, rootfs, &u, err);
	if (r >= 0)
		r = write_bundle(i, img, rootfs, &u, err);
	return r;
}
