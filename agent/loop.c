#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/timerfd.h>
#include <unistd.h>

#include "agent/loop.h"
#include "common/timeutil.h"

struct loop_src {
	int fd;
	loop_fd_cb cb;
	void *data;
	bool dead;
	struct loop_src *next;
};

struct loop_timer {
	int64_t deadline; /* monotonic ns */
	loop_timer_cb cb;
	void *data;
	struct loop_timer *next;
};

struct loop {
	int epfd;
	int tfd;
	struct loop_src *srcs;
	struct loop_timer *timers; /* sorted by deadline */
	int64_t armed;		   /* the deadline the timerfd holds; 0: disarmed */
	bool quit;
	int code;
};

static struct loop_src timer_src; /* marker for the timerfd's epoll entry */

int loop_new(struct loop **ret)
{
	struct loop *l = calloc(1, sizeof(*l));
	struct epoll_event ev = {.events = EPOLLIN, .data.ptr = &timer_src};

	if (!l)
		return -ENOMEM;
	l->epfd = epoll_create1(EPOLL_CLOEXEC);
	l->tfd = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC | TFD_NONBLOCK);
	if (l->epfd < 0 || l->tfd < 0 || epoll_ctl(l->epfd, EPOLL_CTL_ADD, l->tfd, &ev) < 0) {
		int r = -errno;
		loop_free(l);
		return r;
	}
	*ret = l;
	return 0;
}

struct loop *loop_free(struct loop *l)
{
	if (!l)
		return NULL;
	while (l->srcs) {
		struct loop_src *n = l->srcs->next;
		free(l->srcs);
		l->srcs = n;
	}
	while (l->timers) {
		struct loop_timer *n = l->timers->next;
		free(l->timers);
		l->timers = n;
	}
	if (l->epfd >= 0)
		close(l->epfd);
	if (l->tfd >= 0)
		close(l->tfd);
	free(l);
	return NULL;
}

int loop_add_fd(struct loop *l, int fd, uint32_t events, loop_fd_cb cb, void *data)
{
	struct loop_src *s = calloc(1, sizeof(*s));
	struct epoll_event ev = {.events = events};

	if (!s)
		return -ENOMEM;
	s->fd = fd;
	s->cb = cb;
	s->data = data;
	ev.data.ptr = s;
	if (epoll_ctl(l->epfd, EPOLL_CTL_ADD, fd, &ev) < 0) {
		int r = -errno;
		free(s);
		return r;
	}
	s->next = l->srcs;
	l->srcs = s;
	return 0;
}

static struct loop_src *find_src(struct loop *l, int fd)
{
	for (struct loop_src *s = l->srcs; s; s = s->next)
		if (!s->dead && s->fd == fd)
			return s;
	return NULL;
}

int loop_mod_fd(struct loop *l, int fd, uint32_t events)
{
	struct loop_src *s = find_src(l, fd);
	struct epoll_event ev = {.events = events};

	if (!s)
		return -ENOENT;
	ev.data.ptr = s;
	return epoll_ctl(l->epfd, EPOLL_CTL_MOD, fd, &ev) < 0 ? -errno : 0;
}

void loop_del_fd(struct loop *l, int fd)
{
	struct loop_src *s = find_src(l, fd);

	if (!s)
		return;
	(void)epoll_ctl(l->epfd, EPOLL_CTL_DEL, fd, NULL); /* fd may already be closed */
	s->dead = true;					   /* freed after the current dispatch round */
}

static void reap_dead(struct loop *l)
{
	struct loop_src **pp = &l->srcs;

	while (*pp) {
		if ((*pp)->dead) {
			struct loop_src *d = *pp;
			*pp = d->next;
			free(d);
		} else {
			pp = &(*pp)->next;
		}
	}
}

/* The timerfd is set only before the loop blocks, and only when the first deadline changed: a
 * burst of adds and cancels in one turn costs one timerfd_settime, or none. */
static void arm(struct loop *l)
{
	struct itimerspec its = {0};
	int64_t d = l->timers ? l->timers->deadline : 0;

	if (l->timers && d <= 0)
		d = 1;
	if (d == l->armed)
		return;
	its.it_value.tv_sec = d / 1000000000LL;
	its.it_value.tv_nsec = d % 1000000000LL;
	(void)timerfd_settime(l->tfd, TFD_TIMER_ABSTIME, &its, NULL); /* cannot fail with valid values */
	l->armed = d;
}

struct loop_timer *loop_timer_add(struct loop *l, int64_t delay_ms, loop_timer_cb cb, void *data)
{
	struct loop_timer *t = calloc(1, sizeof(*t)), **pp;

	if (!t)
		return NULL;
	t->deadline = time_mono_ns() + (delay_ms < 0 ? 0 : delay_ms) * 1000000LL;
	t->cb = cb;
	t->data = data;
	for (pp = &l->timers; *pp && (*pp)->deadline <= t->deadline; pp = &(*pp)->next)
		;
	t->next = *pp;
	*pp = t;
	return t;
}

void loop_timer_cancel(struct loop *l, struct loop_timer *t)
{
	for (struct loop_timer **pp = &l->timers; *pp; pp = &(*pp)->next) {
		if (*pp == t) {
			*pp = t->next;
			free(t);
			return;
		}
	}
}

/* Runs the timers due now; true if it ran any. */
static bool run_due(struct loop *l)
{
	int64_t now = time_mono_ns();
	bool ran = false;

	while (l->timers && l->timers->deadline <= now && !l->quit) {
		struct loop_timer *t = l->timers;
		l->timers = t->next;
		t->cb(l, t->data);
		free(t);
		ran = true;
	}
	return ran;
}

static void on_timerfd(struct loop *l)
{
	uint64_t expirations;

	(void)!read(l->tfd, &expirations, sizeof(expirations)); /* EAGAIN is fine: we check deadlines */
	l->armed = 0;						/* a fired absolute timer is spent */
	(void)run_due(l);
}

int loop_run(struct loop *l)
{
	struct epoll_event evs[32];

	while (!l->quit) {
		/* timers due already (a 0 ms timer set by a callback, libcurl's among them) run before
		 * blocking, not after a wake-up of their own; a few rounds, so a timer that re-adds
		 * itself at 0 ms cannot keep the loop from its fds */
		for (int round = 0; round < 4 && run_due(l); round++)
			;
		if (l->quit)
			break;
		arm(l);
		int n =
		    epoll_wait(l->epfd, evs, 32, l->timers && l->timers->deadline <= time_mono_ns() ? 0 : -1);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		for (int i = 0; i < n && !l->quit; i++) {
			struct loop_src *s = evs[i].data.ptr;
			if (s == &timer_src) {
				on_timerfd(l);
				continue;
			}
			if (!s->dead)
				s->cb(l, s->fd, evs[i].events, s->data);
		}
		reap_dead(l);
	}
	return l->code;
}

void loop_quit(struct loop *l, int code)
{
	l->quit = true;
	l->code = code;
}
