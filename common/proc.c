#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cleanup.h"
#include "proc.h"
#include "spawn.h"
#include "timeutil.h"

#define STDERR_CAP 8192
#define STDOUT_CAP (64 * 1024)

int proc_spawn(const char *path, char *const argv[], const struct proc_opts *opts, pid_t *ret_pid,
	       struct err **err)
{
	struct spawn_opts so = {-1, -1, -1, -1, false, false, NULL, NULL};

	if (opts)
		so = (struct spawn_opts){
		    opts->stdin_fd,    opts->stdout_fd,	      opts->stderr_fd, opts->keep_fd,
		    opts->new_session, opts->die_with_parent, opts->envp,      NULL};
	return spawn_exec(path, argv, &so, ret_pid, err);
}

static int read_capped(int fd, char **ret)
{
	_cleanup_free_ char *buf = malloc(STDERR_CAP + 1);
	size_t len = 0;

	if (!buf)
		return -ENOMEM;
	for (;;) {
		char sink[512];
		ssize_t n;
		if (len < STDERR_CAP)
			n = read(fd, buf + len, STDERR_CAP - len);
		else
			n = read(fd, sink, sizeof(sink)); /* drain the rest so the child never blocks */
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		if (len < STDERR_CAP)
			len += (size_t)n;
	}
	buf[len] = '\0';
	*ret = TAKE_PTR(buf);
	return 0;
}

int proc_run(const char *path, char *const argv[], int *ret_status, char **ret_stderr, struct err **err)
{
	struct proc_opts o = {-1, -1, -1, -1, false, false, NULL};
	_cleanup_close_ int rd = -1, wr = -1;
	int p[2], status = 0;
	pid_t pid;
	int r;

	if (ret_stderr) {
		if (pipe2(p, O_CLOEXEC) < 0)
			return err_set(err, errno, "pipe");
		rd = p[0];
		wr = p[1];
		o.stderr_fd = wr;
	}
	r = proc_spawn(path, argv, &o, &pid, err);
	if (r < 0)
		return r;
	closep(&wr);
	wr = -1;
	if (ret_stderr)
		(void)read_capped(rd, ret_stderr); /* on ENOMEM the caller just gets no text */
	while (waitpid(pid, &status, 0) < 0) {
		if (errno != EINTR)
			return err_set(err, errno, "wait for '%s'", path);
	}
	*ret_status = status;
	return 0;
}

/* Output of a child read through a non-blocking pipe: kept up to cap bytes, the rest drained. */
struct capture {
	int fd; /* -1 once at EOF or when not captured */
	char *buf;
	size_t len, cap;
};

static void capture_done(struct capture *c)
{
	if (c->fd >= 0)
		close(c->fd);
	free(c->buf);
}

/* Reads what is there now; closes the fd at EOF. */
static void capture_read(struct capture *c)
{
	for (;;) {
		char sink[512];
		ssize_t n;

		if (c->len < c->cap)
			n = read(c->fd, c->buf + c->len, c->cap - c->len);
		else
			n = read(c->fd, sink, sizeof(sink));
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN)
			return;
		if (n <= 0) {
			close(c->fd);
			c->fd = -1;
			return;
		}
		if (c->len < c->cap)
			c->len += (size_t)n;
	}
}

static int capture_open(struct capture *c, size_t cap, int *ret_child_end)
{
	int p[2];

	c->buf = malloc(cap + 1);
	if (!c->buf || pipe2(p, O_CLOEXEC) < 0)
		return -errno;
	if (fcntl(p[0], F_SETFL, O_NONBLOCK) < 0) {
		close(p[0]);
		close(p[1]);
		return -errno;
	}
	c->fd = p[0];
	c->cap = cap;
	*ret_child_end = p[1];
	return 0;
}

/* Waits for the child's exit (its pidfd) while reading its output; false when the deadline passes. */
static bool wait_reading(int pidfd, struct capture *out, struct capture *errc, int64_t deadline)
{
	for (;;) {
		struct pollfd pf[3] = {{pidfd, POLLIN, 0}, {out->fd, POLLIN, 0}, {errc->fd, POLLIN, 0}};
		int64_t left = deadline > 0 ? (deadline - time_mono_ns()) / 1000000 : -1;
		int n;

		if (deadline > 0 && left <= 0)
			return false;
		n = poll(pf, 3, deadline > 0 ? (int)left + 1 : -1);
		if (n < 0 && errno != EINTR)
			return false;
		if (out->fd >= 0 && (pf[1].revents & (POLLIN | POLLHUP | POLLERR)))
			capture_read(out);
		if (errc->fd >= 0 && (pf[2].revents & (POLLIN | POLLHUP | POLLERR)))
			capture_read(errc);
		if (pf[0].revents & POLLIN) {
			/* exited: take what it wrote; a grandchild holding the pipe open is not waited for */
			if (out->fd >= 0)
				capture_read(out);
			if (errc->fd >= 0)
				capture_read(errc);
			return true;
		}
	}
}

static char *capture_take(struct capture *c)
{
	char *b = c->buf;

	if (!b)
		return NULL;
	b[c->len] = '\0';
	c->buf = NULL;
	return b;
}

int proc_run_deadline(const char *path, char *const argv[], int timeout_ms, int *ret_status,
		      char **ret_stdout, char **ret_stderr, struct err **err)
{
	_cleanup_(capture_done) struct capture out = {.fd = -1}, errc = {.fd = -1};
	struct proc_opts o = {-1, -1, -1, -1, false, false, NULL};
	_cleanup_close_ int out_w = -1, err_w = -1, pidfd = -1;
	int64_t deadline = timeout_ms > 0 ? time_mono_ns() + (int64_t)timeout_ms * 1000000 : 0;
	int r, status = 0;
	bool done;
	pid_t pid;

	if ((ret_stdout && (r = capture_open(&out, STDOUT_CAP, &out_w)) < 0) ||
	    (ret_stderr && (r = capture_open(&errc, STDERR_CAP, &err_w)) < 0))
		return err_set(err, -r, "pipe for '%s'", path);
	o.stdout_fd = out_w;
	o.stderr_fd = err_w;
	r = proc_spawn(path, argv, &o, &pid, err);
	if (r < 0)
		return r;
	closep(&out_w);
	closep(&err_w);
	pidfd = proc_pidfd_open(pid); /* our own unreaped child: the pid cannot have been reused */
	done = pidfd >= 0 && wait_reading(pidfd, &out, &errc, deadline);
	if (!done)
		(void)kill(pid, SIGKILL); /* past the deadline (or not watchable): still our unreaped child */
	while (waitpid(pid, &status, 0) < 0)
		if (errno != EINTR)
			return err_set(err, errno, "wait for '%s'", path);
	if (!done)
		return err_set(err, pidfd < 0 ? EIO : ETIMEDOUT, "'%s' did not finish within %d ms", path,
			       timeout_ms);
	*ret_status = status;
	if (ret_stdout)
		*ret_stdout = capture_take(&out);
	if (ret_stderr)
		*ret_stderr = capture_take(&errc);
	return 0;
}

int proc_find_exe(const char *name, char **ret_path)
{
	const char *path = getenv("PATH");
	_cleanup_free_ char *copy = NULL;
	char *save = NULL;

	if (strchr(name, '/')) {
		if (access(name, X_OK) < 0)
			return -errno;
		*ret_path = realpath(name, NULL);
		return *ret_path ? 0 : -errno;
	}
	copy = strdup(path ? path : "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin");
	if (!copy)
		return -ENOMEM;
	for (char *dir = strtok_r(copy, ":", &save); dir; dir = strtok_r(NULL, ":", &save)) {
		_cleanup_free_ char *full = NULL;
		if (asprintf(&full, "%s/%s", dir, name) < 0)
			return -ENOMEM;
		if (access(full, X_OK) == 0) {
			*ret_path = TAKE_PTR(full);
			return 0;
		}
	}
	return -ENOENT;
}

void proc_describe_status(int status, char *buf, size_t size)
{
	if (WIFEXITED(status))
		snprintf(buf, size, "exit %d", WEXITSTATUS(status));
	else if (WIFSIGNALED(status))
		snprintf(buf, size, "killed by signal %d", WTERMSIG(status));
	else
		snprintf(buf, size, "status 0x%x", (unsigned)status);
}

int proc_pidfd_open(pid_t pid)
{
	return (int)syscall(SYS_pidfd_open, pid, 0);
}

bool proc_alive(pid_t pid)
{
	return pid > 0 && (kill(pid, 0) == 0 || errno == EPERM);
}

int proc_start_time(pid_t pid, unsigned long long *ret)
{
	char path[64], buf[1024];
	_cleanup_close_ int fd = -1;
	ssize_t n;
	char *p;

	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	n = read(fd, buf, sizeof(buf) - 1);
	if (n <= 0)
		return -EIO;
	buf[n] = '\0';
	p = strrchr(buf, ')'); /* comm may hold spaces and parens */
	if (!p)
		return -EIO;
	p++;
	/* after ')' come fields 3..; starttime is field 22 */
	for (int field = 2; field < 22 && p; field++)
		p = strchr(p + 1, ' ');
	if (!p)
		return -EIO;
	*ret = strtoull(p + 1, NULL, 10);
	return 0;
}

int proc_parent(pid_t pid, pid_t *ret)
{
	char path[64], buf[4096];
	_cleanup_close_ int fd = -1;
	const char *p;
	ssize_t n;
	long v;

	snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	n = read(fd, buf, sizeof(buf) - 1);
	if (n <= 0)
		return -EIO;
	buf[n] = '\0';
	p = strstr(buf, "\nPPid:");
	if (!p)
		return -EIO;
	v = strtol(p + 6, NULL, 10);
	if (v < 0 || v > INT32_MAX)
		return -EIO;
	*ret = (pid_t)v;
	return 0;
}

/* ioprio_set(IOPRIO_WHO_PROCESS, self, best-effort class, lowest level) */
#define IOPRIO_BE_LOWEST ((2 << 13) | 7)

static void __attribute__((noreturn))
background_child(int (*fn)(void *arg), void *arg, int release, pid_t parent)
{
	sigset_t all;
	char c;

	sigemptyset(&all);
	sigprocmask(SIG_SETMASK, &all, NULL);
	for (int s = 1; s < NSIG; s++)
		if (s != SIGKILL && s != SIGSTOP)
			signal(s, SIG_DFL);
	prctl(PR_SET_PDEATHSIG, SIGKILL);
	if (getppid() != parent)
		_exit(1);
	(void)setpriority(PRIO_PROCESS, 0, 19);		       /* best effort: only a priority */
	(void)syscall(SYS_ioprio_set, 1, 0, IOPRIO_BE_LOWEST); /* best effort, as above */
	/* EOF once the parent has closed its copies of the held fds: from here ours are the last */
	while (read(release, &c, 1) < 0 && errno == EINTR)
		;
	syscall(SYS_close_range, 3U, ~0U, 0);
	_exit(fn(arg) < 0 ? 1 : 0);
}

static void close_all(int *fds, size_t n)
{
	for (size_t k = 0; k < n; k++)
		if (fds[k] >= 0)
			(void)close(fds[k]);
}

int proc_fork_background(int (*fn)(void *arg), void *arg, int *hold, size_t n_hold, pid_t *ret_pid,
			 int *ret_pidfd, struct err **err)
{
	pid_t parent = getpid();
	int p[2], pidfd, r;
	pid_t pid;

	if (pipe2(p, O_CLOEXEC) < 0) {
		r = -errno;
		close_all(hold, n_hold);
		return err_set(err, -r, "pipe");
	}
	pid = fork();
	if (pid < 0) {
		r = -errno;
		close_all(hold, n_hold);
		(void)close(p[0]);
		(void)close(p[1]);
		return err_set(err, -r, "fork");
	}
	if (pid == 0) {
		(void)close(p[1]);
		background_child(fn, arg, p[0], parent);
	}
	close_all(hold, n_hold);
	(void)close(p[0]);
	(void)close(p[1]); /* releases the child */
	/* the child is at least a zombie until someone waits, so this pidfd is for it */
	pidfd = proc_pidfd_open(pid);
	if (pidfd < 0) {
		r = -errno;
		(void)kill(pid, SIGKILL);
		(void)waitpid(pid, NULL, 0);
		return err_set(err, -r, "pidfd_open of child %d", (int)pid);
	}
	*ret_pid = pid;
	*ret_pidfd = pidfd;
	return 0;
}
