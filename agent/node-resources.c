/* --system-reserved parsing, node resource arithmetic and pressure conditions. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent/node-resources.h"
#include "spec/spec.h"
#include "common/cleanup.h"

static int parse_pair(const char *key, const char *val, struct node_res *r, struct err **err)
{
	if (strcmp(key, "cpu") == 0) {
		if (quantity_parse_cpu(val, &r->cpu_millis) < 0)
			return err_field(err, "system-reserved", EINVAL,
					 "--system-reserved: cpu '%s' is not a CPU quantity like 500m", val);
		return 0;
	}
	if (strcmp(key, "memory") == 0 || strcmp(key, "ephemeral-storage") == 0) {
		int64_t *slot = key[0] == 'm' ? &r->memory_bytes : &r->storage_bytes;
		if (quantity_parse_bytes(val, slot) < 0)
			return err_field(err, "system-reserved", EINVAL,
					 "--system-reserved: %s '%s' is not a size like 512Mi", key, val);
		return 0;
	}
	if (strcmp(key, "pids") == 0 || strcmp(key, "pid") == 0) {
		char *end = NULL;
		long long v;
		errno = 0;
		v = strtoll(val, &end, 10);
		if (errno || end == val || *end || v < 0 || v > (1LL << 31))
			return err_field(err, "system-reserved", EINVAL,
					 "--system-reserved: pids '%s' is not a count", val);
		r->pids = v;
		return 0;
	}
	return err_field(err, "system-reserved", EINVAL,
			 "--system-reserved: unknown resource '%s' (cpu, memory, pids, ephemeral-storage)",
			 key);
}

int node_res_parse(const char *s, struct node_res *ret, struct err **err)
{
	_cleanup_free_ char *copy = NULL;
	struct node_res r = {0};
	char *save = NULL;
	int q;

	if (!s || !*s) {
		*ret = r;
		return 0;
	}
	if (!strchr(s, '=')) { /* a bare size: memory only */
		if (quantity_parse_bytes(s, &r.memory_bytes) < 0)
			return err_field(
			    err, "system-reserved", EINVAL,
			    "--system-reserved '%s': expected cpu=500m,memory=512Mi,... or a size", s);
		*ret = r;
		return 0;
	}
	copy = strdup(s);
	if (!copy)
		return err_set(err, ENOMEM, "out of memory");
	for (char *item = strtok_r(copy, ",", &save); item; item = strtok_r(NULL, ",", &save)) {
		char *eq = strchr(item, '=');
		if (!eq || eq == item || !eq[1])
			return err_field(err, "system-reserved", EINVAL,
					 "--system-reserved: '%s' is not KEY=VALUE", item);
		*eq = '\0';
		if ((q = parse_pair(item, eq + 1, &r, err)) < 0)
			return q;
	}
	*ret = r;
	return 0;
}

static int64_t sub0(int64_t a, int64_t b)
{
	return a > b ? a - b : 0;
}

void node_res_sub(const struct node_res *a, const struct node_res *b, struct node_res *ret)
{
	*ret = (struct node_res){
	    .cpu_millis = sub0(a->cpu_millis, b->cpu_millis),
	    .memory_bytes = sub0(a->memory_bytes, b->memory_bytes),
	    .pids = sub0(a->pids, b->pids),
	    .storage_bytes = sub0(a->storage_bytes, b->storage_bytes),
	};
}

void node_res_add_spec(struct node_res *sum, const struct spec *s)
{
	if (s->cpu_millis > 0)
		sum->cpu_millis += s->cpu_millis;
	if (s->memory > 0)
		sum->memory_bytes += s->memory;
	if (s->pids > 0)
		sum->pids += s->pids;
}

const char *node_cond_status_name(enum node_cond_status s)
{
	return s == NODE_COND_TRUE ? "True" : s == NODE_COND_FALSE ? "False" : "Unknown";
}

static void cond_set(struct node_cond *c, enum node_cond_status st, const char *reason, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static void cond_set(struct node_cond *c, enum node_cond_status st, const char *reason, const char *fmt, ...)
{
	va_list ap;

	c->status = st;
	c->reason = reason;
	va_start(ap, fmt);
	vsnprintf(c->message, sizeof(c->message), fmt, ap);
	va_end(ap);
}

static void memory_cond(const struct node_signals *s, struct node_cond *c)
{
	c->type = "MemoryPressure";
	if (s->mem_available < 0)
		return cond_set(c, NODE_COND_UNKNOWN, "NoData", "MemAvailable could not be read");
	if (s->mem_available < NODE_MEM_AVAILABLE_MIN)
		return cond_set(c, NODE_COND_TRUE, "MemoryAvailableLow", "%lld MiB available, below %lld MiB",
				(long long)(s->mem_available >> 20), NODE_MEM_AVAILABLE_MIN >> 20);
	if (s->mem_full_avg10 >= NODE_MEM_FULL_AVG10_MAX)
		return cond_set(
		    c, NODE_COND_TRUE, "MemoryStalled",
		    "all tasks stalled on memory %.2f%% of the last 10 s (PSI), at or above %.0f%%",
		    s->mem_full_avg10, NODE_MEM_FULL_AVG10_MAX);
	cond_set(c, NODE_COND_FALSE, "SufficientMemory", "%lld MiB available",
		 (long long)(s->mem_available >> 20));
}

static void disk_cond(const struct node_signals *s, struct node_cond *c)
{
	c->type = "DiskPressure";
	if (s->disk_total <= 0 || s->disk_avail < 0)
		return cond_set(c, NODE_COND_UNKNOWN, "NoData",
				"the state dir's filesystem could not be read");
	if (s->disk_avail * 100 < s->disk_total * NODE_DISK_AVAIL_PCT_MIN)
		return cond_set(c, NODE_COND_TRUE, "DiskSpaceLow", "%lld of %lld MiB free, below %d%%",
				(long long)(s->disk_avail >> 20), (long long)(s->disk_total >> 20),
				NODE_DISK_AVAIL_PCT_MIN);
	if (s->inodes_total > 0 && s->inodes_free >= 0 &&
	    s->inodes_free * 100 < s->inodes_total * NODE_INODES_FREE_PCT_MIN)
		return cond_set(c, NODE_COND_TRUE, "InodesLow", "%lld of %lld inodes free, below %d%%",
				(long long)s->inodes_free, (long long)s->inodes_total,
				NODE_INODES_FREE_PCT_MIN);
	cond_set(c, NODE_COND_FALSE, "SufficientDisk", "%lld of %lld MiB free",
		 (long long)(s->disk_avail >> 20), (long long)(s->disk_total >> 20));
}

static void pid_cond(const struct node_signals *s, struct node_cond *c)
{
	c->type = "PIDPressure";
	if (s->pids_max <= 0 || s->pids_used < 0)
		return cond_set(c, NODE_COND_UNKNOWN, "NoData", "the number of tasks could not be read");
	if ((s->pids_max - s->pids_used) * 100 < s->pids_max * NODE_PIDS_AVAIL_PCT_MIN)
		return cond_set(c, NODE_COND_TRUE, "PIDsLow", "%lld of %lld pids in use, less than %d%% free",
				(long long)s->pids_used, (long long)s->pids_max, NODE_PIDS_AVAIL_PCT_MIN);
	cond_set(c, NODE_COND_FALSE, "SufficientPIDs", "%lld of %lld pids in use", (long long)s->pids_used,
		 (long long)s->pids_max);
}

void node_conditions(const struct node_signals *s, struct node_cond ret[_NODE_COND_MAX])
{
	memory_cond(s, &ret[NODE_COND_MEMORY]);
	disk_cond(s, &ret[NODE_COND_DISK]);
	pid_cond(s, &ret[NODE_COND_PID]);
}

static double avg10_of(const char *line)
{
	const char *p = strstr(line, "avg10="), *nl = strchr(line, '\n');
	char *end = NULL;
	double v;

	if (!p || (nl && p > nl))
		return -1;
	v = strtod(p + 6, &end);
	return end == p + 6 || v < 0 ? -1 : v;
}

int node_psi_parse(const char *text, double *ret_some10, double *ret_full10)
{
	*ret_some10 = *ret_full10 = -1;
	for (const char *line = text; line && *line;
	     line = strchr(line, '\n'), line = line ? line + 1 : NULL) {
		if (strncmp(line, "some ", 5) == 0)
			*ret_some10 = avg10_of(line);
		else if (strncmp(line, "full ", 5) == 0)
			*ret_full10 = avg10_of(line);
	}
	return *ret_some10 < 0 && *ret_full10 < 0 ? -EINVAL : 0;
}
