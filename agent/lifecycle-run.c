/* The agent's side of the lifecycle: every phase change goes through lc_transition() (agent/lifecycle.c);
 * this file feeds it events and carries out the actions it returns, in order. */
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent/agent.h"
#include "agent/events.h"
#include "agent/history.h"
#include "agent/image-jobs.h"
#include "agent/instance-internal.h"
#include "agent/lifecycle.h"
#include "agent/probe.h"
#include "common/fs.h"
#include "common/log.h"
#include "common/timeutil.h"

static void restart_fired(struct loop *l, void *data)
{
	struct instance *i = data;

	(void)l;
	i->restart_timer = NULL;
	lc_event(i, LC_EV_RESTART_TIMER);
}

static void cancel_restart(struct instance *i)
{
	if (i->restart_timer) {
		loop_timer_cancel(i->a->loop, i->restart_timer);
		i->restart_timer = NULL;
	}
}

static void schedule_restart(struct instance *i, const struct lc_result *r)
{
	if (r->restart_new)
		log_info("restarting in %lld ms (policy %s) id=%s", (long long)r->delay_ms,
			 spec_restart_name(i->spec->restart), i->id);
	else
		log_info("restart due in %lld ms (back-off %lld ms kept from the last agent) id=%s",
			 (long long)r->delay_ms, (long long)i->backoff_ms, i->id);
	cancel_restart(i);
	i->restart_timer = loop_timer_add(i->a->loop, r->delay_ms, restart_fired, i);
}

/* Stop waiting for the image: nothing runs yet, so a removal or a replacement takes effect at once
 * (the pull is killed when nobody else waits for it). */
static void cancel_pull(struct instance *i)
{
	if (i->next_spec && i->spec && strcmp(i->next_spec->image, i->spec->image) == 0)
		agent_image_forget(i->a, i); /* the new revision joins the same pull */
	else
		agent_image_cancel(i->a, i);
}

static void replace(struct instance *i)
{
	log_info("replacing revision %lld with %lld id=%s", (long long)i->spec->revision,
		 (long long)i->next_spec->revision, i->id);
	history_replaced(i);
	lc_commit_replace(i);
	history_applied(i);
}

static void destroy(struct instance *i)
{
	struct agent *a = i->a;

	log_info("removed id=%s", i->id);
	inst_cleanup(i);
	(void)inst_delete_record(i);
	history_forget(i);
	events_publish_removed(a, i);
	agent_unlink(a, i);
	inst_free(i);
	(void)malloc_trim(0); /* a removal is a good moment to give freed memory back */
}

static void drop(struct instance *i)
{
	events_publish_removed(i->a, i);
	agent_unlink(i->a, i);
	inst_free(i);
}

/* Two saves of a start are kept off its critical path; both stay whole for a restarted agent (written
 * and renamed as ever: the page cache outlives a killed agent), only their durability moves:
 *  - phase creating (image ready): made durable by inst_create() right after the shim is spawned,
 *    while the runtime works, yet before the API's set is saved and the PUT answered. It is on disk,
 *    renamed, before any shim exists, so an agent killed meanwhile adopts the start as ever.
 *  - phase running (start ok): never synced. What it adds (pids, the start time) dies with the host;
 *    after a reboot the durable creating record is adopted as a start that never ran and begun again.
 *    A client waiting for running is then not kept two fsyncs behind. */
static int publish_save_flags(enum lc_event ev)
{
	return ev == LC_EV_IMAGE_READY || ev == LC_EV_START_OK ? FS_NOSYNC : 0;
}

/* One action; false when i is gone or belongs to a nested event now (the actions that start, create
 * or remove are always last in their list). */
static bool act(struct instance *i, const struct lc_input *in, const struct lc_result *r, enum lc_action a)
{
	switch (a) {
	case LC_ACT_HISTORY_NEW:
		history_applied(i);
		return true;
	case LC_ACT_START:
		inst_start(i);
		return false;
	case LC_ACT_CREATE:
		inst_create(i, in->img);
		return false;
	case LC_ACT_CANCEL_PULL:
		cancel_pull(i);
		return true;
	case LC_ACT_STOP:
		probe_stop(i); /* a stopping container is probed no more */
		inst_signal_stop(i);
		return true;
	case LC_ACT_KILL:
		if (in->ev == LC_EV_GRACE_EXPIRED)
			log_notice("grace period over, sending SIGKILL id=%s", i->id);
		else
			log_notice("forced stop, sending SIGKILL id=%s", i->id);
		inst_signal_kill(i);
		return true;
	case LC_ACT_CUT_GRACE:
		inst_cut_grace(i);
		return true;
	case LC_ACT_CANCEL_RESTART:
		cancel_restart(i);
		return true;
	case LC_ACT_SCHEDULE_RESTART:
		schedule_restart(i, r);
		return true;
	case LC_ACT_PERSIST:
		(void)inst_save(i); /* logged inside; the in-memory intent stays right */
		return true;
	case LC_ACT_PUBLISH:
		agent_status_changed_flags(i->a, i, publish_save_flags(in->ev));
		return true;
	case LC_ACT_ANNOUNCE:
		events_publish(i->a, i);
		return true;
	case LC_ACT_REPLACE:
		replace(i);
		return true;
	case LC_ACT_REMOVE:
		destroy(i);
		return false;
	case LC_ACT_DROP:
		drop(i);
		return false;
	default:
		return true;
	}
}

void lc_run(struct instance *i, struct lc_input *in)
{
	struct lc_result r;

	for (;;) {
		in->now_ns = time_now_ns();
		in->mono_ns = time_mono_ns();
		if (lc_transition(i, in, &r) < 0)
			return;
		log_debug("lifecycle: %s -> %s on '%s' id=%s", inst_phase_name(r.from),
			  inst_phase_name(i->phase), lc_event_name(in->ev), i->id);
		for (int k = 0; k < r.n_acts; k++)
			if (!act(i, in, &r, r.acts[k]))
				return;
		if (r.chain == _LC_EV_MAX)
			return;
		*in = (struct lc_input){.ev = r.chain};
	}
}

void lc_event(struct instance *i, enum lc_event ev)
{
	struct lc_input in = {.ev = ev};

	lc_run(i, &in);
}

void lc_event_msg(struct instance *i, enum lc_event ev, const char *msg)
{
	struct lc_input in = {.ev = ev, .msg = msg};

	lc_run(i, &in);
}

void lc_liveness_failed(struct instance *i, const char *msg)
{
	log_notice("liveness probe failed: %s, restarting under the policy id=%s", msg ? msg : "", i->id);
	lc_event_msg(i, LC_EV_LIVENESS_FAILED, msg);
}
