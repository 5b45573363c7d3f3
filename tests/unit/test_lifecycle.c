/* The lifecycle table (agent/lifecycle.c) without runc: every row, every illegal cell, and the
 * sequences that once went wrong (replace while pulling, delete while starting, exit during a stop,
 * an agent restart in every phase, the back-off across agent restarts). */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "agent/lifecycle.h"
#include "common/err.h"
#include "common/log.h"

#define NOW (1800000000LL * 1000000000LL)
#define MS 1000000LL

static struct spec *mkspec(long long rev, const char *restart, const char *image)
{
	char text[512];
	struct err *e = NULL;
	struct spec *s = NULL;

	snprintf(
	    text, sizeof(text),
	    "{\"id\":\"x\",\"revision\":%lld,\"image\":\"%s\",\"command\":[\"true\"],\"restart\":\"%s\"}",
	    rev, image ? image : "oci:/img", restart ? restart : "always");
	if (spec_parse_text(text, strlen(text), &s, &e) < 0)
		fail_msg("spec: %s", err_msg(e));
	return s;
}

static struct instance *mk(enum inst_phase p, const char *restart)
{
	struct instance *i = calloc(1, sizeof(*i));

	assert_non_null(i);
	i->id = strdup("x");
	i->spec = restart ? mkspec(1, restart, NULL) : NULL;
	i->sync_fd = i->shim_pidfd = i->ctr_pidfd = -1;
	lc_restore(i, p, "", NULL, false, false, NULL, 0, 0);
	return i;
}

static void drop(struct instance *i)
{
	spec_free(i->spec);
	spec_free(i->next_spec);
	free(i->message);
	free(i->id);
	free(i);
}

/* Feeds ev at NOW; returns the result. */
static struct lc_result step(struct instance *i, enum lc_event ev, struct spec *spec, const char *msg)
{
	struct lc_input in = {.ev = ev,
			      .now_ns = NOW,
			      .mono_ns = 5 * MS,
			      .spec = spec,
			      .msg = msg,
			      .reason = ev == LC_EV_INVALID_SPEC ? "InvalidSpec" : NULL};
	struct lc_result r;

	assert_int_equal(lc_transition(i, &in, &r), 0);
	assert_true(r.legal);
	return r;
}

/* The actions, as "a,b,c", for readable failures. */
static const char *acts(const struct lc_result *r)
{
	static char buf[256];

	buf[0] = '\0';
	for (int k = 0; k < r->n_acts; k++) {
		strncat(buf, lc_action_name(r->acts[k]), sizeof(buf) - strlen(buf) - 2);
		if (k + 1 < r->n_acts)
			strcat(buf, ",");
	}
	return buf;
}

enum {
	S_NONE = 0,
	S_PLACEHOLDER = 1,
	S_REMOVING = 2,
	S_NEXT = 4,
	S_EXIT0 = 8,
	S_NEVER = 16,
	S_DUE = 32,
	S_FORCE = 64,
	S_NOREC = 128
};

struct row_case {
	enum inst_phase from;
	enum lc_event ev;
	unsigned setup;
	enum inst_phase to;
	const char *acts;
	const char *reason;
	bool chain_stop;
};

/* clang-format off */
static const struct row_case rows[] = {
	{PH_PENDING, LC_EV_APPLY, S_PLACEHOLDER, PH_PENDING, "history-new,start", "", false},
	{PH_PENDING, LC_EV_REPLACE, S_DUE, PH_PENDING, "cancel-restart,replace,start", "", false},
	{PH_PENDING, LC_EV_DELETE, S_NONE, PH_PENDING, "cancel-restart,remove", "", false},
	{PH_PENDING, LC_EV_DELETE, S_PLACEHOLDER, PH_PENDING, "drop", "", false},
	{PH_PENDING, LC_EV_FORCE_DELETE, S_NONE, PH_PENDING, "cancel-restart,remove", "", false},
	{PH_PENDING, LC_EV_INVALID_SPEC, S_PLACEHOLDER, PH_FAILED, "publish", "InvalidSpec", false},
	{PH_PENDING, LC_EV_PULL_BEGUN, S_NONE, PH_PULLING, "publish", "", false},
	{PH_PENDING, LC_EV_IMAGE_READY, S_NONE, PH_CREATING, "publish,create", "", false},
	{PH_PENDING, LC_EV_IMAGE_FAILED, S_NONE, PH_PENDING, "schedule-restart,publish", "ImagePullFailed", false},
	{PH_PENDING, LC_EV_IMAGE_FAILED, S_NEVER, PH_FAILED, "publish", "ImagePullFailed", false},
	{PH_PENDING, LC_EV_RESTART_TIMER, S_DUE, PH_PENDING, "start", "", false},
	{PH_PENDING, LC_EV_ADOPT, S_NONE, PH_PENDING, "start", "", false},
	{PH_PENDING, LC_EV_ADOPT, S_DUE, PH_PENDING, "schedule-restart", "", false},
	{PH_PENDING, LC_EV_ADOPT, S_REMOVING, PH_PENDING, "remove", "", false},

	{PH_PULLING, LC_EV_REPLACE, S_NONE, PH_PENDING, "cancel-pull,replace,start", "", false},
	{PH_PULLING, LC_EV_DELETE, S_NONE, PH_PULLING, "cancel-pull,remove", "", false},
	{PH_PULLING, LC_EV_FORCE_DELETE, S_NONE, PH_PULLING, "cancel-pull,remove", "", false},
	{PH_PULLING, LC_EV_IMAGE_READY, S_NONE, PH_CREATING, "publish,create", "", false},
	{PH_PULLING, LC_EV_IMAGE_FAILED, S_NONE, PH_PENDING, "schedule-restart,publish", "ImagePullFailed", false},
	{PH_PULLING, LC_EV_ADOPT, S_NONE, PH_PENDING, "start", "", false},
	{PH_PULLING, LC_EV_ADOPT, S_NEXT, PH_PENDING, "replace,start", "", false},

	{PH_CREATING, LC_EV_REPLACE, S_NONE, PH_CREATING, "persist", "", false},
	{PH_CREATING, LC_EV_DELETE, S_NONE, PH_CREATING, "persist", "", false},
	{PH_CREATING, LC_EV_FORCE_DELETE, S_NONE, PH_CREATING, "persist", "", false},
	{PH_CREATING, LC_EV_START_OK, S_NONE, PH_RUNNING, "publish", "", false},
	{PH_CREATING, LC_EV_START_OK, S_REMOVING, PH_RUNNING, "publish", "", true},
	{PH_CREATING, LC_EV_START_FAILED, S_NONE, PH_PENDING, "schedule-restart,publish", "StartFailed", false},
	{PH_CREATING, LC_EV_START_FAILED, S_NEVER, PH_FAILED, "publish", "StartFailed", false},
	{PH_CREATING, LC_EV_EXITED, S_NOREC, PH_FAILED, "schedule-restart,publish", "Error", false},
	{PH_CREATING, LC_EV_ADOPT, S_NONE, PH_RUNNING, "publish", "", false},
	{PH_CREATING, LC_EV_ADOPT, S_NEXT, PH_RUNNING, "publish", "", true},

	{PH_RUNNING, LC_EV_REPLACE, S_NONE, PH_STOPPING, "publish,stop", "", false},
	{PH_RUNNING, LC_EV_DELETE, S_NONE, PH_STOPPING, "publish,stop", "", false},
	{PH_RUNNING, LC_EV_FORCE_DELETE, S_NONE, PH_STOPPING, "publish,kill", "", false},
	{PH_RUNNING, LC_EV_EXITED, S_NONE, PH_EXITED, "schedule-restart,publish", "Error", false},
	{PH_RUNNING, LC_EV_EXITED, S_EXIT0, PH_EXITED, "schedule-restart,publish", "Completed", false},
	{PH_RUNNING, LC_EV_EXITED, S_NEVER, PH_EXITED, "publish", "Error", false},
	{PH_RUNNING, LC_EV_STOP, S_REMOVING, PH_STOPPING, "publish,stop", "", false},
	{PH_RUNNING, LC_EV_STOP, S_REMOVING | S_FORCE, PH_STOPPING, "publish,kill", "", false},
	{PH_RUNNING, LC_EV_LIVENESS_FAILED, S_NONE, PH_STOPPING, "publish,stop", "LivenessFailed", false},
	{PH_RUNNING, LC_EV_EVICT, S_NONE, PH_STOPPING, "publish,kill", "Evicted", false},
	{PH_RUNNING, LC_EV_ADOPT, S_NONE, PH_RUNNING, "", "", false},
	{PH_RUNNING, LC_EV_ADOPT, S_REMOVING, PH_RUNNING, "", "", true},

	{PH_STOPPING, LC_EV_REPLACE, S_REMOVING, PH_STOPPING, "persist", "", false},
	{PH_STOPPING, LC_EV_DELETE, S_NEXT, PH_STOPPING, "persist", "", false},
	{PH_STOPPING, LC_EV_FORCE_DELETE, S_REMOVING, PH_STOPPING, "persist,cut-grace", "", false},
	{PH_STOPPING, LC_EV_EXITED, S_REMOVING, PH_EXITED, "announce,remove", "Error", false},
	{PH_STOPPING, LC_EV_EXITED, S_NEXT, PH_EXITED, "publish,replace,start", "Error", false},
	{PH_STOPPING, LC_EV_GRACE_EXPIRED, S_REMOVING, PH_STOPPING, "kill", "", false},
	{PH_STOPPING, LC_EV_LIVENESS_FAILED, S_NEXT, PH_STOPPING, "", "", false},
	{PH_STOPPING, LC_EV_ADOPT, S_NONE, PH_RUNNING, "publish", "", false},
	{PH_STOPPING, LC_EV_ADOPT, S_NEXT, PH_RUNNING, "publish", "", true},

	{PH_EXITED, LC_EV_REPLACE, S_DUE, PH_EXITED, "cancel-restart,replace,start", "", false},
	{PH_EXITED, LC_EV_DELETE, S_NONE, PH_EXITED, "cancel-restart,remove", "", false},
	{PH_EXITED, LC_EV_FORCE_DELETE, S_NONE, PH_EXITED, "cancel-restart,remove", "", false},
	{PH_EXITED, LC_EV_PULL_BEGUN, S_NONE, PH_PULLING, "publish", "", false},
	{PH_EXITED, LC_EV_IMAGE_READY, S_NONE, PH_CREATING, "publish,create", "", false},
	{PH_EXITED, LC_EV_IMAGE_FAILED, S_NONE, PH_PENDING, "schedule-restart,publish", "ImagePullFailed", false},
	{PH_EXITED, LC_EV_RESTART_TIMER, S_DUE, PH_EXITED, "start", "", false},
	{PH_EXITED, LC_EV_ADOPT, S_DUE, PH_EXITED, "schedule-restart", "", false},
	{PH_EXITED, LC_EV_ADOPT, S_NEVER, PH_EXITED, "", "", false},
	{PH_EXITED, LC_EV_ADOPT, S_REMOVING, PH_EXITED, "remove", "", false},
	{PH_EXITED, LC_EV_ADOPT, S_NEXT, PH_EXITED, "replace,start", "", false},

	{PH_FAILED, LC_EV_APPLY, S_PLACEHOLDER, PH_FAILED, "history-new,start", "", false},
	{PH_FAILED, LC_EV_REPLACE, S_NONE, PH_FAILED, "cancel-restart,replace,start", "", false},
	{PH_FAILED, LC_EV_DELETE, S_NONE, PH_FAILED, "cancel-restart,remove", "", false},
	{PH_FAILED, LC_EV_DELETE, S_PLACEHOLDER, PH_FAILED, "drop", "", false},
	{PH_FAILED, LC_EV_FORCE_DELETE, S_NONE, PH_FAILED, "cancel-restart,remove", "", false},
	{PH_FAILED, LC_EV_INVALID_SPEC, S_PLACEHOLDER, PH_FAILED, "publish", "InvalidSpec", false},
	{PH_FAILED, LC_EV_PULL_BEGUN, S_NONE, PH_PULLING, "publish", "", false},
	{PH_FAILED, LC_EV_IMAGE_READY, S_NONE, PH_CREATING, "publish,create", "", false},
	{PH_FAILED, LC_EV_IMAGE_FAILED, S_NEVER, PH_FAILED, "publish", "ImagePullFailed", false},
	{PH_FAILED, LC_EV_RESTART_TIMER, S_DUE, PH_FAILED, "start", "", false},
	{PH_FAILED, LC_EV_ADOPT, S_DUE, PH_FAILED, "schedule-restart", "", false},
	{PH_FAILED, LC_EV_ADOPT, S_NEVER, PH_FAILED, "", "", false},

	/* adoption of a start the last agent began (agent/adopt-start.c) and of a killed shim */
	{PH_CREATING, LC_EV_START_LOST, S_NONE, PH_PENDING, "start", "", false},
	{PH_CREATING, LC_EV_START_LOST, S_REMOVING, PH_PENDING, "remove", "", false},
	{PH_CREATING, LC_EV_START_LOST, S_NEXT, PH_PENDING, "replace,start", "", false},
	{PH_CREATING, LC_EV_SHIM_LOST, S_NONE, PH_RUNNING, "publish", "", false},
	{PH_CREATING, LC_EV_SHIM_LOST, S_REMOVING, PH_RUNNING, "publish", "", true},
	{PH_RUNNING, LC_EV_SHIM_LOST, S_NONE, PH_RUNNING, "publish", "", false},
	{PH_STOPPING, LC_EV_SHIM_LOST, S_REMOVING, PH_STOPPING, "publish,stop", "", false},
	{PH_STOPPING, LC_EV_SHIM_LOST, S_REMOVING | S_FORCE, PH_STOPPING, "publish,kill", "", false},
};
/* clang-format on */

static struct instance *setup_case(const struct row_case *c)
{
	struct instance *i = mk(c->from, c->setup & S_PLACEHOLDER ? NULL
					 : c->setup & S_NEVER	  ? "never"
								  : "always");

	if (c->setup & (S_REMOVING | S_NEXT | S_DUE))
		lc_restore(i, c->from, "", NULL, c->setup & S_REMOVING, c->setup & S_FORCE,
			   c->setup & S_NEXT ? mkspec(2, "always", NULL) : NULL, c->setup & S_DUE ? 1000 : 0,
			   c->setup & S_DUE ? NOW + 700 * MS : 0);
	i->has_exit = !(c->setup & S_NOREC);
	i->exit_code = c->setup & S_EXIT0 ? 0 : 1;
	return i;
}

static void test_every_row(void **state)
{
	bool covered[PH_FAILED + 1][_LC_EV_MAX] = {{false}};

	(void)state;
	for (size_t k = 0; k < sizeof(rows) / sizeof(rows[0]); k++) {
		const struct row_case *c = &rows[k];
		struct instance *i = setup_case(c);
		bool spec_ev = c->ev == LC_EV_APPLY || c->ev == LC_EV_REPLACE;
		/* EXITED's msg is for an orphan's exit only (test_orphan_and_lost_start) */
		struct lc_result r = step(i, c->ev, spec_ev ? mkspec(2, "always", NULL) : NULL,
					  c->ev == LC_EV_EXITED ? NULL : "boom");

		if (strcmp(acts(&r), c->acts) != 0 || i->phase != c->to ||
		    strcmp(i->reason, c->reason) != 0 || (r.chain == LC_EV_STOP) != c->chain_stop)
			fail_msg("row %zu (%s in %s): got %s -> %s reason '%s' chain %d, expected %s -> %s "
				 "reason '%s'",
				 k, lc_event_name(c->ev), inst_phase_name(c->from), acts(&r),
				 inst_phase_name(i->phase), i->reason, r.chain == LC_EV_STOP, c->acts,
				 inst_phase_name(c->to), c->reason);
		covered[c->from][c->ev] = true;
		drop(i);
	}
	for (int p = PH_PENDING; p <= PH_FAILED; p++)
		for (int ev = 0; ev < _LC_EV_MAX; ev++)
			if (lc_row_exists((enum inst_phase)p, (enum lc_event)ev) && !covered[p][ev])
				fail_msg("row (%s, %s) has no test", inst_phase_name((enum inst_phase)p),
					 lc_event_name((enum lc_event)ev));
}

/* Every cell that is not a row: refused, logged, nothing changed (and a spec it brought is freed). */
static void test_illegal_cells(void **state)
{
	int n = 0;

	(void)state;
	for (int p = PH_PENDING; p <= PH_FAILED; p++)
		for (int ev = 0; ev < _LC_EV_MAX; ev++) {
			struct instance *i;
			struct lc_result r;
			struct lc_input in = {.ev = (enum lc_event)ev, .now_ns = NOW};

			if (lc_row_exists((enum inst_phase)p, (enum lc_event)ev))
				continue;
			i = mk((enum inst_phase)p, "always");
			if (ev == LC_EV_APPLY || ev == LC_EV_REPLACE)
				in.spec = mkspec(2, "always", NULL);
			assert_int_equal(lc_transition(i, &in, &r), -EINVAL);
			assert_false(r.legal);
			assert_int_equal(r.n_acts, 0);
			assert_int_equal(i->phase, p);
			assert_null(i->next_spec);
			assert_false(i->removing);
			assert_int_equal(i->spec->revision, 1);
			drop(i);
			n++;
		}
	assert_true(n > 40);
}

/* Guards inside rows: a first spec for an instance that has one, a replacement of a placeholder,
 * a stop without intent, an out-of-range event. */
static void test_guards(void **state)
{
	struct instance *i = mk(PH_PENDING, "always");
	struct lc_input in = {.ev = LC_EV_APPLY, .spec = mkspec(2, "always", NULL)};
	struct lc_result r;

	(void)state;
	assert_int_equal(lc_transition(i, &in, &r), -EINVAL);
	assert_int_equal(i->spec->revision, 1);
	drop(i);
	i = mk(PH_FAILED, NULL);
	in = (struct lc_input){.ev = LC_EV_REPLACE, .spec = mkspec(2, "always", NULL)};
	assert_int_equal(lc_transition(i, &in, &r), -EINVAL);
	assert_null(i->spec);
	drop(i);
	i = mk(PH_RUNNING, "always");
	in = (struct lc_input){.ev = LC_EV_STOP};
	assert_int_equal(lc_transition(i, &in, &r), -EINVAL);
	in = (struct lc_input){.ev = _LC_EV_MAX};
	assert_int_equal(lc_transition(i, &in, &r), -EINVAL);
	assert_int_equal(i->phase, PH_RUNNING);
	drop(i);
}

static void test_replace_while_pulling(void **state)
{
	struct instance *i = mk(PH_PENDING, NULL);
	struct lc_result r;

	(void)state;
	r = step(i, LC_EV_APPLY, mkspec(1, "always", "oci:/a"), NULL);
	assert_string_equal(acts(&r), "history-new,start");
	step(i, LC_EV_PULL_BEGUN, NULL, NULL);
	assert_int_equal(i->phase, PH_PULLING);
	r = step(i, LC_EV_REPLACE, mkspec(2, "always", "oci:/b"), NULL);
	assert_string_equal(acts(&r), "cancel-pull,replace,start");
	assert_int_equal(i->phase, PH_PENDING);
	assert_int_equal(i->next_spec->revision, 2);
	lc_commit_replace(i);
	assert_int_equal(i->spec->revision, 2);
	assert_null(i->next_spec);
	step(i, LC_EV_PULL_BEGUN, NULL, NULL);
	r = step(i, LC_EV_IMAGE_READY, NULL, NULL);
	assert_string_equal(acts(&r), "publish,create");
	r = step(i, LC_EV_START_OK, NULL, NULL);
	assert_int_equal(i->phase, PH_RUNNING);
	assert_int_equal(r.chain, _LC_EV_MAX);
	drop(i);
}

static void test_delete_while_starting(void **state)
{
	struct instance *i = mk(PH_PENDING, NULL);
	struct lc_result r;

	(void)state;
	step(i, LC_EV_APPLY, mkspec(1, "always", NULL), NULL);
	step(i, LC_EV_IMAGE_READY, NULL, NULL);
	assert_int_equal(i->phase, PH_CREATING);
	r = step(i, LC_EV_DELETE, NULL, NULL);
	assert_string_equal(acts(&r), "persist"); /* the intent is on disk before anything else */
	assert_true(i->removing);
	r = step(i, LC_EV_DELETE, NULL, NULL); /* a second removal is a no-op */
	assert_int_equal(r.n_acts, 0);
	r = step(i, LC_EV_START_OK, NULL, NULL);
	assert_string_equal(acts(&r), "publish");
	assert_int_equal(r.chain, LC_EV_STOP);
	r = step(i, LC_EV_STOP, NULL, NULL);
	assert_string_equal(acts(&r), "publish,stop");
	assert_int_equal(i->phase, PH_STOPPING);
	r = step(i, LC_EV_FORCE_DELETE, NULL, NULL);
	assert_string_equal(acts(&r), "persist,cut-grace");
	i->has_exit = true;
	i->exit_code = 137;
	r = step(i, LC_EV_EXITED, NULL, NULL);
	assert_string_equal(acts(&r), "announce,remove");
	drop(i);
}

static void test_exit_during_stop(void **state)
{
	struct instance *i = mk(PH_RUNNING, "always");
	struct lc_result r;

	(void)state;
	r = step(i, LC_EV_DELETE, NULL, NULL);
	assert_string_equal(acts(&r), "publish,stop");
	/* DELETE x (stopping), then PUT x rev 2: the replacement is persisted at once */
	r = step(i, LC_EV_REPLACE, mkspec(2, "always", NULL), NULL);
	assert_string_equal(acts(&r), "persist");
	assert_false(i->removing);
	assert_int_equal(i->next_spec->revision, 2);
	r = step(i, LC_EV_GRACE_EXPIRED, NULL, NULL);
	assert_string_equal(acts(&r), "kill");
	i->has_exit = true;
	i->exit_code = 137;
	r = step(i, LC_EV_EXITED, NULL, NULL);
	assert_string_equal(acts(&r), "publish,replace,start");
	assert_string_equal(i->message, "Killed after grace period (exit code 137)");
	lc_commit_replace(i);
	assert_int_equal(i->spec->revision, 2);
	assert_false(i->has_exit);
	drop(i);
}

/* A restarted agent in each persisted phase, with and without a pending intent. */
static void test_adopt_every_phase(void **state)
{
	static const struct {
		enum inst_phase p;
		bool removing, next;
		const char *acts;
		enum inst_phase to;
		bool chain;
	} cases[] = {
	    {PH_PENDING, false, false, "start", PH_PENDING, false},
	    {PH_PENDING, false, true, "replace,start", PH_PENDING, false},
	    {PH_PULLING, false, false, "start", PH_PENDING, false},
	    {PH_PULLING, true, false, "remove", PH_PENDING, false},
	    {PH_CREATING, false, false, "publish", PH_RUNNING, false},
	    {PH_CREATING, true, false, "publish", PH_RUNNING, true},
	    {PH_RUNNING, false, false, "", PH_RUNNING, false},
	    {PH_RUNNING, false, true, "", PH_RUNNING, true},
	    {PH_STOPPING, false, false, "publish", PH_RUNNING, false},
	    {PH_STOPPING, true, false, "publish", PH_RUNNING, true},
	    {PH_EXITED, false, false, "schedule-restart,publish", PH_EXITED, false},
	    {PH_EXITED, true, false, "remove", PH_EXITED, false},
	    {PH_FAILED, false, true, "replace,start", PH_FAILED, false},
	};

	(void)state;
	for (size_t k = 0; k < sizeof(cases) / sizeof(cases[0]); k++) {
		struct instance *i = mk(cases[k].p, "always");
		struct lc_result r;

		lc_restore(i, cases[k].p, "", NULL, cases[k].removing, false,
			   cases[k].next ? mkspec(2, "always", NULL) : NULL, 0, 0);
		i->has_exit = true;
		i->exit_code = 1;
		r = step(i, LC_EV_ADOPT, NULL, NULL);
		if (strcmp(acts(&r), cases[k].acts) != 0 || i->phase != cases[k].to ||
		    (r.chain == LC_EV_STOP) != cases[k].chain)
			fail_msg("adopt %zu in %s: got %s -> %s", k, inst_phase_name(cases[k].p), acts(&r),
				 inst_phase_name(i->phase));
		if (r.chain == LC_EV_STOP) {
			r = step(i, LC_EV_STOP, NULL, NULL);
			assert_string_equal(acts(&r), "publish,stop");
		}
		drop(i);
	}
}

/* Five agent restarts while a restart is due: the schedule is kept, the back-off does not grow;
 * it grows when the restart is tried. */
static void test_backoff_across_agent_restarts(void **state)
{
	struct instance *i = mk(PH_RUNNING, "always");
	struct lc_input in = {.ev = LC_EV_EXITED, .now_ns = NOW};
	struct lc_result r;

	(void)state;
	i->has_exit = true;
	i->exit_code = 1;
	assert_int_equal(lc_transition(i, &in, &r), 0);
	assert_int_equal(r.delay_ms, 1000);
	assert_true(r.restart_new);
	assert_int_equal(i->next_try_at, NOW + 1000 * MS);
	for (int k = 1; k <= 5; k++) {
		in = (struct lc_input){.ev = LC_EV_ADOPT, .now_ns = NOW + k * 100 * MS};
		assert_int_equal(lc_transition(i, &in, &r), 0);
		assert_string_equal(acts(&r), "schedule-restart");
		assert_false(r.restart_new);
		assert_int_equal(r.delay_ms, 1000 - k * 100);
		assert_int_equal(i->backoff_ms, 1000);
		assert_int_equal(i->next_try_at, NOW + 1000 * MS);
	}
	in = (struct lc_input){.ev = LC_EV_ADOPT, .now_ns = NOW + 5000 * MS}; /* overdue: at once */
	assert_int_equal(lc_transition(i, &in, &r), 0);
	assert_int_equal(r.delay_ms, 0);
	r = step(i, LC_EV_RESTART_TIMER, NULL, NULL);
	assert_string_equal(acts(&r), "start");
	assert_int_equal(i->next_try_at, 0);
	assert_int_equal(i->backoff_ms, 2000);
	step(i, LC_EV_IMAGE_READY, NULL, NULL);
	step(i, LC_EV_START_OK, NULL, NULL);
	r = step(i, LC_EV_EXITED, NULL, NULL);
	assert_int_equal(r.delay_ms, 2000);
	for (int k = 0; k < 12; k++) {
		step(i, LC_EV_RESTART_TIMER, NULL, NULL);
		step(i, LC_EV_IMAGE_READY, NULL, NULL);
		step(i, LC_EV_START_OK, NULL, NULL);
		r = step(i, LC_EV_EXITED, NULL, NULL);
	}
	assert_int_equal(r.delay_ms, LC_BACKOFF_MAX_MS);
	/* a run longer than the reset window starts the back-off over */
	step(i, LC_EV_RESTART_TIMER, NULL, NULL);
	step(i, LC_EV_IMAGE_READY, NULL, NULL);
	step(i, LC_EV_START_OK, NULL, NULL);
	i->running_since = 1;
	in = (struct lc_input){.ev = LC_EV_EXITED, .now_ns = NOW, .mono_ns = LC_BACKOFF_RESET_NS + 2};
	assert_int_equal(lc_transition(i, &in, &r), 0);
	assert_int_equal(r.delay_ms, LC_BACKOFF_START_MS);
	drop(i);
}

static void test_start_failed_backoff(void **state)
{
	struct instance *i = mk(PH_CREATING, "always");
	struct lc_result r;

	(void)state;
	r = step(i, LC_EV_START_FAILED, NULL, "runc create: exit 1");
	assert_string_equal(acts(&r), "schedule-restart,publish");
	assert_int_equal(i->phase, PH_PENDING);
	assert_string_equal(i->reason, "StartFailed");
	assert_string_equal(i->message, "backoff: next try in 1000 ms: runc create: exit 1");
	drop(i);
}

static void test_liveness(void **state)
{
	static const struct {
		const char *restart;
		int code;
		const char *acts;
	} cases[] = {
	    {"always", 143, "schedule-restart,publish"},
	    {"on-failure", 0, "schedule-restart,publish"}, /* a liveness failure is a failure */
	    {"never", 143, "publish"},
	};

	(void)state;
	for (size_t k = 0; k < sizeof(cases) / sizeof(cases[0]); k++) {
		struct instance *i = mk(PH_RUNNING, cases[k].restart);
		struct lc_result r = step(i, LC_EV_LIVENESS_FAILED, NULL, "http GET /healthz: 500");

		assert_string_equal(acts(&r), "publish,stop");
		assert_string_equal(i->reason, "LivenessFailed");
		i->has_exit = true;
		i->exit_code = cases[k].code;
		r = step(i, LC_EV_EXITED, NULL, NULL);
		assert_string_equal(acts(&r), cases[k].acts);
		assert_int_equal(i->phase, PH_EXITED);
		assert_string_equal(i->reason, "LivenessFailed");
		assert_non_null(strstr(i->message, "http GET /healthz: 500"));
		drop(i);
	}
}

static void test_exit_reasons(void **state)
{
	struct instance *i = mk(PH_RUNNING, "never");

	(void)state;
	i->has_exit = true;
	i->oom_killed = true;
	i->exit_code = 137;
	step(i, LC_EV_EXITED, NULL, NULL);
	assert_string_equal(i->reason, "OOMKilled");
	assert_string_equal(i->message, "exit code 137");
	drop(i);
	i = mk(PH_RUNNING, "never");
	i->has_exit = false;
	step(i, LC_EV_EXITED, NULL, NULL);
	assert_int_equal(i->phase, PH_FAILED);
	assert_string_equal(i->message, "the shim exited without an exit record");
	drop(i);
}

/* A killed shim: the message says so, the reason stays (a liveness stop keeps LivenessFailed), and
 * the container's exit, code unknown, is phase exited (not failed) under the restart policy. A start
 * that never ran is started over at once: no failure reason, no back-off. */
static void test_orphan_and_lost_start(void **state)
{
	struct instance *i = mk(PH_RUNNING, "on-failure");
	struct lc_result r;

	(void)state;
	step(i, LC_EV_LIVENESS_FAILED, NULL, "probe timed out");
	r = step(i, LC_EV_SHIM_LOST, NULL, "shim killed");
	assert_int_equal(i->phase, PH_STOPPING);
	assert_string_equal(i->reason, "LivenessFailed");
	assert_string_equal(i->message, "shim killed");
	assert_string_equal(acts(&r), "publish,stop");
	drop(i);

	i = mk(PH_RUNNING, "on-failure");
	step(i, LC_EV_SHIM_LOST, NULL, "shim killed");
	assert_int_equal(i->phase, PH_RUNNING);
	assert_string_equal(i->message, "shim killed");
	i->has_exit = false;
	r = step(i, LC_EV_EXITED, NULL, "exit code unknown");
	assert_int_equal(i->phase, PH_EXITED);
	assert_string_equal(i->reason, "Error");
	assert_string_equal(i->message, "exit code unknown");
	assert_string_equal(acts(&r), "schedule-restart,publish"); /* unknown counts as a failure */
	assert_int_equal(i->next_try_at, NOW + LC_BACKOFF_START_MS * MS);
	drop(i);

	i = mk(PH_CREATING, "always");
	r = step(i, LC_EV_START_LOST, NULL, NULL);
	assert_int_equal(i->phase, PH_PENDING);
	assert_string_equal(i->reason, "");
	assert_null(i->message);
	assert_int_equal(i->backoff_ms, 0);
	assert_int_equal(i->next_try_at, 0);
	assert_int_equal(r.delay_ms, 0);
	assert_string_equal(acts(&r), "start");
	drop(i);
}

/* A replacement resets what counts runs of a revision; restore drops a next spec under a removal. */
static void test_commit_and_restore(void **state)
{
	struct instance *i = mk(PH_EXITED, "always");

	(void)state;
	i->restarts = 4;
	i->backoff_ms = 8000;
	step(i, LC_EV_REPLACE, mkspec(3, "never", NULL), NULL);
	lc_commit_replace(i);
	assert_int_equal(i->spec->revision, 3);
	assert_int_equal(i->restarts, 0);
	assert_int_equal(i->backoff_ms, 0);
	lc_restore(i, PH_STOPPING, "x", "m", true, true, mkspec(4, "always", NULL), 0, 0);
	assert_null(i->next_spec);
	assert_true(i->force_stop);
	assert_string_equal(i->message, "m");
	drop(i);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_every_row),
	    cmocka_unit_test(test_illegal_cells),
	    cmocka_unit_test(test_guards),
	    cmocka_unit_test(test_replace_while_pulling),
	    cmocka_unit_test(test_delete_while_starting),
	    cmocka_unit_test(test_exit_during_stop),
	    cmocka_unit_test(test_adopt_every_phase),
	    cmocka_unit_test(test_backoff_across_agent_restarts),
	    cmocka_unit_test(test_start_failed_backoff),
	    cmocka_unit_test(test_liveness),
	    cmocka_unit_test(test_exit_reasons),
	    cmocka_unit_test(test_commit_and_restore),
	    cmocka_unit_test(test_orphan_and_lost_start),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
