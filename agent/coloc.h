#pragma once
/* The colocation controller's agent side: one loop timer samples the tiers (a few small files),
 * coloc_step (coloc-policy.h) decides, and the knobs are written through the cgroup backends;
 * evictions stop an instance for good with phase failed, reason Evicted. */
#include <jansson.h>
#include <stdint.h>
#include <stdio.h>

#include "common/err.h"

struct agent;
struct coloc;
struct admission_node;
struct instance;

#define COLOC_EVICTED_REASON "Evicted"
/* Sampling period while batch instances run (CPU control); with no batch, while memory is near
 * the eviction threshold; and at rest (no batch, memory far from it), so an idle node wakes the
 * agent every few seconds, not every second. */
#define COLOC_TICK_MS 250
#define COLOC_IDLE_TICK_MS 1000
#define COLOC_REST_TICK_MS 5000
/* "Far from the threshold": more available than this many times it, and this much above it. */
#define COLOC_REST_FACTOR 4
#define COLOC_REST_MARGIN_BYTES (1LL << 30)

struct agent_config;
/* Checks --batch-cpu-target, --batch-cpu-min, --eviction-hard and --eviction-batch-memory. */
int coloc_config_check(const struct agent_config *k, struct err **err);
/* Parses the flags, resets the batch tier's knobs and arms the timer. */
int coloc_setup(struct agent *a, struct err **err);
struct coloc *coloc_free(struct coloc *c);
/* A batch instance was admitted: sample soon (at CPU-control pace), not at the resting pace. */
void coloc_kick(struct coloc *c);
/* Fills the batch (reclaimable) side of admission; nothing when c is NULL or has no sample yet. */
void coloc_admission_node(const struct coloc *c, struct admission_node *n);
/* The "colocation" object of GET /v1/node: reclaimable capacity with its inputs, the batch quota
 * and memory limit, online pressure, eviction threshold and counters. json null when c is NULL. */
json_t *coloc_status_json(const struct coloc *c);
/* Prometheus lines for /metrics. */
void coloc_metrics(const struct coloc *c, FILE *m);
