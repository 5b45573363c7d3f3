/* The instance lifecycle as a table: for each phase and event, the next phase and the actions the
 * agent carries out. No I/O here (an illegal event is logged, nothing else): agent/lifecycle-run.c
 * feeds the events and does the actions. */
#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent/lifecycle.h"
#include "common/cleanup.h"
#include "common/log.h"

enum row_kind {
	K_ILLEGAL = 0,
	K_PLAIN, /* the next phase (SAME: unchanged) and the actions */
	K_DOWN,	 /* nothing runs any more: an end reason, then remove, replace or the restart policy */
	K_ADOPT, /* a down phase found at start: the intent, then a due restart, then the row's actions */
};

#define SAME (-1)
#define F_CHAIN_STOP 1u	 /* a pending removal or replacement stops the instance next */
#define F_SETTLE 2u	 /* K_ADOPT: without intent or due restart, ask the restart policy */
#define F_KEEP_REASON 4u /* the reason stays, the event's msg becomes the message */

struct row {
	unsigned char kind;
	signed char next;
	unsigned char flags;
	unsigned char acts[4];
};

#define A(x) LC_ACT_##x
/* clang-format off */
static const struct row table[PH_FAILED + 1][_LC_EV_MAX] = {
	[PH_PENDING] = {
		[LC_EV_APPLY]         = {K_PLAIN, SAME, 0, {A(HISTORY_NEW), A(START)}},
		[LC_EV_REPLACE]       = {K_PLAIN, SAME, 0, {A(CANCEL_RESTART), A(REPLACE), A(START)}},
		[LC_EV_DELETE]        = {K_PLAIN, SAME, 0, {A(CANCEL_RESTART), A(REMOVE)}},
		[LC_EV_FORCE_DELETE]  = {K_PLAIN, SAME, 0, {A(CANCEL_RESTART), A(REMOVE)}},
		[LC_EV_INVALID_SPEC]  = {K_PLAIN, PH_FAILED, 0, {A(PUBLISH)}},
		[LC_EV_PULL_BEGUN]    = {K_PLAIN, PH_PULLING, 0, {A(PUBLISH)}},
		[LC_EV_IMAGE_READY]   = {K_PLAIN, PH_CREATING, 0, {A(PUBLISH), A(CREATE)}},
		[LC_EV_IMAGE_FAILED]  = {K_DOWN, PH_FAILED, 0, {0}},
		[LC_EV_RESTART_TIMER] = {K_PLAIN, SAME, 0, {A(START)}},
		[LC_EV_ADOPT]         = {K_ADOPT, SAME, 0, {A(START)}},
	},
	[PH_PULLING] = {
		[LC_EV_REPLACE]       = {K_PLAIN, PH_PENDING, 0, {A(CANCEL_PULL), A(REPLACE), A(START)}},
		[LC_EV_DELETE]        = {K_PLAIN, SAME, 0, {A(CANCEL_PULL), A(REMOVE)}},
		[LC_EV_FORCE_DELETE]  = {K_PLAIN, SAME, 0, {A(CANCEL_PULL), A(REMOVE)}},
		[LC_EV_IMAGE_READY]   = {K_PLAIN, PH_CREATING, 0, {A(PUBLISH), A(CREATE)}},
		[LC_EV_IMAGE_FAILED]  = {K_DOWN, PH_FAILED, 0, {0}},
		[LC_EV_ADOPT]         = {K_ADOPT, PH_PENDING, 0, {A(START)}},
	},
	[PH_CREATING] = {
		[LC_EV_REPLACE]       = {K_PLAIN, SAME, 0, {A(PERSIST)}},
		[LC_EV_DELETE]        = {K_PLAIN, SAME, 0, {A(PERSIST)}},
		[LC_EV_FORCE_DELETE]  = {K_PLAIN, SAME, 0, {A(PERSIST)}},
		[LC_EV_START_OK]      = {K_PLAIN, PH_RUNNING, F_CHAIN_STOP, {A(PUBLISH)}},
		[LC_EV_START_FAILED]  = {K_DOWN, PH_FAILED, 0, {0}},
		[LC_EV_EXITED]        = {K_DOWN, PH_EXITED, 0, {0}},
		[LC_EV_ADOPT]         = {K_PLAIN, PH_RUNNING, F_CHAIN_STOP, {A(PUBLISH)}},
		/* nothing ran: pending again and started over (no failure, no back-off), unless a removal
		 * or replacement waits: that goes on at once */
		[LC_EV_START_LOST]    = {K_ADOPT, PH_PENDING, 0, {A(START)}},
		[LC_EV_SHIM_LOST]     = {K_PLAIN, PH_RUNNING, F_CHAIN_STOP | F_KEEP_REASON, {A(PUBLISH)}},
	},
	[PH_RUNNING] = {
		[LC_EV_REPLACE]       = {K_PLAIN, PH_STOPPING, 0, {A(PUBLISH), A(STOP)}},
		[LC_EV_DELETE]        = {K_PLAIN, PH_STOPPING, 0, {A(PUBLISH), A(STOP)}},
		[LC_EV_FORCE_DELETE]  = {K_PLAIN, PH_STOPPING, 0, {A(PUBLISH), A(STOP)}},
		[LC_EV_EXITED]        = {K_DOWN, PH_EXITED, 0, {0}},
		[LC_EV_STOP]          = {K_PLAIN, PH_STOPPING, 0, {A(PUBLISH), A(STOP)}},
		[LC_EV_LIVENESS_FAILED] = {K_PLAIN, PH_STOPPING, 0, {A(PUBLISH), A(STOP)}},
		[LC_EV_ADOPT]         = {K_PLAIN, SAME, F_CHAIN_STOP, {0}},
		[LC_EV_EVICT]         = {K_PLAIN, PH_STOPPING, 0, {A(PUBLISH), A(KILL)}},
		[LC_EV_SHIM_LOST]     = {K_PLAIN, PH_RUNNING, F_KEEP_REASON, {A(PUBLISH)}},
	},
	[PH_STOPPING] = {
		[LC_EV_REPLACE]       = {K_PLAIN, SAME, 0, {A(PERSIST)}},
		[LC_EV_DELETE]        = {K_PLAIN, SAME, 0, {A(PERSIST)}},
		[LC_EV_FORCE_DELETE]  = {K_PLAIN, SAME, 0, {A(PERSIST), A(CUT_GRACE)}},
		[LC_EV_EXITED]        = {K_DOWN, PH_EXITED, 0, {0}},
		[LC_EV_GRACE_EXPIRED] = {K_PLAIN, SAME, 0, {A(KILL)}},
		[LC_EV_LIVENESS_FAILED] = {K_PLAIN, SAME, 0, {0}},
		[LC_EV_ADOPT]         = {K_PLAIN, PH_RUNNING, F_CHAIN_STOP, {A(PUBLISH)}},
		/* the grace timer went with the shim's watch: the stop is begun again */
		[LC_EV_SHIM_LOST]     = {K_PLAIN, PH_STOPPING, F_KEEP_REASON, {A(PUBLISH), A(STOP)}},
	},
	[PH_EXITED] = {
		[LC_EV_REPLACE]       = {K_PLAIN, SAME, 0, {A(CANCEL_RESTART), A(REPLACE), A(START)}},
		[LC_EV_DELETE]        = {K_PLAIN, SAME, 0, {A(CANCEL_RESTART), A(REMOVE)}},
		[LC_EV_FORCE_DELETE]  = {K_PLAIN, SAME, 0, {A(CANCEL_RESTART), A(REMOVE)}},
		[LC_EV_PULL_BEGUN]    = {K_PLAIN, PH_PULLING, 0, {A(PUBLISH)}},
		[LC_EV_IMAGE_READY]   = {K_PLAIN, PH_CREATING, 0, {A(PUBLISH), A(CREATE)}},
		[LC_EV_IMAGE_FAILED]  = {K_DOWN, PH_FAILED, 0, {0}},
		[LC_EV_RESTART_TIMER] = {K_PLAIN, SAME, 0, {A(START)}},
		[LC_EV_ADOPT]         = {K_ADOPT, SAME, F_SETTLE, {0}},
	},
	[PH_FAILED] = {
		[LC_EV_APPLY]         = {K_PLAIN, SAME, 0, {A(HISTORY_NEW), A(START)}},
		[LC_EV_REPLACE]       = {K_PLAIN, SAME, 0, {A(CANCEL_RESTART), A(REPLACE), A(START)}},
		[LC_EV_DELETE]        = {K_PLAIN, SAME, 0, {A(CANCEL_RESTART), A(REMOVE)}},
		[LC_EV_FORCE_DELETE]  = {K_PLAIN, SAME, 0, {A(CANCEL_RESTART), A(REMOVE)}},
		[LC_EV_INVALID_SPEC]  = {K_PLAIN, PH_FAILED, 0, {A(PUBLISH)}},
		[LC_EV_PULL_BEGUN]    = {K_PLAIN, PH_PULLING, 0, {A(PUBLISH)}},
		[LC_EV_IMAGE_READY]   = {K_PLAIN, PH_CREATING, 0, {A(PUBLISH), A(CREATE)}},
		[LC_EV_IMAGE_FAILED]  = {K_DOWN, PH_FAILED, 0, {0}},
		[LC_EV_RESTART_TIMER] = {K_PLAIN, SAME, 0, {A(START)}},
		[LC_EV_ADOPT]         = {K_ADOPT, SAME, F_SETTLE, {0}},
	},
};

static const char *const event_names[_LC_EV_MAX] = {
	[LC_EV_APPLY] = "apply", [LC_EV_REPLACE] = "replace", [LC_EV_DELETE] = "delete",
	[LC_EV_FORCE_DELETE] = "force-delete", [LC_EV_INVALID_SPEC] = "invalid-spec",
	[LC_EV_PULL_BEGUN] = "pull-begun", [LC_EV_IMAGE_READY] = "image-ready",
	[LC_EV_IMAGE_FAILED] = "image-failed", [LC_EV_START_OK] = "start-ok",
	[LC_EV_START_FAILED] = "start-failed", [LC_EV_EXITED] = "exited", [LC_EV_STOP] = "stop",
	[LC_EV_GRACE_EXPIRED] = "grace-expired", [LC_EV_RESTART_TIMER] = "restart-timer",
	[LC_EV_LIVENESS_FAILED] = "liveness-failed", [LC_EV_ADOPT] = "adopt", [LC_EV_EVICT] = "evict",
	[LC_EV_START_LOST] = "start-lost", [LC_EV_SHIM_LOST] = "shim-lost",
};

static const char *const action_names[_LC_ACT_MAX] = {
	[LC_ACT_NONE] = "none", [LC_ACT_HISTORY_NEW] = "history-new", [LC_ACT_START] = "start",
	[LC_ACT_CREATE] = "create", [LC_ACT_CANCEL_PULL] = "cancel-pull", [LC_ACT_STOP] = "stop",
	[LC_ACT_KILL] = "kill", [LC_ACT_CUT_GRACE] = "cut-grace", [LC_ACT_CANCEL_RESTART] = "cancel-restart",
	[LC_ACT_SCHEDULE_RESTART] = "schedule-restart", [LC_ACT_PERSIST] = "persist",
	[LC_ACT_PUBLISH] = "publish", [LC_ACT_ANNOUNCE] = "announce", [LC_ACT_REPLACE] = "replace",
	[LC_ACT_REMOVE] = "remove", [LC_ACT_DROP] = "drop",
};
/* clang-format on */
#undef A

const char *lc_event_name(enum lc_event ev)
{
	return (unsigned)ev < _LC_EV_MAX ? event_names[ev] : "unknown";
}

const char *lc_action_name(enum lc_action a)
{
	return (unsigned)a < _LC_ACT_MAX ? action_names[a] : "unknown";
}

bool lc_row_exists(enum inst_phase p, enum lc_event ev)
{
	return (unsigned)p <= PH_FAILED && (unsigned)ev < _LC_EV_MAX && table[p][ev].kind != K_ILLEGAL;
}

bool lc_has_intent(const struct instance *i)
{
	return i->removing || i->next_spec;
}

static void set_phase(struct instance *i, enum inst_phase p, const char *reason, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static void set_phase(struct instance *i, enum inst_phase p, const char *reason, const char *fmt, ...)
{
	va_list ap;

	i->phase = p;
	snprintf(i->reason, sizeof(i->reason), "%s", reason ? reason : "");
	free(i->message);
	i->message = NULL;
	if (!fmt)
		return;
	va_start(ap, fmt);
	if (vasprintf(&i->message, fmt, ap) < 0)
		i->message = NULL;
	va_end(ap);
}

static void add(struct lc_result *r, const struct instance *i, enum lc_action a)
{
	if (a == LC_ACT_STOP && i->force_stop)
		a = LC_ACT_KILL; /* a forced removal has no grace period */
	if (a != LC_ACT_NONE && r->n_acts < LC_MAX_ACTS)
		r->acts[r->n_acts++] = a;
}

/* The restart policy: whether i restarts after this end, and after how long. The back-off grows only
 * when a restart is tried (LC_EV_RESTART_TIMER), never by deciding or adopting one. */
static bool policy_delay(struct instance *i, const struct lc_input *in, int64_t *ret_delay)
{
	bool failed =
	    !i->has_exit || i->exit_code != 0 || i->oom_killed || strcmp(i->reason, "LivenessFailed") == 0;

	if (lc_has_intent(i) || !i->spec || i->evict_msg)
		return false; /* an evicted instance stays down: its place is the node's */
	if (i->spec->restart == SPEC_RESTART_NEVER ||
	    (i->spec->restart == SPEC_RESTART_ON_FAILURE && !failed))
		return false;
	/* the spec's restart_backoff (defaults: 1 s doubling to 5 min, reset after 10 min running) */
	if (i->running_since && in->mono_ns - i->running_since >= i->spec->backoff.reset_after_ms * 1000000LL)
		i->backoff_ms = 0;
	i->backoff_ms = spec_backoff_delay(&i->spec->backoff, i->backoff_ms);
	*ret_delay = i->backoff_ms;
	return true;
}

static void apply_policy(struct instance *i, const struct lc_input *in, struct lc_result *r, bool announce)
{
	int64_t delay;

	i->next_try_at = 0;
	if (!policy_delay(i, in, &delay)) {
		if (announce)
			add(r, i, LC_ACT_PUBLISH);
		return;
	}
	i->next_try_at = in->now_ns + delay * 1000000LL;
	r->delay_ms = delay;
	r->restart_new = true;
	if (i->phase == PH_FAILED &&
	    (strcmp(i->reason, "StartFailed") == 0 || strcmp(i->reason, "ImagePullFailed") == 0)) {
		/* no container ran: pending again, the failure's reason kept */
		_cleanup_free_ char *why = TAKE_PTR(i->message);
		char reason[sizeof(i->reason)];

		snprintf(reason, sizeof(reason), "%s", i->reason);
		set_phase(i, PH_PENDING, reason, "backoff: next try in %lld ms: %s", (long long)delay,
			  why ? why : "start failed");
	}
	add(r, i, LC_ACT_SCHEDULE_RESTART);
	add(r, i, LC_ACT_PUBLISH);
}

/* Nothing of the instance runs: a removal, a replacement, or the restart policy. announce: the end was
 * set quietly and is published here, once. */
static void settle(struct instance *i, const struct lc_input *in, struct lc_result *r, bool announce)
{
	if (i->removing) {
		if (announce)
			add(r, i, LC_ACT_ANNOUNCE); /* how it ended, then its removal */
		add(r, i, LC_ACT_REMOVE);
	} else if (i->next_spec) {
		if (announce)
			add(r, i, LC_ACT_PUBLISH); /* how the old revision ended */
		add(r, i, LC_ACT_REPLACE);
		add(r, i, LC_ACT_START);
	} else {
		apply_policy(i, in, r, announce);
	}
}

static void set_exit_phase(struct instance *i, const char *msg)
{
	if (i->evict_msg)
		set_phase(i, PH_FAILED, "Evicted", "%s", i->evict_msg);
	else if (!i->has_exit && msg)
		set_phase(i, PH_EXITED, "Error", "%s", msg); /* the container ended, its code is unknown */
	else if (!i->has_exit)
		set_phase(i, PH_FAILED, "Error", "the shim exited without an exit record");
	else if (i->oom_killed)
		set_phase(i, PH_EXITED, "OOMKilled", "exit code %d", i->exit_code);
	else if (i->phase == PH_STOPPING && strcmp(i->reason, "LivenessFailed") == 0) {
		_cleanup_free_ char *why = TAKE_PTR(i->message);

		set_phase(i, PH_EXITED, "LivenessFailed", "%s (exit code %d)",
			  why ? why : "liveness probe failed", i->exit_code);
	} else if (i->exit_code == 0)
		set_phase(i, PH_EXITED, "Completed", NULL);
	else if (i->killed_after_grace && i->exit_code == 128 + SIGKILL)
		set_phase(i, PH_EXITED, "Error", "Killed after grace period (exit code %d)", i->exit_code);
	else
		set_phase(i, PH_EXITED, "Error", "exit code %d", i->exit_code);
}

static void down(struct instance *i, const struct lc_input *in, const struct row *row, struct lc_result *r)
{
	if (in->ev == LC_EV_EXITED)
		set_exit_phase(i, in->msg);
	else
		set_phase(i, (enum inst_phase)row->next,
			  in->ev == LC_EV_IMAGE_FAILED ? "ImagePullFailed" : "StartFailed", "%s",
			  in->msg ? in->msg : "start failed");
	settle(i, in, r, true);
}

/* A down phase read back at start: finish a removal or replacement, keep a restart already due
 * (its back-off is not grown again), else what the row says. */
static void adopt_down(struct instance *i, const struct lc_input *in, const struct row *row,
		       struct lc_result *r)
{
	if (row->next != SAME)
		i->phase = (enum inst_phase)row->next; /* a pull began by the last agent: nothing ran */
	if (lc_has_intent(i)) {
		settle(i, in, r, false);
		return;
	}
	if (i->next_try_at > 0) {
		int64_t left = (i->next_try_at - in->now_ns) / 1000000LL;

		r->delay_ms = left > 0 ? left : 0;
		add(r, i, LC_ACT_SCHEDULE_RESTART);
		return;
	}
	if (row->flags & F_SETTLE) {
		settle(i, in, r, false);
		return;
	}
	for (size_t k = 0; k < sizeof(row->acts) && row->acts[k]; k++)
		add(r, i, (enum lc_action)row->acts[k]);
}

/* What an event does to the fields the lifecycle owns, before the row's phase and actions. Returns
 * false when the event is a legal no-op (a second plain removal). */
static bool effect(struct instance *i, const struct lc_input *in, struct lc_result *r)
{
	switch (in->ev) {
	case LC_EV_APPLY:
		i->spec = in->spec;
		i->removing = i->force_stop = false;
		return true;
	case LC_EV_REPLACE:
		spec_free(i->next_spec);
		i->next_spec = in->spec;
		i->removing = i->force_stop = false;
		return true;
	case LC_EV_DELETE:
	case LC_EV_FORCE_DELETE:
		if (!i->spec) {
			add(r, i, LC_ACT_DROP);
			return false;
		}
		if (in->ev == LC_EV_FORCE_DELETE)
			i->force_stop = true; /* also cuts short a stop under way */
		else if (i->removing)
			return false;
		i->removing = true;
		i->next_spec = spec_free(i->next_spec);
		return true;
	case LC_EV_GRACE_EXPIRED:
		i->killed_after_grace = true;
		return true;
	case LC_EV_START_OK:
		i->killed_after_grace = false;
		return true;
	case LC_EV_RESTART_TIMER:
		/* a restart is tried now: the next one waits twice as long */
		i->next_try_at = 0;
		i->backoff_ms = spec_backoff_grow(i->spec ? &i->spec->backoff : NULL, i->backoff_ms);
		return true;
	default:
		return true;
	}
}

/* Events that need (APPLY, INVALID_SPEC, placeholder DELETE) or must not have (the rest) an empty spec,
 * and the spec an event brings. */
static bool guard(const struct instance *i, const struct lc_input *in)
{
	switch (in->ev) {
	case LC_EV_APPLY:
		return !i->spec && in->spec;
	case LC_EV_REPLACE:
		return i->spec && in->spec;
	case LC_EV_INVALID_SPEC:
		return !i->spec;
	case LC_EV_DELETE:
	case LC_EV_FORCE_DELETE:
		return true;
	case LC_EV_STOP:
		return i->spec && lc_has_intent(i);
	default:
		return i->spec != NULL;
	}
}

static void plain(struct instance *i, const struct lc_input *in, const struct row *row, struct lc_result *r)
{
	if (row->flags & F_KEEP_REASON) {
		char reason[sizeof(i->reason)];

		snprintf(reason, sizeof(reason), "%s", i->reason);
		set_phase(i, (enum inst_phase)row->next, reason, "%s", in->msg ? in->msg : "");
	} else if (row->next != SAME) {
		if (in->ev == LC_EV_INVALID_SPEC)
			set_phase(i, (enum inst_phase)row->next, in->reason, "%s", in->msg ? in->msg : "");
		else if (in->ev == LC_EV_EVICT)
			set_phase(i, (enum inst_phase)row->next, "Evicted", "%s",
				  in->msg ? in->msg : "evicted");
		else if (in->ev == LC_EV_LIVENESS_FAILED)
			set_phase(i, (enum inst_phase)row->next, "LivenessFailed", "%s",
				  in->msg ? in->msg : "liveness probe failed");
		else
			set_phase(i, (enum inst_phase)row->next, "", NULL);
	}
	for (size_t k = 0; k < sizeof(row->acts) && row->acts[k]; k++)
		add(r, i, (enum lc_action)row->acts[k]);
	if ((row->flags & F_CHAIN_STOP) && lc_has_intent(i))
		r->chain = LC_EV_STOP;
}

int lc_transition(struct instance *i, const struct lc_input *in, struct lc_result *ret)
{
	const struct row *row = NULL;

	*ret = (struct lc_result){.from = i->phase, .chain = _LC_EV_MAX};
	if ((unsigned)in->ev < _LC_EV_MAX && (unsigned)i->phase <= PH_FAILED)
		row = &table[i->phase][in->ev];
	if (!row || row->kind == K_ILLEGAL || !guard(i, in)) {
		log_err("lifecycle: illegal event '%s' in phase '%s', ignoring id=%s", lc_event_name(in->ev),
			inst_phase_name(i->phase), i->id);
		spec_free(in->spec); /* APPLY, REPLACE: ownership passed */
		return -EINVAL;
	}
	ret->legal = true;
	if (!effect(i, in, ret))
		return 0;
	switch (row->kind) {
	case K_DOWN:
		down(i, in, row, ret);
		break;
	case K_ADOPT:
		adopt_down(i, in, row, ret);
		break;
	default:
		plain(i, in, row, ret);
		break;
	}
	return 0;
}

void lc_commit_replace(struct instance *i)
{
	if (!i->next_spec)
		return;
	spec_free(i->spec);
	i->spec = TAKE_PTR(i->next_spec);
	i->restarts = 0;
	i->backoff_ms = 0;
	i->has_exit = false;
	i->oom_killed = false;
	i->exit_code = 0;
	i->started_at = 0; /* restarts count runs of this revision */
	i->finished_at = 0;
	i->next_try_at = 0;
}

void lc_restore(struct instance *i, enum inst_phase phase, const char *reason, const char *message,
		bool removing, bool force, struct spec *next_spec, int64_t backoff_ms, int64_t next_try_at)
{
	i->phase = phase;
	snprintf(i->reason, sizeof(i->reason), "%s", reason ? reason : "");
	free(i->message);
	i->message = message && *message ? strdup(message) : NULL;
	i->removing = removing;
	i->force_stop = removing && force;
	spec_free(i->next_spec);
	i->next_spec = removing ? spec_free(next_spec) : next_spec;
	i->backoff_ms = backoff_ms;
	i->next_try_at = next_try_at;
}
