/* Desired vs actual: every source (the assignments dir, the API) funnels into
 * agent_apply/agent_remove; exits funnel into agent_after_exit. */
#include <dirent.h>
#include <errno.h>
#include <malloc.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent/admission.h"
#include "agent/agent.h"
#include "agent/events.h"
#include "agent/history.h"
#include "agent/source.h"
#include "common/cleanup.h"
#include "common/fs.h"
#include "common/log.h"
#include "common/proc.h"

struct instance *agent_find(struct agent *a, const char *id)
{
	for (struct instance *i = a->instances; i; i = i->next)
		if (strcmp(i->id, id) == 0)
			return i;
	return NULL;
}

void agent_link(struct agent *a, struct instance *i)
{
	i->next = a->instances;
	a->instances = i;
}

void agent_unlink(struct agent *a, struct instance *i)
{
	for (struct instance **pp = &a->instances; *pp; pp = &(*pp)->next)
		if (*pp == i) {
			*pp = i->next;
			return;
		}
}

void agent_status_changed(struct agent *a, struct instance *i)
{
	i->unpublished = false;
	/* watchers first: the event journal is not synced either, and a client waiting for `running`
	 * should not wait two fsyncs of a record whose new facts (pids, times) die with the host */
	events_publish(a, i);
	if (i->spec)
		(void)inst_save(i); /* logged inside; the in-memory status stays right */
	history_update(i);
}

static void destroy(struct agent *a, struct instance *i)
{
	log_info("removed id=%s", i->id);
	inst_cleanup(i);
	(void)inst_delete_record(i);
	history_forget(i);
	i->phase = PH_EXITED;
	events_publish_removed(a, i);
	agent_unlink(a, i);
	inst_free(i);
	(void)malloc_trim(0); /* a removal is a good moment to give freed memory back */
}

void agent_after_exit(struct agent *a, struct instance *i)
{
	if (i->removing) {
		if (i->unpublished)
			events_publish(a, i); /* how it ended, then its removal */
		destroy(a, i);
		return;
	}
	if (i->next_spec) {
		if (i->unpublished)
			agent_status_changed(a, i); /* how the old revision ended */
		log_info("replacing revision %lld with %lld id=%s", (long long)i->spec->revision,
			 (long long)i->next_spec->revision, i->id);
		history_replaced(i);
		spec_free(i->spec);
		i->spec = TAKE_PTR(i->next_spec);
		history_applied(i);
		i->restarts = 0;
		i->backoff_ms = 0;
		i->has_exit = false;
		i->oom_killed = false;
		i->exit_code = 0;
		i->started_at = 0; /* restarts count runs of this revision */
		i->finished_at = 0;
		i->next_try_at = 0;
		inst_start(i);
		return;
	}
	inst_apply_policy(i);
}

static int replace(struct agent *a, struct instance *i, struct spec *spec, enum apply_result *ret)
{
	*ret = APPLY_REPLACED;
	if (!i->spec) { /* the placeholder of a spec file that did not parse */
		i->spec = spec;
		i->removing = false;
		i->force_stop = false;
		history_applied(i);
		inst_start(i);
		return 0;
	}
	spec_free(i->next_spec);
	i->next_spec = spec;
	i->removing = false;
	i->force_stop = false;
	if (inst_is_active(i))
		inst_stop(i);
	else
		agent_after_exit(a, i);
	return 0;
}

int agent_apply(struct agent *a, struct spec *spec, enum inst_source src, const char *ref, enum apply_result *ret,
		struct err **err)
{
	struct instance *i = agent_find(a, spec->id);
	int r;

	if (i && i->source != src) {
		r = err_field(err, "id", EEXIST, "instance '%s' already exists, created by %s", spec->id,
			      source_desc(i->source));
		spec_free(spec);
		return r;
	}
	if (agent_check_ports(a, spec, err) < 0) {
		spec_free(spec);
		return -EADDRINUSE;
	}
	if (i && i->spec) {
		const struct spec *cur = i->next_spec ? i->next_spec : i->spec;
		if (spec->revision == cur->revision && !i->removing) {
			spec_free(spec);
			*ret = APPLY_UNCHANGED;
			return 0;
		}
		if (spec->revision < cur->revision) {
			r = err_field(err, "revision", ESTALE, "revision %lld is older than the current %lld of '%s'",
				      (long long)spec->revision, (long long)cur->revision, spec->id);
			spec_free(spec);
			return r;
		}
	}
	if ((r = agent_admit(a, spec, err)) < 0) {
		log_notice("not admitted: %s id=%s", err_msg(*err), spec->id);
		spec_free(spec);
		return r;
	}
	if (i) {
		/* a spec file renamed or replaced by another file: the new file owns the id now */
		if (ref && (!i->source_ref || strcmp(i->source_ref, ref) != 0)) {
			free(i->source_ref);
			i->source_ref = strdup(ref);
		}
		return replace(a, i, spec, ret);
	}
	i = inst_new(a, spec->id, src, ref);
	if (!i) {
		spec_free(spec);
		return err_set(err, ENOMEM, "out of memory");
	}
	i->spec = spec;
	agent_link(a, i);
	log_info("new instance revision=%lld image='%s' id=%s", (long long)spec->revision, spec->image, spec->id);
	*ret = APPLY_CREATED;
	history_applied(i);
	inst_start(i);
	return 0;
}

int agent_remove(struct agent *a, const char *id, enum inst_source src, struct err **err)
{
	return agent_remove_opt(a, id, src, false, err);
}

int agent_remove_opt(struct agent *a, const char *id, enum inst_source src, bool force, struct err **err)
{
	struct instance *i = agent_find(a, id);

	if (!i)
		return err_set(err, ENOENT, "no instance '%s'", id);
	if (i->source != src)
		return err_set(err, EPERM, "instance '%s' belongs to %s", id, source_desc(i->source));
	if (!i->spec) {
		events_publish_removed(a, i);
		agent_unlink(a, i);
		inst_free(i);
		return 0;
	}
	if (force)
		i->force_stop = true; /* no grace period: SIGKILL at once, also for a stop under way */
	if (i->removing) {
		if (force)
			inst_stop(i);
		return 0;
	}
	log_info("removing%s id=%s", force ? " (force)" : "", id);
	i->removing = true;
	spec_free(TAKE_PTR(i->next_spec));
	(void)inst_save(i);
	inst_stop(i);
	return 0;
}
