/* End to end against real runc (root only, skipped otherwise): a bundle from rt_bundle_write runs a
 * busybox rootfs under our seccomp profile, caps, cgroup limits and a new network namespace; then the
 * driver's state/kill/delete round trip. Everything it creates is removed in the teardown. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "common/cleanup.h"
#include "common/err.h"
#include "common/fs.h"
#include "common/proc.h"
#include "runtime/rt.h"

#define BUSYBOX "/bin/busybox"
#define BUSYBOX_MAX (16 * 1024 * 1024)
#define CG_ROOT "/sys/fs/cgroup"

static const char *const applets[] = {"sh",    "echo",	 "sleep", "httpd", "nc",    "dd",
				      "mkdir", "printf", "grep",  "cat",   "mount", "id"};

struct fixture {
	char base[64]; /* mkdtemp: base/root (runc --root), base/bundle, base/bundle/rootfs */
	char *runc;
	char root[128], bundle[128], rootfs[160];
	char cgparent[64]; /* drover-rttest-PID */
	char cgpath[96];   /* /drover-rttest-PID/c1 */
	char id_fg[64], id_bg[64];
	struct rt_runc rc;
};

static int make_rootfs(struct fixture *f)
{
	_cleanup_err_ struct err *e = NULL;
	_cleanup_free_ char *bb = NULL;
	_cleanup_close_ int bindir = -1;
	_cleanup_free_ char *bin = fs_path_join(f->rootfs, "bin");
	size_t len = 0;

	if (!bin || fs_mkdir_p(AT_FDCWD, bin, 0755) < 0)
		return -1;
	bindir = open(bin, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (bindir < 0 || fs_read_file(AT_FDCWD, BUSYBOX, BUSYBOX_MAX, &bb, &len, &e) < 0)
		return -1;
	if (fs_write_atomic(bindir, "busybox", bb, len, 0755, FS_NOSYNC, &e) < 0)
		return -1;
	for (size_t i = 0; i < ELEMENTSOF(applets); i++)
		if (symlinkat("busybox", bindir, applets[i]) < 0)
			return -1;
	return 0;
}

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));

	if (!f)
		return -1;
	*state = f;
	if (getuid() != 0 || access(BUSYBOX, X_OK) < 0 || proc_find_exe("runc", &f->runc) < 0 ||
	    access(CG_ROOT "/memory", F_OK) < 0)
		return 0; /* the tests skip */
	snprintf(f->base, sizeof(f->base), "/tmp/drover-rttest-XXXXXX");
	if (!mkdtemp(f->base)) {
		f->base[0] = '\0';
		return -1;
	}
	snprintf(f->root, sizeof(f->root), "%s/root", f->base);
	snprintf(f->bundle, sizeof(f->bundle), "%s/bundle", f->base);
	snprintf(f->rootfs, sizeof(f->rootfs), "%s/rootfs", f->bundle);
	snprintf(f->cgparent, sizeof(f->cgparent), "drover-rttest-%d", (int)getpid());
	snprintf(f->cgpath, sizeof(f->cgpath), "/%s/c1", f->cgparent);
	snprintf(f->id_fg, sizeof(f->id_fg), "drover-rttest-%d-fg", (int)getpid());
	snprintf(f->id_bg, sizeof(f->id_bg), "drover-rttest-%d-bg", (int)getpid());
	f->rc.runtime = f->runc;
	f->rc.runtime_root = f->root;
	if (mkdir(f->root, 0700) < 0 || mkdir(f->bundle, 0700) < 0 || make_rootfs(f) < 0)
		return -1;
	return 0;
}

/* rmdir CG_ROOT/<each hierarchy>/drover-rttest-PID/c1, then the parent. */
static void cgroups_remove(const struct fixture *f)
{
	_cleanup_closedir_ DIR *d = opendir(CG_ROOT);
	struct dirent *de;
	char p[PATH_MAX];

	if (!d)
		return;
	while ((de = readdir(d))) {
		if (de->d_name[0] == '.')
			continue;
		snprintf(p, sizeof(p), CG_ROOT "/%s%s", de->d_name, f->cgpath);
		(void)rmdir(p); /* absent in most hierarchies or already removed by runc */
		snprintf(p, sizeof(p), CG_ROOT "/%s/%s", de->d_name, f->cgparent);
		(void)rmdir(p);
	}
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	if (f->base[0]) {
		_cleanup_err_ struct err *e1 = NULL, *e2 = NULL;

		(void)rt_runc_delete(&f->rc, f->id_fg, &e1); /* best effort: may never have existed */
		(void)rt_runc_delete(&f->rc, f->id_bg, &e2);
		(void)fs_rm_rf(AT_FDCWD, f->base);
		cgroups_remove(f);
	}
	free(f->runc);
	free(f);
	return 0;
}

static void skip_unless_ready(const struct fixture *f)
{
	if (!f->base[0])
		skip(); /* needs root, runc, busybox and a cgroup v1 memory hierarchy */
}

static void write_bundle(const struct fixture *f, char *const *args)
{
	static char *const env[] = {"PATH=/bin", "HOME=/", NULL};
	const struct rt_bundle_spec s = {
	    .id = "rttest",
	    .rootfs = f->rootfs,
	    .args = args,
	    .env = env,
	    .cgroups_path = f->cgpath,
	    .cpu_quota_us = -1,
	    .memory_limit = 64 * 1024 * 1024,
	    .pids_limit = 64,
	    .net = RT_NET_NONE,
	};
	_cleanup_err_ struct err *e = NULL;

	if (rt_bundle_write(f->bundle, &s, &e) < 0)
		fail_msg("rt_bundle_write: %s", err_msg(e));
}

/* `runc run` in the foreground; returns the waitpid status. */
static int run_fg(const struct fixture *f, char *const *args)
{
	char *argv[] = {f->runc,    "--root",	       (char *)f->root,	 "run",
			"--bundle", (char *)f->bundle, (char *)f->id_fg, NULL};
	_cleanup_err_ struct err *e = NULL;
	_cleanup_free_ char *errtxt = NULL;
	int status = 0;

	write_bundle(f, args);
	if (proc_run(f->runc, argv, &status, &errtxt, &e) < 0)
		fail_msg("proc_run: %s", err_msg(e));
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 3)
		print_error("runc run stderr: %s\n", errtxt ? errtxt : "");
	return status;
}

static void test_run_exit_code(void **state)
{
	struct fixture *f = *state;
	char *const args[] = {"sh", "-c", "echo hi; exit 3", NULL};
	int status;

	skip_unless_ready(f);
	status = run_fg(f, args);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 3);
}

/* busybox tools under the seccomp profile and in the new network namespace (lo only). */
static void test_run_tools(void **state)
{
	struct fixture *f = *state;
	char *const args[] = {"sh", "-c",
			      "set -e; mkdir -p /www; echo drover-ok > /www/index.html; "
			      "dd if=/dev/zero of=/www/blob bs=1k count=16 2>/dev/null; "
			      "httpd -p 127.0.0.1:8080 -h /www; "
			      "for i in 1 2 3 4 5 6 7 8 9 10; do "
			      "  printf 'GET /index.html HTTP/1.0\\r\\n\\r\\n' | nc 127.0.0.1 8080 > /out "
			      "2>/dev/null && break; "
			      "  sleep 0.1; done; "
			      "grep -q drover-ok /out; exit 3",
			      NULL};
	int status;

	skip_unless_ready(f);
	status = run_fg(f, args);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 3);
}

/* The limits, caps, seccomp profile and network namespace from the bundle are in force. */
static void test_run_confined(void **state)
{
	struct fixture *f = *state;
	char script[2048];
	char *const args[] = {"sh", "-c", script, NULL};
	int status;

	skip_unless_ready(f);
	snprintf(script, sizeof(script),
		 "set -e; "
		 /* runc bind-mounts the container's own v1 cgroup at each hierarchy's root */
		 "grep -qx 67108864 /sys/fs/cgroup/memory/memory.limit_in_bytes; "
		 "grep -qx 64 /sys/fs/cgroup/pids/pids.max; "
		 /* a private cgroup namespace: its own cgroup is "/", the host's path is not shown */
		 "grep -q ':memory:/$' /proc/self/cgroup; "
		 "if grep -q '%s' /proc/self/cgroup; then exit 11; fi; "
		 "if mount -t tmpfs none /mnt 2>/dev/null; then exit 10; fi; "
		 "[ \"$(grep -c : /proc/net/dev)\" = 1 ]; "
		 "grep -q '^CapBnd:.*00000000a80425fb$' /proc/self/status; "
		 "grep -q '^NoNewPrivs:.*1$' /proc/self/status; "
		 "grep -q '^Seccomp:.*2$' /proc/self/status; "
		 "[ \"$(id -u)\" = 0 ]; exit 3",
		 f->cgpath);
	status = run_fg(f, args);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 3);
}

/* `runc run -d`: the container's stdio is /dev/null, so nothing keeps a pipe of ours open. */
static void start_detached(const struct fixture *f)
{
	char *const args[] = {"sleep", "100", NULL};
	char *argv[] = {f->runc,    "--root",	       (char *)f->root,	 "run", "-d",
			"--bundle", (char *)f->bundle, (char *)f->id_bg, NULL};
	_cleanup_err_ struct err *e = NULL;
	int status = 0;
	pid_t pid;

	write_bundle(f, args);
	if (proc_spawn(f->runc, argv, NULL, &pid, &e) < 0)
		fail_msg("proc_spawn: %s", err_msg(e));
	while (waitpid(pid, &status, 0) < 0)
		assert_int_equal(errno, EINTR);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
}

static void test_state_kill_delete(void **state)
{
	struct fixture *f = *state;
	_cleanup_close_ int pidfd = -1;
	char st[32];
	pid_t pid = 0;
	struct pollfd pfd;

	skip_unless_ready(f);
	start_detached(f);
	{
		_cleanup_err_ struct err *e = NULL;
		if (rt_runc_state(&f->rc, f->id_bg, st, sizeof(st), &pid, &e) < 0)
			fail_msg("state: %s", err_msg(e));
	}
	assert_string_equal(st, "running");
	assert_true(pid > 0);
	assert_true(proc_alive(pid));
	pidfd = proc_pidfd_open(pid);
	assert_true(pidfd >= 0);
	{
		_cleanup_err_ struct err *e = NULL;
		if (rt_runc_kill(&f->rc, f->id_bg, SIGKILL, false, &e) < 0)
			fail_msg("kill: %s", err_msg(e));
	}
	pfd = (struct pollfd){.fd = pidfd, .events = POLLIN};
	assert_int_equal(poll(&pfd, 1, 3000), 1); /* the pidfd turns readable when init exits */
	{
		_cleanup_err_ struct err *e = NULL;
		assert_int_equal(rt_runc_state(&f->rc, f->id_bg, st, sizeof(st), &pid, &e), 0);
		assert_string_equal(st, "stopped");
	}
	{
		_cleanup_err_ struct err *e = NULL;
		assert_int_equal(rt_runc_kill(&f->rc, f->id_bg, SIGTERM, false, &e), -ESRCH);
		print_message("# kill stopped: %s\n", err_msg(e));
	}
	{
		_cleanup_err_ struct err *e = NULL;
		if (rt_runc_delete(&f->rc, f->id_bg, &e) < 0)
			fail_msg("delete: %s", err_msg(e));
	}
	{
		_cleanup_err_ struct err *e = NULL;
		pid = 1;
		assert_int_equal(rt_runc_state(&f->rc, f->id_bg, st, sizeof(st), &pid, &e), 0);
		assert_string_equal(st, "");
		assert_int_equal(pid, 0);
		assert_null(e);
	}
}

static void test_unknown_container(void **state)
{
	struct fixture *f = *state;
	char st[32] = "x";
	pid_t pid = 1;

	skip_unless_ready(f);
	{
		_cleanup_err_ struct err *e = NULL;
		assert_int_equal(rt_runc_delete(&f->rc, "drover-rttest-nosuch", &e), 0);
	}
	{
		_cleanup_err_ struct err *e = NULL;
		assert_int_equal(rt_runc_state(&f->rc, "drover-rttest-nosuch", st, sizeof(st), &pid, &e), 0);
		assert_string_equal(st, "");
	}
	{
		_cleanup_err_ struct err *e = NULL;
		assert_int_equal(rt_runc_kill(&f->rc, "drover-rttest-nosuch", SIGKILL, true, &e), -ENOENT);
		assert_string_equal(err_msg(e),
				    "runc kill 'drover-rttest-nosuch': exit 1: container does not exist");
	}
	{
		_cleanup_err_ struct err *e = NULL;
		assert_int_equal(rt_runc_kill(&f->rc, "x", 0, false, &e), -EINVAL);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_run_exit_code),     cmocka_unit_test(test_run_tools),
	    cmocka_unit_test(test_run_confined),      cmocka_unit_test(test_state_kill_delete),
	    cmocka_unit_test(test_unknown_container),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
