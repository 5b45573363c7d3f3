/* An instance's effective limits (see limits.h): pure arithmetic, unit-tested. */
#include "agent/limits.h"

static uint64_t clamp_shares(int64_t shares)
{
	if (shares < LIMITS_SHARES_MIN)
		return LIMITS_SHARES_MIN;
	if (shares > LIMITS_SHARES_MAX)
		return LIMITS_SHARES_MAX;
	return (uint64_t)shares;
}

static void cpu_limits(const struct spec *s, struct limits *l)
{
	l->cpu_quota_us = -1;
	l->cpu_period_us = LIMITS_CPU_PERIOD_US;
	l->cpu_shares = 0;
	if (s->cpu_millis > 0) {
		/* millicores of the period; the spec refuses < 10m, the clamp keeps runc happy regardless */
		l->cpu_quota_us = s->cpu_millis * (LIMITS_CPU_PERIOD_US / 1000);
		if (l->cpu_quota_us < LIMITS_CPU_QUOTA_MIN_US)
			l->cpu_quota_us = LIMITS_CPU_QUOTA_MIN_US;
		l->cpu_shares = clamp_shares(s->cpu_millis * 1024 / 1000);
	}
	if (s->qos == SPEC_QOS_BATCH)
		l->cpu_shares = LIMITS_SHARES_MIN; /* batch runs on what online leaves idle */
}

void limits_compute(const struct limits_policy *p, const struct spec *s, struct limits *ret)
{
	cpu_limits(s, ret);
	ret->memory = s->memory > 0 ? s->memory : p->default_memory > 0 ? p->default_memory : -1;
	ret->pids = s->pids > 0 ? s->pids : p->default_pids > 0 ? p->default_pids : -1;
	if (s->qos == SPEC_QOS_BATCH)
		ret->oom_score_adj = LIMITS_OOM_ADJ_BATCH;
	else if (s->memory > 0)
		ret->oom_score_adj = p->oom_adj_guaranteed;
	else
		ret->oom_score_adj =
		    LIMITS_OOM_ADJ_UNBOUNDED; /* a default limit is not the tenant's promise */
}
