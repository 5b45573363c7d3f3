/* Probe scheduling and verdicts: each configured probe of a running instance ticks on its own
 * timer in the agent's loop (first runs jittered, so many instances do not probe in one burst);
 * a result moves the counters, a verdict change is a status change (readiness), or a restart
 * (liveness, startup). The record is written only when something in it changed. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "agent/agent.h"
#include "agent/instance.h"
#include "agent/probe.h"
#include "common/log.h"
#include "common/timeutil.h"

static const double buckets[] = {0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10};
#define N_BUCKETS (sizeof(buckets) / sizeof(buckets[0]))
#define N_KINDS (SPEC_PROBE_NOTIFY + 1)

static struct {
	unsigned long long results[N_KINDS][2]; /* [kind][ok] */
	unsigned long long hist[N_KINDS][N_BUCKETS];
	unsigned long long count[N_KINDS];
	double sum[N_KINDS];
} stats;

static const struct spec_probe *cfg(const struct instance *i, enum spec_probe_role role)
{
	return &i->spec->probes[role];
}

static bool configured(const struct instance *i, enum spec_probe_role role)
{
	return i->spec && i->spec->probes[role].kind != SPEC_PROBE_NONE;
}

static bool startup_done(const struct instance *i)
{
	return !configured(i, SPEC_PROBE_STARTUP) ||
	       i->probes[SPEC_PROBE_STARTUP].count.verdict == PROBE_PASS;
}

/* Does this probe send traffic now? (notify readiness never does; startup gates the others) */
static bool runnable(const struct instance *i, enum spec_probe_role role)
{
	enum spec_probe_kind k = configured(i, role) ? cfg(i, role)->kind : SPEC_PROBE_NONE;

	if (k != SPEC_PROBE_HTTP && k != SPEC_PROBE_TCP && k != SPEC_PROBE_EXEC)
		return false;
	return role == SPEC_PROBE_STARTUP ? !startup_done(i) : startup_done(i);
}

void probe_reset(struct instance *i)
{
	probe_stop(i);
	for (int r = 0; r < _SPEC_PROBE_ROLE_MAX; r++) {
		struct probe_state *ps = &i->probes[r];
		memset(&ps->count, 0, sizeof(ps->count));
		ps->has_last = false;
		ps->last_ok = false;
		ps->last_at = 0;
		ps->last_ms = 0;
		ps->message[0] = '\0';
	}
}

static void cancel_in_flight(struct probe_state *ps)
{
	struct loop *l = ps->i->a->loop;

	if (ps->deadline) {
		loop_timer_cancel(l, ps->deadline);
		ps->deadline = NULL;
	}
	probe_net_cancel(ps);
	probe_exec_cancel(ps);
	ps->in_flight = false;
}

void probe_stop(struct instance *i)
{
	probe_notify_stop(i);
	for (int r = 0; r < _SPEC_PROBE_ROLE_MAX; r++) {
		struct probe_state *ps = &i->probes[r];
		if (ps->tick) {
			loop_timer_cancel(i->a->loop, ps->tick);
			ps->tick = NULL;
		}
		cancel_in_flight(ps);
		probe_net_release(ps);
	}
}

static void deadline_fired(struct loop *l, void *data)
{
	struct probe_state *ps = data;
	long long ms = (long long)cfg(ps->i, ps->role)->timeout_ms;

	(void)l;
	ps->deadline = NULL;
	if (cfg(ps->i, ps->role)->kind == SPEC_PROBE_EXEC)
		probe_done(ps, false, "timed out after %lld ms", ms);
	else if (!ps->connected)
		probe_done(ps, false, "connect %s: timed out after %lld ms", ps->addr, ms);
	else
		probe_done(ps, false, "%s: no response within %lld ms", ps->addr, ms);
}

static void run_one(struct probe_state *ps)
{
	const struct spec_probe *p = cfg(ps->i, ps->role);

	ps->in_flight = true;
	ps->began = time_mono_ns();
	ps->connected = false;
	ps->deadline = loop_timer_add(ps->i->a->loop, p->timeout_ms, deadline_fired, ps);
	if (p->kind == SPEC_PROBE_EXEC)
		(void)probe_exec_begin(ps); /* a failure to begin is a result, given inside */
	else
		(void)probe_net_begin(ps);
}

static void tick_fired(struct loop *l, void *data);

/* A probe runs at the first point of a grid after its time: every instance's probe due in the same
 * slot shares one wake-up of the agent (and often one for their answers too), where a timer each
 * cost a wake-up per probe, on this kind of machine as much as the probe's own network work. The
 * slot is a twentieth of the period, at most 50 ms: probes stay spread over the period, in at least
 * twenty small groups, and since a probe's place on the grid is the same every period, the grid
 * adds nothing to the time a failure takes to be seen. */
static struct loop_timer *add_tick(struct probe_state *ps)
{
	int64_t slot = cfg(ps->i, ps->role)->interval_ms * 1000000LL / 20;

	if (slot > 50000000LL)
		slot = 50000000LL;
	if (slot < 1000000LL)
		slot = 1000000LL;
	return loop_timer_add_at(ps->i->a->loop, (ps->next_at + slot - 1) / slot * slot, tick_fired, ps);
}

static void schedule(struct probe_state *ps, int64_t delay_ms)
{
	ps->next_at = time_mono_ns() + delay_ms * 1000000LL;
	ps->tick = add_tick(ps);
}

static void tick_fired(struct loop *l, void *data)
{
	struct probe_state *ps = data;
	struct instance *i = ps->i;
	int64_t now, interval_ns;

	(void)l;
	ps->tick = NULL;
	if (i->phase != PH_RUNNING || !runnable(i, ps->role))
		return;
	if (!ps->in_flight)
		run_one(ps); /* may finish at once, and even stop the instance */
	if (i->phase != PH_RUNNING || !runnable(i, ps->role) || ps->tick)
		return;
	/* fixed steps from the first run keep the spread the jitter gave; missed steps are skipped */
	interval_ns = cfg(i, ps->role)->interval_ms * 1000000LL;
	now = time_mono_ns();
	ps->next_at += interval_ns;
	if (ps->next_at <= now)
		ps->next_at = now + interval_ns;
	ps->tick = add_tick(ps);
}

static int64_t jitter_ms(int64_t span)
{
	uint32_t x = 0;

	if (span <= 0)
		return 0;
	if (getrandom(&x, sizeof(x), GRND_NONBLOCK) != (ssize_t)sizeof(x))
		x = (uint32_t)time_mono_ns();
	return (int64_t)(x % (uint64_t)span);
}

void probe_start(struct instance *i, bool adopted)
{
	if (!i->spec || i->phase != PH_RUNNING)
		return;
	if (cfg(i, SPEC_PROBE_READINESS)->kind == SPEC_PROBE_NOTIFY && startup_done(i))
		probe_notify_start(i); /* no traffic: the shim records what the service says */
	for (int r = 0; r < _SPEC_PROBE_ROLE_MAX; r++) {
		struct probe_state *ps = &i->probes[r];
		const struct spec_probe *p = cfg(i, (enum spec_probe_role)r);
		int64_t delay = 0;

		if (!runnable(i, (enum spec_probe_role)r) || ps->tick || ps->in_flight)
			continue;
		/* a failing liveness verdict from before the agent restart already asked for a stop that
		 * died with that agent: count afresh, so further failures restart it again */
		if (adopted && r != SPEC_PROBE_READINESS && ps->count.verdict == PROBE_FAIL)
			memset(&ps->count, 0, sizeof(ps->count));
		if (i->started_at > 0)
			delay = (i->started_at + p->initial_delay_ms * 1000000LL - time_now_ns()) / 1000000LL;
		if (delay < 0)
			delay = 0;
		/* an adopted instance's probes start anywhere in a period: a restarted agent with many
		 * instances would otherwise probe them all at once, and again every period */
		delay += jitter_ms(adopted ? p->interval_ms : p->interval_ms / 10);
		schedule(ps, delay);
	}
}

static void count_stats(enum spec_probe_kind k, bool ok, double secs)
{
	stats.results[k][ok ? 1 : 0]++;
	stats.count[k]++;
	stats.sum[k] += secs;
	for (size_t b = 0; b < N_BUCKETS; b++)
		if (secs <= buckets[b])
			stats.hist[k][b]++;
}

/* What a failed liveness or startup probe does: set by the agent at start (the lifecycle's
 * lc_liveness_failed). A hook rather than a call keeps the probe engine out of the lifecycle's
 * include graph (the lifecycle already depends on the instance, which embeds probe state). */
static probe_failed_fn failed_handler;

void probe_set_failed_handler(probe_failed_fn fn)
{
	failed_handler = fn;
}

static void verdict_changed(struct probe_state *ps)
{
	struct instance *i = ps->i;
	const char *role = spec_probe_role_name(ps->role);
	bool pass = ps->count.verdict == PROBE_PASS;
	char why[PROBE_MSG_MAX + 64];

	log_info("%s probe %s: %s id=%s", role, pass ? "passing" : "failing", ps->message, i->id);
	if (!pass && ps->role != SPEC_PROBE_READINESS) {
		snprintf(why, sizeof(why), "%s probe failed %d times: %s", role, ps->count.failures,
			 ps->message);
		if (failed_handler)
			failed_handler(i, why); /* stop, then the restart policy with its back-off */
		return;
	}
	if (pass && ps->role == SPEC_PROBE_STARTUP) {
		if (ps->tick) {
			loop_timer_cancel(i->a->loop, ps->tick);
			ps->tick = NULL;
		}
		probe_start(i, false); /* readiness and liveness begin now */
	}
	agent_status_changed(i->a, i);
}

void probe_done(struct probe_state *ps, bool ok, const char *fmt, ...)
{
	const struct spec_probe *p = cfg(ps->i, ps->role);
	char msg[PROBE_MSG_MAX];
	bool changed;
	va_list ap;
	int c;

	if (!ps->in_flight)
		return;
	cancel_in_flight(ps);
	if (ps->i->phase != PH_RUNNING)
		return; /* the container is going: its results no longer count */
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	ps->last_ms = (double)(time_mono_ns() - ps->began) / 1e6;
	count_stats(p->kind, ok, ps->last_ms / 1e3);
	changed = !ps->has_last || ps->last_ok != ok || strcmp(ps->message, msg) != 0;
	ps->has_last = true;
	ps->last_ok = ok;
	ps->last_at = time_now_ns();
	snprintf(ps->message, sizeof(ps->message), "%s", msg);
	c = probe_count_add(&ps->count, ok, p->success_threshold, p->failure_threshold);
	log_debug("%s probe %s in %.1f ms: %s id=%s", spec_probe_role_name(ps->role), ok ? "ok" : "failed",
		  ps->last_ms, msg, ps->i->id);
	if (c == 1)
		verdict_changed(ps);
	else if (c == 0 || changed)
		(void)inst_save(ps->i); /* logged inside */
}

bool probe_ready(const struct instance *i)
{
	if (i->phase != PH_RUNNING || !startup_done(i))
		return false;
	if (configured(i, SPEC_PROBE_READINESS))
		return i->probes[SPEC_PROBE_READINESS].count.verdict == PROBE_PASS;
	return true;
}

const char *probe_health(const struct instance *i)
{
	bool any = false, unknown = false;

	if (i->phase != PH_RUNNING || !i->spec)
		return "unknown";
	for (int r = 0; r < _SPEC_PROBE_ROLE_MAX; r++) {
		if (!configured(i, (enum spec_probe_role)r))
			continue;
		if (r != SPEC_PROBE_STARTUP && !startup_done(i))
			continue; /* not run yet */
		any = true;
		if (i->probes[r].count.verdict == PROBE_FAIL)
			return "unhealthy";
		if (i->probes[r].count.verdict == PROBE_UNKNOWN)
			unknown = true;
	}
	return !any || unknown ? "unknown" : "healthy";
}

static const char *verdict_name(enum probe_verdict v)
{
	return v == PROBE_PASS ? "passing" : v == PROBE_FAIL ? "failing" : "unknown";
}

static json_t *last_json(const struct probe_state *ps)
{
	char ts[40];

	if (!ps->has_last)
		return json_null();
	time_fmt_rfc3339(ps->last_at, ts, sizeof(ts));
	return json_pack("{s:s, s:b, s:s, s:f}", "time", ts, "ok", ps->last_ok, "message", ps->message,
			 "latency_ms", ps->last_ms);
}

json_t *probe_status_json(const struct instance *i)
{
	json_t *out;

	if (!i->spec || !i->spec->has_health || !(out = json_object()))
		return NULL;
	for (int r = 0; r < _SPEC_PROBE_ROLE_MAX; r++) {
		const struct probe_state *ps = &i->probes[r];
		if (!configured(i, (enum spec_probe_role)r))
			continue;
		json_object_set_new(out, spec_probe_role_name((enum spec_probe_role)r),
				    json_pack("{s:s, s:s, s:i, s:i, s:o}", "kind",
					      spec_probe_kind_name(cfg(i, (enum spec_probe_role)r)->kind),
					      "state", verdict_name(ps->count.verdict), "successes",
					      ps->count.successes, "failures", ps->count.failures, "last",
					      last_json(ps)));
	}
	return out;
}

json_t *probe_record_json(const struct instance *i)
{
	json_t *out = json_object();

	for (int r = 0; out && r < _SPEC_PROBE_ROLE_MAX; r++) {
		const struct probe_state *ps = &i->probes[r];
		if (!configured(i, (enum spec_probe_role)r) ||
		    (!ps->has_last && ps->count.verdict == PROBE_UNKNOWN))
			continue;
		json_object_set_new(out, spec_probe_role_name((enum spec_probe_role)r),
				    json_pack("{s:s, s:i, s:i, s:b, s:b, s:s, s:I, s:f}", "verdict",
					      verdict_name(ps->count.verdict), "successes",
					      ps->count.successes, "failures", ps->count.failures, "has_last",
					      ps->has_last, "ok", ps->last_ok, "message", ps->message, "time",
					      (json_int_t)ps->last_at, "latency_ms", ps->last_ms));
	}
	return out;
}

void probe_record_load(struct instance *i, json_t *doc)
{
	for (int r = 0; json_is_object(doc) && r < _SPEC_PROBE_ROLE_MAX; r++) {
		json_t *p = json_object_get(doc, spec_probe_role_name((enum spec_probe_role)r));
		struct probe_state *ps = &i->probes[r];
		const char *verdict = NULL, *msg = NULL;
		int has_last = 0, ok = 0;
		json_int_t at = 0;
		double ms = 0;

		if (!p || json_unpack(p, "{s:s, s:i, s:i, s:b, s:b, s:s, s:I, s:F}", "verdict", &verdict,
				      "successes", &ps->count.successes, "failures", &ps->count.failures,
				      "has_last", &has_last, "ok", &ok, "message", &msg, "time", &at,
				      "latency_ms", &ms) < 0)
			continue;
		ps->count.verdict = strcmp(verdict, "passing") == 0   ? PROBE_PASS
				    : strcmp(verdict, "failing") == 0 ? PROBE_FAIL
								      : PROBE_UNKNOWN;
		ps->has_last = has_last;
		ps->last_ok = ok;
		ps->last_at = at;
		ps->last_ms = ms;
		snprintf(ps->message, sizeof(ps->message), "%s", msg);
	}
}

static void metrics_kind(FILE *m, enum spec_probe_kind k)
{
	const char *name = spec_probe_kind_name(k);

	for (size_t b = 0; b < N_BUCKETS; b++)
		fprintf(m, "drover_probe_duration_seconds_bucket{kind=\"%s\",le=\"%g\"} %llu\n", name,
			buckets[b], stats.hist[k][b]);
	fprintf(m, "drover_probe_duration_seconds_bucket{kind=\"%s\",le=\"+Inf\"} %llu\n", name,
		stats.count[k]);
	fprintf(m, "drover_probe_duration_seconds_sum{kind=\"%s\"} %.6f\n", name, stats.sum[k]);
	fprintf(m, "drover_probe_duration_seconds_count{kind=\"%s\"} %llu\n", name, stats.count[k]);
}

void probe_metrics(FILE *m)
{
	static const enum spec_probe_kind kinds[] = {SPEC_PROBE_HTTP, SPEC_PROBE_TCP, SPEC_PROBE_EXEC};

	fprintf(m, "# HELP drover_probe_results_total Health probe results by kind and outcome.\n"
		   "# TYPE drover_probe_results_total counter\n");
	for (size_t k = 0; k < sizeof(kinds) / sizeof(kinds[0]); k++)
		fprintf(m,
			"drover_probe_results_total{kind=\"%s\",outcome=\"success\"} %llu\n"
			"drover_probe_results_total{kind=\"%s\",outcome=\"failure\"} %llu\n",
			spec_probe_kind_name(kinds[k]), stats.results[kinds[k]][1],
			spec_probe_kind_name(kinds[k]), stats.results[kinds[k]][0]);
	fprintf(m, "# HELP drover_probe_duration_seconds Health probe latency by kind.\n"
		   "# TYPE drover_probe_duration_seconds histogram\n");
	for (size_t k = 0; k < sizeof(kinds) / sizeof(kinds[0]); k++)
		metrics_kind(m, kinds[k]);
}
