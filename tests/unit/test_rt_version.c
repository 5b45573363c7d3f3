/* rt_version_parse / rt_version_judge: runc and crun version lines, Debian's backports, verdicts. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "common/cleanup.h"
#include "runtime/rt.h"

/* What this machine's Debian 12 runc prints. */
static const char debian12[] = "runc version 1.1.5+ds1\ncommit: 1.1.5+ds1-1+deb12u1\nspec: 1.0.2-dev\n"
			       "go: go1.19.8\nlibseccomp: 2.5.4\n";

static enum rt_version_verdict verdict_of(const char *out, char *msg, size_t size)
{
	struct rt_runtime_version v;

	if (rt_version_parse(out, &v) < 0)
		fail_msg("cannot parse '%s'", out);
	return rt_version_judge(&v, msg, size);
}

static void test_parse(void **state)
{
	(void)state;
	struct rt_runtime_version v;

	assert_int_equal(rt_version_parse(debian12, &v), 0);
	assert_string_equal(v.name, "runc");
	assert_string_equal(v.version, "1.1.5+ds1");
	assert_string_equal(v.commit, "1.1.5+ds1-1+deb12u1");
	assert_int_equal(v.major, 1);
	assert_int_equal(v.minor, 1);
	assert_int_equal(v.patch, 5);
	assert_false(v.prerelease);

	assert_int_equal(rt_version_parse("runc version 1.2.0-rc.1\ncommit: v1.2.0-rc.1-0-g275e6d85\n", &v),
			 0);
	assert_true(v.prerelease);
	assert_int_equal(v.minor, 2);
	assert_int_equal(
	    rt_version_parse("runc version 1.0.0~rc93+ds1\r\ncommit: 1.0.0~rc93+ds1-5+deb11u3\r\n", &v), 0);
	assert_true(v.prerelease);
	assert_string_equal(v.commit, "1.0.0~rc93+ds1-5+deb11u3");
	/* crun puts more lines after the version; no commit line is fine */
	assert_int_equal(rt_version_parse("crun version 1.8.1\nrundir: /run/crun\n+SYSTEMD +SECCOMP\n", &v),
			 0);
	assert_string_equal(v.name, "crun");
	assert_int_equal(v.minor, 8);
	assert_int_equal(rt_version_parse("runc version 1.3.3\n", &v), 0);
	assert_string_equal(v.commit, "");

	assert_int_equal(rt_version_parse("", &v), -EPROTO);
	assert_int_equal(rt_version_parse("youki version 0.3.0\n", &v), -EPROTO);
	assert_int_equal(rt_version_parse("runc version \n", &v), -EPROTO);
	assert_int_equal(rt_version_parse("runc version v1.1.12\n", &v), -EPROTO);
	assert_int_equal(rt_version_parse("runc version 1.\n", &v), -EPROTO);
	assert_int_equal(rt_version_parse("crun version 1.14\n", &v), 0);
	assert_int_equal(v.minor, 14);
	assert_int_equal(v.patch, 0);
}

static void test_judge_runc(void **state)
{
	(void)state;
	static const char *const refused[] = {
	    "runc version 1.1.11\ncommit: v1.1.11-0-g4bccb38c\n",
	    "runc version 1.1.5\ncommit: v1.1.5-0-gf19387a6\n",
	    "runc version 1.1.5+ds1\ncommit: 1.1.5+ds1-1\n",	     /* Debian before the fix */
	    "runc version 1.1.5+ds1\ncommit: 1.1.5+ds1-1+deb12u0\n", /* not a real fix */
	    "runc version 1.1.5+ds1\ncommit: 1.1.5+ds1-1+deb12\n",
	    "runc version 1.1.4+ds1\ncommit: 1.1.4+ds1-1+deb12u1\n", /* another upstream version */
	    "runc version 1.0.0~rc93+ds1\ncommit: 1.0.0~rc93+ds1-5+deb11u2\n",
	    "runc version 1.1.12-rc.1\n",
	    "runc version 1.0.0-rc93\n",
	};
	static const char *const warned[] = {
	    debian12,
	    "runc version 1.1.5+ds1\ncommit: 1.1.5+ds1-1+deb12u2\n",
	    "runc version 1.0.0~rc93+ds1\ncommit: 1.0.0~rc93+ds1-5+deb11u3\n",
	    "runc version 1.1.12\n",
	    "runc version 1.2.7\n",
	    "runc version 1.3.0\n",
	    "runc version 1.3.2\n",
	    "runc version 1.2.8-rc.1\n",
	};
	static const char *const fine[] = {"runc version 1.2.8\n", "runc version 1.2.9\n",
					   "runc version 1.3.3\n", "runc version 1.4.0\n",
					   "runc version 2.0.0\n"};
	char msg[512];

	for (size_t i = 0; i < ELEMENTSOF(refused); i++) {
		if (verdict_of(refused[i], msg, sizeof(msg)) != RT_VERSION_REFUSE)
			fail_msg("not refused: %s", refused[i]);
		assert_non_null(strstr(msg, "CVE-2024-21626"));
		assert_non_null(strstr(msg, "1.1.12"));
	}
	for (size_t i = 0; i < ELEMENTSOF(warned); i++) {
		if (verdict_of(warned[i], msg, sizeof(msg)) != RT_VERSION_WARN)
			fail_msg("no warning for: %s", warned[i]);
		assert_non_null(strstr(msg, "CVE-2025-31133"));
	}
	for (size_t i = 0; i < ELEMENTSOF(fine); i++)
		if (verdict_of(fine[i], msg, sizeof(msg)) != RT_VERSION_OK)
			fail_msg("not accepted: %s (%s)", fine[i], msg);
	/* the message names the version as the runtime printed it */
	assert_int_equal(verdict_of("runc version 1.1.11\n", msg, sizeof(msg)), RT_VERSION_REFUSE);
	assert_non_null(strstr(msg, "runc 1.1.11 "));
}

static void test_judge_crun(void **state)
{
	(void)state;
	char msg[512];

	assert_int_equal(verdict_of("crun version 1.8.1\n", msg, sizeof(msg)), RT_VERSION_REFUSE);
	assert_non_null(strstr(msg, "1.14"));
	assert_int_equal(verdict_of("crun version 1.13\nx\n", msg, sizeof(msg)), RT_VERSION_REFUSE);
	assert_int_equal(verdict_of("crun version 1.14\n", msg, sizeof(msg)), RT_VERSION_OK);
	assert_int_equal(verdict_of("crun version 1.14.4\n", msg, sizeof(msg)), RT_VERSION_OK);
	assert_int_equal(verdict_of("crun version 1.21\ncommit: abc\n", msg, sizeof(msg)), RT_VERSION_OK);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_parse),
	    cmocka_unit_test(test_judge_runc),
	    cmocka_unit_test(test_judge_crun),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
