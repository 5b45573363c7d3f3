/* Probe logic without sockets: threshold counting and the HTTP status line. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "agent/probe.h"

static void test_count_readiness(void **state)
{
	struct probe_count c = {0};

	(void)state;
	/* success_threshold 2, failure_threshold 3 */
	assert_int_equal(probe_count_add(&c, true, 2, 3), 0);
	assert_int_equal(c.verdict, PROBE_UNKNOWN);
	assert_int_equal(probe_count_add(&c, true, 2, 3), 1);
	assert_int_equal(c.verdict, PROBE_PASS);
	/* at the cap nothing changes: no state write */
	assert_int_equal(probe_count_add(&c, true, 2, 3), -1);
	assert_int_equal(c.successes, 2);
	assert_int_equal(probe_count_add(&c, false, 2, 3), 0);
	assert_int_equal(c.successes, 0);
	assert_int_equal(probe_count_add(&c, false, 2, 3), 0);
	assert_int_equal(c.verdict, PROBE_PASS); /* two failures of three: still passing */
	assert_int_equal(probe_count_add(&c, true, 2, 3), 0);
	assert_int_equal(c.failures, 0); /* a success in between starts the failures over */
	assert_int_equal(probe_count_add(&c, false, 2, 3), 0);
	assert_int_equal(probe_count_add(&c, false, 2, 3), 0);
	assert_int_equal(probe_count_add(&c, false, 2, 3), 1);
	assert_int_equal(c.verdict, PROBE_FAIL);
	assert_int_equal(probe_count_add(&c, false, 2, 3), -1);
	assert_int_equal(c.failures, 3);
	assert_int_equal(probe_count_add(&c, true, 2, 3), 0);
	assert_int_equal(c.verdict, PROBE_FAIL); /* one success of two */
	assert_int_equal(probe_count_add(&c, true, 2, 3), 1);
	assert_int_equal(c.verdict, PROBE_PASS);
}

static void test_count_first_failure(void **state)
{
	struct probe_count c = {0};

	(void)state;
	assert_int_equal(probe_count_add(&c, false, 1, 1), 1);
	assert_int_equal(c.verdict, PROBE_FAIL);
	c = (struct probe_count){0};
	assert_int_equal(probe_count_add(&c, false, 1, 2), 0);
	assert_int_equal(c.verdict, PROBE_UNKNOWN);
	/* a threshold below 1 counts as 1 */
	c = (struct probe_count){0};
	assert_int_equal(probe_count_add(&c, true, 0, 0), 1);
}

static int status(const char *s, int *code)
{
	return probe_http_status(s, strlen(s), code);
}

static void test_http_status(void **state)
{
	int code = 0;

	(void)state;
	assert_int_equal(status("HTTP/1.1 200 OK\r\n", &code), 1);
	assert_int_equal(code, 200);
	assert_int_equal(status("HTTP/1.0 503 Service Unavailable\r\nContent-Length: 0\r\n\r\n", &code), 1);
	assert_int_equal(code, 503);
	assert_int_equal(status("HTTP/1.1 302\r\n", &code), 1); /* no reason phrase */
	assert_int_equal(code, 302);
	assert_int_equal(status("HTTP/2 204 \n", &code), 1);
	assert_int_equal(code, 204);
	/* incomplete: more bytes needed */
	assert_int_equal(status("", &code), 0);
	assert_int_equal(status("HT", &code), 0);
	assert_int_equal(status("HTTP/1.1 200 OK", &code), 0);
	/* not HTTP */
	assert_int_equal(status("SSH-2.0-OpenSSH\r\n", &code), -EPROTO);
	assert_int_equal(status("http/1.1 200 OK\r\n", &code), -EPROTO);
	assert_int_equal(status("HTTP/1.1 20 OK\r\n", &code), -EPROTO);
	assert_int_equal(status("HTTP/1.1 2000 OK\r\n", &code), -EPROTO);
	assert_int_equal(status("HTTP/1.1 099 OK\r\n", &code), -EPROTO);
	assert_int_equal(status("HTTP/1. 200 OK\r\n", &code), -EPROTO);
	assert_int_equal(status("HTTP/ 200 OK\r\n", &code), -EPROTO);
	assert_int_equal(status("HTTP/1.1  200 OK\r\n", &code), -EPROTO);
	assert_int_equal(status("HTTP/1.1\r\n", &code), -EPROTO);
	assert_int_equal(probe_http_status("HTTP/1.1 200 OK\0\r\n", 18, &code), -EPROTO);
}

static void test_http_ok(void **state)
{
	(void)state;
	assert_false(probe_http_ok(199));
	assert_true(probe_http_ok(200));
	assert_true(probe_http_ok(399));
	assert_false(probe_http_ok(400));
	assert_false(probe_http_ok(503));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_count_readiness),
	    cmocka_unit_test(test_count_first_failure),
	    cmocka_unit_test(test_http_status),
	    cmocka_unit_test(test_http_ok),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
