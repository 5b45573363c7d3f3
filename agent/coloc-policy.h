#pragma once
/* Colocation policy: pure functions from samples to knob settings, so it is unit-tested with
 * recorded traces and no cgroups. The agent side (coloc.c) samples, calls coloc_step once a tick,
 * and writes what it returns through the cgroup backends.
 *
 * CPU: batch gets a CFS quota. While online shows CPU pressure (the share of the interval its
 * tasks spent runnable but waiting: v2 PSI cpu "some" of the online tier, v1 the run-queue delay
 * of its tasks' schedstats), the quota is halved each tick down to --batch-cpu-min; once online
 * has been calm for a while it is raised quickly back to no cap. Between the two thresholds
 * nothing moves (hysteresis); a cut that follows a raise soon doubles the calm time needed next,
 * so a load that comes and goes does not make the quota oscillate. A cut must earn its keep: if
 * within COLOC_RELIEF_TICKS of the first cut online's pressure has not fallen to half of what it
 * was, the pressure is online's own (its tasks queue behind each other, a forking service on few
 * CPUs, say) and batch gets its CPU back; the next cut waits for a back-off that doubles each time
 * this happens and is forgiven after a long calm or a cut that helped. --batch-cpu-target below 100
 * adds koordlet's static cap: target x allocatable - online usage - system usage.
 *
 * Memory: batch's tier limit is --eviction-batch-memory of what online leaves (reclaimable). When
 * node available memory falls below --eviction-hard (or PSI memory full avg10 passes its limit),
 * one instance is evicted: batch first, largest usage over request first; online only when no
 * batch is left and only past its request. The next eviction waits until the last one is gone
 * and a cool-down has passed. */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/err.h"

#define COLOC_UNLIMITED (-1)
/* Online CPU pressure, percent of the interval: cut at or above HI, raise only below LO. */
#define COLOC_PRESSURE_HI 10.0
#define COLOC_PRESSURE_LO 3.0
/* Calm ticks before a raise, and its ceiling once a raise was followed by a cut soon after. */
#define COLOC_CALM_TICKS 3
#define COLOC_CALM_TICKS_MAX 32
/* A cut within this many ticks of a raise counts as a relapse (doubles the calm time needed). */
#define COLOC_RELAPSE_TICKS 8
/* A cut has this many ticks to bring online's pressure down to RATIO of what it was. */
#define COLOC_RELIEF_TICKS 8
#define COLOC_RELIEF_RATIO 0.5
/* Ticks without cuts after one that brought no relief: the first time, and at most. */
#define COLOC_HOLD_TICKS 32
#define COLOC_HOLD_TICKS_MAX 256
/* A memory limit moves only when the new value differs by more than this much. */
#define COLOC_MEM_STEP (32LL * 1024 * 1024)
/* Least time between two evictions. */
#define COLOC_EVICT_COOLDOWN_MS 2000
/* Memory PSI "full" share (percent of the interval) that counts as node memory pressure. */
#define COLOC_MEM_FULL_PCT 10.0

struct coloc_config {
	int64_t cpu_allocatable_millis; /* the node's CPUs minus --system-reserved cpu */
	int64_t memory_allocatable;	/* bytes */
	int batch_cpu_target_pct;	/* --batch-cpu-target: 100 = no static cap */
	int64_t batch_cpu_min_millis;	/* --batch-cpu-min */
	int64_t evict_available_bytes;	/* --eviction-hard memory.available<X, resolved; 0: off */
	int batch_memory_pct;		/* --eviction-batch-memory as a percent ... */
	int64_t batch_memory_bytes;	/* ... or as a size (then pct is 0) */
};

struct coloc_inst {
	const char *id;
	bool batch;
	int64_t memory_usage;	/* bytes, -1 unknown */
	int64_t memory_request; /* resources.memory, 0: none */
};

/* One tick's view; rates are over the interval since the previous sample. -1: unknown. */
struct coloc_sample {
	int64_t at_ms;		   /* monotonic */
	int64_t online_cpu_millis; /* CPU used by the online tier */
	int64_t batch_cpu_millis;
	int64_t node_cpu_millis;     /* CPU used by everything on the node */
	double online_cpu_pressure;  /* percent of the interval online tasks waited for a CPU */
	double online_throttled_pct; /* percent of the interval online was throttled by its own quotas */
	bool no_batch;		     /* no batch instance on the node: nothing to take CPU from */
	int64_t online_memory;	     /* bytes charged to the online tier */
	int64_t batch_memory;
	int64_t online_memory_requests;
	int64_t mem_available;	       /* MemAvailable */
	double mem_full_pct;	       /* PSI memory "full" over the interval, percent; -1 unknown */
	const struct coloc_inst *inst; /* running instances */
	size_t n_inst;
};

/* What the controller keeps between ticks (zero it, then coloc_state_init). */
struct coloc_state {
	int64_t batch_cpu_quota; /* millis or COLOC_UNLIMITED */
	int calm;		 /* consecutive calm ticks */
	int calm_needed;
	int since_raise; /* ticks since the last raise; large: none lately */
	/* the relief check of a run of cuts */
	bool probing;
	int probe_ticks;
	double probe_pressure; /* online's pressure when the run began */
	int64_t probe_from;    /* the quota before it */
	int hold, hold_len;    /* ticks left without cuts; the next back-off */
	int64_t batch_memory_limit;
	char evicted_id[128]; /* the last eviction, until it is gone */
	int64_t evicted_at_ms;
	uint64_t quota_changes, evictions;
	int64_t reclaimable_cpu, reclaimable_memory; /* the last tick's, for admission and reporting */
};

struct coloc_decision {
	bool quota_changed;
	int64_t batch_cpu_quota; /* millis or COLOC_UNLIMITED */
	bool memory_changed;
	int64_t batch_memory_limit;	/* bytes */
	const struct coloc_inst *evict; /* NULL: none */
	char reason[192];		/* why the quota or limit moved */
	char evict_message[256];
};

void coloc_state_init(struct coloc_state *st);
/* One tick: updates st and fills ret. */
void coloc_step(const struct coloc_config *cfg, struct coloc_state *st, const struct coloc_sample *s,
		struct coloc_decision *ret);
/* What batch may use: CPU millis (allocatable x target - online - system) and memory bytes
 * (pct x (allocatable - max(online requests, online usage)), or the fixed size). */
int64_t coloc_reclaimable_cpu(const struct coloc_config *cfg, const struct coloc_sample *s);
int64_t coloc_reclaimable_memory(const struct coloc_config *cfg, const struct coloc_sample *s);
/* The instance to evict now, or NULL; why in msg. */
const struct coloc_inst *coloc_pick_victim(const struct coloc_sample *s, bool *ret_online);

/* "memory.available<500Mi" or "memory.available<10%" (of total); "" or "none": off. */
int coloc_parse_eviction_hard(const char *s, int64_t mem_total, int64_t *ret_bytes, struct err **err);
/* "80%" or a size ("2Gi"). */
int coloc_parse_batch_memory(const char *s, int *ret_pct, int64_t *ret_bytes, struct err **err);
