/* Colocation knobs and samples of the tiers (see cg.h): where v1 and v2 keep each number. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cg-internal.h"
#include "common/cleanup.h"
#include "common/fs.h"

#define CG_PERIOD_US 100000
#define TASKS_MAX 512 /* schedstat reads per sample, at most */

static int tier_dir(const struct cg_ctx *c, const char *controller, enum cg_qos qos, char **ret,
		    struct err **err)
{
	int q;

	if (c->version == CG_V2)
		q = asprintf(ret, "%s%s", c->mount, cg_tier(c, qos));
	else
		q = asprintf(ret, "%s/%s%s", c->mount, controller, cg_tier(c, qos));
	return q < 0 ? err_set(err, ENOMEM, "out of memory") : 0;
}

static int write_knob(const char *dir, const char *knob, const char *value, struct err **err)
{
	_cleanup_close_ int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);

	if (fd < 0)
		return err_set(err, errno, "open cgroup '%s'", dir);
	if (fs_write_knob(fd, knob, value, err) < 0)
		return err_wrap(err, "cgroup '%s'", dir);
	return 0;
}

int cg_set_batch_cpu(const struct cg_ctx *c, int64_t quota_millis, struct err **err)
{
	_cleanup_free_ char *dir = NULL;
	char val[64];
	int r;

	r = tier_dir(c, "cpu", CG_QOS_BATCH, &dir, err);
	if (r < 0)
		return r;
	if (c->version == CG_V2) {
		if (quota_millis < 0)
			snprintf(val, sizeof(val), "max %d", CG_PERIOD_US);
		else
			snprintf(val, sizeof(val), "%lld %d", (long long)quota_millis * (CG_PERIOD_US / 1000),
				 CG_PERIOD_US);
		return write_knob(dir, "cpu.max", val, err);
	}
	snprintf(val, sizeof(val), "%d", CG_PERIOD_US);
	r = write_knob(dir, "cpu.cfs_period_us", val, err);
	if (r < 0)
		return r;
	snprintf(val, sizeof(val), "%lld",
		 quota_millis < 0 ? -1LL : (long long)quota_millis * (CG_PERIOD_US / 1000));
	return write_knob(dir, "cpu.cfs_quota_us", val, err);
}

int cg_set_batch_cpu_class(const struct cg_ctx *c, bool idle, struct err **err)
{
	const struct cg_weight *w = cg_weight_of(c->version);
	_cleanup_free_ char *dir = NULL;
	_cleanup_close_ int fd = -1;
	int r;

	r = tier_dir(c, "cpu", CG_QOS_BATCH, &dir, err);
	if (r < 0)
		return r;
	fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return err_set(err, errno, "open cgroup '%s'", dir);
	if (faccessat(fd, w->knob, F_OK, 0) < 0)
		return 0; /* no cpu controller here: no class to set */
	if (idle)
		return cg_set_idle_tier(fd, dir, w->knob, w->lowest, err);
	return cg_set_weight_tier(fd, dir, w->knob, w->lowest, err);
}

int cg_set_batch_memory(const struct cg_ctx *c, int64_t bytes, struct err **err)
{
	_cleanup_free_ char *dir = NULL;
	char val[32];
	int r;

	r = tier_dir(c, "memory", CG_QOS_BATCH, &dir, err);
	if (r < 0)
		return r;
	snprintf(val, sizeof(val), "%lld", (long long)bytes);
	/* v2: memory.high throttles and reclaims instead of killing; v1 has only the hard limit */
	return write_knob(dir, c->version == CG_V2 ? "memory.high" : "memory.limit_in_bytes", val, err);
}

int64_t cg_batch_cpu_quota(const struct cg_ctx *c)
{
	_cleanup_free_ char *dir = NULL, *text = NULL;
	char *knob = NULL;
	long long q = -1;

	if (tier_dir(c, "cpu", CG_QOS_BATCH, &dir, NULL) < 0 ||
	    asprintf(&knob, "%s/%s", dir, c->version == CG_V2 ? "cpu.max" : "cpu.cfs_quota_us") < 0)
		return -2;
	if (fs_read_file(AT_FDCWD, knob, 256, &text, NULL, NULL) < 0 ||
	    // NOLINTNEXTLINE(cert-err34-c)
	    sscanf(text, "%lld", &q) != 1)
		q = -1; /* "max" on v2 */
	free(knob);
	return q < 0 ? -1 : q / (CG_PERIOD_US / 1000);
}

/* Sum of the run-queue delay (ns, schedstat's second field) of the tasks listed in dir/tasks. */
static int64_t tasks_delay(const char *dir, int *budget)
{
	_cleanup_free_ char *path = NULL, *list = NULL;
	int64_t sum = 0;
	char *save = NULL;

	if (asprintf(&path, "%s/tasks", dir) < 0 ||
	    fs_read_file(AT_FDCWD, path, CG_LIST_MAX, &list, NULL, NULL) < 0)
		return 0;
	for (char *t = strtok_r(list, "\n", &save); t && *budget > 0;
	     t = strtok_r(NULL, "\n", &save), (*budget)--) {
		char sp[64], buf[128];
		unsigned long long run, delay;

		snprintf(sp, sizeof(sp), "/proc/%s/schedstat", t);
		if (fs_read_knob(AT_FDCWD, sp, buf, sizeof(buf), NULL) > 0 &&
		    // NOLINTNEXTLINE(cert-err34-c): a gauge, skipped on junk
		    sscanf(buf, "%llu %llu", &run, &delay) == 2)
			sum += (int64_t)delay;
	}
	return sum;
}

/* v1: the tier's own tasks and those of its instance cgroups (one level down, where runc puts them). */
static int64_t v1_run_delay(const char *tier)
{
	struct dirent **list = NULL;
	int budget = TASKS_MAX, n;
	int64_t sum = tasks_delay(tier, &budget);

	n = scandir(tier, &list, NULL, NULL);
	for (int k = 0; k < n; k++) {
		char sub[4096];

		if (list[k]->d_type == DT_DIR && list[k]->d_name[0] != '.' &&
		    snprintf(sub, sizeof(sub), "%s/%s", tier, list[k]->d_name) < (int)sizeof(sub))
			sum += tasks_delay(sub, &budget);
		free(list[k]);
	}
	free(list);
	return sum;
}

/* "some ... total=N" of a PSI file, microseconds. */
static int64_t psi_some_total(const char *path)
{
	_cleanup_free_ char *text = NULL;
	const char *p;

	if (fs_read_file(AT_FDCWD, path, 4096, &text, NULL, NULL) < 0 || strncmp(text, "some ", 5) != 0 ||
	    !(p = strstr(text, "total=")))
		return -1;
	return strtoll(p + 6, NULL, 10);
}

static void v1_tier_sample(const struct cg_ctx *c, enum cg_qos qos, bool delay, struct cg_tier_sample *s)
{
	_cleanup_free_ char *cpu = NULL, *acct = NULL, *mem = NULL, *psi_dir = NULL;
	char p[4096];
	int64_t thr;

	if (tier_dir(c, "cpu", qos, &cpu, NULL) < 0 || tier_dir(c, "cpuacct", qos, &acct, NULL) < 0 ||
	    tier_dir(c, "memory", qos, &mem, NULL) < 0)
		return;
	snprintf(p, sizeof(p), "%s/cpuacct.usage", acct);
	s->cpu_ns = cg_read_int(p);
	snprintf(p, sizeof(p), "%s/memory.usage_in_bytes", mem);
	s->memory_bytes = cg_read_int(p);
	snprintf(p, sizeof(p), "%s/cpu.stat", cpu);
	thr = cg_read_stat(p, "throttled_time");
	s->throttled_ns = thr;
	if (!delay)
		return;
	/* hybrid: the cgroup2 hierarchy keeps PSI for the tier whatever the controllers' layout; it
	 * counts tasks that have exited since the last sample and costs one read */
	if (c->unified && tier_dir(c, c->unified, qos, &psi_dir, NULL) == 0) {
		int64_t some_us;

		snprintf(p, sizeof(p), "%s/cpu.pressure", psi_dir);
		some_us = psi_some_total(p);
		if (some_us >= 0) {
			s->wait_ns = some_us * 1000;
			s->wait_is_psi = true;
			return;
		}
	}
	s->wait_ns = v1_run_delay(cpu);
}

static void v2_tier_sample(const struct cg_ctx *c, enum cg_qos qos, bool delay, struct cg_tier_sample *s)
{
	_cleanup_free_ char *dir = NULL;
	char p[4096];
	int64_t v;

	if (tier_dir(c, NULL, qos, &dir, NULL) < 0)
		return;
	snprintf(p, sizeof(p), "%s/cpu.stat", dir);
	v = cg_read_stat(p, "usage_usec");
	s->cpu_ns = v >= 0 ? v * 1000 : -1;
	v = cg_read_stat(p, "throttled_usec");
	s->throttled_ns = v >= 0 ? v * 1000 : -1;
	snprintf(p, sizeof(p), "%s/memory.current", dir);
	s->memory_bytes = cg_read_int(p);
	if (!delay)
		return;
	snprintf(p, sizeof(p), "%s/cpu.pressure", dir);
	v = psi_some_total(p);
	s->wait_ns = v >= 0 ? v * 1000 : -1;
	s->wait_is_psi = true;
}

void cg_tier_sample(const struct cg_ctx *c, enum cg_qos qos, bool wait, struct cg_tier_sample *ret)
{
	*ret = (struct cg_tier_sample){.cpu_ns = -1, .memory_bytes = -1, .throttled_ns = -1, .wait_ns = -1};
	if (!c)
		return;
	if (c->version == CG_V2)
		v2_tier_sample(c, qos, wait, ret);
	else
		v1_tier_sample(c, qos, wait, ret);
}

int64_t cg_instance_memory(const struct cg_ctx *c, const char *path)
{
	char p[4096];
	int64_t use, inactive;

	if (!c)
		return -1;
	if (c->version == CG_V2) {
		snprintf(p, sizeof(p), "%s%s/memory.current", c->mount, path);
		use = cg_read_int(p);
		snprintf(p, sizeof(p), "%s%s/memory.stat", c->mount, path);
		inactive = cg_read_stat(p, "inactive_file");
	} else {
		snprintf(p, sizeof(p), "%s/memory%s/memory.usage_in_bytes", c->mount, path);
		use = cg_read_int(p);
		snprintf(p, sizeof(p), "%s/memory%s/memory.stat", c->mount, path);
		inactive = cg_read_stat(p, "total_inactive_file");
	}
	if (use < 0)
		return -1;
	/* the working set, as kubelet counts it for eviction */
	return inactive > 0 && inactive < use ? use - inactive : use;
}
