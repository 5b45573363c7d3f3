/* Process spawning for the shim: common/spawn.c with the shim's environment, and waiting. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/spawn.h"
#include "common/timeutil.h"
#include "runtime/shim/shim.h"

int shim_spawn(const char *path, char *const *argv, int fd_in, int fd_out, int fd_err, pid_t *ret_pid,
	       struct err **err)
{
	static char *const envp[] = {SHIM_ENV_PATH, NULL};
	/* If the shim dies mid-command, runc create/start/delete dies with it. */
	const struct spawn_opts o = {.stdin_fd = fd_in,
				     .stdout_fd = fd_out,
				     .stderr_fd = fd_err,
				     .keep_fd = -1,
				     .die_with_parent = true,
				     .envp = envp};

	return spawn_exec(path, argv, &o, ret_pid, err);
}

int shim_wait(pid_t pid, int *ret_status)
{
	int status;

	while (waitpid(pid, &status, 0) < 0) {
		if (errno != EINTR)
			return -errno;
	}
	*ret_status = status;
	return 0;
}

int shim_wait_deadline(pid_t pid, uint64_t timeout_ms, int *ret_status)
{
	int64_t end = time_mono_ns() + (int64_t)timeout_ms * 1000000;
	int fd = (int)syscall(SYS_pidfd_open, pid, 0);
	int r = 0;

	if (fd < 0)
		return shim_wait(pid, ret_status); /* a kernel without pidfds: no deadline */
	for (;;) {
		struct pollfd p = {.fd = fd, .events = POLLIN};
		int64_t left = (end - time_mono_ns()) / 1000000;

		if (left <= 0) {
			(void)kill(pid, SIGKILL); /* our unreaped child: the pid cannot be reused yet */
			r = -ETIMEDOUT;
			break;
		}
		if (poll(&p, 1, left > INT32_MAX ? INT32_MAX : (int)left) > 0)
			break;
	}
	(void)close(fd); /* a pidfd: nothing to flush */
	if (r < 0) {
		int status;

		(void)shim_wait(pid, &status);
		return r;
	}
	return shim_wait(pid, ret_status);
}

void shim_status_str(int status, char *buf, size_t size)
{
	if (WIFEXITED(status))
		snprintf(buf, size, "exit status %d", WEXITSTATUS(status));
	else if (WIFSIGNALED(status))
		snprintf(buf, size, "killed by signal %d", WTERMSIG(status));
	else
		snprintf(buf, size, "wait status %#x", (unsigned)status);
}
