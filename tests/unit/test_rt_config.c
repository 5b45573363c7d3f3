/* config.json generation: namespaces per network mode, resources, process fields, seccomp, caps. */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>
#include <jansson.h>
#include <seccomp.h>

#include "common/cleanup.h"
#include "common/err.h"
#include "common/fs.h"
#include "runtime/rt.h"

static char *const test_args[] = {"sh", "-c", "echo 'a  b' \"$X\"; exit 3", "", "two words", NULL};
static char *const test_env[] = {"PATH=/bin:/usr/bin", "X=1 2", "EMPTY=", NULL};
static const gid_t test_gids[] = {10, 20, 4242};

static struct rt_bundle_spec base_spec(void)
{
	struct rt_bundle_spec s = {
	    .id = "web-0",
	    .rootfs = "/run/drover/c/web-0/rootfs",
	    .args = test_args,
	    .env = test_env,
	    .uid = 1000,
	    .gid = 1001,
	    .cpu_quota_us = -1,
	    .memory_limit = -1,
	    .pids_limit = -1,
	    .net = RT_NET_HOST,
	};
	return s;
}

static json_t *build_ok(const struct rt_bundle_spec *s)
{
	_cleanup_err_ struct err *e = NULL;
	json_t *cfg = NULL;
	int r = rt_config_build(s, &cfg, &e);

	if (r < 0)
		fail_msg("rt_config_build: %s", err_msg(e));
	assert_non_null(cfg);
	return cfg;
}

static bool strarr_has(json_t *arr, const char *s)
{
	size_t i;
	json_t *v;

	json_array_foreach (arr, i, v)
		if (json_is_string(v) && strcmp(json_string_value(v), s) == 0)
			return true;
	return false;
}

static json_t *ns_of(json_t *cfg)
{
	json_t *ns = json_object_get(json_object_get(cfg, "linux"), "namespaces");

	assert_true(json_is_array(ns));
	return ns;
}

static json_t *find_ns(json_t *ns, const char *type)
{
	size_t i;
	json_t *v;

	json_array_foreach (ns, i, v)
		if (strcmp(json_string_value(json_object_get(v, "type")), type) == 0)
			return v;
	return NULL;
}

static void test_net_host(void **state)
{
	(void)state;
	struct rt_bundle_spec s = base_spec();
	_cleanup_(json_decrefp) json_t *cfg = build_ok(&s);
	json_t *ns = ns_of(cfg);

	assert_int_equal(json_array_size(ns), 5);
	assert_non_null(find_ns(ns, "pid"));
	assert_non_null(find_ns(ns, "ipc"));
	assert_non_null(find_ns(ns, "uts"));
	assert_non_null(find_ns(ns, "mount"));
	assert_null(find_ns(ns, "network"));
	assert_null(find_ns(ns, "user"));
	/* a private cgroup namespace: the container never sees the host's cgroup tree */
	assert_non_null(find_ns(ns, "cgroup"));
	assert_null(json_object_get(find_ns(ns, "cgroup"), "path"));
}

static void test_net_none(void **state)
{
	(void)state;
	struct rt_bundle_spec s = base_spec();
	s.net = RT_NET_NONE;
	_cleanup_(json_decrefp) json_t *cfg = build_ok(&s);
	json_t *net = find_ns(ns_of(cfg), "network");

	assert_int_equal(json_array_size(ns_of(cfg)), 6);
	assert_non_null(find_ns(ns_of(cfg), "cgroup"));
	assert_non_null(net);
	assert_int_equal(json_object_size(net), 1);
	assert_null(json_object_get(net, "path"));
}

static void test_net_path(void **state)
{
	(void)state;
	struct rt_bundle_spec s = base_spec();
	s.net = RT_NET_PATH;
	s.netns_path = "/run/netns/drover-web-0";
	_cleanup_(json_decrefp) json_t *cfg = build_ok(&s);
	json_t *net = find_ns(ns_of(cfg), "network");

	assert_non_null(net);
	assert_string_equal(json_string_value(json_object_get(net, "path")), "/run/netns/drover-web-0");
}

static void test_invalid_specs(void **state)
{
	(void)state;
	char *const empty_args[] = {NULL};
	struct rt_bundle_spec s;
	json_t *cfg = NULL;

	s = base_spec();
	s.net = RT_NET_PATH;
	{
		_cleanup_err_ struct err *e = NULL;
		assert_int_equal(rt_config_build(&s, &cfg, &e), -EINVAL);
		assert_string_equal(e->field, "netns_path");
	}
	s = base_spec();
	s.rootfs = "relative/rootfs";
	{
		_cleanup_err_ struct err *e = NULL;
		assert_int_equal(rt_config_build(&s, &cfg, &e), -EINVAL);
		assert_string_equal(e->field, "rootfs");
		assert_non_null(strstr(e->msg, "web-0"));
	}
	s = base_spec();
	s.args = empty_args;
	{
		_cleanup_err_ struct err *e = NULL;
		assert_int_equal(rt_config_build(&s, &cfg, &e), -EINVAL);
		assert_string_equal(e->field, "args");
	}
	s = base_spec();
	s.net = (enum rt_net_mode)42;
	{
		_cleanup_err_ struct err *e = NULL;
		assert_int_equal(rt_config_build(&s, &cfg, &e), -EINVAL);
	}
	assert_null(cfg);
}

static void test_resources_unset(void **state)
{
	(void)state;
	struct rt_bundle_spec s = base_spec();
	_cleanup_(json_decrefp) json_t *cfg = build_ok(&s);
	json_t *lx = json_object_get(cfg, "linux");
	json_t *res = json_object_get(lx, "resources");
	json_t *dev0 = json_array_get(json_object_get(res, "devices"), 0);

	assert_null(json_object_get(res, "cpu"));
	assert_null(json_object_get(res, "memory"));
	assert_null(json_object_get(res, "pids"));
	assert_true(json_is_false(json_object_get(dev0, "allow")));
	assert_string_equal(json_string_value(json_object_get(dev0, "access")), "rwm");
	assert_null(json_object_get(lx, "cgroupsPath"));
}

static void test_resources_set(void **state)
{
	(void)state;
	struct rt_bundle_spec s = base_spec();
	s.cpu_quota_us = 50000;
	s.cpu_shares = 512;
	s.memory_limit = 64 * 1024 * 1024;
	s.pids_limit = 64;
	s.cgroups_path = "/drover/web-0";
	_cleanup_(json_decrefp) json_t *cfg = build_ok(&s);
	json_t *lx = json_object_get(cfg, "linux");
	json_t *res = json_object_get(lx, "resources");
	json_t *cpu = json_object_get(res, "cpu");
	json_t *mem = json_object_get(res, "memory");

	assert_int_equal(json_integer_value(json_object_get(cpu, "quota")), 50000);
	assert_int_equal(json_integer_value(json_object_get(cpu, "period")), 100000);
	assert_int_equal(json_integer_value(json_object_get(cpu, "shares")), 512);
	assert_int_equal(json_integer_value(json_object_get(mem, "limit")), 64 * 1024 * 1024);
	assert_null(json_object_get(mem, "swap"));
	assert_int_equal(json_integer_value(json_object_get(json_object_get(res, "pids"), "limit")), 64);
	assert_string_equal(json_string_value(json_object_get(lx, "cgroupsPath")), "/drover/web-0");
}

static void test_cpu_partial(void **state)
{
	(void)state;
	struct rt_bundle_spec s = base_spec();
	s.cpu_quota_us = 20000;
	s.cpu_period_us = 50000;
	_cleanup_(json_decrefp) json_t *cfg = build_ok(&s);
	json_t *cpu = json_object_get(json_object_get(json_object_get(cfg, "linux"), "resources"), "cpu");

	assert_int_equal(json_object_size(cpu), 2);
	assert_int_equal(json_integer_value(json_object_get(cpu, "period")), 50000);

	json_t *cfg2 = NULL;
	s = base_spec();
	s.cpu_shares = 2;
	cfg2 = build_ok(&s);
	cpu = json_object_get(json_object_get(json_object_get(cfg2, "linux"), "resources"), "cpu");
	assert_int_equal(json_object_size(cpu), 1);
	assert_int_equal(json_integer_value(json_object_get(cpu, "shares")), 2);
	json_decref(cfg2);
}

static void test_process(void **state)
{
	(void)state;
	struct rt_bundle_spec s = base_spec();
	s.extra_gids = test_gids;
	s.n_extra_gids = ELEMENTSOF(test_gids);
	s.oom_score_adj = 500;
	_cleanup_(json_decrefp) json_t *cfg = build_ok(&s);
	json_t *p = json_object_get(cfg, "process");
	json_t *args = json_object_get(p, "args"), *env = json_object_get(p, "env");
	json_t *user = json_object_get(p, "user");
	json_t *gids = json_object_get(user, "additionalGids");

	assert_string_equal(json_string_value(json_object_get(cfg, "ociVersion")), "1.0.2");
	assert_true(json_is_false(json_object_get(p, "terminal")));
	assert_int_equal(json_array_size(args), 5);
	for (size_t i = 0; test_args[i]; i++)
		assert_string_equal(json_string_value(json_array_get(args, i)), test_args[i]);
	assert_int_equal(json_array_size(env), 3);
	for (size_t i = 0; test_env[i]; i++)
		assert_string_equal(json_string_value(json_array_get(env, i)), test_env[i]);
	assert_int_equal(json_integer_value(json_object_get(user, "uid")), 1000);
	assert_int_equal(json_integer_value(json_object_get(user, "gid")), 1001);
	assert_int_equal(json_array_size(gids), 3);
	assert_int_equal(json_integer_value(json_array_get(gids, 2)), 4242);
	assert_string_equal(json_string_value(json_object_get(p, "cwd")), "/");
	assert_true(json_is_true(json_object_get(p, "noNewPrivileges")));
	assert_int_equal(json_integer_value(json_object_get(p, "oomScoreAdj")), 500);
}

static void test_process_cwd_rlimits(void **state)
{
	(void)state;
	struct rt_bundle_spec s = base_spec();
	struct rlimit rl;
	json_int_t want = 1048576;

	s.cwd = "/srv/app";
	_cleanup_(json_decrefp) json_t *cfg = build_ok(&s);
	json_t *p = json_object_get(cfg, "process");
	json_t *rlim = json_array_get(json_object_get(p, "rlimits"), 0);

	assert_string_equal(json_string_value(json_object_get(p, "cwd")), "/srv/app");
	assert_int_equal(getrlimit(RLIMIT_NOFILE, &rl), 0);
	if (rl.rlim_max != RLIM_INFINITY && (json_int_t)rl.rlim_max < want)
		want = (json_int_t)rl.rlim_max;
	assert_string_equal(json_string_value(json_object_get(rlim, "type")), "RLIMIT_NOFILE");
	assert_int_equal(json_integer_value(json_object_get(rlim, "hard")), want);
	assert_int_equal(json_integer_value(json_object_get(rlim, "soft")), want);
	/* no extra gids: an empty array, not a missing key */
	assert_true(json_is_array(json_object_get(json_object_get(p, "user"), "additionalGids")));
	assert_int_equal(json_array_size(json_object_get(json_object_get(p, "user"), "additionalGids")), 0);
}

static void test_root_hostname(void **state)
{
	(void)state;
	struct rt_bundle_spec s = base_spec();
	_cleanup_(json_decrefp) json_t *cfg = build_ok(&s);
	json_t *root = json_object_get(cfg, "root");

	assert_string_equal(json_string_value(json_object_get(root, "path")), "/run/drover/c/web-0/rootfs");
	assert_true(json_is_false(json_object_get(root, "readonly")));
	assert_string_equal(json_string_value(json_object_get(cfg, "hostname")), "web-0");

	s.hostname = "box";
	json_t *cfg2 = build_ok(&s);
	assert_string_equal(json_string_value(json_object_get(cfg2, "hostname")), "box");
	json_decref(cfg2);
}

static void test_mounts_paths(void **state)
{
	(void)state;
	static const char *const dests[] = {"/proc",	   "/dev", "/dev/pts",	    "/dev/shm",
					    "/dev/mqueue", "/sys", "/sys/fs/cgroup"};
	static const char *const masked[] = {
	    "/proc/acpi",	   "/proc/asound",     "/proc/kcore",	    "/proc/keys",
	    "/proc/latency_stats", "/proc/timer_list", "/proc/timer_stats", "/proc/sched_debug",
	    "/sys/firmware",	   "/proc/scsi",       "/proc/interrupts",  "/sys/devices/virtual/powercap",
	};
	struct rt_bundle_spec s = base_spec();
	_cleanup_(json_decrefp) json_t *cfg = build_ok(&s);
	json_t *mounts = json_object_get(cfg, "mounts");
	json_t *lx = json_object_get(cfg, "linux");
	json_t *pts = json_array_get(mounts, 2), *cg = json_array_get(mounts, 6);

	assert_int_equal(json_array_size(mounts), ELEMENTSOF(dests));
	for (size_t i = 0; i < ELEMENTSOF(dests); i++)
		assert_string_equal(
		    json_string_value(json_object_get(json_array_get(mounts, i), "destination")), dests[i]);
	json_t *proc = json_array_get(mounts, 0);
	assert_string_equal(json_string_value(json_object_get(proc, "type")), "proc");
	assert_int_equal(json_array_size(json_object_get(proc, "options")), 3);
	assert_true(strarr_has(json_object_get(proc, "options"), "nosuid"));
	assert_true(strarr_has(json_object_get(proc, "options"), "noexec"));
	assert_true(strarr_has(json_object_get(proc, "options"), "nodev"));
	assert_string_equal(json_string_value(json_object_get(pts, "type")), "devpts");
	assert_true(strarr_has(json_object_get(pts, "options"), "ptmxmode=0666"));
	assert_true(strarr_has(json_object_get(pts, "options"), "gid=5"));
	assert_string_equal(json_string_value(json_object_get(cg, "type")), "cgroup");
	assert_true(strarr_has(json_object_get(cg, "options"), "ro"));
	assert_true(strarr_has(json_object_get(json_array_get(mounts, 3), "options"), "mode=1777"));
	assert_int_equal(json_array_size(json_object_get(lx, "maskedPaths")), 12);
	for (size_t i = 0; i < ELEMENTSOF(masked); i++)
		if (!strarr_has(json_object_get(lx, "maskedPaths"), masked[i]))
			fail_msg("'%s' is not masked", masked[i]);
	assert_int_equal(json_array_size(json_object_get(lx, "readonlyPaths")), 5);
	assert_true(strarr_has(json_object_get(lx, "readonlyPaths"), "/proc/sysrq-trigger"));
}

/* notify readiness: the shim's socket dir mounted read-only, NOTIFY_SOCKET set (replacing one the
 * image or spec had); without notify_dir neither. */
static void test_notify(void **state)
{
	(void)state;
	static char *const env[] = {"PATH=/bin", "NOTIFY_SOCKET=/elsewhere", "A=1", NULL};
	struct rt_bundle_spec s = base_spec();
	s.env = env;
	s.notify_dir = "/var/lib/drover/bundles/x/notify";
	_cleanup_(json_decrefp) json_t *cfg = build_ok(&s);
	json_t *mounts = json_object_get(cfg, "mounts");
	json_t *m = json_array_get(mounts, json_array_size(mounts) - 1);
	json_t *penv = json_object_get(json_object_get(cfg, "process"), "env");

	assert_string_equal(json_string_value(json_object_get(m, "destination")), "/run/drover");
	assert_string_equal(json_string_value(json_object_get(m, "source")), s.notify_dir);
	assert_string_equal(json_string_value(json_object_get(m, "type")), "bind");
	assert_true(strarr_has(json_object_get(m, "options"), "ro"));
	assert_true(strarr_has(json_object_get(m, "options"), "nosuid"));
	assert_true(strarr_has(json_object_get(m, "options"), "noexec"));
	assert_int_equal(json_array_size(penv), 3);
	assert_true(strarr_has(penv, "NOTIFY_SOCKET=/run/drover/notify.sock"));
	assert_false(strarr_has(penv, "NOTIFY_SOCKET=/elsewhere"));
	assert_true(strarr_has(penv, "A=1"));

	s.notify_dir = NULL;
	_cleanup_(json_decrefp) json_t *plain = build_ok(&s);
	assert_int_equal(json_array_size(json_object_get(plain, "mounts")), 7);
	assert_true(strarr_has(json_object_get(json_object_get(plain, "process"), "env"),
			       "NOTIFY_SOCKET=/elsewhere"));
}

static void test_caps(void **state)
{
	(void)state;
	_cleanup_err_ struct err *e = NULL;
	_cleanup_(json_decrefp) json_t *caps = NULL;
	struct rt_bundle_spec s = base_spec();

	assert_int_equal(rt_caps_default(&caps, &e), 0);
	assert_int_equal(json_array_size(caps), 14);
	assert_true(strarr_has(caps, "CAP_CHOWN"));
	assert_true(strarr_has(caps, "CAP_NET_BIND_SERVICE"));
	assert_true(strarr_has(caps, "CAP_AUDIT_WRITE"));
	assert_false(strarr_has(caps, "CAP_SYS_ADMIN"));
	assert_false(strarr_has(caps, "CAP_NET_ADMIN"));

	json_t *cfg = build_ok(&s);
	json_t *c = json_object_get(json_object_get(cfg, "process"), "capabilities");
	assert_true(json_equal(json_object_get(c, "bounding"), caps));
	assert_true(json_equal(json_object_get(c, "effective"), caps));
	assert_true(json_equal(json_object_get(c, "permitted"), caps));
	assert_int_equal(json_array_size(json_object_get(c, "inheritable")), 0);
	assert_int_equal(json_array_size(json_object_get(c, "ambient")), 0);
	assert_true(json_is_array(json_object_get(c, "ambient")));
	json_decref(cfg);
}

/* true when some rule allows name unconditionally */
static bool seccomp_allows(json_t *prof, const char *name)
{
	size_t i;
	json_t *rule;

	json_array_foreach (json_object_get(prof, "syscalls"), i, rule) {
		if (strcmp(json_string_value(json_object_get(rule, "action")), "SCMP_ACT_ALLOW") != 0)
			continue;
		if (json_object_get(rule, "args"))
			continue;
		if (strarr_has(json_object_get(rule, "names"), name))
			return true;
	}
	return false;
}

static void test_seccomp(void **state)
{
	(void)state;
	static const char *const denied[] = {
	    "mount",
	    "umount2",
	    "kexec_load",
	    "reboot",
	    "init_module",
	    "finit_module",
	    "delete_module",
	    "swapon",
	    "swapoff",
	    "pivot_root",
	    "bpf",
	    "perf_event_open",
	    "keyctl",
	    "add_key",
	    "request_key",
	    "ptrace",
	    "process_vm_readv",
	    "process_vm_writev",
	    "userfaultfd",
	    "open_by_handle_at",
	    "name_to_handle_at",
	    "acct",
	    "settimeofday",
	    "clock_settime",
	    "iopl",
	    "ioperm",
	    "quotactl",
	    "setns",
	    "unshare",
	    "lookup_dcookie",
	    "kcmp",
	    "create_module",
	    "get_kernel_syms",
	    "query_module",
	    "uselib",
	    "nfsservctl",
	    "vhangup",
	    "sysfs",
	    "_sysctl",
	    "ustat",
	    "personality",
	    "clone3",
	};
	_cleanup_err_ struct err *e = NULL;
	_cleanup_(json_decrefp) json_t *prof = NULL;
	size_t i;
	json_t *rule;

	assert_int_equal(rt_seccomp_default(&prof, &e), 0);
	assert_string_equal(json_string_value(json_object_get(prof, "defaultAction")), "SCMP_ACT_ERRNO");
	assert_int_equal(json_integer_value(json_object_get(prof, "defaultErrnoRet")), EPERM);
	if (seccomp_arch_native() == SCMP_ARCH_X86_64) {
		json_t *a = json_object_get(prof, "architectures");
		assert_int_equal(json_array_size(a), 3);
		assert_true(strarr_has(a, "SCMP_ARCH_X86_64"));
		assert_true(strarr_has(a, "SCMP_ARCH_X86"));
		assert_true(strarr_has(a, "SCMP_ARCH_X32"));
	}
	assert_true(seccomp_allows(prof, "read"));
	assert_true(seccomp_allows(prof, "write"));
	assert_true(seccomp_allows(prof, "exit_group"));
	assert_true(seccomp_allows(prof, "execve"));
	/* clone and socket only through their argument filters (test_seccomp_arg_filters) */
	assert_false(seccomp_allows(prof, "socket"));
	assert_false(seccomp_allows(prof, "clone"));
	for (i = 0; i < ELEMENTSOF(denied); i++)
		if (seccomp_allows(prof, denied[i]))
			fail_msg("seccomp allows '%s'", denied[i]);
	/* every name resolves on this architecture */
	json_array_foreach (json_object_get(prof, "syscalls"), i, rule) {
		size_t j;
		json_t *n;
		json_array_foreach (json_object_get(rule, "names"), j, n)
			assert_true(seccomp_syscall_resolve_name(json_string_value(n)) >= 0);
	}
	if (seccomp_arch_native() == SCMP_ARCH_X86_64) {
		assert_false(seccomp_allows(prof, "socketcall")); /* i386-only name: dropped */
		assert_true(seccomp_allows(prof, "arch_prctl"));
	}
}

/* The one rule for name that has an argument filter; fails the test when there is not exactly one. */
static json_t *filtered_rule(json_t *prof, const char *name)
{
	json_t *found = NULL, *rule;
	size_t i;

	json_array_foreach (json_object_get(prof, "syscalls"), i, rule) {
		if (!strarr_has(json_object_get(rule, "names"), name) || !json_object_get(rule, "args"))
			continue;
		if (found)
			fail_msg("two filtered rules for '%s'", name);
		found = rule;
	}
	if (!found)
		fail_msg("no filtered rule for '%s'", name);
	assert_string_equal(json_string_value(json_object_get(found, "action")), "SCMP_ACT_ALLOW");
	assert_int_equal(json_array_size(json_object_get(found, "args")), 1);
	return json_array_get(json_object_get(found, "args"), 0);
}

/* clone as Docker filters it, socket without AF_VSOCK, clone3 ENOSYS so libc falls back to clone. */
static void test_seccomp_arg_filters(void **state)
{
	(void)state;
	_cleanup_err_ struct err *e = NULL;
	_cleanup_(json_decrefp) json_t *prof = NULL;
	uint32_t native = seccomp_arch_native();
	json_t *arg, *rule;
	bool clone3_enosys = false;
	size_t i;

	assert_int_equal(rt_seccomp_default(&prof, &e), 0);
	arg = filtered_rule(prof, "clone");
	assert_string_equal(json_string_value(json_object_get(arg, "op")), "SCMP_CMP_MASKED_EQ");
	assert_int_equal(json_integer_value(json_object_get(arg, "value")), 0x7E020000);
	assert_int_equal(json_integer_value(json_object_get(arg, "value")), 2114060288);
	assert_int_equal(json_integer_value(json_object_get(arg, "valueTwo")), 0);
	assert_int_equal(json_integer_value(json_object_get(arg, "index")),
			 native == SCMP_ARCH_S390X || native == SCMP_ARCH_S390 ? 1 : 0);
	arg = filtered_rule(prof, "socket");
	assert_string_equal(json_string_value(json_object_get(arg, "op")), "SCMP_CMP_NE");
	assert_int_equal(json_integer_value(json_object_get(arg, "index")), 0);
	assert_int_equal(json_integer_value(json_object_get(arg, "value")), 40); /* AF_VSOCK */
	json_array_foreach (json_object_get(prof, "syscalls"), i, rule) {
		const char *action = json_string_value(json_object_get(rule, "action"));

		if (!strarr_has(json_object_get(rule, "names"), "clone3"))
			continue;
		assert_string_equal(action, "SCMP_ACT_ERRNO");
		assert_int_equal(json_integer_value(json_object_get(rule, "errnoRet")), ENOSYS);
		clone3_enosys = true;
	}
	assert_true(clone3_enosys);
	/* nothing at all allows the namespace calls, filtered or not */
	json_array_foreach (json_object_get(prof, "syscalls"), i, rule) {
		if (strcmp(json_string_value(json_object_get(rule, "action")), "SCMP_ACT_ALLOW") != 0)
			continue;
		assert_false(strarr_has(json_object_get(rule, "names"), "unshare"));
		assert_false(strarr_has(json_object_get(rule, "names"), "setns"));
		assert_false(strarr_has(json_object_get(rule, "names"), "mount"));
		assert_false(strarr_has(json_object_get(rule, "names"), "bpf"));
		assert_false(strarr_has(json_object_get(rule, "names"), "keyctl"));
		assert_false(strarr_has(json_object_get(rule, "names"), "kexec_file_load"));
		assert_false(strarr_has(json_object_get(rule, "names"), "ptrace"));
	}
}

/* The working directory is normalised into config.json; /proc, /sys, /dev and ".." are refused. */
static void test_cwd(void **state)
{
	(void)state;
	static const char *const refused[] = {
	    "/proc/self/fd/7", "/proc", "/sys/fs", "/dev/", "//dev//shm",
	    "/a/../b",	       "/..",	"rel",	   "",	    "/./proc/1/cwd"};
	struct rt_bundle_spec s = base_spec();
	json_t *cfg = NULL;

	s.cwd = "//srv/./app//";
	cfg = build_ok(&s);
	assert_string_equal(json_string_value(json_object_get(json_object_get(cfg, "process"), "cwd")),
			    "/srv/app");
	json_decref(cfg);
	cfg = NULL;
	for (size_t i = 0; i < ELEMENTSOF(refused); i++) {
		_cleanup_err_ struct err *e = NULL;

		s.cwd = refused[i];
		if (rt_config_build(&s, &cfg, &e) >= 0)
			fail_msg("cwd '%s' was accepted", refused[i]);
		assert_string_equal(e->field, "cwd");
		assert_null(cfg);
	}
}

static void test_config_has_seccomp(void **state)
{
	(void)state;
	struct rt_bundle_spec s = base_spec();
	_cleanup_(json_decrefp) json_t *cfg = build_ok(&s);
	_cleanup_(json_decrefp) json_t *prof = NULL;
	_cleanup_err_ struct err *e = NULL;

	assert_int_equal(rt_seccomp_default(&prof, &e), 0);
	assert_true(json_equal(json_object_get(json_object_get(cfg, "linux"), "seccomp"), prof));
}

static void test_bundle_write(void **state)
{
	(void)state;
	char dir[] = "/tmp/drover-test-rt-bundle-XXXXXX";
	struct rt_bundle_spec s = base_spec();
	_cleanup_err_ struct err *e = NULL;
	_cleanup_free_ char *path = NULL;
	json_error_t jerr;
	struct stat st;
	int r;

	assert_non_null(mkdtemp(dir));
	r = rt_bundle_write(dir, &s, &e);
	path = fs_path_join(dir, "config.json");
	json_t *back = json_load_file(path, JSON_REJECT_DUPLICATES, &jerr);
	int st_r = stat(path, &st);
	json_t *want = build_ok(&s);
	(void)fs_rm_rf(AT_FDCWD, dir); /* clean first so a failing assert leaves nothing */
	if (r < 0)
		fail_msg("rt_bundle_write: %s", err_msg(e));
	assert_non_null(back);
	assert_int_equal(st_r, 0);
	assert_int_equal(st.st_mode & 07777, 0600);
	assert_true(json_equal(back, want));
	json_decref(back);
	json_decref(want);

	assert_int_equal(rt_bundle_write("/nonexistent/drover-bundle", &s, &e), -ENOENT);
	assert_non_null(strstr(e->msg, "/nonexistent/drover-bundle"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_net_host),
	    cmocka_unit_test(test_net_none),
	    cmocka_unit_test(test_net_path),
	    cmocka_unit_test(test_invalid_specs),
	    cmocka_unit_test(test_resources_unset),
	    cmocka_unit_test(test_resources_set),
	    cmocka_unit_test(test_cpu_partial),
	    cmocka_unit_test(test_process),
	    cmocka_unit_test(test_process_cwd_rlimits),
	    cmocka_unit_test(test_root_hostname),
	    cmocka_unit_test(test_mounts_paths),
	    cmocka_unit_test(test_notify),
	    cmocka_unit_test(test_caps),
	    cmocka_unit_test(test_seccomp),
	    cmocka_unit_test(test_seccomp_arg_filters),
	    cmocka_unit_test(test_cwd),
	    cmocka_unit_test(test_config_has_seccomp),
	    cmocka_unit_test(test_bundle_write),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
