/* cgroups/cg-root.c: which line of /proc/self/cgroup names the agent's cgroup, and the root chosen
 * when one is given or none is delegated (no cgroupfs touched). */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "cgroups/cg.h"
#include "common/cleanup.h"

static void self_path(const char *text, enum cg_version ver, int want_r, const char *want)
{
	_cleanup_free_ char *copy = strdup(text), *path = NULL;

	assert_non_null(copy);
	assert_int_equal(cg_self_path(copy, ver, &path), want_r);
	if (want)
		assert_string_equal(path, want);
	else
		assert_null(path);
}

static void test_self_path_v2(void **state)
{
	(void)state;
	self_path("0::/system.slice/droverd.service\n", CG_V2, 0, "/system.slice/droverd.service");
	/* a hybrid host lists v1 hierarchies before the empty-controller v2 line */
	self_path("12:memory:/m\n4:cpu,cpuacct:/c\n0::/u\n", CG_V2, 0, "/u");
	self_path("12:memory:/m\n", CG_V2, -ENOENT, NULL);
	self_path("", CG_V2, -ENOENT, NULL);
}

static void test_self_path_v1(void **state)
{
	(void)state;
	self_path("4:cpu,cpuacct:/c\n9:pids,memory:/mem\n0::/u\n", CG_V1, 0, "/mem");
	self_path("12:memory:/system.slice/x\n", CG_V1, 0, "/system.slice/x");
	/* a controller whose name only starts with "memory" is not the memory hierarchy */
	self_path("3:memoryx:/no\n0::/u\n", CG_V1, -ENOENT, NULL);
	/* lines without two colons are skipped */
	self_path("garbage\n5:memory\n7:memory:/ok\n", CG_V1, 0, "/ok");
}

static void test_root_choose(void **state)
{
	_cleanup_free_ char *a = NULL, *b = NULL, *c = NULL;

	(void)state;
	assert_int_equal(cg_root_choose("/nonexistent", CG_V2, "/given", true, &a, NULL), 0);
	assert_string_equal(a, "/given");
	assert_int_equal(cg_root_choose("/nonexistent", CG_V1, NULL, false, &b, NULL), 0);
	assert_string_equal(b, "/drover");
	assert_int_equal(cg_root_choose("/nonexistent", CG_V1, "/x/y", false, &c, NULL), 0);
	assert_string_equal(c, "/x/y");
	assert_string_equal(cg_version_name(CG_V1), "v1");
	assert_string_equal(cg_version_name(CG_V2), "v2");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_self_path_v2),
	    cmocka_unit_test(test_self_path_v1),
	    cmocka_unit_test(test_root_choose),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
