/* The agent's event loop: timers in deadline order, cancel from
 * anywhere in the heap, fds found again by number after one was removed and its number reused in
 * the same turn, and an event fetched for a removed source never delivered. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <unistd.h>

#include <cmocka.h>

#include "agent/loop.h"

#define N_TIMERS 300

struct order {
	int got[N_TIMERS * 2];
	int n;
	int stop_after;
};

struct fired {
	struct order *o;
	int id;
};

static void record(struct loop *l, void *data)
{
	struct fired *f = data;

	f->o->got[f->o->n++] = f->id;
	if (f->o->n == f->o->stop_after)
		loop_quit(l, 0);
}

/* A deterministic shuffle of 0..n-1, so every run tests the same orders. */
static void shuffle(int *a, int n, unsigned seed)
{
	for (int k = 0; k < n; k++)
		a[k] = k;
	for (int k = n - 1; k > 0; k--) {
		seed = seed * 1103515245u + 12345u;
		int j = (int)((seed >> 8) % (unsigned)(k + 1));
		int t = a[k];
		a[k] = a[j];
		a[j] = t;
	}
}

static void timers_run_in_deadline_order_and_cancel_anywhere(void **state)
{
	static struct fired f[N_TIMERS];
	static struct loop_timer *t[N_TIMERS];
	struct order o = {.n = 0};
	struct loop *l;
	int perm[N_TIMERS], expect = 0;

	(void)state;
	assert_int_equal(loop_new(&l), 0);
	shuffle(perm, N_TIMERS, 7);
	/* added in a shuffled order, ten timers on each of 30 delays 10 ms apart (the adds take far
	 * less than that, so the deadlines keep the delays' order) */
	for (int k = 0; k < N_TIMERS; k++) {
		int id = perm[k];
		f[id] = (struct fired){&o, id};
		t[id] = loop_timer_add(l, (id / 10) * 10, record, &f[id]);
		assert_non_null(t[id]);
	}
	/* cancel every third one: the heap's root, leaves and inner slots all get removed */
	for (int id = 0; id < N_TIMERS; id += 3)
		loop_timer_cancel(l, t[id]);
	o.stop_after = N_TIMERS - (N_TIMERS + 2) / 3;
	assert_int_equal(loop_run(l), 0);
	assert_int_equal(o.n, o.stop_after);
	/* by delay; within one delay, in the order they were added (their deadlines' order) */
	for (int ms = 0; ms < N_TIMERS / 10; ms++) {
		int added[10], m = 0;
		for (int k = 0; k < N_TIMERS; k++)
			if (perm[k] / 10 == ms && perm[k] % 3 != 0)
				added[m++] = perm[k];
		for (int j = 0; j < m; j++)
			assert_int_equal(o.got[expect++], added[j]);
	}
	assert_int_equal(expect, o.n);
	l = loop_free(l);
}

struct self_cancel {
	struct loop_timer *other;
	struct order *o;
};

static void cancel_other(struct loop *l, void *data)
{
	struct self_cancel *sc = data;

	loop_timer_cancel(l, sc->other); /* due at the same time, not yet run */
	sc->o->got[sc->o->n++] = -1;
}

static void quit_cb(struct loop *l, void *data)
{
	(void)data;
	loop_quit(l, 7);
}

static void a_timer_cancels_another_due_in_the_same_turn(void **state)
{
	struct order o = {.n = 0, .stop_after = 100};
	struct fired f = {&o, 1};
	struct self_cancel sc = {NULL, &o};
	struct loop *l;

	(void)state;
	assert_int_equal(loop_new(&l), 0);
	assert_non_null(loop_timer_add(l, 0, cancel_other, &sc));
	sc.other = loop_timer_add(l, 0, record, &f);
	assert_non_null(sc.other);
	assert_non_null(loop_timer_add(l, 20, quit_cb, NULL));
	assert_int_equal(loop_run(l), 7);
	assert_int_equal(o.n, 1);
	assert_int_equal(o.got[0], -1);
	l = loop_free(l);
}

struct pipes {
	int a[2], b[2];
	int calls_a, calls_b, calls_c;
	int reused; /* the fd number a new pipe got after a[0] was closed */
	int c[2];
};

static void on_c(struct loop *l, int fd, uint32_t events, void *data)
{
	struct pipes *p = data;
	char buf[8];

	(void)events;
	(void)!read(fd, buf, sizeof(buf));
	p->calls_c++;
	loop_quit(l, 0);
}

/* Both pipes are readable in the same turn. Whichever runs first removes and closes the other's
 * read end and watches a new pipe that takes the same fd number: the event already fetched for the
 * removed source must not reach it, nor the new source in its place. */
static void on_ab(struct loop *l, int fd, uint32_t events, void *data)
{
	struct pipes *p = data;
	int other = fd == p->a[0] ? p->b[0] : p->a[0];
	char buf[8];

	(void)events;
	(void)!read(fd, buf, sizeof(buf));
	if (fd == p->a[0])
		p->calls_a++;
	else
		p->calls_b++;
	loop_del_fd(l, other);
	close(other);
	assert_int_equal(pipe(p->c), 0);
	p->reused = p->c[0];
	assert_int_equal(p->c[0], other); /* the lowest free number */
	assert_int_equal(loop_add_fd(l, p->c[0], EPOLLIN, on_c, p), 0);
	assert_int_equal(write(p->c[1], "x", 1), 1);
	if (other == p->a[0])
		p->a[0] = -1; /* its number now belongs to c */
	else
		p->b[0] = -1;
}

static void a_removed_fd_gets_no_event_and_its_number_can_be_watched_again(void **state)
{
	struct pipes p = {0};
	struct loop *l;

	(void)state;
	assert_int_equal(loop_new(&l), 0);
	assert_int_equal(pipe(p.a), 0);
	assert_int_equal(pipe(p.b), 0);
	assert_int_equal(loop_add_fd(l, p.a[0], EPOLLIN, on_ab, &p), 0);
	assert_int_equal(loop_add_fd(l, p.b[0], EPOLLIN, on_ab, &p), 0);
	assert_int_equal(loop_add_fd(l, p.a[0], EPOLLIN, on_ab, &p), -EEXIST);
	assert_int_equal(write(p.a[1], "x", 1), 1);
	assert_int_equal(write(p.b[1], "x", 1), 1);
	assert_int_equal(loop_run(l), 0);
	assert_int_equal(p.calls_a + p.calls_b, 1);
	assert_int_equal(p.calls_c, 1);
	/* the new source is found by its number: it can be changed and removed */
	assert_int_equal(loop_mod_fd(l, p.reused, EPOLLIN | EPOLLOUT), 0);
	loop_del_fd(l, p.reused);
	assert_int_equal(loop_mod_fd(l, p.reused, EPOLLIN), -ENOENT);
	assert_int_equal(loop_mod_fd(l, 100000, EPOLLIN), -ENOENT);
	l = loop_free(l);
	for (int k = 0; k < 2; k++) {
		if (p.a[k] >= 0)
			close(p.a[k]);
		if (p.b[k] >= 0)
			close(p.b[k]);
		close(p.c[k]);
	}
}

static void fds_above_the_first_table_size_are_watched(void **state)
{
	struct pipes p = {0};
	struct loop *l;
	int hi;

	(void)state;
	assert_int_equal(loop_new(&l), 0);
	assert_int_equal(pipe(p.c), 0);
	hi = dup2(p.c[0], 700);
	assert_int_equal(hi, 700);
	assert_int_equal(loop_add_fd(l, hi, EPOLLIN, on_c, &p), 0);
	assert_int_equal(write(p.c[1], "x", 1), 1);
	assert_int_equal(loop_run(l), 0);
	assert_int_equal(p.calls_c, 1);
	l = loop_free(l); /* frees the live source too (leak check under the sanitizer build) */
	close(hi);
	close(p.c[0]);
	close(p.c[1]);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(timers_run_in_deadline_order_and_cancel_anywhere),
	    cmocka_unit_test(a_timer_cancels_another_due_in_the_same_turn),
	    cmocka_unit_test(a_removed_fd_gets_no_event_and_its_number_can_be_watched_again),
	    cmocka_unit_test(fds_above_the_first_table_size_are_watched),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
