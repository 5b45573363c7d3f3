/* Adopting what the last agent was in the middle of: a container start (phase creating) and a
 * container whose shim was killed.
 *
 * A start: the agent locks BUNDLE/shim.lock and hands it to the shim as its stdin; the shim keeps it
 * open (and so locked) for its whole life, writes shim.pid before the runtime runs, and the runtime
 * writes container.pid once the container exists. A restarted agent that finds the lock held knows a
 * shim lives even if neither file is there yet: it waits (inotify on the bundle, the shim's pidfd, a
 * deadline) until the container runs, then adopts it as if the shim had reported. A free lock and no
 * shim.pid means no shim ever ran: the start is begun again, not reported as a failure.
 *
 * A killed shim: if its container still runs (the runtime says so, with the same pid), the container
 * is kept and watched through its own pidfd; its output is no longer logged and its exit code is
 * unknown when it exits (it is not our child), which the status says. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/file.h>
#include <sys/inotify.h>
#include <unistd.h>

#include "agent/agent.h"
#include "agent/lifecycle.h"
#include "agent/probe.h"
#include "common/cleanup.h"
#include "common/fs.h"
#include "common/log.h"
#include "common/proc.h"

struct start_wait {
	int inotify_fd;
	int pidfd; /* the shim's, once shim.pid names a live one */
	struct loop_timer *deadline;
};

enum start_state { START_RUNNING, START_WAIT, START_SHIM_GONE, START_NEVER_RAN };

static pid_t read_pid(const char *dir, const char *name)
{
	_cleanup_free_ char *path = fs_path_join(dir, name);
	_cleanup_close_ int fd = -1;
	char buf[32];
	ssize_t n;
	long v;

	if (!path || (fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW)) < 0)
		return 0;
	n = read(fd, buf, sizeof(buf) - 1);
	if (n <= 0)
		return 0;
	buf[n] = '\0';
	v = strtol(buf, NULL, 10);
	return v > 0 && v <= INT32_MAX ? (pid_t)v : 0;
}

static bool bundle_has(const struct instance *i, const char *name)
{
	_cleanup_free_ char *path = fs_path_join(i->bundle_dir, name);

	return path && fs_exists(path);
}

/* Held by a live shim (or one being born); false also when there is no lock file. */
static bool shim_lock_held(const struct instance *i)
{
	_cleanup_free_ char *path = fs_path_join(i->bundle_dir, RT_SHIM_LOCK_FILE);
	_cleanup_close_ int fd = -1;

	if (!path || (fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW)) < 0)
		return false;
	return flock(fd, LOCK_SH | LOCK_NB) < 0 && errno == EWOULDBLOCK;
}

static bool shim_running(struct instance *i)
{
	i->shim_pid = read_pid(i->bundle_dir, RT_SHIM_PID_FILE);
	i->pid = read_pid(i->bundle_dir, RT_CONTAINER_PID_FILE);
	i->shim_start = 0;
	if (i->shim_pid <= 0 || proc_start_time(i->shim_pid, &i->shim_start) < 0)
		return false;
	return i->pid > 0 && proc_alive(i->pid);
}

static enum start_state start_state(struct instance *i)
{
	if (shim_running(i))
		return START_RUNNING;
	if (shim_lock_held(i))
		return START_WAIT;
	if (shim_running(i)) /* it finished its start between the two looks */
		return START_RUNNING;
	if (bundle_has(i, RT_SHIM_PID_FILE) || bundle_has(i, RT_EXIT_FILE))
		return START_SHIM_GONE;
	return START_NEVER_RAN;
}

void inst_start_wait_done(struct instance *i)
{
	struct start_wait *w = i->start_wait;

	if (!w)
		return;
	if (w->inotify_fd >= 0) {
		loop_del_fd(i->a->loop, w->inotify_fd);
		close(w->inotify_fd);
	}
	if (w->pidfd >= 0) {
		loop_del_fd(i->a->loop, w->pidfd);
		close(w->pidfd);
	}
	if (w->deadline)
		loop_timer_cancel(i->a->loop, w->deadline);
	free(w);
	i->start_wait = NULL;
}

static void on_wait_event(struct loop *l, int fd, uint32_t events, void *data);

/* Acts on what the bundle says now; i may be gone when this returns. */
static void recheck(struct instance *i)
{
	switch (start_state(i)) {
	case START_WAIT:
		if (i->start_wait && i->start_wait->pidfd < 0 && i->shim_pid > 0 &&
		    (i->start_wait->pidfd = proc_pidfd_open(i->shim_pid)) >= 0 &&
		    loop_add_fd(i->a->loop, i->start_wait->pidfd, EPOLLIN, on_wait_event, i) < 0) {
			close(i->start_wait->pidfd);
			i->start_wait->pidfd = -1;
		}
		return;
	case START_RUNNING:
		inst_start_wait_done(i);
		log_info("adopted a start the last agent began pid=%d shim=%d id=%s", (int)i->pid,
			 (int)i->shim_pid, i->id);
		inst_started(i, i->shim_pid, i->pid);
		return;
	case START_SHIM_GONE:
		inst_start_wait_done(i);
		log_notice("the shim of a start the last agent began is gone, reading its exit record id=%s",
			   i->id);
		inst_handle_exit(i);
		return;
	case START_NEVER_RAN:
		inst_start_wait_done(i);
		i->pid = i->shim_pid = 0;
		log_notice("the last agent died before its shim started, starting again id=%s", i->id);
		lc_event(i, LC_EV_START_LOST); /* a removal or replacement waiting goes on at once instead */
		return;
	}
}

static void on_wait_event(struct loop *l, int fd, uint32_t events, void *data)
{
	char buf[4096] __attribute__((aligned(__alignof__(struct inotify_event))));
	struct instance *i = data;

	(void)l;
	(void)events;
	if (i->start_wait && fd == i->start_wait->inotify_fd)
		while (read(fd, buf, sizeof(buf)) > 0)
			; /* only "something changed" matters: the files are read again */
	recheck(i);
}

static void wait_deadline(struct loop *l, void *data)
{
	struct instance *i = data;

	(void)l;
	i->start_wait->deadline = NULL;
	inst_start_wait_done(i);
	log_warn("a start the last agent began did not finish in time, giving up id=%s", i->id);
	inst_handle_exit(i); /* kills what the runtime made, then the restart policy */
}

static int start_waiting(struct instance *i)
{
	struct start_wait *w = calloc(1, sizeof(*w));
	int64_t limit =
	    (i->a->cfg->runtime_timeout_ms > 0 ? i->a->cfg->runtime_timeout_ms : 120000) * 2 + 10000;

	if (!w)
		return -ENOMEM;
	w->pidfd = -1;
	w->inotify_fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
	i->start_wait = w;
	if (w->inotify_fd < 0 ||
	    inotify_add_watch(w->inotify_fd, i->bundle_dir, IN_CREATE | IN_MOVED_TO | IN_CLOSE_WRITE) < 0 ||
	    loop_add_fd(i->a->loop, w->inotify_fd, EPOLLIN, on_wait_event, i) < 0) {
		if (w->inotify_fd >= 0)
			close(w->inotify_fd);
		w->inotify_fd = -1;
		inst_start_wait_done(i);
		return -EIO;
	}
	w->deadline = loop_timer_add(i->a->loop, limit, wait_deadline, i);
	return 0;
}

void inst_adopt_creating(struct instance *i)
{
	if (start_state(i) != START_WAIT) {
		recheck(i);
		return;
	}
	log_info("a shim is still starting the container, waiting for it id=%s", i->id);
	if (start_waiting(i) < 0) {
		log_warn("cannot watch bundle '%s', treating the shim as gone id=%s", i->bundle_dir, i->id);
		inst_handle_exit(i);
		return;
	}
	recheck(i); /* what happened before the watch was set */
}

static void on_orphan_exit(struct loop *l, int fd, uint32_t events, void *data)
{
	(void)l;
	(void)fd;
	(void)events;
	inst_handle_exit(data); /* no exit record, the container gone: reported with its code unknown */
}

bool inst_watch_orphan(struct instance *i)
{
	_cleanup_err_ struct err *e = NULL;
	char status[32] = "";
	pid_t pid = 0;
	int fd;

	if (rt_runc_state(&i->a->runc, i->id, status, sizeof(status), &pid, &e) < 0 || pid != i->pid ||
	    strcmp(status, "running") != 0)
		return false;
	fd = proc_pidfd_open(i->pid);
	if (fd < 0)
		return false;
	if (loop_add_fd(i->a->loop, fd, EPOLLIN, on_orphan_exit, i) < 0) {
		close(fd);
		return false;
	}
	i->ctr_pidfd = fcntl(fd, F_DUPFD_CLOEXEC, 3); /* for signals; -1 falls back to the runtime */
	i->shim_pidfd = fd;			      /* closed and unwatched with the rest */
	i->shim_pid = 0;
	log_warn("the shim died, its container runs on, watched through its pidfd pid=%d id=%s", (int)i->pid,
		 i->id);
	lc_event_msg(
	    i, LC_EV_SHIM_LOST,
	    "its shim was killed: the container runs on, its output is no longer logged and its exit code "
	    "will be unknown");
	if (i->phase == PH_RUNNING && !lc_has_intent(i))
		probe_start(i, true); /* the watch's reset stopped them; the container still runs */
	return true;
}
