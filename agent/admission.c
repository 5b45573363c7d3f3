/* Admission against the node's allocatable resources (see admission.h). */
#include <errno.h>
#include <string.h>

#include "agent/admission.h"
#include "agent/agent.h"
#include "agent/coloc.h"
#include "agent/instance.h"

int64_t admission_allocatable(int64_t capacity, int64_t reserved)
{
	if (capacity <= 0 || reserved >= capacity)
		return 0;
	return reserved > 0 ? capacity - reserved : capacity;
}

struct pool {
	const char *field, *res, *kind; /* "resources.memory", "memory", "allocatable" */
	bool cpu, batch;
	int64_t ask, total, used;
};

static int pool_check(const struct pool *p, struct err **err)
{
	int64_t left = p->total > p->used ? p->total - p->used : 0;
	const char *m = p->cpu ? "m" : "", *bytes = p->cpu ? "" : " bytes";

	if (p->ask <= 0 || p->ask <= left)
		return 0;
	return err_field(
	    err, p->field, ENOSPC,
	    "insufficient %s%s: '%s' asks for %lld%s%s, but only %lld%s of the node's %lld%s %s%s are free "
	    "(%lld%s allocated%s)",
	    p->res, p->batch ? " for batch" : "", p->field, (long long)p->ask, m, bytes, (long long)left, m,
	    (long long)p->total, m, p->kind, bytes, (long long)p->used, m, p->batch ? " to batch" : "");
}

int admission_check(const struct admission_node *n, const struct admission_usage *used, const struct spec *s,
		    bool new_instance, struct err **err)
{
	bool batch = s->qos == SPEC_QOS_BATCH;
	struct pool mem = {"resources.memory",	  "memory",    "allocatable", false, batch, s->memory,
			   n->memory_allocatable, used->memory};
	struct pool cpu = {"resources.cpu", "cpu",	   "allocatable",      true,
			   batch,	    s->cpu_millis, n->cpu_allocatable, used->cpu};
	int r;

	if (new_instance && n->max_instances > 0 && used->instances >= (size_t)n->max_instances)
		return err_field(
		    err, "", ENOSPC,
		    "insufficient instances: the node already holds %zu of its %lld (--max-instances)",
		    used->instances, (long long)n->max_instances);
	if (batch && n->batch_known) { /* what online leaves: measured by the colocation controller */
		mem = (struct pool){"resources.memory", "memory",	 "reclaimable",	    false, true,
				    s->memory,		n->batch_memory, used->batch_memory};
		cpu = (struct pool){"resources.cpu", "cpu",	   "reclaimable",  true, true,
				    s->cpu_millis,   n->batch_cpu, used->batch_cpu};
	} else if (batch) { /* not measured yet: what every request leaves */
		mem.used += used->batch_memory;
		cpu.used += used->batch_cpu;
	}
	r = pool_check(&mem, err);
	if (r < 0 || n->cpu_allocatable <= 0)
		return r;
	return pool_check(&cpu, err);
}

void agent_admission_usage(const struct agent *a, const char *except_id, struct admission_usage *ret)
{
	*ret = (struct admission_usage){0};
	for (const struct instance *i = a->instances; i; i = i->next) {
		const struct spec *s = i->next_spec ? i->next_spec : i->spec;

		if (!s || i->removing || (except_id && strcmp(i->id, except_id) == 0))
			continue;
		ret->instances++;
		if (s->memory > 0)
			*(s->qos == SPEC_QOS_BATCH ? &ret->batch_memory : &ret->memory) += s->memory;
		if (s->cpu_millis > 0)
			*(s->qos == SPEC_QOS_BATCH ? &ret->batch_cpu : &ret->cpu) += s->cpu_millis;
	}
}

int agent_admit(const struct agent *a, const struct spec *s, struct err **err)
{
	const struct instance *i = agent_find((struct agent *)a, s->id);
	struct admission_node n = {a->memory_allocatable, a->cfg->max_instances, 0, false, 0, 0};
	struct admission_usage used;

	coloc_admission_node(a->coloc, &n);
	agent_admission_usage(a, s->id, &used);
	return admission_check(&n, &used, s, !i || !i->spec || i->removing, err);
}
