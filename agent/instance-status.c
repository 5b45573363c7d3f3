/* The instance status document (DESIGN.md "The instance status"). */
#include "agent/agent.h"
#include "agent/image-jobs.h"
#include "agent/instance.h"
#include "agent/probe.h"
#include "common/timeutil.h"

static const char *const phase_names[] = {
    [PH_PENDING] = "pending", [PH_PULLING] = "pulling",	  [PH_CREATING] = "creating",
    [PH_RUNNING] = "running", [PH_STOPPING] = "stopping", [PH_EXITED] = "exited",
    [PH_FAILED] = "failed",
};

const char *inst_phase_name(enum inst_phase p)
{
	return phase_names[p];
}

static json_t *time_or_null(int64_t ns)
{
	char buf[40];

	if (ns <= 0)
		return json_null();
	time_fmt_rfc3339(ns, buf, sizeof(buf));
	return json_string(buf);
}

static json_t *ports_json(const struct spec *s)
{
	json_t *arr = json_array();

	for (size_t k = 0; s && arr && k < s->n_ports; k++)
		json_array_append_new(arr, json_pack("{s:i, s:i, s:s}", "container", s->ports[k].container,
						     "host", s->ports[k].host, "protocol",
						     s->ports[k].udp ? "udp" : "tcp"));
	return arr;
}

static json_t *status_core(const struct instance *i)
{
	const struct spec *s = i->spec;
	bool running = i->phase == PH_RUNNING || i->phase == PH_STOPPING;

	return json_pack(
	    "{s:s, s:I, s:s, s:s, s:s, s:s, s:o, s:o, s:o, s:b, s:s, s:i, s:o, s:b, s:o, s:o, s:o,"
	    " s:s?, s:s, s:s?, s:s?}",
	    "id", i->id, "revision", (json_int_t)(s ? s->revision : 0), "node", i->a->node_name, "phase",
	    inst_phase_name(i->phase), "reason", i->reason, "message", i->message ? i->message : "", "ip",
	    i->ip ? json_string(i->ip) : json_null(), "ports", ports_json(s), "pid",
	    running && i->pid > 0 ? json_integer(i->pid) : json_null(), "ready", probe_ready(i), "health",
	    probe_health(i), "restarts", i->restarts, "exit_code",
	    i->has_exit ? json_integer(i->exit_code) : json_null(), "oom_killed", i->oom_killed,
	    "image_digest", i->image_digest ? json_string(i->image_digest) : json_null(), "started_at",
	    time_or_null(i->started_at), "finished_at", time_or_null(i->finished_at), "app",
	    s ? s->app : NULL, "qos", spec_qos_name(s ? s->qos : SPEC_QOS_ONLINE), "source_file",
	    i->source == SRC_DIR ? i->source_ref : NULL, "source", source_name(i->source));
}

json_t *inst_status_json(const struct instance *i)
{
	json_t *st = status_core(i);
	int64_t done, total;

	json_t *probes = st ? probe_status_json(i) : NULL;

	if (st &&
	    i->save_error) /* the status on disk is older than this one: a restart would lose the change */
		json_object_set_new(st, "state_error", json_string(i->save_error));
	if (probes)
		json_object_set_new(st, "probes", probes);
	if (st && i->next_try_at > 0)
		json_object_set_new(st, "next_try_at", time_or_null(i->next_try_at));
	if (st && i->spec_error) {
		/* the instance keeps running its current revision; the broken edit shows here */
		json_object_set_new(st, "spec_error", json_string(i->spec_error));
		if (!i->message || !*i->message)
			json_object_set_new(st, "message", json_string(i->spec_error));
	}
	if (st && i->phase == PH_PULLING && i->spec &&
	    agent_image_progress(i->a, i->spec->image, &done, &total))
		json_object_set_new(st, "pull",
				    json_pack("{s:I, s:I}", "bytes_done", (json_int_t)done, "bytes_total",
					      (json_int_t)total));
	return st;
}
