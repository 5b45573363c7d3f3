#pragma once
/* The instance lifecycle: one transition function driven by a table (phase x event -> actions, next
 * phase). It is the only code that writes an instance's phase, reason, message and pending intent
 * (removing, force_stop, next_spec) and its restart schedule (backoff_ms, next_try_at). It does no I/O:
 * it returns the actions the agent carries out (agent/lifecycle-run.c), in order. */
#include <stdbool.h>
#include <stdint.h>

#include "agent/instance.h"

struct img_image;

enum lc_event {
	LC_EV_APPLY,   /* a first spec (a new instance, or the placeholder of a file that did not parse) */
	LC_EV_REPLACE, /* a higher revision */
	LC_EV_DELETE,  /* removal with the grace period */
	LC_EV_FORCE_DELETE,    /* removal with SIGKILL at once */
	LC_EV_INVALID_SPEC,    /* the placeholder's file does not parse (reason, msg) */
	LC_EV_PULL_BEGUN,      /* the image is not local: its pull began */
	LC_EV_IMAGE_READY,     /* the image is resolved */
	LC_EV_IMAGE_FAILED,    /* the image cannot be had (msg) */
	LC_EV_START_OK,	       /* the shim reported the container running */
	LC_EV_START_FAILED,    /* the start failed before a container ran (msg) */
	LC_EV_EXITED,	       /* the shim is gone; has_exit, exit_code, oom_killed say how it ended (msg:
				* without an exit record, why the code is unknown: phase exited, not failed) */
	LC_EV_STOP,	       /* act on a pending removal or replacement (after a start or an adoption) */
	LC_EV_GRACE_EXPIRED,   /* the stop grace period ran out */
	LC_EV_RESTART_TIMER,   /* the restart back-off ran out */
	LC_EV_LIVENESS_FAILED, /* the liveness probe failed (msg): stop, then the restart policy */
	LC_EV_ADOPT, /* a restarted agent found this record; for an active phase, its shim is alive */
	LC_EV_EVICT, /* node memory pressure (agent/coloc.c, i->evict_msg set): SIGKILL, then failed/Evicted
		      */
	LC_EV_START_LOST, /* adoption in phase creating: the last agent died before its shim ran (no failure)
			   */
	LC_EV_SHIM_LOST,  /* the shim was killed, its container runs on, watched through its pidfd (msg) */
	_LC_EV_MAX,
};

enum lc_action {
	LC_ACT_NONE,
	LC_ACT_HISTORY_NEW,	 /* history_applied() for a first spec */
	LC_ACT_START,		 /* ask for the image; report PULL_BEGUN, IMAGE_READY or IMAGE_FAILED */
	LC_ACT_CREATE,		 /* network, bundle, shim; report START_OK or START_FAILED */
	LC_ACT_CANCEL_PULL,	 /* stop waiting for the image (the next spec may join the same pull) */
	LC_ACT_STOP,		 /* SIGTERM, then SIGKILL after the grace period */
	LC_ACT_KILL,		 /* SIGKILL now (a forced stop, or the grace period ran out) */
	LC_ACT_CUT_GRACE,	 /* a grace period still running ends now: SIGKILL */
	LC_ACT_CANCEL_RESTART,	 /* the restart timer goes */
	LC_ACT_SCHEDULE_RESTART, /* the restart timer, due at next_try_at (lc_result.delay_ms) */
	LC_ACT_PERSIST,		 /* write the record (intent changed, nothing an observer sees) */
	LC_ACT_PUBLISH,		 /* write the record, update the history, publish an event */
	LC_ACT_ANNOUNCE,	 /* publish an event only (how it ended, just before its removal) */
	LC_ACT_REPLACE,		 /* the next spec becomes the spec (lc_commit_replace), history follows */
	LC_ACT_REMOVE,		 /* cleanup, delete the record, publish the removal, free the instance */
	LC_ACT_DROP,		 /* a placeholder without spec goes: publish the removal, free */
	_LC_ACT_MAX,
};

#define LC_MAX_ACTS 8

struct lc_input {
	enum lc_event ev;
	int64_t now_ns;		     /* wall clock, ns since the epoch: next_try_at */
	int64_t mono_ns;	     /* monotonic ns: the back-off reset after a long run */
	struct spec *spec;	     /* APPLY, REPLACE: ownership passes to the lifecycle */
	const char *reason;	     /* INVALID_SPEC */
	const char *msg;	     /* INVALID_SPEC, IMAGE_FAILED, START_FAILED, LIVENESS_FAILED, EXITED,
				      * SHIM_LOST */
	const struct img_image *img; /* IMAGE_READY: not read here, passed to LC_ACT_CREATE */
};

struct lc_result {
	bool legal;
	bool restart_new; /* SCHEDULE_RESTART: a new decision of the policy (not an adopted one) */
	enum inst_phase from;
	enum lc_action acts[LC_MAX_ACTS];
	int n_acts;
	int64_t delay_ms;    /* SCHEDULE_RESTART */
	enum lc_event chain; /* _LC_EV_MAX, or an event to feed once the actions are done */
};

/* the restart back-off of a spec without restart_backoff (spec.h) */
#define LC_BACKOFF_START_MS SPEC_BACKOFF_INITIAL_MS
#define LC_BACKOFF_MAX_MS SPEC_BACKOFF_MAX_MS
#define LC_BACKOFF_RESET_NS (SPEC_BACKOFF_RESET_AFTER_MS * 1000000LL)

/* The transition: applies the table's row for (i->phase, in->ev) to i and fills *ret. An illegal
 * event changes nothing, is logged at error level and returns -EINVAL (ret->legal false). */
int lc_transition(struct instance *i, const struct lc_input *in, struct lc_result *ret);
/* LC_ACT_REPLACE: next_spec becomes spec; the run counters start over for the new revision. */
void lc_commit_replace(struct instance *i);
/* A record read back at start: the lifecycle fields as persisted (next_spec's ownership passes). */
void lc_restore(struct instance *i, enum inst_phase phase, const char *reason, const char *message,
		bool removing, bool force, struct spec *next_spec, int64_t backoff_ms, int64_t next_try_at);
/* Whether a removal or a replacement waits for the instance to stop. */
bool lc_has_intent(const struct instance *i);

const char *lc_event_name(enum lc_event ev);
const char *lc_action_name(enum lc_action a);
/* For tests and the table dump: is (phase, ev) a row of the table? */
bool lc_row_exists(enum inst_phase p, enum lc_event ev);

/* The agent's side (agent/lifecycle-run.c): feeds an event to lc_transition() with the clocks filled
 * in, carries out the actions in order, then any chained event. May free i (removal). */
void lc_run(struct instance *i, struct lc_input *in);
void lc_event(struct instance *i, enum lc_event ev);
void lc_event_msg(struct instance *i, enum lc_event ev, const char *msg);
/* For the health probes: the liveness probe failed (msg says how); the instance is stopped and
 * restarted under its restart policy with reason LivenessFailed. */
void lc_liveness_failed(struct instance *i, const char *msg);
