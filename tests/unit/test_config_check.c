/* Flags checked at start: every bad value is refused with the flag named, good ones pass; and
 * the lock files that keep one agent per state dir, run dir and nftables table. */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "agent/agent.h"
#include "agent/config.h"
#include "common/fs.h"

static struct agent_config good(void)
{
	return (struct agent_config){
	    .assignments_dir = "/etc/drover/assignments.d",
	    .state_dir = "/var/lib/drover",
	    .run_dir = "/run/drover",
	    .cgroup_mount = "/sys/fs/cgroup",
	    .bridge = "drover0",
	    .subnet = "10.77.0.0/24",
	    .nft_table = "drover",
	    .runtime = "runc",
	    .pull_parallel = 3,
	    .image_gc_high = 85,
	    .image_gc_low = 80,
	    .log_max_bytes = 10 << 20,
	};
}

static void expect_refused(const struct agent_config *c, const char *field, const char *needle)
{
	struct err *e = NULL;

	if (config_check(c, &e) >= 0)
		fail_msg("accepted a config with a bad '%s'", field);
	assert_non_null(e);
	if (strcmp(e->field ? e->field : "", field) != 0)
		fail_msg("field '%s', expected '%s' (%s)", e->field, field, err_msg(e));
	if (!strstr(err_msg(e), needle))
		fail_msg("message '%s' lacks '%s'", err_msg(e), needle);
	err_free(&e);
}

static void test_good(void **state)
{
	struct agent_config c = good();
	struct err *e = NULL;

	(void)state;
	assert_int_equal(config_check(&c, &e), 0);
	c.cgroup_root = "/drover/a.b-c";
	c.batch_cgroup = "/drover-batch";
	c.subnet = "10.0.0.0/8";
	c.no_assignments_dir = true;
	c.image_gc_high = c.image_gc_low = 0; /* collect at every pull (the tests do) */
	c.assignments_dir = "relative-but-unused";
	assert_int_equal(config_check(&c, &e), 0);
	assert_null(e);
}

static void test_bad(void **state)
{
	static char long_dir[] = "/run/"
				 "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
				 "aaaaaaaaaaaaaaaaaaaaaaaa";
	struct agent_config c;

	(void)state;
#define BAD(field, expr, needle)                                                                             \
	do {                                                                                                 \
		c = good();                                                                                  \
		expr;                                                                                        \
		expect_refused(&c, field, needle);                                                           \
	} while (0)
	BAD("subnet", c.subnet = "10.77.0.0/33", "--subnet '10.77.0.0/33'");
	BAD("subnet", c.subnet = "10.77.0.1/24", "host bits zero");
	BAD("subnet", c.subnet = "10.77.0.0", "not an IPv4 subnet");
	BAD("bridge", c.bridge = "0123456789abcdef", "--bridge");
	BAD("bridge", c.bridge = "br 0", "not an interface name");
	BAD("bridge", c.bridge = "dv0", "not starting with 'dv'");
	BAD("nft-table", c.nft_table = "a-b", "--nft-table 'a-b'");
	BAD("cgroup-root", c.cgroup_root = "drover", "--cgroup-root");
	BAD("cgroup-root", c.cgroup_root = "/", "--cgroup-root");
	BAD("cgroup-root", c.cgroup_root = "/a//b", "--cgroup-root");
	BAD("cgroup-root", c.cgroup_root = "/a/../b", "--cgroup-root");
	BAD("cgroup-root", c.cgroup_root = "/a/./b", "--cgroup-root");
	BAD("batch-cgroup", c.batch_cgroup = "drover-batch", "--batch-cgroup");
	BAD("batch-cgroup", c.batch_cgroup = "/a/../b", "--batch-cgroup");
	BAD("state-dir", c.state_dir = "var/lib/drover", "--state-dir must be an absolute path");
	BAD("run-dir", c.run_dir = "/run/../etc", "must not contain '..'");
	BAD("run-dir", c.run_dir = long_dir, "too long for a socket path");
	BAD("assignments-dir", c.assignments_dir = "", "--assignments-dir");
	BAD("runtime", c.runtime = "", "--runtime");
	BAD("node-name", c.node_name = "", "--node-name");
	BAD("pull-parallel", c.pull_parallel = 0, "1 to 64");
	BAD("pull-parallel", c.pull_parallel = 65, "1 to 64");
	BAD("image-gc-high", c.image_gc_high = 101, "percentage");
	BAD("image-gc-low", c.image_gc_low = 86, "not be above --image-gc-high");
	BAD("container-log-max", c.log_max_bytes = 100, "at least 4Ki");
#undef BAD
}

static void test_locks(void **state)
{
	char dir[] = "/tmp/drover-test-locks.XXXXXX", want[64];
	struct err *e = NULL;
	int fd, r;

	(void)state;
	assert_non_null(mkdtemp(dir));
	fd = agent_lock_file(dir, "t.lock", "run dir", "/x", &e);
	assert_true(fd >= 0);
	/* another open file description of the same file conflicts, as another process would */
	r = agent_lock_file(dir, "t.lock", "run dir", "/x", &e);
	assert_int_equal(r, -EBUSY);
	snprintf(want, sizeof(want), "(pid %ld;", (long)getpid());
	if (!strstr(err_msg(e), "another droverd is running with run dir '/x'") || !strstr(err_msg(e), want))
		fail_msg("message: %s", err_msg(e));
	err_free(&e);
	close(fd); /* released: the next agent gets it */
	fd = agent_lock_file(dir, "t.lock", "run dir", "/x", &e);
	assert_true(fd >= 0);
	close(fd);
	/* a lock dir that does not exist yet is made */
	char sub[sizeof(dir) + 8];
	snprintf(sub, sizeof(sub), "%s/a/b", dir);
	fd = agent_lock_file(sub, "t.lock", "nftables table", "t", &e);
	assert_true(fd >= 0);
	close(fd);
	assert_int_equal(fs_rm_rf(AT_FDCWD, dir), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_good),
	    cmocka_unit_test(test_bad),
	    cmocka_unit_test(test_locks),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
