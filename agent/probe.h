#pragma once
/* Health probes (readiness, liveness, startup) run inside the agent's event loop: http and tcp with
 * non-blocking sockets, exec through the runtime as a watched child. The verdicts and the last result
 * of each probe are part of the instance's persisted record. */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/types.h>

#include <jansson.h>

#include "spec/spec.h"

struct instance;
struct loop_timer;

enum probe_verdict { PROBE_UNKNOWN, PROBE_PASS, PROBE_FAIL };

/* Consecutive results and the verdict they give. */
struct probe_count {
	int successes; /* capped at the success threshold: no change (and no write) once it is met */
	int failures;  /* capped at the failure threshold */
	enum probe_verdict verdict;
};

/* Adds one result. Returns 1 when the verdict changed, 0 when only the counters changed, -1 when
 * nothing changed (both counters were already at their caps). */
int probe_count_add(struct probe_count *c, bool ok, int success_threshold, int failure_threshold);

/* HTTP response status line: 1 with *ret_code set when buf holds a complete and valid one
 * ("HTTP/1.1 200 OK\r\n"), 0 when more bytes are needed, -EPROTO when it is not HTTP. */
int probe_http_status(const char *buf, size_t len, int *ret_code);
/* 200-399 */
bool probe_http_ok(int code);

#define PROBE_MSG_MAX 160
#define PROBE_HTTP_READ_MAX 1024 /* bytes read for the status line; the rest is never read */

/* One probe of one instance: its counters, last result and what is in flight. */
struct probe_state {
	struct probe_count count;
	bool has_last;
	bool last_ok;
	int64_t last_at;    /* ns since the epoch of the last result */
	double last_ms;     /* its latency */
	char message[PROBE_MSG_MAX];

	/* in flight (not persisted) */
	struct instance *i;
	enum spec_probe_role role;
	struct loop_timer *tick;     /* the next run */
	struct loop_timer *deadline; /* the run in flight */
	int64_t next_at;             /* monotonic ns of the next run */
	int64_t began;               /* monotonic ns the run in flight began */
	bool in_flight;
	int fd;                      /* http, tcp */
	bool connected;
	size_t sent, got;
	char addr[64];               /* "10.77.0.5:8080" */
	char buf[PROBE_HTTP_READ_MAX];
	pid_t pid;                   /* exec: the runtime's exec */
	struct probe_state *next_exec;
};

/* Initialises the per-role state of a new instance. */
void probe_init(struct instance *i);
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
int probe_exec_begin(struct probe_state *ps);
void probe_exec_cancel(struct probe_state *ps);
