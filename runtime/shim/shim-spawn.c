/* Minimal process spawning for the shim: fork + execve with an argv array, never a shell. */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include "runtime/shim/shim.h"

/* Places fd on target for the child; the copy must survive execve. Async-signal-safe. */
static int child_fd(int fd, int target)
{
	if (fd == target) {
		int fl = fcntl(fd, F_GETFD);
		return fl < 0 ? -1 : fcntl(fd, F_SETFD, fl & ~FD_CLOEXEC);
	}
	return dup2(fd, target) < 0 ? -1 : 0;
}

static void child_close_from_3(void)
{
	if (close_range(3, ~0U, 0) == 0)
		return;
	for (int fd = 3; fd < 4096; fd++)
		(void)close(fd); /* fallback for kernels without close_range; EBADF is expected */
}

/* Runs in the forked child: only async-signal-safe calls until execve. */
static void __attribute__((noreturn))
child_exec(const char *path, char *const *argv, int fd_in, int fd_out, int fd_err)
{
	static char *const envp[] = {SHIM_ENV_PATH, NULL};
	struct sigaction sa = {.sa_handler = SIG_DFL};
	sigset_t all;

	/* The shim ignores some signals and blocks SIGCHLD; neither may leak into runc or the container. */
	for (int sig = 1; sig < NSIG; sig++)
		(void)sigaction(sig, &sa, NULL); /* EINVAL for SIGKILL/SIGSTOP and the RT gaps is fine */
	sigemptyset(&all);
	(void)sigprocmask(SIG_SETMASK, &all, NULL);
	/* If the shim dies mid-command, runc create/start/delete dies with it. */
	(void)prctl(PR_SET_PDEATHSIG, SIGKILL);
	if (child_fd(fd_in, STDIN_FILENO) < 0 || child_fd(fd_out, STDOUT_FILENO) < 0 ||
	    child_fd(fd_err, STDERR_FILENO) < 0)
		_exit(127);
	child_close_from_3();
	execve(path, argv, envp);
	_exit(127);
}

int shim_spawn(const char *path, char *const *argv, int fd_in, int fd_out, int fd_err, pid_t *ret_pid)
{
	pid_t pid;

	pid = fork();
	if (pid < 0)
		return -errno;
	if (pid == 0)
		child_exec(path, argv, fd_in, fd_out, fd_err);
	*ret_pid = pid;
	return 0;
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
