/* droverctl's --server checks: plain http and loopback hosts (a token goes in clear only there).
 * The CLI is not in libdrover.a, so its source is compiled in here. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "cli/ctl-url.c"

static void test_plain_http(void **state)
{
	(void)state;
	assert_true(ctl_url_is_plain_http("http://h:1"));
	assert_true(ctl_url_is_plain_http("HTTP://h:1"));
	assert_false(ctl_url_is_plain_http("https://h:1"));
}

static void test_loopback(void **state)
{
	(void)state;
	assert_true(ctl_url_is_loopback("http://127.0.0.1:7443"));
	assert_true(ctl_url_is_loopback("http://127.8.9.10:7443/"));
	assert_true(ctl_url_is_loopback("http://localhost:7443"));
	assert_true(ctl_url_is_loopback("http://LocalHost"));
	assert_true(ctl_url_is_loopback("http://[::1]:7443"));
	assert_true(ctl_url_is_loopback("http://[::ffff:127.0.0.1]:7443"));
	assert_false(ctl_url_is_loopback("http://10.0.0.1:7443"));
	assert_false(ctl_url_is_loopback("http://128.0.0.1:7443"));
	assert_false(ctl_url_is_loopback("http://127.0.0.1.example.com:7443"));
	assert_false(ctl_url_is_loopback("http://localhost.example.com"));
	assert_false(ctl_url_is_loopback("http://127.0.0.1@evil.example:7443"));
	assert_false(ctl_url_is_loopback("http://127.0.0.1:7443@evil.example/"));
	assert_false(ctl_url_is_loopback("http://[::1]@evil.example/"));
	assert_false(ctl_url_is_loopback("http://[::2]:7443"));
	assert_false(ctl_url_is_loopback("http://[::1:7443"));
	assert_false(ctl_url_is_loopback("127.0.0.1:7443"));
	assert_false(ctl_url_is_loopback("http://:7443"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_plain_http),
	    cmocka_unit_test(test_loopback),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
