/* cgroups v2 backend on a fake unified tree in a temp dir (no root needed), plus one test on the
 * host's real cgroup2 mount that runs only as root. */
#include <errno.h>
#include <fcntl.h>
#include <linux/magic.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "cgroups/cg.h"
#include "common/cleanup.h"
#include "common/fs.h"

#define KERNEL_CONTROLLERS "cpuset cpu io memory hugetlb pids rdma misc\n"

struct fixture {
	char tmp[64];
};

static void write_file(const char *dir, const char *name, const char *content)
{
	_cleanup_free_ char *p = fs_path_join(dir, name);
	_cleanup_close_ int fd = -1;

	assert_non_null(p);
	fd = open(p, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	assert_true(fd >= 0);
	assert_int_equal(fs_write_all(fd, content, strlen(content)), 0);
}

static char *read_back(const char *dir, const char *name)
{
	_cleanup_close_ int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	char *buf = NULL;

	assert_true(dfd >= 0);
	assert_int_equal(fs_read_file(dfd, name, 4096, &buf, NULL, NULL), 0);
	return buf;
}

static void assert_file_eq(const char *dir, const char *name, const char *want)
{
	_cleanup_free_ char *got = read_back(dir, name);

	assert_string_equal(got, want);
}

static bool is_dir(const char *p)
{
	struct stat st;

	return stat(p, &st) == 0 && S_ISDIR(st.st_mode);
}

/* A cgroup dir as the kernel shows it: its controllers, no subtree_control, no members.
 * Knob files the code writes are created empty so a write reads back exactly. */
static char *fake_cg(const char *base, const char *rel, const char *controllers, bool cpu, bool idle)
{
	char *dir = fs_path_join(base, rel);

	assert_non_null(dir);
	assert_int_equal(fs_mkdir_p(AT_FDCWD, dir, 0755), 0);
	write_file(dir, "cgroup.controllers", controllers);
	write_file(dir, "cgroup.subtree_control", "");
	write_file(dir, "cgroup.procs", "");
	if (cpu)
		write_file(dir, "cpu.weight", "");
	if (idle)
		write_file(dir, "cpu.idle", "");
	return dir;
}

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));

	if (!f)
		return -1;
	snprintf(f->tmp, sizeof(f->tmp), "/tmp/drover-cgv2-XXXXXX");
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

	(void)fs_rm_rf(AT_FDCWD, f->tmp); /* best effort: a temp dir */
	free(f);
	return 0;
}

/* The standard layout: mount root with all kernel controllers, /drover with online and batch. */
static void layout_drover(const char *tmp, bool idle)
{
	free(fake_cg(tmp, ".", KERNEL_CONTROLLERS, false, false));
	free(fake_cg(tmp, "drover", "cpu memory pids\n", true, false));
	free(fake_cg(tmp, "drover/online", "cpu memory pids\n", true, idle));
	free(fake_cg(tmp, "drover/batch", "cpu memory pids\n", true, idle));
}

static void test_create_layout(void **state)
{
	struct fixture *f = *state;
	_cleanup_cg_ctx_ struct cg_ctx *c = NULL;
	_cleanup_err_ struct err *e = NULL;
	_cleanup_free_ char *drover = fs_path_join(f->tmp, "drover");
	_cleanup_free_ char *online = fs_path_join(f->tmp, "drover/online");
	_cleanup_free_ char *batch = fs_path_join(f->tmp, "drover/batch");

	layout_drover(f->tmp, true);
	assert_int_equal(cg_ctx_new(f->tmp, CG_V2, "/drover", &c, &e), 0);
	assert_null(e);
	assert_int_equal(cg_ctx_version(c), CG_V2);
	assert_file_eq(f->tmp, "cgroup.subtree_control", "+cpu +memory +pids");
	assert_file_eq(drover, "cgroup.subtree_control", "+cpu +memory +pids");
	assert_file_eq(online, "cgroup.subtree_control", "+cpu +memory +pids");
	assert_file_eq(batch, "cgroup.subtree_control", "+cpu +memory +pids");
	assert_file_eq(batch, "cpu.weight", "1");
	assert_file_eq(batch, "cpu.idle", "1");
	assert_file_eq(online, "cpu.weight", "100");
	assert_file_eq(online, "cpu.idle", ""); /* online is never made idle */
	assert_file_eq(drover, "cpu.weight", "");
}

/* The tiers' caps: memory.max and pids.max; a knob the host lacks is skipped, 0 leaves it alone. */
static void test_tier_limits(void **state)
{
	struct fixture *f = *state;
	_cleanup_cg_ctx_ struct cg_ctx *c = NULL;
	_cleanup_err_ struct err *e = NULL;
	_cleanup_free_ char *online = fs_path_join(f->tmp, "drover/online");
	_cleanup_free_ char *batch = fs_path_join(f->tmp, "drover/batch");

	layout_drover(f->tmp, false);
	assert_int_equal(cg_ctx_new(f->tmp, CG_V2, "/drover", &c, &e), 0);
	write_file(online, "memory.max", "max\n");
	write_file(online, "pids.max", "max\n");
	write_file(batch, "memory.max", "max\n"); /* no pids.max: the pids controller is not there */
	assert_int_equal(cg_set_tier_limits(c, CG_QOS_ONLINE, 8589934592LL, 29491, &e), 0);
	assert_int_equal(cg_set_tier_limits(c, CG_QOS_BATCH, 4294967296LL, 29491, &e), 0);
	assert_file_eq(online, "memory.max", "8589934592");
	assert_file_eq(online, "pids.max", "29491");
	assert_file_eq(batch, "memory.max", "4294967296");
	write_file(online, "pids.max", "max\n");
	assert_int_equal(cg_set_tier_limits(c, CG_QOS_ONLINE, 0, 0, &e), 0);
	assert_file_eq(online, "memory.max", "8589934592");
	assert_file_eq(online, "pids.max", "max\n");
}

/* A batch tier that is already idle is left alone: the kernel refuses cpu.weight on it. */
static void test_idle_batch_untouched(void **state)
{
	struct fixture *f = *state;
	_cleanup_cg_ctx_ struct cg_ctx *c = NULL;
	_cleanup_free_ char *batch = fs_path_join(f->tmp, "drover/batch");

	layout_drover(f->tmp, true);
	write_file(batch, "cpu.idle", "1\n");
	write_file(batch, "cpu.weight", "0\n");
	assert_int_equal(cg_ctx_new(f->tmp, CG_V2, "/drover", &c, NULL), 0);
	assert_file_eq(batch, "cpu.weight", "0\n");
}

/* Older kernels have no cpu.idle; nested roots enable every ancestor; only available controllers
 * are requested; already enabled ones are not written again. */
static void test_nested_root_subset_no_idle(void **state)
{
	struct fixture *f = *state;
	_cleanup_cg_ctx_ struct cg_ctx *c = NULL;
	_cleanup_err_ struct err *e = NULL;
	_cleanup_free_ char *a = NULL, *ab = NULL, *batch = NULL, *online = NULL;

	free(fake_cg(f->tmp, ".", "cpu io memory\n", false, false));
	a = fake_cg(f->tmp, "a", "cpu memory\n", false, false);
	write_file(a, "cgroup.subtree_control", "cpu memory\n");
	ab = fake_cg(f->tmp, "a/b", "cpu memory\n", true, false);
	online = fake_cg(f->tmp, "a/b/online", "cpu memory\n", true, false);
	batch = fake_cg(f->tmp, "a/b/batch", "cpu memory\n", true, false);

	assert_int_equal(cg_ctx_new(f->tmp, CG_V2, "/a/b", &c, &e), 0);
	assert_file_eq(f->tmp, "cgroup.subtree_control", "+cpu +memory");
	assert_file_eq(a, "cgroup.subtree_control", "cpu memory\n");
	assert_file_eq(ab, "cgroup.subtree_control", "+cpu +memory");
	assert_file_eq(batch, "cgroup.subtree_control", "+cpu +memory");
	assert_file_eq(batch, "cpu.weight", "1");
	assert_file_eq(online, "cpu.weight", "100");
}

/* Without the cpu controller there is no cpu.weight: the tiers are created, weights skipped. */
static void test_no_cpu_controller(void **state)
{
	struct fixture *f = *state;
	_cleanup_cg_ctx_ struct cg_ctx *c = NULL;
	_cleanup_free_ char *batch = NULL;

	free(fake_cg(f->tmp, ".", "memory pids\n", false, false));
	free(fake_cg(f->tmp, "drover", "memory pids\n", false, false));
	free(fake_cg(f->tmp, "drover/online", "memory pids\n", false, false));
	batch = fake_cg(f->tmp, "drover/batch", "memory pids\n", false, false);
	assert_int_equal(cg_ctx_new(f->tmp, CG_V2, "/drover", &c, NULL), 0);
	assert_file_eq(batch, "cgroup.subtree_control", "+memory +pids");
}

/* Directories are created by cg_ctx_new; on a plain dir the kernel files are missing, which
 * must be reported, naming the cgroup. */
static void test_create_errors(void **state)
{
	struct fixture *f = *state;
	_cleanup_cg_ctx_ struct cg_ctx *c = NULL;
	_cleanup_err_ struct err *e = NULL;
	_cleanup_free_ char *missing = fs_path_join(f->tmp, "nope");
	_cleanup_free_ char *batch = fs_path_join(f->tmp, "x/batch");

	free(fake_cg(f->tmp, ".", KERNEL_CONTROLLERS, false, false));
	assert_int_equal(cg_ctx_new(f->tmp, CG_V2, "/x", &c, &e), -ENOENT);
	assert_null(c);
	assert_non_null(strstr(err_msg(e), "/x'"));
	assert_true(is_dir(batch)); /* mkdir -p happened before the first knob */
	err_free(&e);

	assert_int_equal(cg_ctx_new(missing, CG_V2, "/drover", &c, &e), -ENOENT);
	err_free(&e);
	assert_int_equal(cg_ctx_new(f->tmp, CG_V2, "drover", &c, &e), -EINVAL);
	err_free(&e);
	assert_int_equal(cg_ctx_new(f->tmp, CG_V2, "/drover/", &c, NULL), -EINVAL);
	assert_int_equal(cg_ctx_new(f->tmp, CG_V2, "/", &c, NULL), -EINVAL);
	assert_int_equal(cg_ctx_new(f->tmp, CG_V2, "/a/../b", &c, NULL), -EINVAL);
	assert_int_equal(cg_ctx_new(f->tmp, CG_V2, "/a//b", &c, NULL), -EINVAL);
	assert_int_equal(cg_ctx_new(f->tmp, _CG_VERSION_MAX, "/drover", &c, NULL), -EINVAL);
}

static void test_paths(void **state)
{
	struct fixture *f = *state;
	_cleanup_cg_ctx_ struct cg_ctx *c = NULL;
	_cleanup_free_ char *mount = NULL;
	_cleanup_free_ char *inst = NULL, *batch_inst = NULL, *knob = NULL, *oom = NULL, *want = NULL;

	layout_drover(f->tmp, false);
	assert_int_equal(asprintf(&mount, "%s/", f->tmp) > 0, 1); /* a trailing '/' is dropped */
	assert_int_equal(cg_ctx_new(mount, CG_V2, "/drover", &c, NULL), 0);

	inst = cg_instance_path(c, CG_QOS_ONLINE, "web-0");
	assert_string_equal(inst, "/drover/online/web-0");
	batch_inst = cg_instance_path(c, CG_QOS_BATCH, "job-1");
	assert_string_equal(batch_inst, "/drover/batch/job-1");

	knob = cg_knob_path(c, inst, "memory", "memory.max");
	assert_int_equal(asprintf(&want, "%s/drover/online/web-0/memory.max", f->tmp) > 0, 1);
	assert_string_equal(knob, want);
	free(knob);
	knob = cg_knob_path(c, inst, NULL, "pids.max");
	assert_non_null(strstr(knob, "/drover/online/web-0/pids.max"));

	oom = cg_oom_events_file(c, inst);
	free(want);
	assert_int_equal(asprintf(&want, "%s/drover/online/web-0/memory.events", f->tmp) > 0, 1);
	assert_string_equal(oom, want);

	errno = 0;
	assert_null(cg_instance_path(c, CG_QOS_ONLINE, "../x"));
	assert_int_equal(errno, EINVAL);
	assert_null(cg_instance_path(c, CG_QOS_ONLINE, ""));
	assert_null(cg_instance_path(c, CG_QOS_ONLINE, ".."));
	assert_null(cg_instance_path(c, (enum cg_qos)7, "a"));
	assert_null(cg_knob_path(c, "relative", "memory", "memory.max"));
	assert_null(cg_knob_path(c, inst, "memory", "../memory.max"));
	assert_null(cg_knob_path(c, inst, "mem/ory", "memory.max"));
	assert_null(cg_oom_events_file(c, "/drover/../etc"));
}

static void test_instance_remove(void **state)
{
	struct fixture *f = *state;
	_cleanup_cg_ctx_ struct cg_ctx *c = NULL;
	_cleanup_err_ struct err *e = NULL;
	_cleanup_free_ char *inst = NULL, *bad = NULL;

	layout_drover(f->tmp, false);
	assert_int_equal(cg_ctx_new(f->tmp, CG_V2, "/drover", &c, NULL), 0);

	/* missing is success */
	assert_int_equal(cg_instance_remove(c, "/drover/online/gone", &e), 0);
	assert_null(e);

	/* an empty cgroup with empty child cgroups goes, depth first */
	inst = fs_path_join(f->tmp, "drover/online/web-0");
	assert_int_equal(fs_mkdir_p(AT_FDCWD, inst, 0755), 0);
	{
		_cleanup_free_ char *deep = fs_path_join(inst, "a/b");
		_cleanup_free_ char *side = fs_path_join(inst, "c");

		assert_int_equal(fs_mkdir_p(AT_FDCWD, deep, 0755), 0);
		assert_int_equal(fs_mkdir_p(AT_FDCWD, side, 0755), 0);
	}
	assert_int_equal(cg_instance_remove(c, "/drover/online/web-0", &e), 0);
	assert_false(is_dir(inst));

	/* only cgroups below the root are ever killed and removed */
	assert_int_equal(cg_instance_remove(c, "/drover", &e), -EINVAL);
	err_free(&e);
	assert_int_equal(cg_instance_remove(c, "/droverx/online/a", NULL), -EINVAL);
	assert_int_equal(cg_instance_remove(c, "/drover/online/../../etc", NULL), -EINVAL);
	assert_int_equal(cg_instance_remove(c, "/", NULL), -EINVAL);
	assert_true(is_dir(f->tmp));

	/* a member list that is not pids is refused, not guessed at */
	bad = fake_cg(f->tmp, "drover/batch/bad", "", false, false);
	write_file(bad, "cgroup.procs", "12x\n");
	assert_int_equal(cg_instance_remove(c, "/drover/batch/bad", &e), -EPROTO);
	assert_non_null(strstr(err_msg(e), "drover/batch/bad"));
	err_free(&e);

	/* a directory with regular files cannot be rmdir'ed; the error names it */
	write_file(bad, "cgroup.procs", "");
	assert_int_equal(cg_instance_remove(c, "/drover/batch/bad", &e), -ENOTEMPTY);
	assert_non_null(strstr(err_msg(e), "drover/batch/bad"));
}

static void unlink_files(const char *dir, const char *const *names)
{
	for (; *names; names++) {
		_cleanup_free_ char *p = fs_path_join(dir, *names);

		(void)unlink(p); /* some are absent on purpose */
	}
}

static void test_remove_root(void **state)
{
	static const char *const files[] = {
	    "cgroup.controllers", "cgroup.subtree_control", "cgroup.procs", "cpu.weight", "cpu.idle", NULL};
	struct fixture *f = *state;
	_cleanup_cg_ctx_ struct cg_ctx *c = NULL;
	_cleanup_err_ struct err *e = NULL;
	_cleanup_free_ char *drover = fs_path_join(f->tmp, "drover");
	_cleanup_free_ char *online = fs_path_join(f->tmp, "drover/online");
	_cleanup_free_ char *batch = fs_path_join(f->tmp, "drover/batch");

	layout_drover(f->tmp, true);
	assert_int_equal(cg_ctx_new(f->tmp, CG_V2, "/drover", &c, NULL), 0);
	assert_int_equal(cg_ctx_remove_root(c, &e), -ENOTEMPTY);
	assert_non_null(strstr(err_msg(e), "/drover/online'"));
	err_free(&e);

	unlink_files(online, files);
	unlink_files(batch, files);
	unlink_files(drover, files);
	assert_int_equal(cg_ctx_remove_root(c, &e), 0);
	assert_false(is_dir(drover));
	/* again: nothing left is fine */
	assert_int_equal(cg_ctx_remove_root(c, &e), 0);
}

static void test_detect(void **state)
{
	struct fixture *f = *state;
	_cleanup_err_ struct err *e = NULL;
	_cleanup_free_ char *missing = fs_path_join(f->tmp, "nope");
	enum cg_version v = _CG_VERSION_INVALID;
	struct statfs s;

	assert_int_equal(statfs(f->tmp, &s), 0);
	if ((unsigned long)s.f_type != TMPFS_MAGIC && (unsigned long)s.f_type != CGROUP2_SUPER_MAGIC) {
		assert_int_equal(cg_detect(f->tmp, &v, &e), -ENOMEDIUM);
		assert_non_null(strstr(err_msg(e), f->tmp));
		err_free(&e);
	}
	assert_int_equal(cg_detect(missing, &v, &e), -ENOENT);
	err_free(&e);
	assert_int_equal(v, _CG_VERSION_INVALID); /* untouched on failure */
}

/* A tmpfs whose "memory" is a plain dir, not a cgroup hierarchy, is neither v1 nor v2. */
static void test_detect_tmpfs(void **state)
{
	char dir[] = "/dev/shm/drover-cgv2-XXXXXX";
	_cleanup_err_ struct err *e = NULL;
	_cleanup_free_ char *mem = NULL;
	enum cg_version v;
	struct statfs s;

	(void)state;
	if (statfs("/dev/shm", &s) < 0 || (unsigned long)s.f_type != TMPFS_MAGIC || !mkdtemp(dir))
		skip();
	mem = fs_path_join(dir, "memory");
	assert_int_equal(mkdir(mem, 0755), 0);
	assert_int_equal(cg_detect(dir, &v, &e), -ENOMEDIUM);
	assert_non_null(strstr(err_msg(e), "tmpfs"));
	assert_int_equal(fs_rm_rf(AT_FDCWD, dir), 0);
}

/* The host's cgroup2 mount, wherever it is: pure v2 or the hybrid "unified" one. */
static const char *real_v2_mount(void)
{
	static const char *const cands[] = {"/sys/fs/cgroup", "/sys/fs/cgroup/unified"};
	struct statfs s;

	for (size_t i = 0; i < ELEMENTSOF(cands); i++)
		if (statfs(cands[i], &s) == 0 && (unsigned long)s.f_type == CGROUP2_SUPER_MAGIC)
			return cands[i];
	return NULL;
}

static void test_detect_real(void **state)
{
	const char *m = real_v2_mount();
	enum cg_version v;

	(void)state;
	if (!m)
		skip();
	assert_int_equal(cg_detect(m, &v, NULL), 0);
	assert_int_equal(v, CG_V2);
}

struct real {
	const char *mount;
	char root[64];
	pid_t pid;
};

static void real_cleanup(struct real *r)
{
	static const char *const dirs[] = {"/online/inst/sub", "/online/inst", "/online", "/batch", ""};

	if (r->pid > 0) {
		(void)kill(r->pid, SIGKILL); /* teardown after a failed test */
		(void)waitpid(r->pid, NULL, 0);
	}
	for (size_t i = 0; i < ELEMENTSOF(dirs); i++) {
		_cleanup_free_ char *p = NULL;

		if (asprintf(&p, "%s%s%s", r->mount, r->root, dirs[i]) > 0)
			(void)rmdir(p); /* most are gone already */
	}
}

static int real_teardown(void **state)
{
	struct real *r = *state;

	if (r) {
		real_cleanup(r);
		free(r);
	}
	return 0;
}

/* A child blocked on a pipe until the parent has moved it into cgroup dir, then exec'ing sleep. */
static pid_t spawn_sleep_in(const char *dir)
{
	char *const argv[] = {"sleep", "30", NULL};
	char *const envp[] = {NULL};
	char pidbuf[16];
	int p[2];
	pid_t pid;
	char c = 0;
	int dfd;

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
	snprintf(pidbuf, sizeof(pidbuf), "%d", (int)pid);
	dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	assert_true(dfd >= 0);
	assert_int_equal(fs_write_knob(dfd, "cgroup.procs", pidbuf, NULL), 0);
	close(dfd);
	assert_int_equal(write(p[1], &c, 1), 1);
	close(p[1]);
	return pid;
}

static void test_real_v2(void **state)
{
	struct real *r = calloc(1, sizeof(*r));
	_cleanup_cg_ctx_ struct cg_ctx *c = NULL;
	_cleanup_err_ struct err *e = NULL;
	_cleanup_free_ char *inst = NULL, *sub = NULL, *path = NULL;
	int status = 0;

	assert_non_null(r);
	*state = r;
	r->mount = real_v2_mount();
	if (geteuid() != 0 || !r->mount)
		skip();
	snprintf(r->root, sizeof(r->root), "/drover-cgtest-%d", (int)getpid());
	assert_int_equal(cg_ctx_new(r->mount, CG_V2, r->root, &c, &e), 0);

	path = cg_instance_path(c, CG_QOS_ONLINE, "inst");
	assert_int_equal(asprintf(&inst, "%s%s", r->mount, path) > 0, 1);
	assert_int_equal(asprintf(&sub, "%s/sub", inst) > 0, 1);
	assert_int_equal(mkdir(inst, 0755), 0);
	assert_int_equal(mkdir(sub, 0755), 0);
	r->pid = spawn_sleep_in(sub);

	assert_int_equal(cg_instance_remove(c, path, &e), 0);
	assert_false(is_dir(inst));
	assert_int_equal(waitpid(r->pid, &status, 0), r->pid);
	r->pid = 0;
	assert_true(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);

	assert_int_equal(cg_ctx_remove_root(c, &e), 0);
	{
		_cleanup_free_ char *root = NULL;

		assert_int_equal(asprintf(&root, "%s%s", r->mount, r->root) > 0, 1);
		assert_false(is_dir(root));
	}
}

/* The root's usage for the node status; a knob the kernel lacks reads as unknown (-1). */
static void test_root_usage(void **state)
{
	struct fixture *f = *state;
	_cleanup_cg_ctx_ struct cg_ctx *c = NULL;
	_cleanup_free_ char *drover = fs_path_join(f->tmp, "drover");
	struct cg_usage u;

	layout_drover(f->tmp, true);
	assert_int_equal(cg_ctx_new(f->tmp, CG_V2, "/drover", &c, NULL), 0);
	write_file(drover, "cpu.stat", "usage_usec 1500\nuser_usec 1000\nsystem_usec 500\n");
	write_file(drover, "memory.current", "1000000\n");
	write_file(drover, "memory.stat", "anon 10\nactive_file 5\ninactive_file 300000\n");
	write_file(drover, "pids.current", "7\n");
	assert_int_equal(cg_root_usage(c, &u, NULL), 0);
	assert_int_equal(u.cpu_ns, 1500000);
	assert_int_equal(u.memory_bytes, 1000000);
	assert_int_equal(u.memory_working_set, 700000);
	assert_int_equal(u.pids, 7);
	write_file(drover, "pids.current", "junk\n");
	write_file(drover, "memory.stat", "anon 10\n");
	assert_int_equal(cg_root_usage(c, &u, NULL), 0);
	assert_int_equal(u.pids, -1);
	assert_int_equal(u.memory_working_set, 1000000); /* no inactive_file: all of it */
}

/* The batch tier beside the root: created and enabled down from the mount, idle, the instances'
 * paths and removals follow it, its usage counts in the root's, removal takes only its own dir. */
static void test_batch_tier_beside_root(void **state)
{
	static const char *const files[] = {"cgroup.controllers",
					    "cgroup.subtree_control",
					    "cgroup.procs",
					    "cpu.weight",
					    "cpu.idle",
					    "memory.max",
					    "cpu.stat",
					    "memory.current",
					    "memory.stat",
					    "pids.current",
					    NULL};
	struct fixture *f = *state;
	_cleanup_cg_ctx_ struct cg_ctx *c = NULL;
	_cleanup_err_ struct err *e = NULL;
	_cleanup_free_ char *drover = fs_path_join(f->tmp, "drover");
	_cleanup_free_ char *online = fs_path_join(f->tmp, "drover/online");
	_cleanup_free_ char *nested = fs_path_join(f->tmp, "drover/batch");
	_cleanup_free_ char *batch = NULL, *path = NULL, *inst = NULL;
	struct cg_usage u;

	free(fake_cg(f->tmp, ".", KERNEL_CONTROLLERS, false, false));
	free(fake_cg(f->tmp, "drover", "cpu memory pids\n", true, false));
	free(fake_cg(f->tmp, "drover/online", "cpu memory pids\n", true, true));
	batch = fake_cg(f->tmp, "drover-batch", "cpu memory pids\n", true, true);
	assert_int_equal(cg_ctx_new_tiers(f->tmp, CG_V2, "/drover", "/drover-batch", &c, &e), 0);
	assert_null(e);
	assert_false(is_dir(nested));
	assert_file_eq(f->tmp, "cgroup.subtree_control", "+cpu +memory +pids");
	assert_file_eq(batch, "cgroup.subtree_control", "+cpu +memory +pids");
	assert_file_eq(online, "cgroup.subtree_control", "+cpu +memory +pids");
	assert_file_eq(batch, "cpu.weight", "1");
	assert_file_eq(batch, "cpu.idle", "1");
	assert_file_eq(online, "cpu.weight", "100");

	path = cg_instance_path(c, CG_QOS_BATCH, "job-1");
	assert_string_equal(path, "/drover-batch/job-1");
	inst = fs_path_join(f->tmp, "drover-batch/job-1");
	assert_int_equal(fs_mkdir_p(AT_FDCWD, inst, 0755), 0);
	assert_int_equal(cg_instance_remove(c, path, &e), 0);
	assert_false(is_dir(inst));
	assert_int_equal(cg_instance_remove(c, "/drover-batch", &e), -EINVAL);
	assert_non_null(strstr(err_msg(e), "/drover-batch"));
	err_free(&e);
	assert_int_equal(cg_instance_remove(c, "/drover-batchx/a", NULL), -EINVAL);

	write_file(batch, "memory.max", "max\n");
	assert_int_equal(cg_set_tier_limits(c, CG_QOS_BATCH, 4294967296LL, 0, &e), 0);
	assert_file_eq(batch, "memory.max", "4294967296");

	write_file(drover, "cpu.stat", "usage_usec 1500\n");
	write_file(drover, "memory.current", "1000000\n");
	write_file(drover, "pids.current", "7\n");
	write_file(batch, "cpu.stat", "usage_usec 500\n");
	write_file(batch, "memory.current", "24000\n");
	write_file(batch, "memory.stat", "inactive_file 4000\n");
	assert_int_equal(cg_root_usage(c, &u, NULL), 0);
	assert_int_equal(u.cpu_ns, 2000000);
	assert_int_equal(u.memory_bytes, 1024000);
	assert_int_equal(u.memory_working_set, 1020000); /* the root's all of it, batch's minus inactive */
	assert_int_equal(u.pids, 7);			 /* batch's unknown: the root's alone */

	unlink_files(online, files);
	unlink_files(batch, files);
	unlink_files(drover, files);
	assert_int_equal(cg_ctx_remove_root(c, &e), 0);
	assert_false(is_dir(drover));
	assert_false(is_dir(batch));
	assert_true(is_dir(f->tmp));
}

/* A batch tier of its own may not be the root, lie in it or above it; "<root>/batch" spelt out is
 * the default. */
static void test_batch_tier_refused(void **state)
{
	struct fixture *f = *state;
	_cleanup_cg_ctx_ struct cg_ctx *c = NULL;
	_cleanup_err_ struct err *e = NULL;
	_cleanup_free_ char *path = NULL;

	layout_drover(f->tmp, false);
	assert_int_equal(cg_ctx_new_tiers(f->tmp, CG_V2, "/drover", "/drover/online/b", &c, &e), -EINVAL);
	assert_non_null(strstr(err_msg(e), "beside the cgroup root '/drover'"));
	err_free(&e);
	assert_int_equal(cg_ctx_new_tiers(f->tmp, CG_V2, "/drover", "/drover", &c, NULL), -EINVAL);
	assert_int_equal(cg_ctx_new_tiers(f->tmp, CG_V2, "/a/b", "/a", &c, NULL), -EINVAL);
	assert_int_equal(cg_ctx_new_tiers(f->tmp, CG_V2, "/drover", "/", &c, NULL), -EINVAL);
	assert_int_equal(cg_ctx_new_tiers(f->tmp, CG_V2, "/drover", "/x/../y", &c, NULL), -EINVAL);
	assert_int_equal(cg_ctx_new_tiers(f->tmp, CG_V2, "/drover", "/system.slice", &c, &e), -EINVAL);
	assert_non_null(strstr(err_msg(e), "systemd slice or unit"));
	err_free(&e);
	assert_int_equal(cg_ctx_new_tiers(f->tmp, CG_V2, "/drover", "/a.slice/x.scope", &c, NULL), -EINVAL);
	assert_int_equal(cg_ctx_new_tiers(f->tmp, CG_V2, "/drover", "/drover/batch", &c, &e), 0);
	path = cg_instance_path(c, CG_QOS_BATCH, "j");
	assert_string_equal(path, "/drover/batch/j");
}

int main(void)
{
	const struct CMUnitTest fake[] = {
	    cmocka_unit_test_setup_teardown(test_create_layout, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_tier_limits, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_idle_batch_untouched, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_nested_root_subset_no_idle, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_no_cpu_controller, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_create_errors, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_paths, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_instance_remove, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_remove_root, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_root_usage, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_batch_tier_beside_root, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_batch_tier_refused, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_detect, setup, teardown),
	    cmocka_unit_test(test_detect_tmpfs),
	};
	const struct CMUnitTest host[] = {
	    cmocka_unit_test(test_detect_real),
	    cmocka_unit_test_teardown(test_real_v2, real_teardown),
	};
	int r;

	r = cmocka_run_group_tests_name("cg_v2_fake_tree", fake, NULL, NULL);
	/* TAP counts a skip as "not ok": host tests are registered only where they can run. */
	if (geteuid() != 0 || !real_v2_mount()) {
		printf("# host cgroup2 tests not run: they need root and a cgroup2 mount\n");
		return r;
	}
	return r + cmocka_run_group_tests_name("cg_v2_host", host, NULL, NULL);
}
