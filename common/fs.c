#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cleanup.h"
#include "crash.h"
#include "fs.h"

int fs_write_all(int fd, const void *data, size_t len)
{
	const char *p = data;

	while (len > 0) {
		ssize_t n = write(fd, p, len);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

static int write_tmp(int dirfd, const char *tmp, const void *data, size_t len, mode_t mode, int flags)
{
	_cleanup_close_ int fd = -1;
	int r;

	fd = openat(dirfd, tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, mode);
	if (fd < 0)
		return -errno;
	if (fchmod(fd, mode) < 0)
		return -errno;
	r = fs_write_all(fd, data, len);
	if (r < 0)
		return r;
	if (!(flags & FS_NOSYNC) && fsync(fd) < 0)
		return -errno;
	r = close(TAKE_FD(fd));
	if (r < 0)
		return -errno;
	return 0;
}

int fs_write_atomic(int dirfd, const char *name, const void *data, size_t len, mode_t mode, int flags,
		    struct err **err)
{
	char tmp[PATH_MAX];
	int r;

	r = snprintf(tmp, sizeof(tmp), "%s.tmp.%d", name, (int)getpid());
	if (r < 0 || (size_t)r >= sizeof(tmp))
		return err_set(err, ENAMETOOLONG, "state file name '%s' too long", name);
	(void)unlinkat(dirfd, tmp, 0); /* a stale tmp from a crash of this pid number */
	r = write_tmp(dirfd, tmp, data, len, mode, flags);
	if (r < 0) {
		(void)unlinkat(dirfd, tmp, 0);
		return err_set(err, -r, "write '%s'", tmp);
	}
	crash_point("state-write"); /* test hook: a kill here leaves the tmp file behind */
	if (renameat(dirfd, tmp, dirfd, name) < 0) {
		r = -errno;
		(void)unlinkat(dirfd, tmp, 0);
		return err_set(err, -r, "rename '%s' to '%s'", tmp, name);
	}
	if (!(flags & FS_NOSYNC)) {
		/* fsync the directory so the rename itself survives a crash */
		if (dirfd == AT_FDCWD || fsync(dirfd) < 0) {
			_cleanup_close_ int dfd = -1;
			_cleanup_free_ char *dir = strdup(name);
			char *slash = dir ? strrchr(dir, '/') : NULL;

			if (slash)
				*slash = '\0';
			dfd = openat(dirfd, slash ? dir : ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
			if (dfd >= 0)
				(void)fsync(dfd); /* best effort: data is already durable */
		}
	}
	return 0;
}

int fs_sync_written(int dirfd, const char *name, struct err **err)
{
	_cleanup_close_ int fd = openat(dirfd, name, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);

	if (fd < 0)
		return err_set(err, errno, "open '%s'", name);
	if (fsync(fd) < 0)
		return err_set(err, errno, "fsync '%s'", name);
	if (fsync(dirfd) < 0)
		return err_set(err, errno, "fsync the directory of '%s'", name);
	return 0;
}

bool fs_is_atomic_tmp(const char *name)
{
	const char *t = strstr(name, ".tmp.");
	const char *d;

	if (!t || t == name)
		return false;
	for (t += 5; strstr(t, ".tmp."); t = strstr(t, ".tmp.") + 5)
		; /* the last ".tmp." counts: "a.tmp.1.tmp.2" is a tmp of "a.tmp.1" */
	if (!*t)
		return false;
	for (d = t; *d; d++)
		if (*d < '0' || *d > '9')
			return false;
	return true;
}

int fs_remove_stale_tmp(const char *path)
{
	_cleanup_closedir_ DIR *d = opendir(path);
	char own[32];
	struct dirent *de;
	int n = 0;

	if (!d)
		return errno == ENOENT ? 0 : -errno;
	snprintf(own, sizeof(own), ".tmp.%d", (int)getpid());
	while ((de = readdir(d))) {
		size_t len = strlen(de->d_name), ol = strlen(own);

		if (!fs_is_atomic_tmp(de->d_name) || (len > ol && strcmp(de->d_name + len - ol, own) == 0))
			continue;
		if (unlinkat(dirfd(d), de->d_name, 0) == 0)
			n++;
		else if (errno != ENOENT)
			return -errno;
	}
	return n;
}

int fs_read_fd(int fd, size_t max, char **ret_buf, size_t *ret_len, struct err **err)
{
	_cleanup_free_ char *buf = NULL;
	size_t len = 0, cap = 4096;
	struct stat st;

	if (fstat(fd, &st) < 0)
		return err_set(err, errno, "stat");
	if (!S_ISREG(st.st_mode))
		return err_set(err, EINVAL, "not a regular file");
	if ((size_t)st.st_size > max)
		return err_set(err, EFBIG, "%lld bytes, more than the %zu allowed", (long long)st.st_size,
			       max);
	buf = malloc(cap + 1);
	if (!buf)
		return err_set(err, ENOMEM, "out of memory");
	for (;;) {
		ssize_t n;
		if (len == cap) {
			char *nb;
			if (cap >= max + 1)
				return err_set(err, EFBIG, "larger than the %zu bytes allowed", max);
			cap = cap * 2 > max + 1 ? max + 1 : cap * 2;
			nb = realloc(buf, cap + 1);
			if (!nb)
				return err_set(err, ENOMEM, "out of memory");
			buf = nb;
		}
		n = read(fd, buf + len, cap - len);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return err_set(err, errno, "read");
		}
		if (n == 0)
			break;
		len += (size_t)n;
	}
	if (len > max)
		return err_set(err, EFBIG, "larger than the %zu bytes allowed", max);
	buf[len] = '\0';
	*ret_buf = TAKE_PTR(buf);
	if (ret_len)
		*ret_len = len;
	return 0;
}

int fs_read_file(int dirfd, const char *name, size_t max, char **ret_buf, size_t *ret_len, struct err **err)
{
	_cleanup_close_ int fd = -1;
	int r;

	fd = openat(dirfd, name, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return err_set(err, errno, "open '%s'", name);
	r = fs_read_fd(fd, max, ret_buf, ret_len, err);
	if (r < 0)
		return err_wrap(err, "'%s'", name);
	return 0;
}

int fs_write_knob(int dirfd, const char *name, const char *value, struct err **err)
{
	_cleanup_close_ int fd = -1;
	size_t len = strlen(value);
	ssize_t n;

	fd = openat(dirfd, name, O_WRONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0)
		return err_set(err, errno, "open '%s'", name);
	do
		n = write(fd, value, len);
	while (n < 0 && errno == EINTR);
	if (n < 0)
		return err_set(err, errno, "write '%s' to '%s'", value, name);
	if ((size_t)n != len)
		return err_set(err, EIO, "short write of '%s' to '%s'", value, name);
	return 0;
}

int fs_read_knob(int dirfd, const char *name, char *buf, size_t size, struct err **err)
{
	_cleanup_close_ int fd = -1;
	ssize_t n;

	if (size == 0)
		return err_set(err, EINVAL, "read '%s': empty buffer", name);
	fd = openat(dirfd, name, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0)
		return err_set(err, errno, "open '%s'", name);
	do
		n = read(fd, buf, size - 1);
	while (n < 0 && errno == EINTR);
	if (n < 0)
		return err_set(err, errno, "read '%s'", name);
	buf[n] = '\0';
	return (int)n;
}

int fs_mkdir_p(int dirfd, const char *path, mode_t mode)
{
	_cleanup_free_ char *p = strdup(path);
	char *s;

	if (!p)
		return -ENOMEM;
	for (s = p + 1; *s; s++) {
		if (*s != '/')
			continue;
		*s = '\0';
		if (mkdirat(dirfd, p, mode) < 0 && errno != EEXIST)
			return -errno;
		*s = '/';
	}
	if (mkdirat(dirfd, p, mode) < 0 && errno != EEXIST)
		return -errno;
	return 0;
}

static int rm_children(int fd, dev_t dev)
{
	_cleanup_closedir_ DIR *d = NULL;
	struct dirent *de;
	int r = 0;

	d = fdopendir(fd);
	if (!d) {
		(void)close(fd);
		return -errno;
	}
	while ((de = readdir(d))) {
		struct stat st;
		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
			continue;
		if (fstatat(dirfd(d), de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0)
			continue;
		if (S_ISDIR(st.st_mode)) {
			int cfd;
			if (st.st_dev != dev) {
				r = -EBUSY; /* a mount point: never delete into another filesystem */
				continue;
			}
			cfd = openat(dirfd(d), de->d_name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
			if (cfd >= 0) {
				int rr = rm_children(cfd, dev);
				if (rr < 0)
					r = rr;
			}
			if (unlinkat(dirfd(d), de->d_name, AT_REMOVEDIR) < 0 && errno != ENOENT)
				r = -errno;
		} else if (unlinkat(dirfd(d), de->d_name, 0) < 0 && errno != ENOENT) {
			r = -errno;
		}
	}
	return r;
}

int fs_rm_rf(int dirfd, const char *path)
{
	struct stat st;
	int fd, r;

	if (fstatat(dirfd, path, &st, AT_SYMLINK_NOFOLLOW) < 0)
		return errno == ENOENT ? 0 : -errno;
	if (!S_ISDIR(st.st_mode))
		return unlinkat(dirfd, path, 0) < 0 && errno != ENOENT ? -errno : 0;
	fd = openat(dirfd, path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	r = rm_children(fd, st.st_dev);
	if (unlinkat(dirfd, path, AT_REMOVEDIR) < 0 && errno != ENOENT)
		return r < 0 ? r : -errno;
	return r;
}

bool fs_exists(const char *path)
{
	return access(path, F_OK) == 0;
}

char *fs_path_join(const char *a, const char *b)
{
	char *s = NULL;
	size_t la = strlen(a);

	while (*b == '/')
		b++;
	if (asprintf(&s, "%s%s%s", a, (la > 0 && a[la - 1] == '/') ? "" : "/", b) < 0)
		return NULL;
	return s;
}
