#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "agent/agent.h"
#include "agent/image-jobs.h"
#include "agent/instance.h"

struct instance *inst_new(struct agent *a, const char *id, enum inst_source src, const char *ref)
{
	struct instance *i = calloc(1, sizeof(*i));

	if (!i)
		return NULL;
	i->a = a;
	i->id = strdup(id);
	i->source = src;
	i->source_ref = ref ? strdup(ref) : NULL;
	i->sync_fd = i->shim_pidfd = i->ctr_pidfd = -1;
	/* phase PH_PENDING (0) from calloc: the lifecycle takes it from here */
	probe_states_init(i->probes, _SPEC_PROBE_ROLE_MAX, i);
	if (!i->id || (ref && !i->source_ref))
		return inst_free(i);
	return i;
}

/* What else holds on to an instance (its probes) lets go here; set by the agent at start. A hook
 * keeps the instance from depending on the probe engine, which depends on the instance. */
static void (*free_hook)(struct instance *i);

void inst_set_free_hook(void (*fn)(struct instance *i))
{
	free_hook = fn;
}

struct instance *inst_free(struct instance *i)
{
	if (!i)
		return NULL;
	agent_image_forget(i->a, i);
	if (free_hook)
		free_hook(i);
	if (i->restart_timer)
		loop_timer_cancel(i->a->loop, i->restart_timer);
	if (i->kill_timer)
		loop_timer_cancel(i->a->loop, i->kill_timer);
	if (i->sync_fd >= 0) {
		loop_del_fd(i->a->loop, i->sync_fd);
		close(i->sync_fd);
	}
	if (i->shim_pidfd >= 0) {
		loop_del_fd(i->a->loop, i->shim_pidfd);
		close(i->shim_pidfd);
	}
	if (i->ctr_pidfd >= 0)
		close(i->ctr_pidfd);
	inst_start_wait_done(i);
	free(i->save_error);
	spec_free(i->spec);
	spec_free(i->next_spec);
	free(i->id);
	free(i->source_ref);
	free(i->message);
	free(i->spec_error);
	free(i->evict_msg);
	free(i->image_digest);
	free(i->ip);
	free(i->netns_path);
	free(i->bundle_dir);
	free(i->last_event);
	json_decref(i->history);
	free(i);
	return NULL;
}
