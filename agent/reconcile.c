/* Desired vs actual: every source (the assignments dir, the API) funnels into
 * agent_apply/agent_remove, which hand the change to the lifecycle (agent/lifecycle.h). */
#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent/admission.h"
#include "agent/agent.h"
#include "agent/coloc.h"
#include "agent/events.h"
#include "agent/history.h"
#include "agent/instance.h"
#include "agent/lifecycle.h"
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
	agent_status_changed_flags(a, i, 0);
}

void agent_status_changed_flags(struct agent *a, struct instance *i, int save_flags)
{
	/* watchers first: the event journal is not synced either */
	events_publish(a, i);
	if (i->spec)
		(void)inst_save_flags(i, save_flags); /* logged inside; the in-memory status stays right */
	history_update(i);
}

/* The spec of a placeholder (a file that did not parse) is a first spec; else a new revision. */
static int replace(struct instance *i, struct spec *spec, enum apply_result *ret)
{
	struct lc_input in = {.ev = i->spec ? LC_EV_REPLACE : LC_EV_APPLY, .spec = spec};

	*ret = APPLY_REPLACED;
	if (!i->spec)
		i->unreadable_record =
		    false; /* a placeholder (also of an unreadable record) gets its first spec */
	lc_run(i, &in);
	return 0;
}

int agent_apply(struct agent *a, struct spec *spec, enum inst_source src, const char *ref,
		enum apply_result *ret, struct err **err)
{
	struct instance *i = agent_find(a, spec->id);
	int r;

	if (i && i->unreadable_record) {
		/* whoever sends a spec for it owns it now: the record that said whose it was is unreadable */
		i->source = src;
		free(i->source_ref);
		i->source_ref = ref ? strdup(ref) : NULL;
	}
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
			r = err_field(err, "revision", ESTALE,
				      "revision %lld is older than the current %lld of '%s'",
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
	if (spec->qos == SPEC_QOS_BATCH)
		coloc_kick(a->coloc); /* CPU control from the batch instance's first moments */
	if (i) {
		/* a spec file renamed or replaced by another file: the new file owns the id now */
		if (ref && (!i->source_ref || strcmp(i->source_ref, ref) != 0)) {
			free(i->source_ref);
			i->source_ref = strdup(ref);
		}
		return replace(i, spec, ret);
	}
	i = inst_new(a, spec->id, src, ref);
	if (!i) {
		spec_free(spec);
		return err_set(err, ENOMEM, "out of memory");
	}
	agent_link(a, i);
	log_info("new instance revision=%lld image='%s' id=%s", (long long)spec->revision, spec->image,
		 spec->id);
	*ret = APPLY_CREATED;
	struct lc_input in = {.ev = LC_EV_APPLY, .spec = spec};
	lc_run(i, &in);
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
	if (i->source != src && !i->unreadable_record)
		return err_set(err, EPERM, "instance '%s' belongs to %s", id, source_desc(i->source));
	if (!i->spec && i->unreadable_record) {
		inst_cleanup(i); /* whatever its bundle, container or cgroup left */
		if (inst_delete_record(i) < 0)
			log_warn("cannot remove the unreadable record, ignoring id=%s", id);
	}
	if (i->spec && !i->removing)
		log_info("removing%s id=%s", force ? " (force)" : "", id);
	lc_event(i, force ? LC_EV_FORCE_DELETE : LC_EV_DELETE); /* a placeholder goes at once */
	return 0;
}
