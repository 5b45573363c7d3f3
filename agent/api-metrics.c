/* GET /metrics: Prometheus text format, made from what the agent already keeps in memory. */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "agent/api-internal.h"
#include "agent/coloc.h"
#include "agent/events.h"
#include "agent/instance.h"
#include "agent/probe.h"
#include "common/timeutil.h"

static long long resident_bytes(void)
{
	long long pages = 0;
	FILE *f = fopen("/proc/self/statm", "re");

	if (f) {
		if (fscanf(f, "%*s %lld", &pages) != 1) // NOLINT(cert-err34-c): a gauge, 0 on junk
			pages = 0;
		fclose(f);
	}
	return pages * sysconf(_SC_PAGESIZE);
}

static void instance_metrics(FILE *m, struct agent *a)
{
	int counts[PH_FAILED + 1] = {0};

	for (struct instance *i = a->instances; i; i = i->next)
		counts[i->phase]++;
	fprintf(m,
		"# HELP drover_instances Instances on this node by phase.\n# TYPE drover_instances gauge\n");
	for (int p = PH_PENDING; p <= PH_FAILED; p++)
		fprintf(m, "drover_instances{phase=\"%s\"} %d\n", inst_phase_name((enum inst_phase)p),
			counts[p]);
	fprintf(m, "# HELP drover_instance_restarts_total Restarts by the restart policy.\n"
		   "# TYPE drover_instance_restarts_total counter\n");
	for (struct instance *i = a->instances; i; i = i->next)
		fprintf(m, "drover_instance_restarts_total{id=\"%s\"} %d\n", i->id, i->restarts);
	fprintf(m,
		"# HELP drover_instance_start_seconds Time of the last start, from the request to running.\n"
		"# TYPE drover_instance_start_seconds gauge\n");
	for (struct instance *i = a->instances; i; i = i->next)
		if (i->running_since > i->start_begun && i->start_begun)
			fprintf(m, "drover_instance_start_seconds{id=\"%s\"} %.6f\n", i->id,
				(double)(i->running_since - i->start_begun) / 1e9);
	fprintf(m, "# HELP drover_instance_oom_killed Whether the last exit was an OOM kill.\n"
		   "# TYPE drover_instance_oom_killed gauge\n");
	for (struct instance *i = a->instances; i; i = i->next)
		fprintf(m, "drover_instance_oom_killed{id=\"%s\"} %d\n", i->id, i->oom_killed ? 1 : 0);
}

enum MHD_Result api_metrics(struct api *api, struct http_req *req)
{
	struct agent *a = api->a;
	struct MHD_Response *resp;
	enum MHD_Result ret;
	char *text = NULL;
	size_t len = 0;
	FILE *m = open_memstream(&text, &len);

	if (!m)
		return MHD_NO;
	instance_metrics(m, a);
	fprintf(m,
		"# HELP drover_agent_uptime_seconds Seconds since droverd started.\n"
		"# TYPE drover_agent_uptime_seconds gauge\ndrover_agent_uptime_seconds %.3f\n",
		(double)(time_mono_ns() - a->started_mono) / 1e9);
	fprintf(m,
		"# HELP drover_agent_resident_memory_bytes droverd's resident memory.\n"
		"# TYPE drover_agent_resident_memory_bytes gauge\ndrover_agent_resident_memory_bytes %lld\n",
		resident_bytes());
	probe_metrics(m);
	fprintf(m,
		"# HELP drover_events_total Status changes published.\n"
		"# TYPE drover_events_total counter\ndrover_events_total %llu\n",
		(unsigned long long)events_last_seq());
	coloc_metrics(a->coloc, m);
	if (fclose(m) != 0) {
		free(text);
		return MHD_NO;
	}
	resp = MHD_create_response_from_buffer(len, text, MHD_RESPMEM_MUST_FREE);
	if (!resp) {
		free(text);
		return MHD_NO;
	}
	(void)MHD_add_response_header(resp, "Content-Type", "text/plain; version=0.0.4");
	ret = MHD_queue_response(req->conn, 200, resp);
	MHD_destroy_response(resp);
	return ret;
}
