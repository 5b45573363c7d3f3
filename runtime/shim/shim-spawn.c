/* Process spawning for the shim: common/spawn.c with the shim's environment, and waiting. */
#include <errno.h>
#include <stdio.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/spawn.h"
#include "runtime/shim/shim.h"

int shim_spawn(const char *path, char *const *argv, int fd_in, int fd_out, int fd_err, pid_t *ret_pid,
	       struct err **err)
{
	static char *const envp[] = {SHIM_ENV_PATH, NULL};
	/* If the shim dies mid-command, runc create/start/delete dies with it. */
	const struct spawn_opts o = {.stdin_fd = fd_in, .stdout_fd = fd_out, .stderr_fd = fd_err, .keep_fd = -1,
				     .die_with_parent = true, .envp = envp};

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

void shim_status_str(int status, char *buf, size_t size)
{
	if (WIFEXITED(status))
		snprintf(buf, size, "exit status %d", WEXITSTATUS(status));
	else if (WIFSIGNALED(status))
		snprintf(buf, size, "killed by signal %d", WTERMSIG(status));
	else
		snprintf(buf, size, "wait status %#x", (unsigned)status);
}
