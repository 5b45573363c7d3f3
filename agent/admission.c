/* Admission against the node's allocatable resources (see admission.h). */
#include <errno.h>
#include <string.h>

#include "agent/admission.h"
#include "agent/agent.h"
#include "agent/instance.h"

int64_t admission_allocatable(int64_t capacity, int64_t reserved)
{
	if (capacity <= 0 || reserved >= capacity)
		return 0;
	return reserved > 0 ? capacity - reserved : capacity;
}

int admission_check(const struct admission_node *n, const struct admission_usage *used, const struct spec *s,
		    bool new_instance, struct err **err)
{
	int64_t free_mem;

	if (new_instance && n->max_instances > 0 && used->instances >= (size_t)n->max_instances)
		return err_field(err, "", ENOSPC,
				 "insufficient instances: the node already holds %zu of its %lld (--max-instances)",
				 used->instances, (long long)n->max_instances);
	if (s->memory <= 0)
		return 0; /* asks for nothing; the default limit still bounds it */
	free_mem = n->memory_allocatable > used->memory ? n->memory_allocatable - used->memory : 0;
	if (s->memory > free_mem)
		return err_field(err, "resources.memory", ENOSPC,
				 "insufficient memory: 'resources.memory' asks for %lld bytes, but only %lld of the "
				 "node's %lld allocatable bytes are free (%lld allocated)",
				 (long long)s->memory, (long long)free_mem, (long long)n->memory_allocatable,
				 (long long)used->memory);
	return 0;
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
			ret->memory += s->memory;
	}
}

int agent_admit(const struct agent *a, const struct spec *s, struct err **err)
{
	const struct instance *i = agent_find((struct agent *)a, s->id);
	struct admission_node n = {a->memory_allocatable, a->cfg->max_instances};
	struct admission_usage used;

	agent_admission_usage(a, s->id, &used);
	return admission_check(&n, &used, s, !i || !i->spec || i->removing, err);
}
