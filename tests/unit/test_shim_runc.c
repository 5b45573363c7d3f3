/* drover-shim: runc.log error extraction, pid parsing and argument parsing. The shim is not in
 * libdrover.a, so its sources are compiled in. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "runtime/shim/shim-args.c"
#include "runtime/shim/shim-exit.c"
#include "runtime/shim/shim-runc.c"
#include "runtime/shim/shim-spawn.c"

static int last_msg(const char *log, char *out, size_t size)
{
	return shim_runc_last_msg(log, strlen(log), out, size);
}

static void test_msg_last_error(void **state)
{
	const char *log =
	    "{\"level\":\"warning\",\"msg\":\"early\",\"time\":\"t\"}\n"
	    "{\"level\":\"error\",\"msg\":\"runc create failed: exec: \\\"/nonexistent\\\": stat "
	    "/nonexistent: no such file or directory\",\"time\":\"t\"}\n"
	    "{\"level\":\"debug\",\"msg\":\"after\",\"time\":\"t\"}\n";
	char out[256];
	(void)state;

	assert_true(last_msg(log, out, sizeof(out)) > 0);
	assert_string_equal(out,
			    "runc create failed: exec: \"/nonexistent\": stat /nonexistent: no such file or "
			    "directory");
}

static void test_msg_without_error_level(void **state)
{
	const char *log = "{\"level\":\"info\",\"msg\":\"one\"}\n{\"msg\": \"two\", \"level\": \"warning\"}";
	char out[64];
	(void)state;

	assert_int_equal(last_msg(log, out, sizeof(out)), 3);
	assert_string_equal(out, "two");
}

static void test_msg_escapes(void **state)
{
	const char *log = "{\"level\":\"error\",\"msg\":\"a\\nb\\t\\\\c\\/d \\u00e9\\u0001\"}\n";
	char out[64];
	(void)state;

	assert_true(last_msg(log, out, sizeof(out)) > 0);
	assert_string_equal(out, "a b \\c/d \xc3\xa9 ");
	/* a lone surrogate half is replaced, a BMP character is encoded as 3 bytes */
	assert_true(last_msg("{\"msg\":\"\\ud83d|\\u20ac\"}", out, sizeof(out)) > 0);
	assert_string_equal(out, "?|\xe2\x82\xac");
}

static void test_msg_truncated_and_absent(void **state)
{
	const char *log = "{\"level\":\"error\",\"msg\":\"0123456789\"}";
	char out[5];
	(void)state;

	assert_int_equal(last_msg(log, out, sizeof(out)), 4);
	assert_string_equal(out, "0123");
	assert_int_equal(last_msg("not json at all\n{\"msg\":42}\n", out, sizeof(out)), -ENOENT);
	assert_int_equal(last_msg("", out, sizeof(out)), -ENOENT);
	/* a message cut off by the end of the buffer still yields its beginning */
	assert_int_equal(last_msg("{\"level\":\"error\",\"msg\":\"ab", out, sizeof(out)), 2);
}

static void test_parse_pid(void **state)
{
	pid_t pid = 0;
	(void)state;

	assert_int_equal(shim_parse_pid("1234", &pid), 0);
	assert_int_equal(pid, 1234);
	assert_int_equal(shim_parse_pid("77\n", &pid), 0);
	assert_int_equal(pid, 77);
	assert_int_equal(shim_parse_pid("0", &pid), -EINVAL);
	assert_int_equal(shim_parse_pid("-5", &pid), -EINVAL);
	assert_int_equal(shim_parse_pid("12a", &pid), -EINVAL);
	assert_int_equal(shim_parse_pid("99999999999", &pid), -EINVAL);
	assert_int_equal(pid, 77);
}

static void test_args_ok(void **state)
{
	char *argv[] = {
	    "drover-shim",    "--id",	"web-0", "--bundle",   "/b",	    "--runtime=/usr/sbin/runc",
	    "--runtime-root", "/run/r", "--log", "/l/ctr.log", "--log-max", "4096",
	    "--oom-file",     "/sys/x", NULL};
	struct shim_args a;
	struct err *e = NULL;
	(void)state;

	assert_int_equal(shim_args_parse((int)ELEMENTSOF(argv) - 1, argv, &a, &e), 0);
	assert_string_equal(a.id, "web-0");
	assert_string_equal(a.bundle, "/b");
	assert_string_equal(a.runtime, "/usr/sbin/runc");
	assert_string_equal(a.runtime_root, "/run/r");
	assert_string_equal(a.log_path, "/l/ctr.log");
	assert_string_equal(a.oom_file, "/sys/x");
	assert_int_equal(a.log_max, 4096);
	assert_false(a.foreground);
	shim_args_done(&a);
}

static void test_args_defaults_and_relative(void **state)
{
	char *argv[] = {"drover-shim",	  "--id", "x",	   "--bundle", "rel/b",	       "--runtime", "/r",
			"--runtime-root", "/rr",  "--log", "l",	       "--foreground", NULL};
	char cwd[PATH_MAX], want[PATH_MAX + 8];
	struct shim_args a;
	struct err *e = NULL;
	(void)state;

	assert_int_equal(shim_args_parse((int)ELEMENTSOF(argv) - 1, argv, &a, &e), 0);
	assert_non_null(getcwd(cwd, sizeof(cwd)));
	snprintf(want, sizeof(want), "%s/rel/b", cwd);
	assert_string_equal(a.bundle, want);
	assert_int_equal(a.log_max, SHIM_LOG_MAX_DEFAULT);
	assert_null(a.oom_file);
	assert_true(a.foreground);
	shim_args_done(&a);
}

static void expect_bad_args(char **argv, const char *needle)
{
	struct shim_args a;
	struct err *e = NULL;
	int argc = 0;

	while (argv[argc])
		argc++;
	assert_int_equal(shim_args_parse(argc, argv, &a, &e), -EINVAL);
	assert_non_null(e);
	if (!strstr(err_msg(e), needle))
		fail_msg("'%s' does not mention '%s'", err_msg(e), needle);
	err_free(&e);
}

static void test_args_bad(void **state)
{
	char *missing_log[] = {"s",  "--id",	       "x",   "--bundle", "/b", "--runtime",
			       "/r", "--runtime-root", "/rr", NULL};
	char *bad_max[] = {"s", "--log-max", "10k", NULL};
	char *zero_max[] = {"s", "--log-max=0", NULL};
	char *unknown[] = {"s", "--frobnicate", "1", NULL};
	char *no_value[] = {"s", "--id", NULL};
	char *bad_id[] = {"s", "--id", "../x", NULL};
	char *positional[] = {"s", "stray", NULL};
	(void)state;

	expect_bad_args(missing_log, "--log");
	expect_bad_args(bad_max, "10k");
	expect_bad_args(zero_max, "--log-max");
	expect_bad_args(unknown, "--frobnicate");
	expect_bad_args(no_value, "needs a value");
	expect_bad_args(bad_id, "../x");
	expect_bad_args(positional, "stray");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_msg_last_error),
	    cmocka_unit_test(test_msg_without_error_level),
	    cmocka_unit_test(test_msg_escapes),
	    cmocka_unit_test(test_msg_truncated_and_absent),
	    cmocka_unit_test(test_parse_pid),
	    cmocka_unit_test(test_args_ok),
	    cmocka_unit_test(test_args_defaults_and_relative),
	    cmocka_unit_test(test_args_bad),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
