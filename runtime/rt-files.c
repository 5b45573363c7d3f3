#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/openat2.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "common/cleanup.h"
#include "common/fs.h"
#include "runtime/rt-internal.h"
#include "runtime/rt.h"

#define OPENAT2_RETRIES 8

/* Opens path (relative) as a directory with rootfd as "/": absolute symlinks and ".." in the
 * image resolve inside the rootfs, never above it. */
static int open_in_root(int rootfd, const char *path)
{
	struct open_how how = {
	    .flags = O_RDONLY | O_DIRECTORY | O_CLOEXEC,
	    .resolve = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS,
	};

	for (int i = 0; i < OPENAT2_RETRIES; i++) {
		long fd = syscall(SYS_openat2, rootfd, path, &how, sizeof(how));

		if (fd >= 0)
			return (int)fd;
		/* EAGAIN: a concurrent rename raced the lookup, which the kernel refuses to trust */
		if (errno != EAGAIN && errno != EINTR)
			return -errno;
	}
	return -EAGAIN;
}

/* Absolute, no ".." component, a file name at the end. */
static int check_path(const char *path)
{
	const char *p = path;
	size_t len;

	if (!path || path[0] != '/')
		return -EINVAL;
	len = strlen(path);
	if (len >= PATH_MAX)
		return -ENAMETOOLONG;
	if (path[len - 1] == '/')
		return -EINVAL;
	while (*p) {
		size_t n;

		while (*p == '/')
			p++;
		n = strcspn(p, "/");
		if (n == 2 && p[0] == '.' && p[1] == '.')
			return -EINVAL;
		p += n;
	}
	return 0;
}

/* Walks dir (relative, '/'-separated) from the rootfs, creating missing directories 0755. */
static int open_parent(int rootfd, char *dir)
{
	_cleanup_close_ int cur = -1;
	char *p = dir;

	cur = open_in_root(rootfd, ".");
	if (cur < 0)
		return cur;
	while (*p) {
		char *end = p + strcspn(p, "/");
		char saved = *end;
		int fd;

		*end = '\0';
		fd = open_in_root(rootfd, dir);
		if (fd == -ENOENT) {
			/* mkdirat never follows a symlink at p: an existing one gives EEXIST */
			if (mkdirat(cur, p, 0755) < 0 && errno != EEXIST)
				return -errno;
			fd = open_in_root(rootfd, dir);
		}
		*end = saved;
		if (fd < 0)
			return fd;
		closep(&cur);
		cur = fd;
		p = end;
		while (*p == '/')
			p++;
	}
	return TAKE_FD(cur);
}

/* Splits a checked path into its parent (relative to "/", in dir) and its last component. */
static int split_path(const struct rt_file *f, char dir[PATH_MAX], const char **ret_base, struct err **err)
{
	char *slash;
	int r;

	r = check_path(f->path);
	if (r < 0)
		return err_field(err, "files", -r, "file path '%s' must be absolute and free of '..'",
				 f->path ? f->path : "");
	memcpy(dir, f->path, strlen(f->path) + 1); /* check_path: shorter than PATH_MAX */
	slash = strrchr(dir, '/');
	*slash = '\0';
	*ret_base = slash + 1;
	if (strcmp(*ret_base, ".") == 0)
		return err_field(err, "files", EINVAL, "file path '%s' names no file", f->path);
	return 0;
}

/* setuid, setgid and sticky only when the operator allows them. */
static mode_t file_mode(const struct rt_file *f, int flags)
{
	return f->mode & ((flags & RT_FILES_KEEP_SPECIAL) ? 07777 : 0777);
}

static int file_write(int rootfd, const struct rt_file *f, int flags, struct err **err)
{
	_cleanup_close_ int pfd = -1;
	char dir[PATH_MAX];
	const char *base;
	int r;

	r = split_path(f, dir, &base, err);
	if (r < 0)
		return r;
	r = open_parent(rootfd, dir + strspn(dir, "/"));
	if (r < 0)
		return err_set(err, -r, "parent directory of '%s' in rootfs", f->path);
	pfd = r;
	/* tmp + rename in the resolved parent: an existing file, or a symlink, is replaced, never followed */
	r = fs_write_atomic(pfd, base, f->content ? f->content : "", f->content ? f->len : 0,
			    file_mode(f, flags), FS_NOSYNC, err);
	if (r < 0)
		return err_wrap(err, "file '%s'", f->path);
	return 0;
}

int rt_files_write(int rootfs_dirfd, const struct rt_file *files, size_t n, int flags, struct err **err)
{
	for (size_t i = 0; i < n; i++) {
		int r = file_write(rootfs_dirfd, &files[i], flags, err);

		if (r < 0)
			return r;
	}
	return 0;
}

/* The file rt_files_write made (a regular file, reached inside the rootfs) gets uid:gid, then its
 * mode again: chown clears setuid and setgid. */
static int file_chown(int rootfd, const struct rt_file *f, uid_t uid, gid_t gid, int flags, struct err **err)
{
	_cleanup_close_ int pfd = -1, fd = -1;
	char dir[PATH_MAX];
	const char *base, *rel;
	struct stat st;
	int r;

	r = split_path(f, dir, &base, err);
	if (r < 0)
		return r;
	rel = dir + strspn(dir, "/");
	pfd = open_in_root(rootfd, *rel ? rel : ".");
	if (pfd < 0)
		return err_set(err, -pfd, "parent directory of '%s' in rootfs", f->path);
	fd = openat(pfd, base, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
	if (fd < 0)
		return err_set(err, errno, "open file '%s'", f->path);
	if (fstat(fd, &st) < 0)
		return err_set(err, errno, "stat file '%s'", f->path);
	if (!S_ISREG(st.st_mode))
		return err_set(err, EINVAL, "file '%s' is no longer a regular file", f->path);
	if (fchown(fd, uid, gid) < 0 || fchmod(fd, file_mode(f, flags)) < 0)
		return err_set(err, errno, "give file '%s' to %u:%u", f->path, (unsigned)uid, (unsigned)gid);
	return 0;
}

int rt_files_chown(int rootfs_dirfd, const struct rt_file *files, size_t n, uid_t uid, gid_t gid, int flags,
		   struct err **err)
{
	for (size_t i = 0; i < n; i++) {
		int r = file_chown(rootfs_dirfd, &files[i], uid, gid, flags, err);

		if (r < 0)
			return r;
	}
	return 0;
}
