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
	struct loop_src *next_dead;
};

struct loop_timer {
	int64_t deadline; /* monotonic ns */
	uint64_t seq;	  /* order of adding: equal deadlines run first come, first served */
	size_t slot;	  /* index in the heap, for an O(log n) cancel */
	loop_timer_cb cb;
	void *data;
};

/* Sources are found by fd in a table indexed by fd, and timers kept in a binary min-heap: with
 * hundreds of instances, each with a pidfd, a shim pipe and probes that add a socket and a timer
 * every period, lists walked on every add, cancel, change and turn cost more than the syscalls. */
struct loop {
	int epfd;
	int tfd;
	struct loop_src **by_fd; /* live sources; NULL where the fd is not watched */
	size_t n_by_fd;
	struct loop_src *dead; /* removed during this turn, freed after its dispatch */
	struct loop_timer **heap;
	size_t n_timers, cap_timers;
	uint64_t next_seq;
	int64_t armed; /* the deadline the timerfd holds; 0: disarmed */
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

static void reap_dead(struct loop *l)
{
	while (l->dead) {
		struct loop_src *d = l->dead;
		l->dead = d->next_dead;
		free(d);
	}
}

struct loop *loop_free(struct loop *l)
{
	if (!l)
		return NULL;
	for (size_t k = 0; k < l->n_by_fd; k++)
		free(l->by_fd[k]);
	free(l->by_fd);
	reap_dead(l);
	for (size_t k = 0; k < l->n_timers; k++)
		free(l->heap[k]);
	free(l->heap);
	if (l->epfd >= 0)
		close(l->epfd);
	if (l->tfd >= 0)
		close(l->tfd);
	free(l);
	return NULL;
}

static int grow_by_fd(struct loop *l, int fd)
{
	size_t n = l->n_by_fd ? l->n_by_fd : 64;
	struct loop_src **t;

	while (n <= (size_t)fd)
		n *= 2;
	t = realloc(l->by_fd, n * sizeof(struct loop_src *));
	if (!t)
		return -ENOMEM;
	memset(t + l->n_by_fd, 0, (n - l->n_by_fd) * sizeof(struct loop_src *));
	l->by_fd = t;
	l->n_by_fd = n;
	return 0;
}

int loop_add_fd(struct loop *l, int fd, uint32_t events, loop_fd_cb cb, void *data)
{
	struct loop_src *s;
	struct epoll_event ev = {.events = events};

	if (fd < 0)
		return -EBADF;
	if ((size_t)fd >= l->n_by_fd && grow_by_fd(l, fd) < 0)
		return -ENOMEM;
	if (l->by_fd[fd])
		return -EEXIST;
	s = calloc(1, sizeof(*s));
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
	l->by_fd[fd] = s;
	return 0;
}

static struct loop_src *find_src(struct loop *l, int fd)
{
	return fd >= 0 && (size_t)fd < l->n_by_fd ? l->by_fd[fd] : NULL;
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
	l->by_fd[fd] = NULL; /* the fd number may be watched again at once, by a new source */
	s->dead = true;	     /* an event already fetched for it this turn is skipped */
	s->next_dead = l->dead;
	l->dead = s;
}

/* The timerfd is set only before the loop blocks, and only when the first deadline changed: a
 * burst of adds and cancels in one turn costs one timerfd_settime, or none. */
static void arm(struct loop *l)
{
	struct itimerspec its = {0};
	int64_t d = l->n_timers ? l->heap[0]->deadline : 0;

	if (l->n_timers && d <= 0)
		d = 1;
	if (d == l->armed)
		return;
	its.it_value.tv_sec = d / 1000000000LL;
	its.it_value.tv_nsec = d % 1000000000LL;
	(void)timerfd_settime(l->tfd, TFD_TIMER_ABSTIME, &its, NULL); /* cannot fail with valid values */
	l->armed = d;
}

static bool before(const struct loop_timer *a, const struct loop_timer *b)
{
	return a->deadline < b->deadline || (a->deadline == b->deadline && a->seq < b->seq);
}

static void place(struct loop *l, size_t k, struct loop_timer *t)
{
	l->heap[k] = t;
	t->slot = k;
}

static void sift_up(struct loop *l, size_t k)
{
	struct loop_timer *t = l->heap[k];

	while (k > 0 && before(t, l->heap[(k - 1) / 2])) {
		place(l, k, l->heap[(k - 1) / 2]);
		k = (k - 1) / 2;
	}
	place(l, k, t);
}

static void sift_down(struct loop *l, size_t k)
{
	struct loop_timer *t = l->heap[k];

	for (;;) {
		size_t c = 2 * k + 1;
		if (c >= l->n_timers)
			break;
		if (c + 1 < l->n_timers && before(l->heap[c + 1], l->heap[c]))
			c++;
		if (!before(l->heap[c], t))
			break;
		place(l, k, l->heap[c]);
		k = c;
	}
	place(l, k, t);
}

/* Takes the timer in slot k out of the heap (does not free it). */
static void heap_remove(struct loop *l, size_t k)
{
	struct loop_timer *last = l->heap[--l->n_timers];

	if (k == l->n_timers)
		return;
	place(l, k, last);
	if (k > 0 && before(last, l->heap[(k - 1) / 2]))
		sift_up(l, k);
	else
		sift_down(l, k);
}

struct loop_timer *loop_timer_add(struct loop *l, int64_t delay_ms, loop_timer_cb cb, void *data)
{
	return loop_timer_add_at(l, time_mono_ns() + (delay_ms < 0 ? 0 : delay_ms) * 1000000LL, cb, data);
}

struct loop_timer *loop_timer_add_at(struct loop *l, int64_t deadline_ns, loop_timer_cb cb, void *data)
{
	struct loop_timer *t;

	if (l->n_timers == l->cap_timers) {
		size_t cap = l->cap_timers ? 2 * l->cap_timers : 64;
		struct loop_timer **h = realloc(l->heap, cap * sizeof(struct loop_timer *));
		if (!h)
			return NULL;
		l->heap = h;
		l->cap_timers = cap;
	}
	t = calloc(1, sizeof(*t));
	if (!t)
		return NULL;
	t->deadline = deadline_ns;
	t->seq = l->next_seq++;
	t->cb = cb;
	t->data = data;
	place(l, l->n_timers++, t);
	sift_up(l, t->slot);
	return t;
}

void loop_timer_cancel(struct loop *l, struct loop_timer *t)
{
	if (!t || t->slot >= l->n_timers || l->heap[t->slot] != t)
		return; /* not a pending timer of this loop */
	heap_remove(l, t->slot);
	free(t);
}

/* Runs the timers due now; true if it ran any. */
static bool run_due(struct loop *l)
{
	int64_t now = time_mono_ns();
	bool ran = false;

	while (l->n_timers && l->heap[0]->deadline <= now && !l->quit) {
		struct loop_timer *t = l->heap[0];
		heap_remove(l, 0);
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
		int n = epoll_wait(l->epfd, evs, 32,
				   l->n_timers && l->heap[0]->deadline <= time_mono_ns() ? 0 : -1);
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
