#pragma once
/* Node resources: --system-reserved, allocatable and allocated arithmetic, and the pressure
 * conditions of the node status (GET /v1/node). Pure functions, so they are unit-tested. */
#include <stdint.h>

#include "common/err.h"

struct spec;

/* Thresholds for the conditions (kubelet's hard eviction defaults where it has one). */
#define NODE_MEM_AVAILABLE_MIN (100LL * 1024 * 1024) /* MemoryPressure below this MemAvailable */
#define NODE_MEM_FULL_AVG10_MAX 10.0		     /* ... or when all tasks stall on memory >= 10% */
#define NODE_DISK_AVAIL_PCT_MIN 10		     /* DiskPressure below 10% free space ... */
#define NODE_INODES_FREE_PCT_MIN 5		     /* ... or below 5% free inodes (state dir fs) */
#define NODE_PIDS_AVAIL_PCT_MIN 10		     /* PIDPressure below 10% of the pid limit free */

struct node_res {
	int64_t cpu_millis;
	int64_t memory_bytes;
	int64_t pids;
	int64_t storage_bytes; /* ephemeral storage: the state dir's filesystem */
};

/* "cpu=500m,memory=512Mi,pids=1000,ephemeral-storage=10Gi" (any subset, any order; "pid" is
 * taken for "pids"). A bare size ("512Mi") reserves memory only. NULL or "" reserves nothing. */
int node_res_parse(const char *s, struct node_res *ret, struct err **err);
/* a - b per field, never below 0. */
void node_res_sub(const struct node_res *a, const struct node_res *b, struct node_res *ret);
/* Adds a spec's requests (resources.cpu, .memory, .pids; unset ones count 0). */
void node_res_add_spec(struct node_res *sum, const struct spec *s);

/* What the conditions are made from; a value < 0 is unknown. */
struct node_signals {
	int64_t mem_total, mem_available;
	double mem_full_avg10; /* PSI "full avg10" of /proc/pressure/memory, percent */
	int64_t disk_total, disk_avail, inodes_total, inodes_free;
	int64_t pids_used, pids_max;
};

enum node_cond_status { NODE_COND_FALSE, NODE_COND_TRUE, NODE_COND_UNKNOWN };
enum { NODE_COND_MEMORY, NODE_COND_DISK, NODE_COND_PID, _NODE_COND_MAX };

struct node_cond {
	const char *type; /* MemoryPressure, DiskPressure, PIDPressure */
	enum node_cond_status status;
	const char *reason;
	char message[160];
};

void node_conditions(const struct node_signals *s, struct node_cond ret[_NODE_COND_MAX]);
const char *node_cond_status_name(enum node_cond_status s); /* "True", "False", "Unknown" */
/* Parses /proc/pressure/{cpu,memory,io} text: the avg10 of the "some" and "full" lines (-1 when a line is
 * absent). */
int node_psi_parse(const char *text, double *ret_some10, double *ret_full10);
