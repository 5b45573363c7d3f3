#pragma once
/* Health probes (readiness, liveness, startup) run inside the agent's event loop: http and tcp with
 * non-blocking sockets, exec through the runtime as a watched child. The verdicts and the last result
 * of each probe are part of the instance's persisted record. */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/types.h>

#include <jansson.h>

#include "agent/probe-logic.h"
#include "spec/spec.h"

struct instance;

/* Called when a liveness or startup probe fails past its threshold (the agent sets the lifecycle's
 * lc_liveness_failed at start). */
typedef void (*probe_failed_fn)(struct instance *i, const char *why);
void probe_set_failed_handler(probe_failed_fn fn);

/* A new container run: verdicts and counters start over. */
void probe_reset(struct instance *i);
/* Schedules the configured probes of a running instance (startup first); adopted: its container
 * ran before this agent did, so first runs are spread over a whole period. Idempotent. */
void probe_start(struct instance *i, bool adopted);
/* Cancels every scheduled and in-flight probe (sockets closed, execs killed). */
void probe_stop(struct instance *i);
/* From the SIGCHLD handler: true when pid was a probe's exec (its result is taken). */
bool probe_reaped(pid_t pid, int status);

/* Status (DESIGN.md): ready and health, plus the probes' details for inspect. */
bool probe_ready(const struct instance *i);
const char *probe_health(const struct instance *i);
json_t *probe_status_json(const struct instance *i); /* NULL: no probes */
/* The persisted part, and back. */
json_t *probe_record_json(const struct instance *i);
void probe_record_load(struct instance *i, json_t *doc);

/* Prometheus text: results by kind and outcome, latency histogram by kind. */
void probe_metrics(FILE *out);

/* Internal to the probe files. */
void probe_done(struct probe_state *ps, bool ok, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
int probe_net_begin(struct probe_state *ps);
void probe_net_cancel(struct probe_state *ps);
/* Closes what a probe keeps between its runs (the namespace it connects from). */
void probe_net_release(struct probe_state *ps);
int probe_exec_begin(struct probe_state *ps);
void probe_exec_cancel(struct probe_state *ps);
/* notify readiness (probe-notify.c): watch the shim's BUNDLE/notify.state and take what it says now;
 * stop watching. */
void probe_notify_start(struct instance *i);
void probe_notify_stop(struct instance *i);
