/* The shim's event loop: poll(2) over the two output pipes, a signalfd for SIGCHLD and, with --notify,
 * the container's notify socket. */
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <sys/signalfd.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/log.h"
#include "common/timeutil.h"
#include "runtime/shim/shim.h"

void shim_loop_reap(struct shim_loop *l)
{
	for (;;) {
		int status;
		pid_t pid = waitpid(-1, &status, WNOHANG);

		if (pid < 0 && errno == EINTR)
			continue;
		if (pid <= 0)
			return; /* 0: others still run; ECHILD: none left */
		/* as subreaper we also collect orphaned grandchildren; only init matters */
		if (pid == l->init_pid && !l->exited) {
			l->exited = true;
			l->status = status;
			l->finished_at = time_now_ns();
		}
	}
}

static void drain_signalfd(int sigfd)
{
	struct signalfd_siginfo si;

	while (read(sigfd, &si, sizeof(si)) == (ssize_t)sizeof(si))
		; /* SIGCHLDs coalesce; reaping with WNOHANG below handles all of them */
}

/* Reads one chunk from pipe i and logs its complete lines; closes the pipe at EOF. */
static void pump(struct shim_loop *l, int i)
{
	ssize_t n = shim_linebuf_read(l->lb[i], l->fds[i]);

	if (n == -EAGAIN)
		return;
	if (n < 0)
		log_warn_errno((int)n, "read container %s, closing it", l->lb[i]->stream);
	(void)shim_frame(l->lb[i], n <= 0, shim_logfile_emit, l->lf); /* the log emitter never fails */
	if (n <= 0) {
		(void)close(l->fds[i]); /* a pipe read end: nothing to flush */
		l->fds[i] = -1;
	}
}

static int poll_timeout(const struct shim_loop *l, int64_t drain_deadline)
{
	int64_t left;

	if (!l->exited)
		return -1;
	left = (drain_deadline - time_mono_ns()) / 1000000;
	return left < 0 ? 0 : (int)left;
}

/* The notify socket is read only while init runs (its readiness ends with it), and not while it
 * rests after a burst: then the rest's end bounds the poll. */
static int notify_fd(const struct shim_loop *l, int *timeout)
{
	int rest = -1, fd;

	if (!l->notify || l->exited)
		return -1;
	fd = shim_notify_poll_fd(l->notify, time_mono_ns(), &rest);
	if (rest >= 0 && (*timeout < 0 || rest < *timeout))
		*timeout = rest;
	return fd;
}

int shim_loop_run(struct shim_loop *l, struct err **err)
{
	int64_t deadline = 0;

	shim_loop_reap(l); /* init may have exited before the loop started */
	for (;;) {
		struct pollfd pfd[4] = {
		    {.fd = l->fds[0], .events = POLLIN},
		    {.fd = l->fds[1], .events = POLLIN},
		    {.fd = l->sigfd, .events = POLLIN},
		    {.fd = -1, .events = POLLIN},
		};
		int n, timeout;

		if (l->exited && deadline == 0)
			deadline = time_mono_ns() + (int64_t)SHIM_DRAIN_MS * 1000000;
		if (l->exited && ((l->fds[0] < 0 && l->fds[1] < 0) || time_mono_ns() >= deadline))
			break;
		timeout = poll_timeout(l, deadline);
		pfd[3].fd = notify_fd(l, &timeout);
		n = poll(pfd, 4, timeout);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return err_set(err, errno, "poll");
		}
		for (int i = 0; i < 2; i++)
			if (pfd[i].fd >= 0 && pfd[i].revents)
				pump(l, i);
		if (pfd[2].revents) {
			drain_signalfd(l->sigfd);
			shim_loop_reap(l);
		}
		if (pfd[3].fd >= 0 && pfd[3].revents)
			shim_notify_pump(l->notify);
	}
	/* Output still held open by a leftover process: log what arrived, cut as partial. */
	for (int i = 0; i < 2; i++)
		if (l->fds[i] >= 0)
			(void)shim_frame(l->lb[i], true, shim_logfile_emit, l->lf);
	return 0;
}
