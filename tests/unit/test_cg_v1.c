/* cgroups v1 backend: a fake tree of hierarchies in a temp dir (no root needed), and the host's
 * real v1/hybrid /sys/fs/cgroup when running as root there (skipped otherwise). */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "cgroups/cg.h"
#include "common/cleanup.h"
#include "common/fs.h"

#define REAL_MOUNT "/sys/fs/cgroup"

struct fixture {
	char tmp[64];
};

static char *path_of(const char *a, const char *b)
{
	char *p = fs_path_join(a, b);

	assert_non_null(p);
	return p;
}

static void write_file(const char *dir, const char *name, const char *content)
{
	_cleanup_free_ char *p = path_of(dir, name);
	_cleanup_close_ int fd = -1;

	fd = open(p, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	assert_true(fd >= 0);
	assert_int_equal(fs_write_all(fd, content, strlen(content)), 0);
}

static void assert_file_eq(const char *dir, const char *name, const char *want)
{
	_cleanup_close_ int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	char buf[256];

	assert_true(dfd >= 0);
	assert_true(fs_read_knob(dfd, name, buf, sizeof(buf), NULL) >= 0);
	buf[strcspn(buf, "\n")] = '\0';
	assert_string_equal(buf, want);
}

static bool is_dir(const char *p)
{
	struct stat st;

	return stat(p, &st) == 0 && S_ISDIR(st.st_mode);
}

static bool is_dir2(const char *a, const char *b)
{
	_cleanup_free_ char *p = path_of(a, b);

	return is_dir(p);
}

static void mkdirs(const char *a, const char *b)
{
	_cleanup_free_ char *p = path_of(a, b);

	assert_int_equal(fs_mkdir_p(AT_FDCWD, p, 0755), 0);
}

/* Debian-style layout: cpu and cpuacct share one hierarchy reached through two symlinks, plus
 * hierarchies drover leaves to the OCI runtime (cpuset, name=systemd). */
static int setup(void **state)
{
	static const char *const hier[] = {"cpu,cpuacct", "memory",  "pids",   "cpuset",
					   "systemd",	  "freezer", "unified"};
	struct fixture *f = calloc(1, sizeof(*f));

	if (!f)
		return -1;
	snprintf(f->tmp, sizeof(f->tmp), "/tmp/drover-cgv1-XXXXXX");
	if (!mkdtemp(f->tmp)) {
		free(f);
		return -1;
	}
	*state = f;
	for (size_t i = 0; i < ELEMENTSOF(hier); i++)
		mkdirs(f->tmp, hier[i]);
	{
		_cleanup_free_ char *cpu = path_of(f->tmp, "cpu");
		_cleanup_free_ char *cpuacct = path_of(f->tmp, "cpuacct");

		if (symlink("cpu,cpuacct", cpu) < 0 || symlink("cpu,cpuacct", cpuacct) < 0)
			return -1;
	}
	mkdirs(f->tmp, "cpu,cpuacct/drover/online");
	mkdirs(f->tmp, "cpu,cpuacct/drover/batch");
	{
		_cleanup_free_ char *online = path_of(f->tmp, "cpu,cpuacct/drover/online");
		_cleanup_free_ char *batch = path_of(f->tmp, "cpu,cpuacct/drover/batch");

		write_file(online, "cpu.shares", "");
		write_file(batch, "cpu.shares", "");
	}
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	(void)fs_rm_rf(AT_FDCWD, f->tmp); /* best effort: a temp dir */
	free(f);
	return 0;
}

static void test_fake_create(void **state)
{
	struct fixture *f = *state;
	_cleanup_cg_ctx_ struct cg_ctx *c = NULL;
	_cleanup_err_ struct err *e = NULL;
	_cleanup_free_ char *online = path_of(f->tmp, "cpu/drover/online");
	_cleanup_free_ char *batch = path_of(f->tmp, "cpu/drover/batch");

	assert_int_equal(cg_ctx_new(f->tmp, CG_V1, "/drover", &c, &e), 0);
	assert_int_equal(cg_ctx_version(c), CG_V1);
	assert_file_eq(batch, "cpu.shares", "2");
	assert_file_eq(online, "cpu.shares", "1024");
	assert_true(is_dir2(f->tmp, "memory/drover/online"));
	assert_true(is_dir2(f->tmp, "memory/drover/batch"));
	assert_true(is_dir2(f->tmp, "pids/drover/batch"));
	assert_true(is_dir2(f->tmp, "freezer/drover/online"));
	assert_false(is_dir2(f->tmp, "cpuset/drover"));
	assert_false(is_dir2(f->tmp, "systemd/drover"));

	/* a second start finds everything in place */
	c = cg_ctx_free(c);
	assert_int_equal(cg_ctx_new(f->tmp, CG_V1, "/drover", &c, &e), 0);
	assert_file_eq(batch, "cpu.shares", "2");
}

/* Where the kernel has v1 cpu.idle (5.15+), batch is made idle as on v2 (a waking online task
 * preempts it at once, a CPU running only batch counts as idle for placing woken and forked
 * tasks); online never is. An already idle tier (which refuses cpu.shares writes) is left alone. */
static void test_fake_create_idle(void **state)
{
	struct fixture *f = *state;
	_cleanup_cg_ctx_ struct cg_ctx *c = NULL;
	_cleanup_err_ struct err *e = NULL;
	_cleanup_free_ char *online = path_of(f->tmp, "cpu/drover/online");
	_cleanup_free_ char *batch = path_of(f->tmp, "cpu/drover/batch");

	write_file(online, "cpu.idle", "");
	write_file(batch, "cpu.idle", "");
	assert_int_equal(cg_ctx_new(f->tmp, CG_V1, "/drover", &c, &e), 0);
	assert_file_eq(batch, "cpu.shares", "2");
	assert_file_eq(batch, "cpu.idle", "1");
	assert_file_eq(online, "cpu.shares", "1024");
	assert_file_eq(online, "cpu.idle", "");

	/* the kernel shows an idle group's weight as 3 and refuses writes to it */
	c = cg_ctx_free(c);
	write_file(batch, "cpu.shares", "3");
	assert_int_equal(cg_ctx_new(f->tmp, CG_V1, "/drover", &c, &e), 0);
	assert_file_eq(batch, "cpu.shares", "3");
	assert_file_eq(batch, "cpu.idle", "1");
}

/* The tiers' caps live in the memory and pids hierarchies; a missing one is skipped. */
static void test_fake_tier_limits(void **state)
{
	struct fixture *f = *state;
	_cleanup_cg_ctx_ struct cg_ctx *c = NULL;
	_cleanup_err_ struct err *e = NULL;
	_cleanup_free_ char *mon = path_of(f->tmp, "memory/drover/online");
	_cleanup_free_ char *mba = path_of(f->tmp, "memory/drover/batch");
	_cleanup_free_ char *pon = path_of(f->tmp, "pids/drover/online");

	assert_int_equal(cg_ctx_new(f->tmp, CG_V1, "/drover", &c, &e), 0);
	write_file(mon, "memory.limit_in_bytes", "");
	write_file(mba, "memory.limit_in_bytes", "");
	write_file(pon, "pids.max", "");
	assert_int_equal(cg_set_tier_limits(c, CG_QOS_ONLINE, 8589934592LL, 29491, &e), 0);
	assert_int_equal(cg_set_tier_limits(c, CG_QOS_BATCH, 8589934592LL, 29491, &e), 0);
	assert_file_eq(mon, "memory.limit_in_bytes", "8589934592");
	assert_file_eq(mba, "memory.limit_in_bytes", "8589934592");
	assert_file_eq(pon, "pids.max", "29491");
	{
		_cleanup_free_ char *pba = path_of(f->tmp, "pids/drover/batch/pids.max");
		assert_false(fs_exists(pba)); /* absent knob: skipped, not created */
	}
}

static void test_fake_paths(void **state)
{
	struct fixture *f = *state;
	_cleanup_cg_ctx_ struct cg_ctx *c = NULL;
	_cleanup_free_ char *inst = NULL, *knob = NULL, *oom = NULL, *want = NULL;

	assert_int_equal(cg_ctx_new(f->tmp, CG_V1, "/drover", &c, NULL), 0);
	inst = cg_instance_path(c, CG_QOS_BATCH, "job-1");
	assert_string_equal(inst, "/drover/batch/job-1");

	knob = cg_knob_path(c, inst, "memory", "memory.limit_in_bytes");
	assert_int_equal(asprintf(&want, "%s/memory/drover/batch/job-1/memory.limit_in_bytes", f->tmp) > 0,
			 1);
	assert_string_equal(knob, want);
	free(knob);
	knob = cg_knob_path(c, inst, "cpu", "cpu.cfs_quota_us");
	assert_non_null(strstr(knob, "/cpu/drover/batch/job-1/cpu.cfs_quota_us"));

	oom = cg_oom_events_file(c, inst);
	free(want);
	assert_int_equal(asprintf(&want, "%s/memory/drover/batch/job-1/memory.oom_control", f->tmp) > 0, 1);
	assert_string_equal(oom, want);

	errno = 0;
	assert_null(cg_knob_path(c, inst, NULL, "memory.limit_in_bytes")); /* v1 needs the hierarchy */
	assert_int_equal(errno, EINVAL);
}

/* runc also populates hierarchies drover does not prepare (cpuset, name=systemd, the hybrid cgroup2
 * mount): removal covers
 * every hierarchy, and child cgroups go first. */
static void test_fake_instance_remove(void **state)
{
	static const char *const where[] = {"memory", "pids", "cpuset", "systemd", "cpu,cpuacct", "unified"};
	struct fixture *f = *state;
	_cleanup_cg_ctx_ struct cg_ctx *c = NULL;
	_cleanup_err_ struct err *e = NULL;

	assert_int_equal(cg_ctx_new(f->tmp, CG_V1, "/drover", &c, NULL), 0);
	assert_int_equal(cg_instance_remove(c, "/drover/online/web-0", &e), 0);
	for (size_t i = 0; i < ELEMENTSOF(where); i++) {
		_cleanup_free_ char *p = NULL;

		assert_int_equal(asprintf(&p, "%s/drover/online/web-0/sub", where[i]) > 0, 1);
		mkdirs(f->tmp, p);
	}
	assert_int_equal(cg_instance_remove(c, "/drover/online/web-0", &e), 0);
	assert_null(e);
	for (size_t i = 0; i < ELEMENTSOF(where); i++) {
		_cleanup_free_ char *p = NULL;

		assert_int_equal(asprintf(&p, "%s/drover/online/web-0", where[i]) > 0, 1);
		assert_false(is_dir2(f->tmp, p));
	}
	assert_true(is_dir2(f->tmp, "memory/drover/online"));
	assert_int_equal(cg_instance_remove(c, "/drover", NULL), -EINVAL);
}

/* One hierarchy that cannot be cleaned does not stop the others; the first error is reported. */
static void test_fake_instance_remove_partial(void **state)
{
	struct fixture *f = *state;
	_cleanup_cg_ctx_ struct cg_ctx *c = NULL;
	_cleanup_err_ struct err *e = NULL;
	_cleanup_free_ char *mem = path_of(f->tmp, "memory/drover/online/x");

	assert_int_equal(cg_ctx_new(f->tmp, CG_V1, "/drover", &c, NULL), 0);
	mkdirs(f->tmp, "memory/drover/online/x");
	mkdirs(f->tmp, "pids/drover/online/x");
	write_file(mem, "stray", "");
	assert_int_equal(cg_instance_remove(c, "/drover/online/x", &e), -ENOTEMPTY);
	assert_non_null(strstr(err_msg(e), "memory/drover/online/x"));
	assert_false(is_dir2(f->tmp, "pids/drover/online/x"));
}

static void test_fake_remove_root(void **state)
{
	struct fixture *f = *state;
	_cleanup_cg_ctx_ struct cg_ctx *c = NULL;
	_cleanup_err_ struct err *e = NULL;
	_cleanup_free_ char *online = path_of(f->tmp, "cpu/drover/online/cpu.shares");
	_cleanup_free_ char *batch = path_of(f->tmp, "cpu/drover/batch/cpu.shares");

	assert_int_equal(cg_ctx_new(f->tmp, CG_V1, "/drover", &c, NULL), 0);
	mkdirs(f->tmp, "cpuset/drover/online"); /* made by runc */
	assert_int_equal(cg_ctx_remove_root(c, &e), -ENOTEMPTY);
	assert_non_null(strstr(err_msg(e), "/drover/online'"));
	err_free(&e);
	/* the other hierarchies were still cleaned */
	assert_false(is_dir2(f->tmp, "memory/drover"));
	assert_false(is_dir2(f->tmp, "cpuset/drover"));

	assert_int_equal(unlink(online), 0);
	assert_int_equal(unlink(batch), 0);
	assert_int_equal(cg_ctx_remove_root(c, &e), 0);
	assert_false(is_dir2(f->tmp, "cpu,cpuacct/drover"));
}

/* The batch tier beside the root: made in every prepared hierarchy (cpuset is the runtime's),
 * lowest shares, instances and usage follow it, removal takes its dir and not its parent. */
static void test_fake_batch_tier(void **state)
{
	struct fixture *f = *state;
	_cleanup_cg_ctx_ struct cg_ctx *c = NULL;
	_cleanup_err_ struct err *e = NULL;
	_cleanup_free_ char *batch = path_of(f->tmp, "cpu,cpuacct/top/drover-batch");
	_cleanup_free_ char *mem = path_of(f->tmp, "memory/top/drover-batch");
	_cleanup_free_ char *root_mem = path_of(f->tmp, "memory/drover");
	_cleanup_free_ char *path = NULL;
	struct cg_usage u;

	mkdirs(f->tmp, "cpu,cpuacct/top/drover-batch");
	write_file(batch, "cpu.shares", "");
	assert_int_equal(cg_ctx_new_tiers(f->tmp, CG_V1, "/drover", "/top/drover-batch", &c, &e), 0);
	assert_null(e);
	assert_file_eq(batch, "cpu.shares", "2");
	assert_true(is_dir2(f->tmp, "memory/top/drover-batch"));
	assert_true(is_dir2(f->tmp, "pids/top/drover-batch"));
	assert_true(is_dir2(f->tmp, "memory/drover/online"));
	assert_false(is_dir2(f->tmp, "memory/drover/batch"));
	assert_false(is_dir2(f->tmp, "cpuset/top"));

	path = cg_instance_path(c, CG_QOS_BATCH, "job");
	assert_string_equal(path, "/top/drover-batch/job");
	mkdirs(f->tmp, "memory/top/drover-batch/job");
	assert_int_equal(cg_instance_remove(c, path, &e), 0);
	assert_false(is_dir2(f->tmp, "memory/top/drover-batch/job"));
	assert_int_equal(cg_instance_remove(c, "/top", NULL), -EINVAL);

	write_file(root_mem, "memory.usage_in_bytes", "4096000\n");
	write_file(mem, "memory.usage_in_bytes", "1000\n");
	assert_int_equal(cg_root_usage(c, &u, NULL), 0);
	assert_int_equal(u.memory_bytes, 4097000);
	assert_int_equal(u.cpu_ns, -1); /* neither has cpuacct.usage */

	{
		_cleanup_free_ char *shares = path_of(batch, "cpu.shares");
		_cleanup_free_ char *online = path_of(f->tmp, "cpu/drover/online/cpu.shares");
		_cleanup_free_ char *nested = path_of(f->tmp, "cpu,cpuacct/drover/batch/cpu.shares");
		_cleanup_free_ char *nested_dir = path_of(f->tmp, "cpu,cpuacct/drover/batch");
		_cleanup_free_ char *m1 = path_of(root_mem, "memory.usage_in_bytes");
		_cleanup_free_ char *m2 = path_of(mem, "memory.usage_in_bytes");

		assert_int_equal(unlink(shares), 0);
		assert_int_equal(unlink(online), 0);
		/* the fixture's nested tier, unused here */
		assert_int_equal(unlink(nested), 0);
		assert_int_equal(rmdir(nested_dir), 0);
		assert_int_equal(unlink(m1), 0);
		assert_int_equal(unlink(m2), 0);
	}
	assert_int_equal(cg_ctx_remove_root(c, &e), 0);
	assert_false(is_dir2(f->tmp, "memory/top/drover-batch"));
	assert_false(is_dir2(f->tmp, "memory/drover"));
	assert_true(is_dir2(f->tmp, "memory/top"));
}

/* ---- the real v1 / hybrid hierarchy ---- */

struct real {
	char root[64];
	pid_t pid;
};

static bool real_v1(void)
{
	enum cg_version v;

	return geteuid() == 0 && cg_detect(REAL_MOUNT, &v, NULL) == 0 && v == CG_V1;
}

static void test_real_detect(void **state)
{
	enum cg_version v = _CG_VERSION_INVALID;

	(void)state;
	if (cg_detect(REAL_MOUNT, &v, NULL) < 0 || v != CG_V1)
		skip();
	assert_int_equal(v, CG_V1);
}

static void rmdir_under(const char *base, const char *root)
{
	static const char *const dirs[] = {"/online/inst/sub", "/online/inst", "/online", "/batch", ""};

	for (size_t i = 0; i < ELEMENTSOF(dirs); i++) {
		_cleanup_free_ char *p = NULL;

		if (asprintf(&p, "%s%s%s", base, root, dirs[i]) > 0)
			(void)rmdir(p); /* teardown: most are gone already */
	}
}

static int real_teardown(void **state)
{
	struct real *r = *state;
	_cleanup_closedir_ DIR *d = NULL;
	struct dirent *de;

	if (!r)
		return 0;
	if (r->pid > 0) {
		_cleanup_free_ char *fz = NULL;

		if (asprintf(&fz, REAL_MOUNT "/freezer%s/online/inst", r->root) > 0 && is_dir(fz))
			write_file(fz, "freezer.state", "THAWED");
		(void)kill(r->pid, SIGKILL);
		(void)waitpid(r->pid, NULL, 0);
	}
	d = opendir(REAL_MOUNT);
	while (d && (de = readdir(d))) {
		_cleanup_free_ char *base = NULL;

		if (de->d_name[0] != '.' && asprintf(&base, REAL_MOUNT "/%s", de->d_name) > 0)
			rmdir_under(base, r->root);
	}
	free(r);
	return 0;
}

static void write_pid(const char *dir, pid_t pid)
{
	_cleanup_close_ int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	char buf[16];

	snprintf(buf, sizeof(buf), "%d", (int)pid);
	assert_true(dfd >= 0);
	assert_int_equal(fs_write_knob(dfd, "cgroup.procs", buf, NULL), 0);
}

/* A child blocked on a pipe until the parent has put it in every dir, then exec'ing sleep. */
static pid_t spawn_sleep_in(char *const *dirs, size_t n)
{
	char *const argv[] = {"sleep", "30", NULL};
	char *const envp[] = {NULL};
	int p[2];
	pid_t pid;
	char c = 0;

	assert_int_equal(pipe2(p, O_CLOEXEC), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		if (read(p[0], &c, 1) != 1)
			_exit(126);
		execve("/bin/sleep", argv, envp);
		_exit(127);
	}
	close(p[0]);
	for (size_t i = 0; i < n; i++)
		write_pid(dirs[i], pid);
	assert_int_equal(write(p[1], &c, 1), 1);
	close(p[1]);
	return pid;
}

static void freeze(const char *dir)
{
	struct timespec ts = {.tv_sec = 0, .tv_nsec = 10 * 1000 * 1000};
	_cleanup_close_ int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	char buf[32] = "";

	assert_true(dfd >= 0);
	assert_int_equal(fs_write_knob(dfd, "freezer.state", "FROZEN", NULL), 0);
	for (int i = 0; i < 100; i++) {
		assert_true(fs_read_knob(dfd, "freezer.state", buf, sizeof(buf), NULL) >= 0);
		if (strncmp(buf, "FROZEN", 6) == 0)
			return;
		nanosleep(&ts, NULL);
	}
	fail_msg("freezer.state stays '%s'", buf);
}

static void test_real_v1(void **state)
{
	static const char *const prepared[] = {"cpu", "memory", "pids"};
	struct real *r = calloc(1, sizeof(*r));
	_cleanup_cg_ctx_ struct cg_ctx *c = NULL;
	_cleanup_err_ struct err *e = NULL;
	_cleanup_free_ char *path = NULL, *knob = NULL, *want = NULL, *batch = NULL;
	_cleanup_free_ char *mem = NULL, *pids = NULL, *fz = NULL, *sub = NULL, *uni = NULL;
	int status = 0;

	assert_non_null(r);
	*state = r;
	if (!real_v1())
		skip();
	snprintf(r->root, sizeof(r->root), "/drover-cgtest-%d", (int)getpid());
	if (cg_ctx_new(REAL_MOUNT, CG_V1, r->root, &c, &e) < 0)
		fail_msg("cg_ctx_new: %s", err_msg(e));
	for (size_t i = 0; i < ELEMENTSOF(prepared); i++) {
		_cleanup_free_ char *p = NULL;

		assert_int_equal(asprintf(&p, REAL_MOUNT "/%s%s/batch", prepared[i], r->root) > 0, 1);
		assert_true(is_dir(p));
	}
	assert_int_equal(asprintf(&batch, REAL_MOUNT "/cpu%s/batch", r->root) > 0, 1);
	{
		/* idle where the kernel has v1 cpu.idle (it then shows the weight as 3), else shares 2 */
		_cleanup_free_ char *idle = path_of(batch, "cpu.idle");

		if (access(idle, F_OK) == 0) {
			assert_file_eq(batch, "cpu.idle", "1");
			assert_file_eq(batch, "cpu.shares", "3");
		} else {
			assert_file_eq(batch, "cpu.shares", "2");
		}
	}
	{
		/* the kernel's own knobs take the tier caps */
		_cleanup_free_ char *mb = NULL, *pb = NULL;

		if (cg_set_tier_limits(c, CG_QOS_BATCH, 1073741824LL, 1000, &e) < 0)
			fail_msg("cg_set_tier_limits: %s", err_msg(e));
		assert_int_equal(asprintf(&mb, REAL_MOUNT "/memory%s/batch", r->root) > 0, 1);
		assert_int_equal(asprintf(&pb, REAL_MOUNT "/pids%s/batch", r->root) > 0, 1);
		assert_file_eq(mb, "memory.limit_in_bytes", "1073741824");
		assert_file_eq(pb, "pids.max", "1000");
	}

	{
		/* hybrid: the tiers in the cgroup2 hierarchy too, where the online tier's PSI is read */
		_cleanup_free_ char *ut = NULL;
		struct cg_tier_sample s;

		assert_int_equal(asprintf(&ut, REAL_MOUNT "/unified%s/online", r->root) > 0, 1);
		if (is_dir(REAL_MOUNT "/unified")) {
			assert_true(is_dir(ut));
			cg_tier_sample(c, CG_QOS_ONLINE, true, &s);
			assert_true(s.wait_is_psi);
			assert_true(s.wait_ns >= 0);
		}
	}

	path = cg_instance_path(c, CG_QOS_ONLINE, "inst");
	knob = cg_knob_path(c, path, "memory", "memory.limit_in_bytes");
	assert_int_equal(
	    asprintf(&want, REAL_MOUNT "/memory%s/online/inst/memory.limit_in_bytes", r->root) > 0, 1);
	assert_string_equal(knob, want);

	/* what runc would do: the instance in several hierarchies, one child cgroup, frozen */
	assert_int_equal(asprintf(&mem, REAL_MOUNT "/memory%s", path) > 0, 1);
	assert_int_equal(asprintf(&pids, REAL_MOUNT "/pids%s", path) > 0, 1);
	assert_int_equal(asprintf(&fz, REAL_MOUNT "/freezer%s", path) > 0, 1);
	assert_int_equal(asprintf(&sub, "%s/sub", mem) > 0, 1);
	assert_int_equal(mkdir(mem, 0755), 0);
	assert_int_equal(mkdir(sub, 0755), 0);
	assert_int_equal(mkdir(pids, 0755), 0);
	assert_int_equal(mkdir(fz, 0755), 0);
	{
		char *const dirs[] = {sub, pids, fz};

		r->pid = spawn_sleep_in(dirs, ELEMENTSOF(dirs));
	}
	freeze(fz);
	/* hybrid: the runtime may also track the instance in the cgroup2 mount */
	assert_int_equal(asprintf(&uni, REAL_MOUNT "/unified%s", path) > 0, 1);
	if (is_dir(REAL_MOUNT "/unified"))
		assert_int_equal(fs_mkdir_p(AT_FDCWD, uni, 0755), 0);

	if (cg_instance_remove(c, path, &e) < 0)
		fail_msg("cg_instance_remove: %s", err_msg(e));
	assert_false(is_dir(mem));
	assert_false(is_dir(pids));
	assert_false(is_dir(fz));
	assert_false(is_dir(uni));
	assert_int_equal(waitpid(r->pid, &status, 0), r->pid);
	r->pid = 0;
	assert_true(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);

	if (cg_ctx_remove_root(c, &e) < 0)
		fail_msg("cg_ctx_remove_root: %s", err_msg(e));
	for (size_t i = 0; i < ELEMENTSOF(prepared); i++) {
		_cleanup_free_ char *p = NULL;

		assert_int_equal(asprintf(&p, REAL_MOUNT "/%s%s", prepared[i], r->root) > 0, 1);
		assert_false(is_dir(p));
	}
	free(uni);
	assert_int_equal(asprintf(&uni, REAL_MOUNT "/unified%s", r->root) > 0, 1);
	assert_false(is_dir(uni));
}

/* The root's usage comes from cpuacct, memory and pids hierarchies; a missing one is unknown. */
static void test_fake_root_usage(void **state)
{
	struct fixture *f = *state;
	_cleanup_cg_ctx_ struct cg_ctx *c = NULL;
	_cleanup_free_ char *cpu = path_of(f->tmp, "cpuacct/drover");
	_cleanup_free_ char *mem = path_of(f->tmp, "memory/drover");
	struct cg_usage u;

	assert_int_equal(cg_ctx_new(f->tmp, CG_V1, "/drover", &c, NULL), 0);
	write_file(cpu, "cpuacct.usage", "123456789\n");
	write_file(mem, "memory.usage_in_bytes", "4096000\n");
	write_file(mem, "memory.stat", "cache 10\ninactive_file 1\ntotal_inactive_file 96000\n");
	assert_int_equal(cg_root_usage(c, &u, NULL), 0);
	assert_int_equal(u.cpu_ns, 123456789);
	assert_int_equal(u.memory_bytes, 4096000);
	assert_int_equal(u.memory_working_set, 4000000);
	assert_int_equal(u.pids, -1); /* no pids.current written */
}

int main(void)
{
	const struct CMUnitTest fake[] = {
	    cmocka_unit_test_setup_teardown(test_fake_create, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_fake_create_idle, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_fake_paths, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_fake_tier_limits, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_fake_instance_remove, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_fake_root_usage, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_fake_instance_remove_partial, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_fake_remove_root, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_fake_batch_tier, setup, teardown),
	};
	const struct CMUnitTest host[] = {
	    cmocka_unit_test(test_real_detect),
	    cmocka_unit_test_teardown(test_real_v1, real_teardown),
	};
	int r;

	r = cmocka_run_group_tests_name("cg_v1_fake_tree", fake, NULL, NULL);
	/* TAP counts a skip as "not ok": host tests are registered only where they can run. */
	if (!real_v1()) {
		printf("# host cgroup v1 tests not run: they need root and a v1 or hybrid " REAL_MOUNT "\n");
		return r;
	}
	return r + cmocka_run_group_tests_name("cg_v1_host", host, NULL, NULL);
}
