/* Colocation controller, agent side (see coloc.h): sampler, knob writer, evictions. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "agent/admission.h"
#include "agent/agent.h"
#include "agent/coloc-policy.h"
#include "agent/coloc.h"
#include "agent/lifecycle.h"
#include "agent/node-resources.h"
#include "common/cleanup.h"
#include "common/fs.h"
#include "common/log.h"
#include "common/timeutil.h"

#define INST_MAX 1024

struct coloc {
	struct agent *a;
	struct coloc_config cfg;
	struct coloc_state st;
	struct loop_timer *timer;
	int64_t timer_due_ms; /* CLOCK_MONOTONIC ms when timer fires */
	/* cumulative counters of the previous tick */
	int64_t prev_ns;
	struct cg_tier_sample prev_on, prev_ba;
	int64_t prev_node_busy_ns, prev_mem_full_us;
	/* the last tick's view, for reporting */
	struct coloc_sample last;
	bool have_last, wait_is_psi;
	bool quota_refused;	       /* the last quota write failed (warned once) */
	bool mem_refused;	       /* batch is held above the wanted memory limit (told once) */
	int64_t batch_mem_usage_limit; /* what was written, -1: none */
	bool batch_idle;	       /* --batch-cpu-class idle (else weight) */
};

static int64_t rate(int64_t cur, int64_t prev, int64_t scale, int64_t dt_ns)
{
	if (cur < 0 || prev < 0 || dt_ns <= 0)
		return -1;
	return cur > prev ? (cur - prev) * scale / dt_ns : 0;
}

/* /proc/stat's first line: the node's busy time (all but idle and iowait), ns. */
static int64_t node_busy_ns(void)
{
	unsigned long long v[8] = {0};
	char buf[256];
	long hz = sysconf(_SC_CLK_TCK);

	if (fs_read_knob(AT_FDCWD, "/proc/stat", buf, sizeof(buf), NULL) <= 0 ||
	    // NOLINTNEXTLINE(cert-err34-c)
	    sscanf(buf, "cpu %llu %llu %llu %llu %llu %llu %llu %llu", &v[0], &v[1], &v[2], &v[3], &v[4],
		   &v[5], &v[6], &v[7]) != 8 ||
	    hz <= 0)
		return -1;
	return (int64_t)(v[0] + v[1] + v[2] + v[5] + v[6] + v[7]) * (1000000000LL / hz);
}

static int64_t mem_available(void)
{
	_cleanup_free_ char *text = NULL;
	const char *p;
	long long kb;

	if (fs_read_file(AT_FDCWD, "/proc/meminfo", 64 * 1024, &text, NULL, NULL) < 0 ||
	    !(p = strstr(text, "MemAvailable:")) || sscanf(p + 13, " %lld", &kb) != 1) // NOLINT(cert-err34-c)
		return -1;
	return kb * 1024;
}

/* "full ... total=N" of /proc/pressure/memory, microseconds; -1 without PSI. */
static int64_t mem_full_total(void)
{
	_cleanup_free_ char *text = NULL;
	const char *p;

	if (fs_read_file(AT_FDCWD, "/proc/pressure/memory", 4096, &text, NULL, NULL) < 0 ||
	    !(p = strstr(text, "full ")) || !(p = strstr(p, "total=")))
		return -1;
	return strtoll(p + 6, NULL, 10);
}

static bool is_batch(const struct instance *i)
{
	return i->spec && i->spec->qos == SPEC_QOS_BATCH;
}

static bool runs(const struct instance *i)
{
	return i->spec && !i->removing && !i->evict_msg && i->phase == PH_RUNNING;
}

/* An eviction under way: listed (so the cool-down waits for it), never picked again. */
static bool evicting(const struct instance *i)
{
	return i->spec && i->evict_msg && (i->phase == PH_RUNNING || i->phase == PH_STOPPING);
}

/* The running instances; their memory is read only when the node is short (eviction is near). */
static size_t instances(struct coloc *c, struct coloc_inst *out, bool read_memory, int64_t *ret_online_req)
{
	size_t n = 0;

	*ret_online_req = 0;
	for (struct instance *i = c->a->instances; i && n < INST_MAX; i = i->next) {
		_cleanup_free_ char *path = NULL;

		if (!runs(i) && !evicting(i))
			continue;
		out[n] =
		    (struct coloc_inst){i->id, is_batch(i), -1, i->spec->memory > 0 ? i->spec->memory : 0};
		if (evicting(i)) { /* usage -1: not a candidate */
			n++;
			continue;
		}
		if (!is_batch(i) && i->spec->memory > 0)
			*ret_online_req += i->spec->memory;
		if (read_memory &&
		    (path = cg_instance_path(c->a->cg, is_batch(i) ? CG_QOS_BATCH : CG_QOS_ONLINE, i->id)))
			out[n].memory_usage = cg_instance_memory(c->a->cg, path);
		n++;
	}
	return n;
}

static void sample(struct coloc *c, struct coloc_sample *s)
{
	struct cg_tier_sample on, ba;
	int64_t now = time_mono_ns(), dt = now - c->prev_ns, busy = node_busy_ns(), full = mem_full_total();

	cg_tier_sample(c->a->cg, CG_QOS_ONLINE, true, &on);
	cg_tier_sample(c->a->cg, CG_QOS_BATCH, false, &ba);
	if (on.wait_is_psi != c->prev_on.wait_is_psi)
		c->prev_on.wait_ns = -1; /* the source changed (hybrid's tier dir went or came): no rate */
	*s = (struct coloc_sample){
	    .at_ms = now / 1000000,
	    .online_cpu_millis = rate(on.cpu_ns, c->prev_on.cpu_ns, 1000, dt),
	    .batch_cpu_millis = rate(ba.cpu_ns, c->prev_ba.cpu_ns, 1000, dt),
	    .node_cpu_millis = rate(busy, c->prev_node_busy_ns, 1000, dt),
	    .online_cpu_pressure = (double)rate(on.wait_ns, c->prev_on.wait_ns, 100000, dt) / 1000,
	    .online_throttled_pct = (double)rate(on.throttled_ns, c->prev_on.throttled_ns, 100000, dt) / 1000,
	    .online_memory = on.memory_bytes,
	    .batch_memory = ba.memory_bytes,
	    .mem_available = mem_available(),
	    .mem_full_pct = (double)rate(full, c->prev_mem_full_us, 100000000, dt) / 1000};
	c->wait_is_psi = on.wait_is_psi;
	c->prev_ns = now;
	c->prev_on = on;
	c->prev_ba = ba;
	c->prev_node_busy_ns = busy;
	c->prev_mem_full_us = full;
}

static void evict(struct coloc *c, const char *id, const char *msg)
{
	struct instance *i = agent_find(c->a, id);

	if (!i || !runs(i))
		return;
	log_notice("evicting id=%s qos=%s: %s", id, spec_qos_name(i->spec->qos), msg);
	i->evict_msg = strdup(msg);
	if (!i->evict_msg)
		return;
	lc_event_msg(i, LC_EV_EVICT, msg); /* SIGKILL at once: the node is short of memory now */
}

/* v1 refuses a limit below what it cannot reclaim (anonymous memory, no swap: EBUSY), and would
 * otherwise leave batch free to grow up to the old limit. Batch is held where it is instead (its
 * usage and a step), and the wanted limit is tried again on the next tick, so it lands as soon as
 * batch lets go. What is reported is what the kernel holds. */
static void apply_memory(struct coloc *c, const struct coloc_decision *d, const struct coloc_sample *s)
{
	_cleanup_err_ struct err *e = NULL;
	int64_t want = d->batch_memory_limit, hold;

	if (cg_set_batch_memory(c->a->cg, want, &e) >= 0) {
		log_debug("batch memory limit %lld bytes: %s", (long long)want, d->reason);
		c->batch_mem_usage_limit = want;
		c->mem_refused = false;
		return;
	}
	hold = s->batch_memory + COLOC_MEM_STEP;
	hold += (4096 - hold % 4096) % 4096;
	if (e->errnum != EBUSY || s->batch_memory < 0 || hold <= want ||
	    (c->batch_mem_usage_limit >= 0 && hold >= c->batch_mem_usage_limit)) {
		log_debug("batch memory limit %lld: %s, kept the old one", (long long)want, err_msg(e));
		c->st.batch_memory_limit = c->batch_mem_usage_limit; /* what the kernel still has */
		return;
	}
	err_free(&e);
	if (cg_set_batch_memory(c->a->cg, hold, &e) < 0) {
		log_debug("batch memory limit %lld: %s, kept the old one", (long long)hold, err_msg(e));
		c->st.batch_memory_limit = c->batch_mem_usage_limit;
		return;
	}
	if (!c->mem_refused)
		log_info("batch memory limit %lld bytes refused by the kernel: batch holds %lld it cannot "
			 "give back; held at %lld until it does (%s)",
			 (long long)want, (long long)s->batch_memory, (long long)hold, d->reason);
	c->mem_refused = true;
	c->batch_mem_usage_limit = hold;
	c->st.batch_memory_limit = hold; /* the next tick asks for the wanted limit again */
}

static void apply(struct coloc *c, const struct coloc_decision *d, const struct coloc_sample *s)
{
	_cleanup_err_ struct err *e = NULL;

	if (d->quota_changed && cg_set_batch_cpu(c->a->cg, d->batch_cpu_quota, &e) < 0) {
		/* v1 refuses a tier quota below one of its instances' own: keep what the kernel has */
		if (!c->quota_refused)
			log_warn("batch cpu quota %lldm: %s, keeping the current one",
				 (long long)d->batch_cpu_quota, err_msg(e));
		c->quota_refused = true;
		c->st.batch_cpu_quota = cg_batch_cpu_quota(c->a->cg);
	} else if (d->quota_changed) {
		c->quota_refused = false;
		log_debug("batch cpu quota %lldm (-1: none): %s", (long long)d->batch_cpu_quota, d->reason);
	}
	if (d->memory_changed)
		apply_memory(c, d, s);
}

static int64_t now_ms(void)
{
	return time_mono_ns() / 1000000;
}

/* CPU control needs a quick pace while batch runs or a quota is in force; memory alone needs a
 * second's pace only near the eviction threshold (or under memory pressure, or when it cannot be
 * read). A batch instance admitted meanwhile kicks the timer (coloc_kick). */
static int64_t next_tick_ms(const struct coloc *c, const struct coloc_sample *s, bool any_batch)
{
	int64_t thr = c->cfg.evict_available_bytes;

	if (any_batch || c->st.batch_cpu_quota != COLOC_UNLIMITED)
		return COLOC_TICK_MS;
	if (thr > 0 &&
	    (s->mem_available < 0 || s->mem_full_pct > 0 || s->mem_available < thr * COLOC_REST_FACTOR ||
	     s->mem_available < thr + COLOC_REST_MARGIN_BYTES))
		return COLOC_IDLE_TICK_MS;
	return COLOC_REST_TICK_MS;
}

static void tick(struct loop *l, void *data)
{
	struct coloc *c = data;
	static struct coloc_inst inst[INST_MAX];
	struct coloc_sample s;
	struct coloc_decision d;
	bool short_mem, any_batch = false;

	c->timer = NULL;
	sample(c, &s);
	short_mem = c->cfg.evict_available_bytes > 0 &&
		    ((s.mem_available >= 0 && s.mem_available < c->cfg.evict_available_bytes) ||
		     s.mem_full_pct >= COLOC_MEM_FULL_PCT);
	s.inst = inst;
	s.n_inst = instances(c, inst, short_mem, &s.online_memory_requests);
	/* the pace follows every batch instance the agent holds, running or about to */
	for (const struct instance *i = c->a->instances; i && !any_batch; i = i->next)
		any_batch = i->spec && i->spec->qos == SPEC_QOS_BATCH;
	s.no_batch = !any_batch;
	if (c->have_last) { /* the first tick has no rates yet */
		coloc_step(&c->cfg, &c->st, &s, &d);
		apply(c, &d, &s);
		if (d.evict)
			evict(c, d.evict->id, d.evict_message);
	}
	s.inst = NULL;
	s.n_inst = 0;
	c->last = s;
	c->have_last = true;
	int64_t next = next_tick_ms(c, &s, any_batch);

	c->timer = loop_timer_add(l, next, tick, c);
	c->timer_due_ms = now_ms() + next;
}

void coloc_kick(struct coloc *c)
{
	if (!c || (c->timer && c->timer_due_ms <= now_ms() + COLOC_TICK_MS))
		return;
	if (c->timer)
		loop_timer_cancel(c->a->loop, c->timer);
	c->timer = loop_timer_add(c->a->loop, COLOC_TICK_MS, tick, c);
	c->timer_due_ms = now_ms() + COLOC_TICK_MS;
}

static int config_of(const struct agent_config *k, struct coloc_config *cfg, struct err **err)
{
	struct node_res reserved = {0};
	int64_t ncpu = sysconf(_SC_NPROCESSORS_ONLN) * 1000;
	int64_t total = (int64_t)sysconf(_SC_PHYS_PAGES) * sysconf(_SC_PAGESIZE);
	int r;

	(void)node_res_parse(k->system_reserved, &reserved, NULL); /* checked at start */
	*cfg = (struct coloc_config){.cpu_allocatable_millis =
					 ncpu > reserved.cpu_millis ? ncpu - reserved.cpu_millis : 0,
				     .batch_cpu_target_pct = (int)k->batch_cpu_target};
	if (k->batch_cpu_target < 1 || k->batch_cpu_target > 100)
		return err_field(err, "batch-cpu-target", EINVAL,
				 "--batch-cpu-target %lld: expected a percent from 1 to 100",
				 (long long)k->batch_cpu_target);
	if (quantity_parse_cpu(k->batch_cpu_min, &cfg->batch_cpu_min_millis) < 0 ||
	    cfg->batch_cpu_min_millis < 10)
		return err_field(err, "batch-cpu-min", EINVAL,
				 "--batch-cpu-min '%s': expected a CPU quantity of at least 10m",
				 k->batch_cpu_min);
	if (!k->batch_cpu_class ||
	    (strcmp(k->batch_cpu_class, "idle") != 0 && strcmp(k->batch_cpu_class, "weight") != 0))
		return err_field(err, "batch-cpu-class", EINVAL,
				 "--batch-cpu-class '%s': expected idle or weight",
				 k->batch_cpu_class ? k->batch_cpu_class : "");
	r = coloc_parse_eviction_hard(k->eviction_hard, total, &cfg->evict_available_bytes, err);
	if (r < 0)
		return r;
	return coloc_parse_batch_memory(k->eviction_batch_memory, &cfg->batch_memory_pct,
					&cfg->batch_memory_bytes, err);
}

int coloc_config_check(const struct agent_config *k, struct err **err)
{
	struct coloc_config cfg;

	return config_of(k, &cfg, err);
}

int coloc_setup(struct agent *a, struct err **err)
{
	_cleanup_free_ struct coloc *c = calloc(1, sizeof(*c));
	_cleanup_err_ struct err *e = NULL;
	int r;

	if (!c)
		return err_set(err, ENOMEM, "out of memory");
	r = config_of(a->cfg, &c->cfg, err);
	if (r < 0)
		return r;
	c->cfg.memory_allocatable = a->memory_allocatable;
	c->a = a;
	c->batch_mem_usage_limit = -1;
	coloc_state_init(&c->st);
	c->prev_on = c->prev_ba = (struct cg_tier_sample){-1, -1, -1, -1, false};
	c->prev_node_busy_ns = c->prev_mem_full_us = -1;
	c->batch_idle = strcmp(a->cfg->batch_cpu_class, "idle") == 0;
	/* a quota left by an earlier run is lifted: the controller starts from no cap */
	if (cg_set_batch_cpu(a->cg, COLOC_UNLIMITED, &e) < 0) {
		log_warn("batch cpu quota: %s, ignoring", err_msg(e));
		err_free(&e);
	}
	if (cg_set_batch_cpu_class(a->cg, c->batch_idle, &e) < 0)
		log_warn("batch cpu class %s: %s, ignoring", a->cfg->batch_cpu_class, err_msg(e));
	c->timer = loop_timer_add(a->loop, 0, tick, c);
	if (!c->timer)
		return err_set(err, ENOMEM, "out of memory");
	log_info("colocation: batch cpu target %d%%, min %lldm, class %s, evict below %lld bytes available, "
		 "batch memory %s",
		 c->cfg.batch_cpu_target_pct, (long long)c->cfg.batch_cpu_min_millis, a->cfg->batch_cpu_class,
		 (long long)c->cfg.evict_available_bytes, a->cfg->eviction_batch_memory);
	a->coloc = TAKE_PTR(c);
	return 0;
}

struct coloc *coloc_free(struct coloc *c)
{
	if (!c)
		return NULL;
	if (c->timer)
		loop_timer_cancel(c->a->loop, c->timer);
	free(c);
	return NULL;
}

void coloc_admission_node(const struct coloc *c, struct admission_node *n)
{
	if (!c)
		return;
	n->cpu_allocatable = c->cfg.cpu_allocatable_millis;
	if (!c->have_last)
		return;
	n->batch_known = true;
	n->batch_cpu = coloc_reclaimable_cpu(&c->cfg, &c->last);
	n->batch_memory = coloc_reclaimable_memory(&c->cfg, &c->last);
}

static json_t *num(int64_t v)
{
	return v >= 0 ? json_integer(v) : json_null();
}

static json_t *pct(double v)
{
	return v >= 0 ? json_real(v) : json_null();
}

static json_t *reclaimable_json(const struct coloc *c)
{
	const struct coloc_sample *s = &c->last;
	int64_t sys = s->node_cpu_millis >= 0 && s->online_cpu_millis >= 0 && s->batch_cpu_millis >= 0
			  ? s->node_cpu_millis - s->online_cpu_millis - s->batch_cpu_millis
			  : -1;

	return json_pack("{s:{s:I, s:s, s:I, s:i, s:o, s:o}, s:{s:I, s:s, s:I, s:o, s:I, s:i, s:o}}", "cpu",
			 "millis", (json_int_t)coloc_reclaimable_cpu(&c->cfg, s), "formula",
			 "allocatable x batch_cpu_target% - online usage - system usage",
			 "allocatable_millis", (json_int_t)c->cfg.cpu_allocatable_millis,
			 "batch_cpu_target_percent", c->cfg.batch_cpu_target_pct, "online_usage_millis",
			 num(s->online_cpu_millis), "system_usage_millis", num(sys < 0 ? -1 : sys), "memory",
			 "bytes", (json_int_t)coloc_reclaimable_memory(&c->cfg, s), "formula",
			 c->cfg.batch_memory_bytes > 0
			     ? "min(eviction_batch_memory, allocatable - max(online usage, online requests))"
			     : "eviction_batch_memory% x (allocatable - max(online usage, online requests))",
			 "allocatable_bytes", (json_int_t)c->cfg.memory_allocatable, "online_usage_bytes",
			 num(s->online_memory), "online_requests_bytes",
			 (json_int_t)s->online_memory_requests, "eviction_batch_memory_percent",
			 c->cfg.batch_memory_pct, "eviction_batch_memory_bytes",
			 num(c->cfg.batch_memory_bytes ? c->cfg.batch_memory_bytes : -1));
}

/* Where the batch tier is and its CPU class. */
static json_t *batch_tier_json(const struct coloc *c)
{
	const char *path = c->a->cg ? cg_tier(c->a->cg, CG_QOS_BATCH) : NULL;

	return json_pack("{s:o, s:s}", "cgroup", path ? json_string(path) : json_null(), "cpu_class",
			 c->batch_idle ? "idle" : "weight");
}

json_t *coloc_status_json(const struct coloc *c)
{
	const struct coloc_sample *s;
	json_t *o;

	if (!c)
		return json_null();
	s = &c->last;
	o = json_pack(
	    "{s:o, s:o, s:o, s:I, s:o, s:{s:o, s:o, s:s, s:o, s:o, s:o}, s:{s:o, s:o, s:o, s:I, s:I}}",
	    "reclaimable", reclaimable_json(c), "batch_cpu_quota_millis", num(c->st.batch_cpu_quota),
	    "batch_memory_limit_bytes", num(c->batch_mem_usage_limit), "batch_cpu_min_millis",
	    (json_int_t)c->cfg.batch_cpu_min_millis, "usage",
	    json_pack("{s:o, s:o, s:o, s:o, s:o}", "online_cpu_millis", num(s->online_cpu_millis),
		      "batch_cpu_millis", num(s->batch_cpu_millis), "node_cpu_millis",
		      num(s->node_cpu_millis), "online_memory_bytes", num(s->online_memory),
		      "batch_memory_bytes", num(s->batch_memory)),
	    "pressure", "online_cpu_percent", pct(c->have_last ? s->online_cpu_pressure : -1),
	    "online_throttled_percent", pct(c->have_last ? s->online_throttled_pct : -1), "online_cpu_source",
	    c->wait_is_psi ? "psi cpu.pressure some" : "schedstat run delay (sum over tasks)",
	    "online_cpu_under_pressure", json_boolean(s->online_cpu_pressure >= COLOC_PRESSURE_HI),
	    "memory_full_percent", pct(s->mem_full_pct), "node_memory_available_bytes", num(s->mem_available),
	    "eviction", "threshold_available_bytes",
	    num(c->cfg.evict_available_bytes ? c->cfg.evict_available_bytes : -1), "under_pressure",
	    json_boolean(c->cfg.evict_available_bytes > 0 && s->mem_available >= 0 &&
			 s->mem_available < c->cfg.evict_available_bytes),
	    "last_evicted", c->st.evicted_id[0] ? json_string(c->st.evicted_id) : json_null(),
	    "evictions_total", (json_int_t)c->st.evictions, "batch_cpu_quota_changes_total",
	    (json_int_t)c->st.quota_changes);
	if (o && json_object_set_new(o, "batch_tier", batch_tier_json(c)) < 0) {
		json_decref(o);
		return NULL;
	}
	return o;
}

void coloc_metrics(const struct coloc *c, FILE *m)
{
	const struct coloc_sample *s;

	if (!c)
		return;
	s = &c->last;
	fprintf(m,
		"# HELP drover_batch_cpu_quota_millis The batch tier's CPU quota (-1: none).\n"
		"# TYPE drover_batch_cpu_quota_millis gauge\ndrover_batch_cpu_quota_millis %lld\n",
		(long long)c->st.batch_cpu_quota);
	fprintf(m,
		"# HELP drover_batch_cpu_quota_changes_total Batch CPU quota changes.\n"
		"# TYPE drover_batch_cpu_quota_changes_total counter\ndrover_batch_cpu_quota_changes_total "
		"%llu\n",
		(unsigned long long)c->st.quota_changes);
	fprintf(m,
		"# HELP drover_evictions_total Instances evicted under node memory pressure.\n"
		"# TYPE drover_evictions_total counter\ndrover_evictions_total %llu\n",
		(unsigned long long)c->st.evictions);
	fprintf(m,
		"# HELP drover_batch_memory_limit_bytes The batch tier's memory limit (v1) or high (v2).\n"
		"# TYPE drover_batch_memory_limit_bytes gauge\ndrover_batch_memory_limit_bytes %lld\n",
		(long long)c->batch_mem_usage_limit);
	fprintf(m,
		"# HELP drover_reclaimable_cpu_millis CPU batch may use (allocatable x target - online - "
		"system).\n"
		"# TYPE drover_reclaimable_cpu_millis gauge\ndrover_reclaimable_cpu_millis %lld\n",
		(long long)coloc_reclaimable_cpu(&c->cfg, s));
	fprintf(m,
		"# HELP drover_reclaimable_memory_bytes Memory batch may use.\n"
		"# TYPE drover_reclaimable_memory_bytes gauge\ndrover_reclaimable_memory_bytes %lld\n",
		(long long)coloc_reclaimable_memory(&c->cfg, s));
	fprintf(m,
		"# HELP drover_tier_cpu_millis CPU used by a tier over the last sample.\n"
		"# TYPE drover_tier_cpu_millis gauge\ndrover_tier_cpu_millis{qos=\"online\"} %lld\n"
		"drover_tier_cpu_millis{qos=\"batch\"} %lld\n",
		(long long)s->online_cpu_millis, (long long)s->batch_cpu_millis);
	fprintf(m,
		"# HELP drover_tier_memory_bytes Memory charged to a tier.\n"
		"# TYPE drover_tier_memory_bytes gauge\ndrover_tier_memory_bytes{qos=\"online\"} %lld\n"
		"drover_tier_memory_bytes{qos=\"batch\"} %lld\n",
		(long long)s->online_memory, (long long)s->batch_memory);
	fprintf(m,
		"# HELP drover_online_cpu_pressure_percent Share of the last sample online tasks waited for "
		"a CPU.\n"
		"# TYPE drover_online_cpu_pressure_percent gauge\ndrover_online_cpu_pressure_percent %.3f\n",
		s->online_cpu_pressure);
}
