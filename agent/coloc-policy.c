/* Colocation policy (see coloc-policy.h): pure, unit-tested with recorded traces. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent/coloc-policy.h"
#include "spec/spec.h"

#define MEM_FLOOR (64LL * 1024 * 1024) /* batch's limit never goes below this */

void coloc_state_init(struct coloc_state *st)
{
	*st = (struct coloc_state){.batch_cpu_quota = COLOC_UNLIMITED,
				   .calm_needed = COLOC_CALM_TICKS,
				   .since_raise = 1 << 20,
				   .hold_len = COLOC_HOLD_TICKS,
				   .batch_memory_limit = -1};
}

static int64_t pos(int64_t v)
{
	return v > 0 ? v : 0;
}

int64_t coloc_reclaimable_cpu(const struct coloc_config *cfg, const struct coloc_sample *s)
{
	int64_t online = pos(s->online_cpu_millis), batch = pos(s->batch_cpu_millis);
	int64_t system = s->node_cpu_millis > online + batch ? s->node_cpu_millis - online - batch : 0;

	return pos(cfg->cpu_allocatable_millis * cfg->batch_cpu_target_pct / 100 - online - system);
}

int64_t coloc_reclaimable_memory(const struct coloc_config *cfg, const struct coloc_sample *s)
{
	int64_t online = pos(s->online_memory) > pos(s->online_memory_requests)
			     ? pos(s->online_memory)
			     : pos(s->online_memory_requests);
	int64_t left = pos(cfg->memory_allocatable - online);

	if (cfg->batch_memory_bytes > 0)
		return cfg->batch_memory_bytes < left ? cfg->batch_memory_bytes : left;
	return left / 100 * cfg->batch_memory_pct;
}

/* Pressure: halve (from what batch uses, if that is less than its quota) down to the minimum. */
static int64_t cpu_cut(const struct coloc_config *cfg, struct coloc_state *st, const struct coloc_sample *s,
		       int64_t cur)
{
	int64_t base = s->batch_cpu_millis >= 0 && s->batch_cpu_millis < cur ? s->batch_cpu_millis : cur;
	int64_t want = base / 2 > cfg->batch_cpu_min_millis ? base / 2 : cfg->batch_cpu_min_millis;

	st->calm = 0;
	if (want < cur && st->since_raise <= COLOC_RELAPSE_TICKS) {
		/* pressure came back soon after a raise: wait longer before the next one */
		st->calm_needed =
		    st->calm_needed * 2 > COLOC_CALM_TICKS_MAX ? COLOC_CALM_TICKS_MAX : st->calm_needed * 2;
		st->since_raise = 1 << 20;
	}
	return want < cur ? want : cur;
}

/* Calm long enough: raise fast (double, at least a quarter of the node per tick). */
static int64_t cpu_raise(const struct coloc_config *cfg, struct coloc_state *st, int64_t cur)
{
	int64_t cap = cfg->cpu_allocatable_millis, want;

	if (++st->calm < st->calm_needed || cur >= cap) {
		if (cur >= cap && st->calm >= 2 * COLOC_CALM_TICKS_MAX) {
			st->calm_needed = COLOC_CALM_TICKS; /* a long calm forgives earlier relapses */
			st->hold_len = COLOC_HOLD_TICKS;    /* and cuts that did not help */
		}
		return cur;
	}
	want = cur * 2 > cur + cap / 4 ? cur * 2 : cur + cap / 4;
	st->since_raise = 0;
	return want < cap ? want : cap;
}

/* The decision's quota (its reason already written) becomes the state's. */
static void quota_changed(struct coloc_state *st, struct coloc_decision *d)
{
	d->quota_changed = true;
	st->batch_cpu_quota = d->batch_cpu_quota;
	st->quota_changes++;
}

/* The cuts since probe_from did not lower online's pressure: batch gets that quota back (the
 * returned millis), and the next cut waits a back-off that doubles each time. */
static int64_t give_back(struct coloc_state *st, int64_t cap)
{
	st->probing = false;
	st->calm = 0;
	st->hold = st->hold_len;
	st->hold_len = st->hold_len * 2 > COLOC_HOLD_TICKS_MAX ? COLOC_HOLD_TICKS_MAX : st->hold_len * 2;
	return st->probe_from == COLOC_UNLIMITED ? cap : st->probe_from;
}

static void cpu_step(const struct coloc_config *cfg, struct coloc_state *st, const struct coloc_sample *s,
		     struct coloc_decision *d)
{
	int64_t cap = cfg->cpu_allocatable_millis;
	int64_t cur = st->batch_cpu_quota == COLOC_UNLIMITED ? cap : st->batch_cpu_quota, want;
	double p = s->online_cpu_pressure;
	const char *why;
	bool no_relief = false;

	if (st->since_raise < (1 << 20))
		st->since_raise++;
	if (s->no_batch) {
		/* a quota on an empty tier protects no one and keeps the sampler at its quick pace; a
		 * batch instance admitted later starts unlimited and is cut within a tick if need be */
		st->calm = 0;
		st->probing = false;
		d->batch_cpu_quota = COLOC_UNLIMITED;
		if (st->batch_cpu_quota != COLOC_UNLIMITED) {
			snprintf(d->reason, sizeof(d->reason),
				 "no batch instance left: batch CPU quota lifted");
			quota_changed(st, d);
		}
		return;
	}
	if (st->hold > 0)
		st->hold--;
	if (st->probing && p <= st->probe_pressure * COLOC_RELIEF_RATIO) {
		st->probing = false; /* the cuts helped: keep them, and forgive earlier ones that did not */
		st->hold_len = COLOC_HOLD_TICKS;
	}
	if (st->probing && ++st->probe_ticks >= COLOC_RELIEF_TICKS) {
		want = give_back(st, cap);
		why = "";
		no_relief = true;
	} else if (p >= COLOC_PRESSURE_HI && st->hold == 0) {
		want = cpu_cut(cfg, st, s, cur);
		why = "online CPU pressure at or above";
		if (!st->probing && want < cur) {
			st->probing = true;
			st->probe_ticks = 0;
			st->probe_pressure = p;
			st->probe_from = st->batch_cpu_quota;
		}
	} else if (p < COLOC_PRESSURE_LO) {
		want = cpu_raise(cfg, st, cur);
		why = "online calm, pressure below";
	} else {
		/* in the band; or above it during a back-off (online's own pressure, measured lately):
		 * hold, batch keeps its CPU */
		st->calm = 0;
		want = cur;
		why = "";
	}
	if (cfg->batch_cpu_target_pct < 100) {
		int64_t tcap = coloc_reclaimable_cpu(cfg, s);

		tcap = tcap > cfg->batch_cpu_min_millis ? tcap : cfg->batch_cpu_min_millis;
		if (want > tcap) {
			want = tcap;
			why = "--batch-cpu-target cap (allocatable x target - online - system), pressure";
			no_relief = false;
		}
	}
	d->batch_cpu_quota = want >= cap && cfg->batch_cpu_target_pct >= 100 ? COLOC_UNLIMITED : want;
	if (d->batch_cpu_quota == st->batch_cpu_quota)
		return;
	if (no_relief)
		snprintf(d->reason, sizeof(d->reason),
			 "cuts brought no relief: online %.1f%% waiting (%.1f%% before them), batch using "
			 "%lldm; no cut for the next %d ticks",
			 p, st->probe_pressure, (long long)s->batch_cpu_millis, st->hold);
	else
		snprintf(d->reason, sizeof(d->reason), "%s %.1f%%: online %.1f%% waiting, batch using %lldm",
			 why, p >= COLOC_PRESSURE_HI ? COLOC_PRESSURE_HI : COLOC_PRESSURE_LO, p,
			 (long long)s->batch_cpu_millis);
	quota_changed(st, d);
}

static void memory_step(const struct coloc_config *cfg, struct coloc_state *st, const struct coloc_sample *s,
			struct coloc_decision *d)
{
	int64_t want = coloc_reclaimable_memory(cfg, s), diff;

	if (want < MEM_FLOOR)
		want = MEM_FLOOR;
	want -= want % 4096; /* as the kernel stores it (v1 rounds down to pages) */
	diff = want - st->batch_memory_limit;
	if (st->batch_memory_limit >= 0 && diff < COLOC_MEM_STEP && -diff < COLOC_MEM_STEP)
		return;
	d->memory_changed = true;
	d->batch_memory_limit = want;
	if (!d->quota_changed)
		snprintf(
		    d->reason, sizeof(d->reason),
		    "reclaimable memory: allocatable %lld - online max(usage %lld, requests %lld), share %s",
		    (long long)cfg->memory_allocatable, (long long)s->online_memory,
		    (long long)s->online_memory_requests,
		    cfg->batch_memory_bytes > 0 ? "fixed size" : "percent");
	st->batch_memory_limit = want;
}

const struct coloc_inst *coloc_pick_victim(const struct coloc_sample *s, bool *ret_online)
{
	const struct coloc_inst *best = NULL;

	for (int pass = 0; pass < 2 && !best; pass++) {
		int64_t best_over = 0;

		for (size_t k = 0; k < s->n_inst; k++) {
			const struct coloc_inst *c = &s->inst[k];
			int64_t over = c->memory_usage - pos(c->memory_request);

			if (c->batch != (pass == 0) || c->memory_usage < 0)
				continue;
			if (pass == 1 && over <= 0)
				continue; /* online within its request is never evicted */
			if (!best || over > best_over) {
				best = c;
				best_over = over;
			}
		}
		*ret_online = pass == 1;
	}
	return best;
}

static bool still_running(const struct coloc_sample *s, const char *id)
{
	for (size_t k = 0; k < s->n_inst; k++)
		if (strcmp(s->inst[k].id, id) == 0)
			return true;
	return false;
}

static void evict_step(const struct coloc_config *cfg, struct coloc_state *st, const struct coloc_sample *s,
		       struct coloc_decision *d)
{
	bool low = s->mem_available >= 0 && s->mem_available < cfg->evict_available_bytes;
	bool stalled = s->mem_full_pct >= COLOC_MEM_FULL_PCT, online = false;
	const struct coloc_inst *v;

	if (cfg->evict_available_bytes <= 0 || (!low && !stalled))
		return;
	if (st->evicted_id[0]) {
		/* cool-down: the last one's memory must be back before another goes */
		if (still_running(s, st->evicted_id) ||
		    s->at_ms - st->evicted_at_ms < COLOC_EVICT_COOLDOWN_MS)
			return;
		st->evicted_id[0] = '\0';
	}
	v = coloc_pick_victim(s, &online);
	if (!v)
		return;
	snprintf(
	    d->evict_message, sizeof(d->evict_message),
	    "evicted (%s): node memory available %lld bytes, threshold %lld bytes, memory PSI full %.1f%%; "
	    "it used %lld bytes, request %lld bytes",
	    online ? "online past its request, no batch left" : "batch, largest usage over request",
	    (long long)s->mem_available, (long long)cfg->evict_available_bytes, s->mem_full_pct,
	    (long long)v->memory_usage, (long long)pos(v->memory_request));
	snprintf(st->evicted_id, sizeof(st->evicted_id), "%s", v->id);
	st->evicted_at_ms = s->at_ms;
	st->evictions++;
	d->evict = v;
}

void coloc_step(const struct coloc_config *cfg, struct coloc_state *st, const struct coloc_sample *s,
		struct coloc_decision *ret)
{
	*ret = (struct coloc_decision){.batch_cpu_quota = st->batch_cpu_quota,
				       .batch_memory_limit = st->batch_memory_limit};
	st->reclaimable_cpu = coloc_reclaimable_cpu(cfg, s);
	st->reclaimable_memory = coloc_reclaimable_memory(cfg, s);
	cpu_step(cfg, st, s, ret);
	memory_step(cfg, st, s, ret);
	evict_step(cfg, st, s, ret);
}

int coloc_parse_eviction_hard(const char *s, int64_t mem_total, int64_t *ret_bytes, struct err **err)
{
	static const char key[] = "memory.available<";
	const char *v;
	int64_t bytes;

	if (!s || !*s || strcmp(s, "none") == 0) {
		*ret_bytes = 0;
		return 0;
	}
	if (strncmp(s, key, sizeof(key) - 1) != 0 || !s[sizeof(key) - 1])
		return err_field(
		    err, "eviction-hard", EINVAL,
		    "--eviction-hard '%s': expected memory.available<SIZE or memory.available<N%% (or none)",
		    s);
	v = s + sizeof(key) - 1;
	if (v[strlen(v) - 1] == '%') {
		char *end = NULL;
		long pct;

		errno = 0;
		pct = strtol(v, &end, 10);
		if (errno || end == v || *end != '%' || end[1] || pct < 0 || pct > 100)
			return err_field(err, "eviction-hard", EINVAL,
					 "--eviction-hard '%s': the percent must be 0 to 100", s);
		*ret_bytes = mem_total / 100 * pct;
		return 0;
	}
	if (quantity_parse_bytes(v, &bytes) < 0)
		return err_field(err, "eviction-hard", EINVAL,
				 "--eviction-hard '%s': '%s' is not a size like 500Mi", s, v);
	*ret_bytes = bytes;
	return 0;
}

int coloc_parse_batch_memory(const char *s, int *ret_pct, int64_t *ret_bytes, struct err **err)
{
	size_t n = s ? strlen(s) : 0;

	if (n > 1 && s[n - 1] == '%') {
		char *end = NULL;
		long pct;

		errno = 0;
		pct = strtol(s, &end, 10);
		if (errno || end == s || *end != '%' || end[1] || pct < 1 || pct > 100)
			return err_field(err, "eviction-batch-memory", EINVAL,
					 "--eviction-batch-memory '%s': the percent must be 1 to 100", s);
		*ret_pct = (int)pct;
		*ret_bytes = 0;
		return 0;
	}
	if (!n || quantity_parse_bytes(s, ret_bytes) < 0 || *ret_bytes <= 0)
		return err_field(
		    err, "eviction-batch-memory", EINVAL,
		    "--eviction-batch-memory '%s': expected a percent like 80%% or a size like 4Gi",
		    s ? s : "");
	*ret_pct = 0;
	return 0;
}
