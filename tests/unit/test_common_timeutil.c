/* common/timeutil.c: RFC 3339 formatting (UTC, with and without nanoseconds) and the two clocks. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include <cmocka.h>

#include "common/timeutil.h"

static void test_rfc3339(void **state)
{
	char buf[32];

	(void)state;
	time_fmt_rfc3339(0, buf, sizeof(buf));
	assert_string_equal(buf, "1970-01-01T00:00:00Z");
	time_fmt_rfc3339(1795600800LL * 1000000000LL + 999999999, buf, sizeof(buf));
	assert_string_equal(buf, "2026-11-25T10:00:00Z"); /* truncated, never rounded up */
	/* 2024-02-29 (leap day) 23:59:59 UTC */
	time_fmt_rfc3339(1709251199LL * 1000000000LL, buf, sizeof(buf));
	assert_string_equal(buf, "2024-02-29T23:59:59Z");
}

static void test_rfc3339_nano(void **state)
{
	char buf[40];

	(void)state;
	time_fmt_rfc3339_nano(1795600800LL * 1000000000LL + 123456789, buf, sizeof(buf));
	assert_string_equal(buf, "2026-11-25T10:00:00.123456789Z");
	time_fmt_rfc3339_nano(5, buf, sizeof(buf));
	assert_string_equal(buf, "1970-01-01T00:00:00.000000005Z");
	/* a short buffer is cut, still terminated */
	time_fmt_rfc3339_nano(0, buf, 11);
	assert_string_equal(buf, "1970-01-01");
}

static void test_clocks(void **state)
{
	int64_t m0 = time_mono_ns(), now = time_now_ns();
	struct timespec ts = {0, 2 * 1000 * 1000};

	(void)state;
	assert_true(now > 1700000000LL * 1000000000LL); /* after 2023: a real wall clock */
	assert_int_equal(nanosleep(&ts, NULL), 0);
	assert_true(time_mono_ns() - m0 >= 2 * 1000 * 1000);
	assert_true(time_now_ns() >= now);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_rfc3339),
	    cmocka_unit_test(test_rfc3339_nano),
	    cmocka_unit_test(test_clocks),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
