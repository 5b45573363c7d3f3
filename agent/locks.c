/* One agent per state dir, per run dir and per nftables table: each is guarded by a lock file
 * held with flock for the life of the process (the kernel drops it when the process dies, even
 * by SIGKILL), with the holder's PID written in it so a refused agent can name the holder. */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <unistd.h>

#include "agent/agent.h"
#include "common/cleanup.h"
#include "common/fs.h"

/* The holder's PID as written in the file, or "unknown" (it may not have written it yet). */
static void read_holder(int fd, char *buf, size_t size)
{
	ssize_t n = pread(fd, buf, size - 1, 0);
	size_t len;

	if (n <= 0) {
		snprintf(buf, size, "unknown");
		return;
	}
	buf[n] = '\0';
	len = strspn(buf, "0123456789");
	if (len == 0)
		snprintf(buf, size, "unknown");
	buf[len] = '\0';
}

/* The recorded holder is dead, yet the lock is held: a child of the dead agent (between fork and exec,
 * or killed with it through PDEATHSIG) still has the fd for an instant. Retried for up to 2 s. */
static int lock_after_dead_holder(int fd, const char *holder)
{
	long pid = strtol(holder, NULL, 10);

	for (int k = 0; k < 40; k++) {
		if (pid <= 0 || (kill((pid_t)pid, 0) == 0 || errno != ESRCH))
			return -EWOULDBLOCK; /* a live holder (or none recorded): really another agent */
		(void)usleep(50 * 1000);
		if (flock(fd, LOCK_EX | LOCK_NB) == 0)
			return 0;
		if (errno != EWOULDBLOCK)
			return -errno;
	}
	return -EWOULDBLOCK;
}

int agent_lock_file(const char *dir, const char *name, const char *what, const char *value, struct err **err)
{
	_cleanup_free_ char *path = fs_path_join(dir, name);
	_cleanup_close_ int fd = -1;
	char pid[24];
	int r;

	if (!path)
		return err_set(err, ENOMEM, "out of memory");
	r = fs_mkdir_p(AT_FDCWD, dir, 0700);
	if (r < 0)
		return err_set(err, -r, "create '%s'", dir);
	fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd < 0)
		return err_set(err, errno, "open '%s'", path);
	r = 0;
	if (flock(fd, LOCK_EX | LOCK_NB) < 0) {
		if (errno != EWOULDBLOCK)
			return err_set(err, errno, "lock '%s'", path);
		read_holder(fd, pid, sizeof(pid));
		r = lock_after_dead_holder(fd, pid);
		if (r < 0 && r != -EWOULDBLOCK)
			return err_set(err, -r, "lock '%s'", path);
	}
	if (r < 0)
		return err_set(err, EBUSY, "another droverd is running with %s '%s' (pid %s; lock file '%s')",
			       what, value, pid, path);
	snprintf(pid, sizeof(pid), "%ld\n", (long)getpid());
	if (ftruncate(fd, 0) < 0 || pwrite(fd, pid, strlen(pid), 0) != (ssize_t)strlen(pid))
		return err_set(err, errno ? errno : EIO, "write '%s'", path);
	return TAKE_FD(fd); /* held for the life of the process */
}

int agent_lock_all(struct agent *a, const char *nft_lock_dir, struct err **err)
{
	const struct agent_config *c = a->cfg;
	_cleanup_free_ char *table = NULL;

	if (asprintf(&table, "%s.lock", c->nft_table) < 0)
		return err_set(err, ENOMEM, "out of memory");
	a->lock_fds[0] = agent_lock_file(c->state_dir, "lock", "state dir", c->state_dir, err);
	if (a->lock_fds[0] < 0)
		return a->lock_fds[0];
	a->lock_fds[1] = agent_lock_file(c->run_dir, "droverd.lock", "run dir", c->run_dir, err);
	if (a->lock_fds[1] < 0)
		return a->lock_fds[1];
	a->lock_fds[2] = agent_lock_file(nft_lock_dir, table, "nftables table", c->nft_table, err);
	return a->lock_fds[2] < 0 ? a->lock_fds[2] : 0;
}
