/* Reading files of a directory someone else writes (the assignments dir) without letting the
 * directory's content block, redirect or leak: no FIFO or device is ever opened for reading, and
 * symlinks are followed only while they stay inside the directory (the Kubernetes-ConfigMap
 * style "x.json -> ..data/x.json" works, "x.json -> /proc/kmsg" or "-> /root/secret" does not). */
#include <errno.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <stdint.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "cleanup.h"
#include "fs.h"

static int open_beneath(int dirfd, const char *name, int flags)
{
	struct open_how how = {
	    /* openat2 refuses O_NOCTTY next to O_PATH */
	    .flags = (uint64_t)(flags | O_CLOEXEC | (flags & O_PATH ? 0 : O_NOCTTY)),
	    .resolve = RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS | RESOLVE_NO_XDEV,
	};

	return (int)syscall(SYS_openat2, dirfd, name, &how, sizeof(how));
}

static int open_error(const char *name, int errnum, struct err **err)
{
	if (errnum == EXDEV)
		return err_set(err, EXDEV, "'%s' is a symbolic link that leads out of its directory", name);
	if (errnum == ELOOP)
		return err_set(err, ELOOP, "'%s': too many symbolic links", name);
	return err_set(err, errnum, "open '%s'", name);
}

int fs_read_beneath(int dirfd, const char *name, size_t max, char **ret_buf, size_t *ret_len,
		    struct err **err)
{
	_cleanup_close_ int pfd = -1, fd = -1;
	struct stat st, st2;
	int r;

	/* O_PATH first: it opens nothing for I/O, so a FIFO or device has no effect yet */
	pfd = open_beneath(dirfd, name, O_PATH);
	if (pfd < 0)
		return open_error(name, errno, err);
	if (fstat(pfd, &st) < 0)
		return err_set(err, errno, "stat '%s'", name);
	if (!S_ISREG(st.st_mode))
		return err_set(err, EINVAL, "'%s' is not a regular file", name);
	if (st.st_size == 0)
		return err_set(err, ENODATA, "'%s' is empty", name);
	if ((size_t)st.st_size > max)
		return err_set(err, EFBIG, "'%s' is %lld bytes, more than the %zu allowed", name,
			       (long long)st.st_size, max);
	/* O_NONBLOCK: should the name now be a FIFO, the open returns and the inode check refuses it */
	fd = open_beneath(dirfd, name, O_RDONLY | O_NONBLOCK);
	if (fd < 0)
		return open_error(name, errno, err);
	if (fstat(fd, &st2) < 0)
		return err_set(err, errno, "stat '%s'", name);
	if (st2.st_dev != st.st_dev || st2.st_ino != st.st_ino)
		return err_set(err, EAGAIN, "'%s' changed while it was opened", name);
	r = fs_read_fd(fd, max, ret_buf, ret_len, err);
	if (r < 0)
		return err_wrap(err, "'%s'", name);
	return 0;
}
