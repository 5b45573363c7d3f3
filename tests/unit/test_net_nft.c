/* net/net-nft.c: the rendered ruleset (applying it needs root; 40-net.bats does that). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "net/net-internal.h"

static size_t count(const char *hay, const char *needle)
{
	size_t n = 0;

	for (const char *p = hay; (p = strstr(p, needle)); p += strlen(needle))
		n++;
	return n;
}

static void test_render(void **state)
{
	static const struct net_port ports[] = {{.container = 8080, .host = 18080},
						{.container = 53, .host = 10053, .udp = true}};
	_cleanup_pubs_ struct net_pubs pubs = {0};
	_cleanup_free_ char *buf = NULL;
	struct net_subnet sn;
	struct net_nft_spec spec = {.table = "drover", .bridge = "drover0", .sn = &sn, .pubs = &pubs};
	(void)state;

	assert_int_equal(net_subnet_parse("10.77.0.0/24", &sn), 0);
	assert_int_equal(net_pubs_set(&pubs, "web-0", "10.77.0.5", ports, 2), 0);
	assert_int_equal(net_nft_render(&spec, &buf), 0);
	/* one transaction that replaces only our table */
	assert_memory_equal(buf, "table ip drover\ndelete table ip drover\ntable ip drover {\n", 56);
	assert_int_equal(count(buf, "table ip "), 3);
	assert_non_null(strstr(buf, "ip saddr 10.77.0.0/24 oifname != \"drover0\" masquerade"));
	assert_non_null(strstr(buf, "ip saddr 127.0.0.0/8 oifname \"drover0\" masquerade"));
	/* each published port in prerouting (other hosts) and output (the host itself) */
	assert_int_equal(count(buf, "fib daddr type local tcp dport 18080 dnat to 10.77.0.5:8080"), 2);
	assert_int_equal(count(buf, "fib daddr type local udp dport 10053 dnat to 10.77.0.5:53"), 2);
	assert_non_null(strstr(buf, "type nat hook output priority -100;"));
	assert_non_null(strstr(buf, "iifname \"drover0\" accept"));
}

static void test_render_refuses_bad_names(void **state)
{
	_cleanup_pubs_ struct net_pubs pubs = {0};
	char *buf = NULL;
	struct net_subnet sn;
	struct net_nft_spec spec = {
	    .table = "drover; flush ruleset", .bridge = "drover0", .sn = &sn, .pubs = &pubs};
	(void)state;

	assert_int_equal(net_subnet_parse("10.77.0.0/24", &sn), 0);
	assert_int_equal(net_nft_render(&spec, &buf), -EINVAL);
	spec.table = "drover";
	spec.bridge = "br\"0";
	assert_int_equal(net_nft_render(&spec, &buf), -EINVAL);
	assert_null(buf);
	assert_false(net_nft_table_name_valid(""));
	assert_true(net_nft_table_name_valid("drover_t123"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_render),
	    cmocka_unit_test(test_render_refuses_bad_names),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
