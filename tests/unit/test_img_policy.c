/* img-policy.c: loopback decided on addresses (never a "127." name prefix), the registry host
 * compared with where an answer came from, the unpack budget's arithmetic (no overflow, nothing
 * charged past the cap), free space above the reserve, and the layout roots. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>

#include "common/cleanup.h"
#include "image/img-reg-internal.h"

static void test_loopback(void **state)
{
	(void)state;
	assert_true(img_host_is_loopback("127.0.0.1"));
	assert_true(img_host_is_loopback("127.0.0.1:5000"));
	assert_true(img_host_is_loopback("127.255.3.4:80"));
	assert_true(img_host_is_loopback("localhost:5000"));
	assert_true(img_host_is_loopback("LOCALHOST"));
	assert_true(img_host_is_loopback("[::1]:5000"));
	assert_true(img_host_is_loopback("[::1]"));
	assert_true(img_host_is_loopback("::1"));
	/* names that only look like loopback */
	assert_false(img_host_is_loopback("127.evil.example"));
	assert_false(img_host_is_loopback("127.evil.example:5000"));
	assert_false(img_host_is_loopback("127.0.0.1.nip.io:5000"));
	assert_false(img_host_is_loopback("localhost.evil.example"));
	assert_false(img_host_is_loopback("128.0.0.1"));
	assert_false(img_host_is_loopback("[::2]:5000"));
	assert_false(img_host_is_loopback("[::ffff:127.0.0.1]"));
	assert_false(img_host_is_loopback("[::1"));
	assert_false(img_host_is_loopback(""));
	assert_false(img_host_is_loopback(NULL));
}

static void test_url_is_host(void **state)
{
	(void)state;
	assert_true(img_url_is_host("http://127.0.0.1:5000/v2/x/blobs/sha256:ab", "http://127.0.0.1:5000"));
	assert_true(img_url_is_host("https://Registry.Example/v2/", "https://registry.example"));
	assert_true(img_url_is_host("https://registry.example:443/v2/", "https://registry.example"));
	assert_true(img_url_is_host("http://[::1]:5000/v2/", "http://[::1]:5000"));
	assert_true(img_url_is_host("https://user@registry.example/v2/", "https://registry.example"));
	/* another host or port is a redirect target */
	assert_false(img_url_is_host("http://127.0.0.1:5001/v2/", "http://127.0.0.1:5000"));
	assert_false(img_url_is_host("https://cdn.example/blob?sig=x", "https://registry.example"));
	assert_false(img_url_is_host("https://registry.example.evil/v2/", "https://registry.example"));
	assert_false(
	    img_url_is_host("https://registry.example@evil.example/v2/", "https://registry.example"));
	assert_false(img_url_is_host("http://registry.example/v2/", "https://registry.example"));
	assert_false(img_url_is_host("not a url", "https://registry.example"));
	assert_false(img_url_is_host(NULL, "https://registry.example"));
}

static void test_budget_add(void **state)
{
	_Atomic uint64_t used = 0;

	(void)state;
	assert_int_equal(img_budget_add(&used, 60, 100), 0);
	assert_int_equal(img_budget_add(&used, 40, 100), 0);
	assert_int_equal(atomic_load(&used), 100);
	/* one byte past the cap: refused, and nothing is charged */
	assert_int_equal(img_budget_add(&used, 1, 100), -EFBIG);
	assert_int_equal(atomic_load(&used), 100);
	/* sums that would wrap around 2^64 are refused, not wrapped */
	atomic_store(&used, 10);
	assert_int_equal(img_budget_add(&used, UINT64_MAX - 5, UINT64_MAX), -EFBIG);
	assert_int_equal(atomic_load(&used), 10);
	assert_int_equal(img_budget_add(&used, UINT64_MAX - 10, UINT64_MAX), 0);
	assert_int_equal(atomic_load(&used), UINT64_MAX);
	atomic_store(&used, 0);
	assert_int_equal(img_budget_add(&used, 101, 100), -EFBIG);
	assert_int_equal(img_budget_add(&used, 0, 0), 0);
}

static void test_budget_entries(void **state)
{
	struct img_limits l = {.max_unpacked = 1000, .max_entries = 3};
	_Atomic uint64_t used = 0;
	struct img_budget b = {.limits = &l, .used = &used};
	_cleanup_err_ struct err *e = NULL;

	(void)state;
	for (int i = 0; i < 3; i++)
		assert_int_equal(img_budget_entry(&b, NULL), 0);
	assert_int_equal(img_budget_entry(&b, &e), -E2BIG);
	assert_non_null(strstr(err_msg(e), "--image-max-entries"));
	err_free(&e);
	assert_int_equal(img_budget_bytes(&b, 999, -1, NULL), 0);
	assert_int_equal(img_budget_bytes(&b, 2, -1, &e), -EFBIG);
	assert_non_null(strstr(err_msg(e), "--image-max-unpacked"));
	/* no budget: no limits */
	assert_int_equal(img_budget_entry(NULL, NULL), 0);
	assert_int_equal(img_budget_bytes(NULL, UINT64_MAX, -1, NULL), 0);
}

static void test_space_fits(void **state)
{
	(void)state;
	assert_true(img_space_fits(100, 50, 50));
	assert_false(img_space_fits(100, 51, 50));
	assert_false(img_space_fits(100, 0, 101));
	assert_true(img_space_fits(100, 0, 100));
	assert_false(img_space_fits(100, UINT64_MAX, 1));
	assert_false(img_space_fits(UINT64_MAX - 1, 2, UINT64_MAX - 2));
	assert_true(img_space_fits(UINT64_MAX, UINT64_MAX, 0));
}

static void test_layout_beneath(void **state)
{
	char *roots[] = {(char *)"/var/lib/drover/layouts", (char *)"/srv/img/", NULL};
	char *slash[] = {(char *)"/", NULL};
	const char *rel = NULL, *root = NULL;

	(void)state;
	assert_int_equal(img_layout_beneath("/var/lib/drover/layouts/app", roots, &rel, &root), 0);
	assert_string_equal(rel, "app");
	assert_string_equal(root, "/var/lib/drover/layouts");
	assert_int_equal(img_layout_beneath("/srv/img/team/app", roots, &rel, &root), 0);
	assert_string_equal(rel, "team/app");
	assert_int_equal(img_layout_beneath("/var/lib/drover/layouts2/app", roots, &rel, &root), -EPERM);
	assert_int_equal(img_layout_beneath("/var/lib/drover/layouts", roots, &rel, &root), -EPERM);
	assert_int_equal(img_layout_beneath("/var/lib/drover/layouts/", roots, &rel, &root), -EPERM);
	assert_int_equal(img_layout_beneath("/var/lib/drover/layouts/../../../etc", roots, &rel, &root),
			 -EPERM);
	assert_int_equal(img_layout_beneath("/var/lib/drover/layouts/a/./b", roots, &rel, &root), -EPERM);
	assert_int_equal(img_layout_beneath("/etc/ssl", roots, &rel, &root), -EPERM);
	assert_int_equal(img_layout_beneath("/etc/ssl", NULL, &rel, &root), -EPERM);
	assert_int_equal(img_layout_beneath("/etc/ssl", slash, &rel, &root), 0);
	assert_string_equal(rel, "etc/ssl");
}

static void test_auth_scopes(void **state)
{
	_cleanup_json_ json_t *doc =
	    json_loads("{\"auths\":{\"reg.example\":{\"username\":\"node\",\"password\":\"a\"},"
		       "\"reg.example/team\":{\"username\":\"team\",\"password\":\"b\"},"
		       "\"reg.example/team/special/\":{\"username\":\"special\",\"password\":\"c\"},"
		       "\"https://other.example/v1/\":{\"username\":\"url\",\"password\":\"d\"}}}",
		       0, NULL);
	struct img_creds c = {0};

	(void)state;
	assert_non_null(doc);
	assert_int_equal(img_auth_lookup(doc, "reg.example", "team/app", &c, NULL), 0);
	assert_string_equal(c.user, "team");
	assert_string_equal(c.key, "reg.example/team");
	img_creds_done(&c);
	assert_int_equal(img_auth_lookup(doc, "reg.example", "team/special/x", &c, NULL), 0);
	assert_string_equal(c.user, "special");
	img_creds_done(&c);
	/* a prefix covers whole components only */
	assert_int_equal(img_auth_lookup(doc, "reg.example", "teammate/app", &c, NULL), 0);
	assert_string_equal(c.user, "node");
	img_creds_done(&c);
	assert_int_equal(img_auth_lookup(doc, "reg.example", "team", &c, NULL), 0);
	assert_string_equal(c.user, "team");
	img_creds_done(&c);
	/* a key with a scheme is docker's form: the whole registry, whatever its path */
	assert_int_equal(img_auth_lookup(doc, "other.example", "v1/x", &c, NULL), 0);
	assert_string_equal(c.user, "url");
	img_creds_done(&c);
	assert_int_equal(img_auth_lookup(doc, "third.example", "team/app", &c, NULL), 0);
	assert_null(c.user);
	assert_null(c.key);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_loopback),	cmocka_unit_test(test_url_is_host),
	    cmocka_unit_test(test_budget_add),	cmocka_unit_test(test_budget_entries),
	    cmocka_unit_test(test_space_fits),	cmocka_unit_test(test_layout_beneath),
	    cmocka_unit_test(test_auth_scopes),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
