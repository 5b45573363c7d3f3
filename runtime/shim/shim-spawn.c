/* Minimal process spawning for the shim: fork + execve with an argv array, never a shell. */
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

#include "common/timeutil.h"
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

/* Fallback for kernels without close_range: closes 3.. except keep. */
static void child_close_slow(int keep)
{
	for (int fd = 3; fd < 4096; fd++)
		if (fd != keep)
			(void)close(fd); /* EBADF is expected for most */
}

/* Runs in the forked child: only async-signal-safe calls until execve. If execve fails, its errno goes
 * to the parent through report_fd (close-on-exec, so a successful exec just closes it). */
static void __attribute__((noreturn))
child_exec(const char *path, char *const *argv, const int fds[3], int report_fd)
{
	static char *const envp[] = {SHIM_ENV_PATH, NULL};
	struct sigaction sa = {.sa_handler = SIG_DFL};
	sigset_t all;
	int e;

	/* The shim ignores some signals and blocks SIGCHLD; neither may leak into runc or the container. */
	for (int sig = 1; sig < NSIG; sig++)
		(void)sigaction(sig, &sa, NULL); /* EINVAL for SIGKILL/SIGSTOP and the RT gaps is fine */
	sigemptyset(&all);
	(void)sigprocmask(SIG_SETMASK, &all, NULL);
	/* If the shim dies mid-command, runc create/start/delete dies with it. */
	(void)prctl(PR_SET_PDEATHSIG, SIGKILL);
	if (child_fd(fds[0], STDIN_FILENO) < 0 || child_fd(fds[1], STDOUT_FILENO) < 0 ||
	    child_fd(fds[2], STDERR_FILENO) < 0)
		goto fail;
	if (report_fd < 3) /* never: fds 0-2 are always open in the shim */
		goto fail;
	/* report_fd stays open across close_range; it is close-on-exec anyway */
	if ((report_fd > 3 && close_range(3, (unsigned)report_fd - 1, 0) < 0) ||
	    close_range((unsigned)report_fd + 1, ~0U, 0) < 0)
		child_close_slow(report_fd);
	execve(path, argv, envp);
fail:
	e = errno;
	(void)!write(report_fd, &e, sizeof(e)); /* nothing more to do if the parent cannot hear it */
	_exit(127);
}

int shim_spawn(const char *path, char *const *argv, int fd_in, int fd_out, int fd_err, pid_t *ret_pid)
{
	const int fds[3] = {fd_in, fd_out, fd_err};
	int report[2], e = 0, status;
	ssize_t n;
	pid_t pid;

	if (pipe2(report, O_CLOEXEC) < 0)
		return -errno;
	pid = fork();
	if (pid < 0) {
		e = errno;
		(void)close(report[0]); /* unused pipe ends */
		(void)close(report[1]);
		return -e;
	}
	if (pid == 0)
		child_exec(path, argv, fds, report[1]);
	(void)close(report[1]); /* the child's copy is the only writer now */
	do
		n = read(report[0], &e, sizeof(e));
	while (n < 0 && errno == EINTR);
	(void)close(report[0]);
	if (n == (ssize_t)sizeof(e)) {
		(void)shim_wait(pid, &status); /* it exits 127 at once */
		return -(e > 0 ? e : EIO);
	}
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
