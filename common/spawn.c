/* fork + execve with an exec failure reported through a close-on-exec pipe (see spawn.h). */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "spawn.h"

/* Where the child moves every fd it needs before it lays out 0-3: above anything dup2 will write. */
#define SPAWN_FD_FLOOR 10
/* Without close_range (Linux < 5.9) the child closes one by one up to this. */
#define SPAWN_FD_SLOW_MAX 65536

/* Async-signal-safe: a copy of fd at SPAWN_FD_FLOOR or above, close-on-exec; -1 stays -1. */
static int lift(int fd)
{
	return fd < 0 ? -1 : fcntl(fd, F_DUPFD_CLOEXEC, SPAWN_FD_FLOOR);
}

static void close_from(unsigned first, int keep)
{
	unsigned k = (unsigned)keep;

	if (syscall(SYS_close_range, first, k - 1, 0) == 0 && syscall(SYS_close_range, k + 1, ~0U, 0) == 0)
		return;
	for (unsigned fd = first; fd < SPAWN_FD_SLOW_MAX; fd++)
		if (fd != k)
			(void)close((int)fd); /* EBADF for most */
}

static void reset_signals(void)
{
	struct sigaction sa = {.sa_handler = SIG_DFL};
	sigset_t none;

	for (int sig = 1; sig < NSIG; sig++)
		(void)sigaction(sig, &sa, NULL); /* EINVAL for SIGKILL, SIGSTOP and glibc's 32, 33 is fine */
	sigemptyset(&none);
	(void)sigprocmask(SIG_SETMASK, &none, NULL);
}

/* Runs in the child between fork and execve: async-signal-safe calls only. */
static void __attribute__((noreturn))
child(const char *path, char *const argv[], const struct spawn_opts *o, pid_t parent, int report)
{
	static char *const default_env[] = {SPAWN_DEFAULT_ENV_PATH, NULL};
	int devnull = -1, fds[4], e;

	reset_signals();
	if (o->die_with_parent && (prctl(PR_SET_PDEATHSIG, SIGKILL) < 0 || getppid() != parent))
		goto fail;
	if (o->new_session && setsid() < 0)
		goto fail;
	report = lift(report);
	if (o->stdin_fd < 0 || o->stdout_fd < 0 || o->stderr_fd < 0)
		devnull = open("/dev/null", O_RDWR | O_CLOEXEC);
	fds[0] = lift(o->stdin_fd >= 0 ? o->stdin_fd : devnull);
	fds[1] = lift(o->stdout_fd >= 0 ? o->stdout_fd : devnull);
	fds[2] = lift(o->stderr_fd >= 0 ? o->stderr_fd : devnull);
	fds[3] = lift(o->keep_fd);
	if (report < 0 || fds[0] < 0 || fds[1] < 0 || fds[2] < 0 || (o->keep_fd >= 0 && fds[3] < 0))
		goto fail;
	/* dup2 clears close-on-exec on the target, so 0-3 survive execve and the lifted copies do not */
	for (int i = 0; i < 4; i++)
		if (fds[i] >= 0 && dup2(fds[i], i) < 0)
			goto fail;
	close_from(o->keep_fd >= 0 ? 4 : 3, report);
	execve(path, argv, o->envp ? o->envp : default_env);
fail:
	e = errno;
	/* report may be -1 (lift failed) or full: then the parent sees 127 from waitpid instead */
	(void)!write(report, &e, sizeof(e));
	_exit(127);
}

int spawn_exec(const char *path, char *const argv[], const struct spawn_opts *opts, pid_t *ret_pid,
	       struct err **err)
{
	static const struct spawn_opts none = {-1, -1, -1, -1, false, false, NULL, NULL};
	const struct spawn_opts *o = opts ? opts : &none;
	pid_t parent = getpid(), pid;
	int p[2], e = 0;
	ssize_t n;

	if (pipe2(p, O_CLOEXEC) < 0)
		return err_set(err, errno, "pipe for '%s'", path);
	pid = fork();
	if (pid < 0) {
		e = errno;
		(void)close(p[0]);
		(void)close(p[1]);
		return err_set(err, e, "fork for '%s'", path);
	}
	if (pid == 0)
		child(path, argv, o, parent, p[1]);
	(void)close(p[1]); /* the child's copy is the only writer now: EOF on exec or exit */
	do
		n = read(p[0], &e, sizeof(e));
	while (n < 0 && errno == EINTR);
	(void)close(p[0]);
	if (n == (ssize_t)sizeof(e)) {
		while (waitpid(pid, NULL, 0) < 0 && errno == EINTR)
			; /* it exits 127 at once */
		if (o->name)
			return err_set(err, e > 0 ? e : EIO, "cannot exec %s at %s", o->name, path);
		return err_set(err, e > 0 ? e : EIO, "cannot exec '%s'", path);
	}
	*ret_pid = pid;
	return 0;
}
