/* "notify": true readiness. The service sends READY=1 to NOTIFY_SOCKET; the shim, which owns that
 * socket, records it in BUNDLE/notify.state (atomically, by a rename). The agent watches the bundle
 * dirs of such instances with one inotify fd in its loop, so the verdict changes as soon as the
 * file does, with no probe traffic and no timer; and it reads the file when it starts watching,
 * which covers what was said before the start was reported or while the agent was not running.
 * "ready" passes the readiness, "stopping" (STOPPING=1, final for the run) fails it. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/inotify.h>
#include <unistd.h>

#include "agent/agent.h"
#include "agent/instance.h"
#include "agent/probe.h"
#include "common/cleanup.h"
#include "common/fs.h"
#include "common/log.h"
#include "common/timeutil.h"

static int ifd = -1;		     /* one inotify for every watched bundle dir */
static struct agent *watching_agent; /* whose instances the watches belong to */

static struct probe_state *readiness(struct instance *i)
{
	return &i->probes[SPEC_PROBE_READINESS];
}

static void apply(struct instance *i, bool ready, const char *msg)
{
	struct probe_state *ps = readiness(i);
	enum probe_verdict want = ready ? PROBE_PASS : PROBE_FAIL;

	if (ps->count.verdict == want)
		return; /* carried over an agent restart, or said again: no change, no event */
	ps->count.verdict = want;
	ps->count.successes = ready ? 1 : 0;
	ps->count.failures = ready ? 0 : 1;
	ps->has_last = true;
	ps->last_ok = ready;
	ps->last_at = time_now_ns();
	ps->last_ms = 0;
	snprintf(ps->message, sizeof(ps->message), "%s", msg);
	log_info("readiness probe %s: %s id=%s", ready ? "passing" : "failing", msg, i->id);
	agent_status_changed(i->a, i); /* saves the record and publishes the event */
}

/* Takes what BUNDLE/notify.state says now; absent: nothing said yet. */
static void read_state(struct instance *i)
{
	_cleanup_free_ char *path = fs_path_join(i->bundle_dir, RT_NOTIFY_STATE_FILE);
	_cleanup_close_ int fd = -1;
	char buf[16];
	ssize_t n;

	if (!path)
		return;
	fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0) {
		if (errno != ENOENT)
			log_warn_errno(-errno, "read '%s', ignoring", path);
		return;
	}
	n = read(fd, buf, sizeof(buf) - 1);
	if (n < 0)
		return;
	buf[n] = '\0';
	if (strcmp(buf, "ready\n") == 0)
		apply(i, true, "READY=1");
	else if (strcmp(buf, "stopping\n") == 0)
		apply(i, false, "STOPPING=1");
	else
		log_warn("'%s' holds something unexpected, ignoring id=%s", path, i->id);
}

static struct instance *by_wd(int wd)
{
	for (struct instance *i = watching_agent ? watching_agent->instances : NULL; i; i = i->next)
		if (readiness(i)->notify_wd == wd)
			return i;
	return NULL;
}

static void on_events(struct loop *l, int fd, uint32_t events, void *data)
{
	char buf[16 * (sizeof(struct inotify_event) + NAME_MAX + 1)]
	    __attribute__((aligned(__alignof__(struct inotify_event))));
	ssize_t n;

	(void)l;
	(void)events;
	(void)data;
	while ((n = read(fd, buf, sizeof(buf))) > 0) {
		for (char *p = buf; p < buf + n;) {
			struct inotify_event *ev = (struct inotify_event *)p;
			struct instance *i;

			p += sizeof(*ev) + ev->len;
			if (ev->mask & IN_Q_OVERFLOW) {
				/* events lost: every watched instance reads its file again */
				for (i = watching_agent->instances; i; i = i->next)
					if (readiness(i)->notify_wd >= 0)
						read_state(i);
				continue;
			}
			i = by_wd(ev->wd);
			if (!i)
				continue;
			if (ev->mask & IN_IGNORED)
				readiness(i)->notify_wd = -1; /* the bundle dir went away */
			else if (ev->len && strcmp(ev->name, RT_NOTIFY_STATE_FILE) == 0)
				read_state(i);
		}
	}
}

static int ensure_fd(struct agent *a)
{
	if (ifd >= 0)
		return 0;
	ifd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
	if (ifd < 0)
		return -errno;
	if (loop_add_fd(a->loop, ifd, EPOLLIN, on_events, NULL) < 0) {
		(void)close(ifd); /* an inotify fd with no watch yet */
		ifd = -1;
		return -EIO;
	}
	watching_agent = a;
	return 0;
}

void probe_notify_start(struct instance *i)
{
	struct probe_state *ps = readiness(i);
	int r;

	if (ps->notify_wd < 0 && i->bundle_dir) {
		r = ensure_fd(i->a);
		/* IN_MOVED_TO: the shim renames the state file into place */
		if (r >= 0 &&
		    (ps->notify_wd = inotify_add_watch(ifd, i->bundle_dir, IN_MOVED_TO | IN_ONLYDIR)) < 0)
			r = -errno;
		if (r < 0)
			log_warn_errno(
			    r, "watch '%s' for the service's READY=1, readiness is read now only id=%s",
			    i->bundle_dir, i->id);
	}
	read_state(i); /* after the watch: a rename in between is seen by one or the other */
}

void probe_notify_stop(struct instance *i)
{
	struct probe_state *ps = readiness(i);

	if (ps->notify_wd < 0)
		return;
	(void)inotify_rm_watch(ifd, ps->notify_wd); /* fails when the dir is gone already: fine */
	ps->notify_wd = -1;
}
