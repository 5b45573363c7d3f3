/* Colocation knobs and tier samples on laid-out cgroup trees (temp dirs, no root): v2 is fed a
 * recorded pressure trace through its cpu.stat / cpu.pressure files, sampled back, run through the
 * policy, and the quota it decides is read back from cpu.max; v1 writes cfs_period/quota and
 * memory.limit_in_bytes and sums the schedstat delay of the tasks it lists, or reads the online
 * tier's PSI in a hybrid layout's cgroup2 hierarchy. */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "agent/coloc-policy.h"
#include "cgroups/cg.h"
#include "common/cleanup.h"
#include "common/fs.h"

struct fixture {
	char tmp[64];
};

static void put(const char *base, const char *rel, const char *content)
{
	char p[512];
	_cleanup_close_ int fd = -1;
	_cleanup_free_ char *dir = NULL;

	snprintf(p, sizeof(p), "%s/%s", base, rel);
	dir = strdup(p);
	assert_non_null(dir);
	*strrchr(dir, '/') = '\0';
	assert_int_equal(fs_mkdir_p(AT_FDCWD, dir, 0755), 0);
	fd = open(p, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	assert_true(fd >= 0);
	assert_int_equal(fs_write_all(fd, content, strlen(content)), 0);
}

static char *get(const char *base, const char *rel)
{
	char p[512], *buf = NULL;

	snprintf(p, sizeof(p), "%s/%s", base, rel);
	assert_int_equal(fs_read_file(AT_FDCWD, p, 4096, &buf, NULL, NULL), 0);
	return buf;
}

/* The file's first line is want. */
static void expect_file(const char *base, const char *rel, const char *want)
{
	_cleanup_free_ char *got = get(base, rel);

	got[strcspn(got, "\n")] = '\0';
	assert_string_equal(got, want);
}

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));

	if (!f)
		return -1;
	snprintf(f->tmp, sizeof(f->tmp), "/tmp/drover-cgcoloc.XXXXXX");
	if (!mkdtemp(f->tmp)) {
		free(f);
		return -1;
	}
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;
	pid_t pid = fork();

	if (pid == 0) {
		execlp("rm", "rm", "-rf", f->tmp, (char *)NULL);
		_exit(127);
	}
	if (pid > 0)
		(void)waitpid(pid, NULL, 0);
	free(f);
	return 0;
}

static void v2_tree(const char *t)
{
	static const char *const dirs[] = {"", "drover/", "drover/online/", "drover/batch/"};

	for (size_t k = 0; k < 4; k++) {
		char rel[64];

		snprintf(rel, sizeof(rel), "%scgroup.controllers", dirs[k]);
		put(t, rel, "cpu memory pids\n");
		snprintf(rel, sizeof(rel), "%scgroup.subtree_control", dirs[k]);
		put(t, rel, "");
		snprintf(rel, sizeof(rel), "%scgroup.procs", dirs[k]);
		put(t, rel, "");
	}
	put(t, "drover/online/cpu.weight", "");
	put(t, "drover/batch/cpu.weight", "");
	put(t, "drover/batch/cpu.max", ""); /* written knobs start empty: a plain file is not truncated */
	put(t, "drover/batch/memory.high", "");
}

/* One recorded tick of the online tier, as cumulative counters (usec). */
static void v2_counters(const char *t, long long usage_us, long long waited_us, long long mem)
{
	char buf[256];

	snprintf(buf, sizeof(buf),
		 "usage_usec %lld\nuser_usec %lld\nsystem_usec 0\nnr_throttled 0\nthrottled_usec 0\n",
		 usage_us, usage_us);
	put(t, "drover/online/cpu.stat", buf);
	snprintf(buf, sizeof(buf),
		 "some avg10=0.00 avg60=0.00 avg300=0.00 total=%lld\nfull avg10=0.00 avg60=0.00 avg300=0.00 "
		 "total=0\n",
		 waited_us);
	put(t, "drover/online/cpu.pressure", buf);
	snprintf(buf, sizeof(buf), "%lld\n", mem);
	put(t, "drover/online/memory.current", buf);
}

static void test_v2_trace(void **state)
{
	struct fixture *f = *state;
	_cleanup_cg_ctx_ struct cg_ctx *c = NULL;
	const struct coloc_config cfg = {.cpu_allocatable_millis = 2000,
					 .memory_allocatable = 1LL << 32,
					 .batch_cpu_target_pct = 100,
					 .batch_cpu_min_millis = 100,
					 .batch_memory_pct = 50};
	struct coloc_state st;
	struct cg_tier_sample prev, cur;
	long long usage = 0, waited = 0;
	bool was_cut = false;

	v2_tree(f->tmp);
	assert_int_equal(cg_ctx_new(f->tmp, CG_V2, "/drover", &c, NULL), 0);
	coloc_state_init(&st);
	v2_counters(f->tmp, 0, 0, 1LL << 30);
	cg_tier_sample(c, CG_QOS_ONLINE, true, &prev);
	assert_true(prev.wait_is_psi);
	/* 250 ms ticks: 3 calm, 8 with online waiting 40% of the time, then calm again */
	for (int k = 1; k <= 24; k++) {
		struct coloc_sample s = {
		    .at_ms = k * 250, .batch_cpu_millis = 1000, .mem_available = -1, .mem_full_pct = -1};
		struct coloc_decision d;
		_cleanup_free_ char *max = NULL;

		usage += 150000;
		waited += k > 3 && k <= 11 ? 100000 : 0;
		v2_counters(f->tmp, usage, waited, 1LL << 30);
		cg_tier_sample(c, CG_QOS_ONLINE, true, &cur);
		s.online_cpu_millis = (cur.cpu_ns - prev.cpu_ns) / 250000;
		s.online_cpu_pressure = (double)(cur.wait_ns - prev.wait_ns) * 100 / 250e6;
		s.online_memory = cur.memory_bytes;
		prev = cur;
		assert_int_equal(s.online_cpu_millis, 600);
		coloc_step(&cfg, &st, &s, &d);
		if (d.quota_changed)
			put(f->tmp, "drover/batch/cpu.max",
			    ""); /* as the kernel: a write replaces the value */
		if (d.quota_changed)
			assert_int_equal(cg_set_batch_cpu(c, d.batch_cpu_quota, NULL), 0);
		if (d.memory_changed)
			assert_int_equal(cg_set_batch_memory(c, d.batch_memory_limit, NULL), 0);
		max = get(f->tmp, "drover/batch/cpu.max");
		if (k == 4)
			assert_string_equal(
			    max, "50000 100000"); /* the first pressured tick halves batch's 1000m */
		if (k == 11)
			assert_string_equal(max, "10000 100000"); /* --batch-cpu-min */
		was_cut |= k > 3 && k <= 11 && strcmp(max, "max 100000") != 0 && max[0];
		if (k <= 3)
			assert_string_equal(max, ""); /* calm: never written */
		if (k >= 20)
			assert_string_equal(max, "max 100000"); /* given back within 2 s of calm */
		if (max[0])
			assert_int_equal(cg_batch_cpu_quota(c), st.batch_cpu_quota);
	}
	assert_true(was_cut);
	/* memory.high: half of what online leaves (4 GiB - 1 GiB) */
	{
		_cleanup_free_ char *high = get(f->tmp, "drover/batch/memory.high");
		char want[32];

		snprintf(want, sizeof(want), "%lld", (3LL << 30) / 100 * 50 / 4096 * 4096); /* page-aligned */
		assert_string_equal(high, want);
	}
}

static void test_v1_knobs_and_delay(void **state)
{
	struct fixture *f = *state;
	_cleanup_cg_ctx_ struct cg_ctx *c = NULL;
	struct cg_tier_sample s;
	char self[32];
	_cleanup_free_ char *q = NULL, *p = NULL, *m = NULL;

	put(f->tmp, "cpu/drover/batch/cpu.cfs_quota_us", "");
	put(f->tmp, "cpu/drover/batch/cpu.cfs_period_us", "");
	put(f->tmp, "cpu/drover/batch/cpu.shares", "1024\n");
	put(f->tmp, "cpu/drover/online/cpu.shares", "1024\n");
	put(f->tmp, "cpu/drover/online/cpu.stat", "nr_periods 0\nnr_throttled 0\nthrottled_time 7\n");
	put(f->tmp, "cpuacct/drover/online/cpuacct.usage", "123456\n");
	put(f->tmp, "memory/drover/batch/memory.limit_in_bytes", "");
	put(f->tmp, "memory/drover/online/memory.usage_in_bytes", "4096\n");
	snprintf(self, sizeof(self), "%d\n", (int)getpid());
	put(f->tmp, "cpu/drover/online/web/tasks", self); /* an instance cgroup one level down */
	assert_int_equal(cg_ctx_new(f->tmp, CG_V1, "/drover", &c, NULL), 0);
	assert_int_equal(cg_set_batch_cpu(c, 250, NULL), 0);
	q = get(f->tmp, "cpu/drover/batch/cpu.cfs_quota_us");
	p = get(f->tmp, "cpu/drover/batch/cpu.cfs_period_us");
	assert_string_equal(q, "25000");
	assert_string_equal(p, "100000");
	assert_int_equal(cg_batch_cpu_quota(c), 250);
	assert_int_equal(cg_set_batch_memory(c, 1 << 30, NULL), 0);
	m = get(f->tmp, "memory/drover/batch/memory.limit_in_bytes");
	assert_string_equal(m, "1073741824");
	cg_tier_sample(c, CG_QOS_ONLINE, true, &s);
	assert_int_equal(s.cpu_ns, 123456);
	assert_int_equal(s.memory_bytes, 4096);
	assert_int_equal(s.throttled_ns, 7);
	assert_false(s.wait_is_psi);
	assert_true(s.wait_ns >= 0); /* our own schedstat, through the instance's tasks file */
	put(f->tmp, "cpu/drover/batch/cpu.cfs_quota_us", "");
	assert_int_equal(cg_set_batch_cpu(c, -1, NULL), 0);
	assert_int_equal(cg_batch_cpu_quota(c), -1);
}

/* The batch tier's CPU class both ways on both versions: weight leaves the idle class first (an
 * idle group refuses weight writes), idle comes back; no cpu controller: nothing to do. */
static void test_batch_cpu_class(void **state)
{
	struct fixture *f = *state;
	_cleanup_cg_ctx_ struct cg_ctx *c2 = NULL, *c1 = NULL;
	char v1[96];

	v2_tree(f->tmp);
	put(f->tmp, "drover/batch/cpu.idle", "");
	assert_int_equal(cg_ctx_new(f->tmp, CG_V2, "/drover", &c2, NULL), 0);
	expect_file(f->tmp, "drover/batch/cpu.idle", "1");
	assert_int_equal(cg_set_batch_cpu_class(c2, false, NULL), 0);
	expect_file(f->tmp, "drover/batch/cpu.idle", "0");
	expect_file(f->tmp, "drover/batch/cpu.weight", "1");
	assert_int_equal(cg_set_batch_cpu_class(c2, true, NULL), 0);
	expect_file(f->tmp, "drover/batch/cpu.idle", "1");

	snprintf(v1, sizeof(v1), "%s/v1", f->tmp);
	put(v1, "cpu/drover/batch/cpu.shares", ""); /* knobs start empty: writes do not truncate */
	put(v1, "cpu/drover/batch/cpu.idle", "");
	put(v1, "cpu/drover/online/cpu.shares", "");
	assert_int_equal(cg_ctx_new(v1, CG_V1, "/drover", &c1, NULL), 0);
	expect_file(v1, "cpu/drover/batch/cpu.idle", "1");
	assert_int_equal(cg_set_batch_cpu_class(c1, false, NULL), 0);
	expect_file(v1, "cpu/drover/batch/cpu.idle", "0");
	expect_file(v1, "cpu/drover/batch/cpu.shares", "2");
	put(v1, "cpu/drover/batch/cpu.shares", "");
	assert_int_equal(cg_set_batch_cpu_class(c1, false, NULL), 0); /* not idle: the weight alone */
	expect_file(v1, "cpu/drover/batch/cpu.shares", "2");
}

/* Hybrid: the cgroup2 hierarchy next to the v1 ones gets the tiers made and gives the online
 * tier's PSI; without its pressure file the sample falls back to the tasks' schedstats. */
static void test_v1_hybrid_psi(void **state)
{
	struct fixture *f = *state;
	_cleanup_cg_ctx_ struct cg_ctx *c = NULL;
	struct cg_tier_sample s;
	char self[32], p[512];

	put(f->tmp, "cpu/drover/batch/cpu.shares", "1024\n");
	put(f->tmp, "cpu/drover/online/cpu.shares", "1024\n");
	put(f->tmp, "cpuacct/drover/online/cpuacct.usage", "1\n");
	put(f->tmp, "unified/cgroup.controllers", "hugetlb\n");
	snprintf(self, sizeof(self), "%d\n", (int)getpid());
	put(f->tmp, "cpu/drover/online/web/tasks", self);
	assert_int_equal(cg_ctx_new(f->tmp, CG_V1, "/drover", &c, NULL), 0);
	snprintf(p, sizeof(p), "%s/unified/drover/batch", f->tmp);
	assert_int_equal(access(p, F_OK), 0);
	put(f->tmp, "unified/drover/online/cpu.pressure",
	    "some avg10=1.00 avg60=0.50 avg300=0.10 total=1234\nfull avg10=0.00 avg60=0.00 avg300=0.00 "
	    "total=5\n");
	cg_tier_sample(c, CG_QOS_ONLINE, true, &s);
	assert_true(s.wait_is_psi);
	assert_int_equal(s.wait_ns, 1234000);
	cg_tier_sample(c, CG_QOS_ONLINE, false, &s); /* no wait asked: none read */
	assert_int_equal(s.wait_ns, -1);
	put(f->tmp, "unified/drover/online/cpu.pressure", "junk\n");
	cg_tier_sample(c, CG_QOS_ONLINE, true, &s);
	assert_false(s.wait_is_psi);
	assert_true(s.wait_ns >= 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_v2_trace, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_v1_knobs_and_delay, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_v1_hybrid_psi, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_batch_cpu_class, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
