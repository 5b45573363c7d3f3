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
	struct net_lease leases[] = {{.id = "web-0"}, {.id = ""}, {.id = "db"}};
	struct net_subnet sn;
	struct net_nft_spec spec = {.table = "drover",
				    .bridge = "drover0",
				    .sn = &sn,
				    .pubs = &pubs,
				    .leases = leases,
				    .n_leases = 3};
	char veth[16], rule[256];
	(void)state;

	assert_int_equal(net_subnet_parse("10.77.0.0/24", &sn), 0);
	assert_int_equal(net_ip_parse("10.77.0.5", &leases[0].ip), 0);
	assert_int_equal(net_ip_parse("10.77.0.6", &leases[1].ip), 0);
	assert_int_equal(net_ip_parse("10.77.0.7", &leases[2].ip), 0);
	assert_int_equal(net_pubs_set(&pubs, "web-0", "10.77.0.5", ports, 2), 0);
	assert_int_equal(net_nft_render(&spec, &buf), 0);
	/* one transaction that replaces only our two tables */
	assert_memory_equal(buf, "table ip drover\ndelete table ip drover\ntable ip drover {\n", 56);
	assert_non_null(
	    strstr(buf, "table bridge drover\ndelete table bridge drover\ntable bridge drover {\n"));
	assert_int_equal(count(buf, "table ip "), 3);
	assert_int_equal(count(buf, "table bridge "), 3);
	assert_int_equal(count(buf, "table "), 6);
	assert_non_null(strstr(buf, "ip saddr 10.77.0.0/24 oifname != \"drover0\" masquerade"));
	/* no loopback anywhere near the bridge (C1) */
	assert_null(strstr(buf, "ip saddr 127.0.0.0/8 oifname"));
	assert_non_null(strstr(buf, "type filter hook prerouting priority raw; policy accept;\n"
				    "\t\tiifname \"drover0\" ip daddr 127.0.0.0/8 counter drop"));
	assert_non_null(strstr(buf, "iifname \"drover0\" ip saddr 127.0.0.0/8 counter drop"));
	/* each published port in prerouting (other hosts) and output (the host itself), never for
	 * 127.0.0.0/8 (H3) */
	assert_int_equal(
	    count(buf, "fib daddr type local ip daddr != 127.0.0.0/8 tcp dport 18080 dnat to 10.77.0.5:8080"),
	    2);
	assert_int_equal(
	    count(buf, "fib daddr type local ip daddr != 127.0.0.0/8 udp dport 10053 dnat to 10.77.0.5:53"),
	    2);
	assert_int_equal(count(buf, "dnat to"), 4);
	assert_non_null(strstr(buf, "type nat hook output priority -100;"));
	assert_non_null(strstr(buf, "iifname \"drover0\" accept"));
	/* host access and metadata closed by default (M8) */
	assert_non_null(strstr(buf, "iifname \"drover0\" ct state established,related accept\n"
				    "\t\tiifname \"drover0\" counter drop comment \"host access\""));
	assert_non_null(strstr(buf, "iifname \"drover0\" ip daddr 169.254.0.0/16 counter drop"));
	/* anti-spoofing per leased veth; the empty lease has none */
	net_veth_name("drover0", "web-0", veth);
	snprintf(rule, sizeof(rule), "iifname \"%s\" ether saddr 02:d7:0a:4d:00:05 ip saddr 10.77.0.5 accept",
		 veth);
	assert_non_null(strstr(buf, rule));
	snprintf(
	    rule, sizeof(rule),
	    "iifname \"%s\" ether saddr 02:d7:0a:4d:00:05 arp saddr ether 02:d7:0a:4d:00:05 arp saddr ip "
	    "10.77.0.5 accept",
	    veth);
	assert_non_null(strstr(buf, rule));
	assert_null(strstr(buf, "10.77.0.6"));
	assert_int_equal(count(buf, "ether saddr 02:d7:0a:4d:00:07 ip saddr 10.77.0.7 accept"), 1);
	snprintf(rule, sizeof(rule), "elements = { \"%s\", \"", veth);
	assert_non_null(strstr(buf, rule));
	assert_non_null(strstr(buf, "iifname != @instances accept\n"));
	assert_non_null(strstr(buf, "\t\tcounter drop comment \"spoofed\"\n\t}\n}\n"));
}

static void test_render_host_access_and_empty(void **state)
{
	_cleanup_pubs_ struct net_pubs pubs = {0};
	_cleanup_free_ char *buf = NULL;
	struct net_subnet sn;
	struct net_nft_spec spec = {
	    .table = "drover", .bridge = "drover0", .sn = &sn, .pubs = &pubs, .allow_host_access = true};
	(void)state;

	assert_int_equal(net_subnet_parse("10.77.0.0/24", &sn), 0);
	assert_int_equal(net_nft_render(&spec, &buf), 0);
	/* --allow-host-access opens the host and metadata, never loopback */
	assert_null(strstr(buf, "host access"));
	assert_null(strstr(buf, "169.254"));
	assert_non_null(strstr(buf, "iifname \"drover0\" ip daddr 127.0.0.0/8 counter drop"));
	/* no leases: an empty set, so every frame passes the bridge table untouched */
	assert_null(strstr(buf, "elements"));
	assert_non_null(strstr(buf, "set instances {\n\t\ttype ifname;\n\t}\n"));
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
	    cmocka_unit_test(test_render_host_access_and_empty),
	    cmocka_unit_test(test_render_refuses_bad_names),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
