/* The trash dir and its deleting child (see trash.h). */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/mount.h>
#include <sys/wait.h>
#include <unistd.h>

#include "agent/agent.h"
#include "agent/trash.h"
#include "common/cleanup.h"
#include "common/fs.h"
#include "common/log.h"
#include "common/proc.h"
#include "common/timeutil.h"

struct trash {
	struct loop *loop;
	char *dir;
	int pidfd; /* the deleting child, or -1 */
	pid_t pid;
	bool again; /* something was put in while the child ran: it may have listed the dir already */
	unsigned long long seq;
	int *held; /* references to lazily unmounted filesystems, for the next child to release */
	size_t n_held;
};

/* In the child: delete every entry of the trash dir, not the dir itself. */
static int empty_dir(void *arg)
{
	const char *dir = arg;
	_cleanup_closedir_ DIR *d = opendir(dir);
	struct dirent *de;
	int r = 0;

	if (!d)
		return -errno;
	while ((de = readdir(d))) {
		int q;
		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
			continue;
		q = fs_rm_rf(dirfd(d), de->d_name);
		if (q < 0)
			r = q;
	}
	return r;
}

static void start_child(struct trash *t);

static bool dir_empty(const char *dir)
{
	_cleanup_closedir_ DIR *d = opendir(dir);
	struct dirent *de;

	while (d && (de = readdir(d)))
		if (strcmp(de->d_name, ".") != 0 && strcmp(de->d_name, "..") != 0)
			return false;
	return true;
}

static void on_child_exit(struct loop *l, int fd, uint32_t events, void *data)
{
	struct trash *t = data;
	siginfo_t si = {0};

	(void)events;
	loop_del_fd(l, fd);
	/* the SIGCHLD handler may have reaped it already: then there is nothing to wait for */
	if (waitid((idtype_t)P_PIDFD, (id_t)fd, &si, WEXITED | WNOHANG) == 0 && si.si_pid > 0 &&
	    (si.si_code != CLD_EXITED || si.si_status != 0))
		log_warn("trash: deleting child %d ended with code %d status %d, ignoring", (int)t->pid,
			 si.si_code, si.si_status);
	close(fd);
	t->pidfd = -1;
	t->pid = 0;
	if (t->again)
		start_child(t);
}

static void start_child(struct trash *t)
{
	_cleanup_err_ struct err *e = NULL;
	int r;

	t->again = false;
	r = proc_fork_background(empty_dir, t->dir, t->held, t->n_held, &t->pid, &t->pidfd, &e);
	t->n_held = 0; /* handed over (or closed) either way */
	if (r < 0) {
		log_warn("trash: %s; '%s' is emptied at the next start, ignoring", err_msg(e), t->dir);
		return;
	}
	if (loop_add_fd(t->loop, t->pidfd, EPOLLIN, on_child_exit, t) < 0) {
		/* not watched: it still runs and is reaped by the SIGCHLD handler */
		log_warn("trash: cannot watch child %d, ignoring", (int)t->pid);
		close(t->pidfd);
		t->pidfd = -1;
		t->pid = 0;
	}
	log_debug("trash: child %d empties '%s'", (int)t->pid, t->dir);
}

static void kick(struct trash *t)
{
	if (t->pidfd >= 0)
		t->again = true;
	else
		start_child(t);
}

int trash_new(struct loop *l, const char *dir, struct trash **ret, struct err **err)
{
	struct trash *t = calloc(1, sizeof(*t));
	int r;

	if (!t || !(t->dir = strdup(dir))) {
		free(t);
		return err_set(err, ENOMEM, "out of memory");
	}
	t->loop = l;
	t->pidfd = -1;
	r = fs_mkdir_p(AT_FDCWD, dir, 0700);
	if (r < 0) {
		trash_free(t);
		return err_set(err, -r, "create trash dir '%s'", dir);
	}
	if (!dir_empty(dir))
		kick(t); /* what a crash or a stop left behind */
	*ret = t;
	return 0;
}

int trash_put(struct trash *t, const char *path, struct err **err)
{
	_cleanup_free_ char *dst = NULL;

	if (!t)
		return err_set(err, EXDEV, "no trash dir");
	for (int tries = 0; tries < 16; tries++) {
		free(dst);
		dst = NULL;
		if (asprintf(&dst, "%s/%lld.%llu", t->dir, (long long)time_now_ns(), ++t->seq) < 0)
			return err_set(err, ENOMEM, "out of memory");
		if (renameat2(AT_FDCWD, path, AT_FDCWD, dst, RENAME_NOREPLACE) == 0) {
			kick(t);
			return 0;
		}
		if (errno == ENOENT)
			return 0; /* nothing to delete */
		if (errno != EEXIST)
			return err_set(err, errno, "move '%s' to the trash", path);
	}
	return err_set(err, EEXIST, "move '%s' to the trash: no free name", path);
}

int trash_detach_mount(struct trash *t, const char *path, struct err **err)
{
	_cleanup_close_ int fd = -1;
	int *n;

	if (!t)
		return 0;
	n = realloc(t->held, (t->n_held + 1) * sizeof(*t->held));
	if (!n)
		return err_set(err, ENOMEM, "out of memory");
	t->held = n;
	fd = open(path, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return errno == ENOENT ? 0 : err_set(err, errno, "open '%s'", path);
	if (umount2(path, MNT_DETACH | UMOUNT_NOFOLLOW) < 0)
		return errno == EINVAL ? 0 : err_set(err, errno, "unmount '%s'", path);
	t->held[t->n_held++] = TAKE_FD(fd);
	kick(t);
	return 0;
}

bool trash_busy(const struct trash *t)
{
	return t && t->pidfd >= 0;
}

struct trash *trash_free(struct trash *t)
{
	if (!t)
		return NULL;
	if (t->pidfd >= 0) {
		loop_del_fd(t->loop, t->pidfd);
		close(t->pidfd);
	}
	for (size_t k = 0; k < t->n_held; k++)
		close(t->held[k]);
	free(t->held);
	free(t->dir);
	free(t);
	return NULL;
}

int agent_trash_setup(struct agent *a)
{
	_cleanup_free_ char *dir = fs_path_join(a->cfg->state_dir, "trash");
	_cleanup_err_ struct err *e = NULL;

	if (!dir)
		return -ENOMEM;
	if (trash_new(a->loop, dir, &a->trash, &e) < 0)
		return log_err_errno(-e->errnum, "%s", err_msg(e));
	return 0;
}

int agent_trash_rootfs(struct agent *a, const char *bundle_dir, const char *id, struct err **err)
{
	_cleanup_free_ char *rootfs = fs_path_join(bundle_dir, "rootfs");
	_cleanup_err_ struct err *e = NULL;

	if (!rootfs)
		return err_set(err, ENOMEM, "out of memory");
	if (trash_detach_mount(a->trash, rootfs, &e) < 0)
		log_warn("%s, unmounting in place id=%s", err_msg(e), id);
	return img_rootfs_umount(bundle_dir, err); /* what is left: stacked mounts, or all after a failure */
}

int agent_trash_path(struct agent *a, const char *path, const char *id)
{
	_cleanup_err_ struct err *e = NULL;
	int r;

	r = trash_put(a->trash, path, &e);
	if (r >= 0)
		return 0;
	/* another filesystem (or no trash): the slow way, on the loop, as a last resort */
	log_warn("%s; deleting in place id=%s", err_msg(e), id);
	r = fs_rm_rf(AT_FDCWD, path);
	if (r < 0)
		return log_warn_errno(r, "cannot remove '%s', ignoring id=%s", path, id);
	return 0;
}
