/* Network namespaces owned by the agent: netns_dir/ID is a bind mount of the namespace, so it
 * lives on when the container's processes exit and runc joins it by path. The namespace is made
 * by a thread of its own (unshare + bind mount of its /proc/thread-self/ns/net), so the agent's
 * loop never enters a namespace it makes (net_ns_socket, for probes, enters an instance's for one
 * socket() call and returns at once). netns_dir is a shared mount point, as /run/netns is for `ip netns`, so
 * the mounts propagate to mount namespaces that were cloned from ours. */
#include <errno.h>
#include <fcntl.h>
#include <linux/magic.h>
#include <sched.h>
#include <stdio.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <unistd.h>

#include "common/fs.h"
#include "net/net-internal.h"

int net_ns_dir_prepare(const char *dir, struct err **err)
{
	int r;

	r = fs_mkdir_p(AT_FDCWD, dir, 0755);
	if (r < 0)
		return err_set(err, -r, "create netns dir '%s'", dir);
	if (mount("none", dir, NULL, MS_SHARED | MS_REC, NULL) == 0)
		return 0;
	if (errno != EINVAL)
		return err_set(err, errno, "make '%s' a shared mount", dir);
	/* not a mount point yet: bind it onto itself, then share it */
	if (mount(dir, dir, "none", MS_BIND | MS_REC, NULL) < 0)
		return err_set(err, errno, "bind mount '%s' onto itself", dir);
	if (mount("none", dir, NULL, MS_SHARED | MS_REC, NULL) < 0)
		return err_set(err, errno, "make '%s' a shared mount", dir);
	return 0;
}

int net_ns_dir_release(const char *dir, struct err **err)
{
	if (umount2(dir, MNT_DETACH | UMOUNT_NOFOLLOW) < 0 && errno != EINVAL && errno != ENOENT)
		return err_set(err, errno, "unmount '%s'", dir);
	return 0;
}

bool net_ns_is_mounted(const char *path)
{
	struct statfs sfs;

	return statfs(path, &sfs) == 0 && sfs.f_type == (typeof(sfs.f_type))NSFS_MAGIC;
}

static int make_ns_child(void *arg, char *msg, size_t msg_size)
{
	const char *path = arg;

	if (unshare(CLONE_NEWNET) < 0) {
		snprintf(msg, msg_size, "unshare network namespace: %s", strerror(errno));
		return -errno;
	}
	/* the thread shares the agent's mount namespace, so the agent sees this mount; thread-self: the
	 * new netns is this thread's alone */
	if (mount("/proc/thread-self/ns/net", path, "none", MS_BIND, NULL) < 0) {
		snprintf(msg, msg_size, "bind mount the namespace on '%s': %s", path, strerror(errno));
		return -errno;
	}
	return 0;
}

int net_ns_ensure(const char *path, struct err **err)
{
	_cleanup_close_ int fd = -1;
	int r;

	if (net_ns_is_mounted(path))
		return 0;
	/* the mount point: an empty file (one left by a crash is reused) */
	fd = open(path, O_RDONLY | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0444);
	if (fd < 0)
		return err_set(err, errno, "create netns file '%s'", path);
	r = net_run_thread(make_ns_child, (void *)path, err);
	if (r < 0) {
		(void)unlink(path); /* undo: only the empty mount point exists */
		return err_wrap(err, "create network namespace '%s'", path);
	}
	return 1;
}

int net_ns_remove(const char *path, struct err **err)
{
	int removed = 0;

	/* more than one mount on the path cannot come from us, but leave none behind */
	for (int i = 0; i < 8; i++) {
		if (umount2(path, MNT_DETACH | UMOUNT_NOFOLLOW) < 0) {
			if (errno == EINVAL || errno == ENOENT)
				break;
			return err_set(err, errno, "unmount network namespace '%s'", path);
		}
		removed = 1;
	}
	if (unlink(path) < 0) {
		if (errno != ENOENT)
			return err_set(err, errno, "remove netns file '%s'", path);
	} else {
		removed = 1;
	}
	return removed;
}

/* LINK_DIR/NAME -> target, so `ip netns` lists and enters the namespace. */
static int name_path(const char *link_dir, const char *name, char buf[PATH_MAX])
{
	int r = snprintf(buf, PATH_MAX, "%s/%s", link_dir, name);

	return r < 0 || r >= PATH_MAX || strchr(name, '/') ? -ENAMETOOLONG : 0;
}

int net_ns_name_link(const char *link_dir, const char *name, const char *target)
{
	char path[PATH_MAX], cur[PATH_MAX];
	ssize_t n;
	int r;

	if (name_path(link_dir, name, path) < 0)
		return -ENAMETOOLONG;
	r = fs_mkdir_p(AT_FDCWD, link_dir, 0755);
	if (r < 0)
		return r;
	n = readlink(path, cur, sizeof(cur) - 1);
	if (n >= 0) {
		cur[n] = '\0';
		if (strcmp(cur, target) == 0)
			return 0;
		return -EEXIST; /* someone else's name: left alone */
	}
	if (errno != ENOENT)
		return errno == EINVAL ? -EEXIST : -errno;
	return symlink(target, path) < 0 ? -errno : 0;
}

int net_ns_name_unlink(const char *link_dir, const char *name, const char *target)
{
	char path[PATH_MAX], cur[PATH_MAX];
	ssize_t n;

	if (name_path(link_dir, name, path) < 0)
		return -ENAMETOOLONG;
	n = readlink(path, cur, sizeof(cur) - 1);
	if (n < 0)
		return errno == ENOENT || errno == EINVAL ? 0 : -errno;
	cur[n] = '\0';
	if (strcmp(cur, target) != 0)
		return 0; /* not ours */
	return unlink(path) < 0 && errno != ENOENT ? -errno : 0;
}
