#pragma once
/* What an instance's cgroup and process get: the spec's resources, or the node's defaults when the
 * spec sets none, clamped to what the kernel and runc accept; and its oom_score_adj by class. */
#include <stdint.h>

#include "spec/spec.h"

/* CFS: the period every quota is a share of, and the kernel's smallest quota. */
#define LIMITS_CPU_PERIOD_US 100000
#define LIMITS_CPU_QUOTA_MIN_US 1000
/* cpu.shares bounds of the kernel (v1); runc refuses values outside them. */
#define LIMITS_SHARES_MIN 2
#define LIMITS_SHARES_MAX 262144
/* oom_score_adj by class, as kubelet: BestEffort-like batch is killed first, an online instance
 * without its own memory limit comes next, before host daemons (0). Only an online instance with
 * an explicit memory limit (Guaranteed-like) gets the negative LIMITS_POLICY.oom_adj_guaranteed. */
#define LIMITS_OOM_ADJ_BATCH 1000
#define LIMITS_OOM_ADJ_UNBOUNDED 100

struct limits_policy {
	int64_t default_memory; /* bytes for a spec without resources.memory; 0: none */
	int64_t default_pids;	/* for a spec without resources.pids; 0: none */
	int oom_adj_guaranteed; /* online with resources.memory: -500, or 0 without CAP_SYS_RESOURCE */
};

struct limits {
	int64_t memory;	      /* bytes, -1: none */
	int64_t pids;	      /* -1: none */
	int64_t cpu_quota_us; /* -1: none */
	int64_t cpu_period_us;
	uint64_t cpu_shares; /* 0: unset */
	int oom_score_adj;
};

void limits_compute(const struct limits_policy *p, const struct spec *s, struct limits *ret);
