#pragma once
/* The pure parts of health probes (probe-logic.c) and the per-probe state an instance embeds:
 * counting results against thresholds, reading an HTTP status line. No agent header here, so
 * instance.h can hold the state without depending on the probe engine. */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

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
	int64_t last_at; /* ns since the epoch of the last result */
	double last_ms;	 /* its latency */
	char message[PROBE_MSG_MAX];

	/* in flight (not persisted) */
	struct instance *i;
	enum spec_probe_role role;
	struct loop_timer *tick;     /* the next run */
	struct loop_timer *deadline; /* the run in flight */
	int64_t next_at;	     /* monotonic ns of the next run */
	int64_t began;		     /* monotonic ns the run in flight began */
	bool in_flight;
	int fd;	  /* http, tcp */
	int nsfd; /* http, tcp in bridge and none mode: the instance's network namespace, open while
		   * the probes of one run of its container go on (probe_stop closes it) */
	bool connected;
	bool want_in; /* http: the request is sent, the socket is watched for the response */
	size_t sent, got;
	char addr[64]; /* "10.77.0.5:8080" */
	char buf[PROBE_HTTP_READ_MAX];
	pid_t pid; /* exec: the runtime's exec */
	struct probe_state *next_exec;
	int notify_wd; /* notify readiness: the inotify watch on the bundle dir, -1 when none */
};

/* Initialises an instance's per-role states (n of them, indexed by role). */
void probe_states_init(struct probe_state *ps, int n, struct instance *owner);
