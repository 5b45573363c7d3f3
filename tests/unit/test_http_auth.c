/* TCP API request checks: bearer token parsing and comparison, body caps by path, Content-Length. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "http/http.h"

static bool eq(const char *given, const char *want)
{
	return http_token_equal(given, strlen(given), want, strlen(want));
}

static void test_token_equal(void **state)
{
	(void)state;
	assert_true(eq("s3cr3t-token-0123456789", "s3cr3t-token-0123456789"));
	assert_false(eq("s3cr3t-token-0123456788", "s3cr3t-token-0123456789"));	 /* last byte */
	assert_false(eq("X3cr3t-token-0123456789", "s3cr3t-token-0123456789"));	 /* first byte */
	assert_false(eq("s3cr3t-token-012345678", "s3cr3t-token-0123456789"));	 /* a prefix */
	assert_false(eq("s3cr3t-token-0123456789a", "s3cr3t-token-0123456789")); /* longer */
	assert_false(eq("s3cr3t-token-0123456789s3cr3t-token-0123456789", "s3cr3t-token-0123456789"));
	assert_false(eq("", "s3cr3t"));
	assert_false(eq("s3cr3t", "")); /* no configured token never matches */
	assert_false(eq("", ""));
	/* lengths are what is compared, not C strings: a NUL inside does not end the token */
	assert_false(http_token_equal("ab\0cd", 5, "ab\0ce", 5));
	assert_true(http_token_equal("ab\0cd", 5, "ab\0cd", 5));
	assert_false(http_token_equal("ab", 2, "ab\0", 3));
}

static void check_bearer(const char *header, const char *want)
{
	size_t len = 0;
	const char *tok = http_bearer_token(header, &len);

	if (!want) {
		assert_null(tok);
		return;
	}
	assert_non_null(tok);
	assert_int_equal(len, strlen(want));
	assert_memory_equal(tok, want, len);
}

static void test_bearer(void **state)
{
	(void)state;
	check_bearer("Bearer abc.def", "abc.def");
	check_bearer("bearer abc", "abc");
	check_bearer("BEARER \t abc  ", "abc");
	check_bearer("Bearer", NULL);
	check_bearer("Bearer ", NULL);
	check_bearer("Bearerabc", NULL);
	check_bearer("Basic YWJj", NULL);
	check_bearer("", NULL);
	check_bearer(NULL, NULL);
}

static void test_body_cap(void **state)
{
	(void)state;
	assert_int_equal(http_body_cap("PUT", "/v1/instances/web"), 1024 * 1024);
	assert_int_equal(http_body_cap("PUT", "/v1/assignments"), 16 * 1024 * 1024);
	assert_int_equal(http_body_cap("POST", "/v1/assignments"), 1024 * 1024);
	assert_int_equal(http_body_cap("PUT", "/v1/assignments/x"), 1024 * 1024);
	assert_int_equal(http_body_cap("GET", "/v1/node"), HTTP_BODY_MAX);
}

static void test_content_length(void **state)
{
	(void)state;
	assert_false(http_content_length_over("0", 10));
	assert_false(http_content_length_over("10", 10));
	assert_true(http_content_length_over("11", 10));
	assert_false(http_content_length_over(" 5 ", 10));
	assert_true(http_content_length_over("99999999999999999999999999", 1024)); /* no overflow */
	assert_true(http_content_length_over("-1", 10));
	assert_true(http_content_length_over("1x", 10));
	assert_true(http_content_length_over("", 10));
	assert_false(http_content_length_over("1048576", HTTP_BODY_MAX));
	assert_true(http_content_length_over("1048577", HTTP_BODY_MAX));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_token_equal),
	    cmocka_unit_test(test_bearer),
	    cmocka_unit_test(test_body_cap),
	    cmocka_unit_test(test_content_length),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
