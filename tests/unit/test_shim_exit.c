/* drover-shim exit record and OOM counter. The shim is not in libdrover.a: its source is compiled in. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "runtime/shim/shim-exit.c"

static void test_format_exited(void **state)
{
	struct shim_exit e = {.started_at = 1000, .finished_at = 2000};
	char buf[192];
	int n;
	(void)state;

	shim_exit_from_status(3 << 8, &e); /* the wait status of exit(3) */
	n = shim_exit_format(&e, buf, sizeof(buf));
	assert_string_equal(buf,
			    "{\"exit_code\": 3, \"signal\": 0, \"oom_killed\": false, \"started_at\": 1000, "
			    "\"finished_at\": 2000}\n");
	assert_int_equal(n, strlen(buf));
}

static void test_format_killed_oom(void **state)
{
	struct shim_exit e = {
	    .oom_killed = true, .started_at = 1795600800000000001LL, .finished_at = 1795600800999999999LL};
	char buf[192];
	(void)state;

	shim_exit_from_status(9, &e); /* the wait status of a SIGKILL death */
	assert_int_equal(e.signal, 9);
	assert_int_equal(e.exit_code, 137);
	assert_true(shim_exit_format(&e, buf, sizeof(buf)) > 0);
	assert_string_equal(buf,
			    "{\"exit_code\": 137, \"signal\": 9, \"oom_killed\": true, "
			    "\"started_at\": 1795600800000000001, \"finished_at\": 1795600800999999999}\n");
}

static void test_format_too_small(void **state)
{
	/* called through a pointer, or the compiler flags the (intended) truncation itself */
	int (*volatile format)(const struct shim_exit *, char *, size_t) = shim_exit_format;
	struct shim_exit e = {0};
	char buf[16];
	(void)state;

	assert_int_equal(format(&e, buf, sizeof(buf)), -ENOBUFS);
}

static void test_write_atomic(void **state)
{
	struct shim_exit e = {.exit_code = 1, .started_at = 5, .finished_at = 6};
	char dir[] = "/tmp/test_shim_exit-XXXXXX";
	char path[64], buf[256];
	struct err *err = NULL;
	ssize_t n;
	int dfd, fd;
	(void)state;

	assert_non_null(mkdtemp(dir));
	dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	assert_true(dfd >= 0);
	assert_int_equal(shim_exit_write(dfd, &e, &err), 0);
	snprintf(path, sizeof(path), "%s/exit.json", dir);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	assert_true(fd >= 0);
	n = read(fd, buf, sizeof(buf) - 1);
	assert_true(n > 0);
	buf[n] = '\0';
	assert_string_equal(buf,
			    "{\"exit_code\": 1, \"signal\": 0, \"oom_killed\": false, \"started_at\": 5, "
			    "\"finished_at\": 6}\n");
	close(fd);
	assert_int_equal(unlink(path), 0);
	close(dfd);
	assert_int_equal(rmdir(dir), 0); /* no temp file left behind */
}

static void test_oom_v1(void **state)
{
	uint64_t v = 0;
	(void)state;

	assert_int_equal(shim_parse_oom_kill("oom_kill_disable 0\nunder_oom 0\noom_kill 2\n", &v), 0);
	assert_int_equal(v, 2);
}

static void test_oom_v2(void **state)
{
	uint64_t v = 0;
	(void)state;

	assert_int_equal(
	    shim_parse_oom_kill("low 0\nhigh 0\nmax 4\noom 1\noom_kill 17\noom_group_kill 0\n", &v), 0);
	assert_int_equal(v, 17);
	assert_int_equal(shim_parse_oom_kill("oom_kill 18446744073709551615", &v), 0);
	assert_true(v == UINT64_MAX);
}

static void test_oom_missing_or_bad(void **state)
{
	uint64_t v = 42;
	(void)state;

	assert_int_equal(shim_parse_oom_kill("oom_kill_disable 0\nunder_oom 0\n", &v), -ENOENT);
	assert_int_equal(shim_parse_oom_kill("", &v), -ENOENT);
	assert_int_equal(shim_parse_oom_kill("oom_kill x\n", &v), -EPROTO);
	assert_int_equal(shim_parse_oom_kill("oom_kill 1x\n", &v), -EPROTO);
	assert_int_equal(shim_parse_oom_kill("oom_kill 18446744073709551616\n", &v), -EPROTO);
	assert_int_equal(v, 42);
}

static void test_read_oom_file(void **state)
{
	char path[] = "/tmp/test_shim_oom-XXXXXX";
	const char text[] = "oom_kill_disable 0\nunder_oom 0\noom_kill 5\n";
	uint64_t v = 0;
	int fd;
	(void)state;

	fd = mkstemp(path);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, text, sizeof(text) - 1), (ssize_t)sizeof(text) - 1);
	close(fd);
	assert_int_equal(shim_read_oom_kill(path, &v), 0);
	assert_int_equal(v, 5);
	unlink(path);
	assert_int_equal(shim_read_oom_kill(path, &v), -ENOENT);
}

static void test_parse_u64(void **state)
{
	const char *end = NULL;
	uint64_t v = 0;
	(void)state;

	assert_int_equal(shim_parse_u64("123 rest", &end, &v), 0);
	assert_int_equal(v, 123);
	assert_string_equal(end, " rest");
	assert_int_equal(shim_parse_u64("-1", &end, &v), -EINVAL);
	assert_int_equal(shim_parse_u64("", &end, &v), -EINVAL);
	assert_int_equal(shim_parse_u64("99999999999999999999", &end, &v), -ERANGE);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_format_exited),
	    cmocka_unit_test(test_format_killed_oom),
	    cmocka_unit_test(test_format_too_small),
	    cmocka_unit_test(test_write_atomic),
	    cmocka_unit_test(test_oom_v1),
	    cmocka_unit_test(test_oom_v2),
	    cmocka_unit_test(test_oom_missing_or_bad),
	    cmocka_unit_test(test_read_oom_file),
	    cmocka_unit_test(test_parse_u64),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
