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
	struct net_nft_spec spec = {.tables = NET_NFT_IP | NET_NFT_BRIDGE,
				    .table = "drover",
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
	/* anti-spoofing per leased veth, as set elements; the empty lease has none */
	net_veth_name("drover0", "web-0", veth);
	snprintf(rule, sizeof(rule), "\"%s\" . 02:d7:0a:4d:00:05 . 10.77.0.5", veth);
	assert_non_null(strstr(buf, rule));
	snprintf(rule, sizeof(rule), "\"%s\" . 02:d7:0a:4d:00:05 . 02:d7:0a:4d:00:05 . 10.77.0.5", veth);
	assert_non_null(strstr(buf, rule));
	assert_null(strstr(buf, "10.77.0.6"));
	assert_int_equal(count(buf, ". 02:d7:0a:4d:00:07 . 10.77.0.7"), 2);
	snprintf(rule, sizeof(rule), "elements = { \"%s\", \"", veth);
	assert_non_null(strstr(buf, rule));
	assert_non_null(
	    strstr(buf, "iifname . ether saddr . ip saddr @ipv4_ok accept\n"
			"\t\tiifname . ether saddr . arp saddr ether . arp saddr ip @arp_ok accept\n"));
	assert_int_equal(count(buf, "element"), 3); /* one "elements =" per set, no per-veth rule */
	assert_non_null(strstr(buf, "iifname != @instances accept\n"));
	assert_non_null(strstr(buf, "\t\tcounter drop comment \"spoofed\"\n\t}\n}\n"));
}

static void test_render_host_access_and_empty(void **state)
{
	_cleanup_pubs_ struct net_pubs pubs = {0};
	_cleanup_free_ char *buf = NULL;
	struct net_subnet sn;
	struct net_nft_spec spec = {.tables = NET_NFT_IP | NET_NFT_BRIDGE,
				    .table = "drover",
				    .bridge = "drover0",
				    .sn = &sn,
				    .pubs = &pubs,
				    .allow_host_access = true};
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
	struct net_nft_spec spec = {.tables = NET_NFT_IP,
				    .table = "drover; flush ruleset",
				    .bridge = "drover0",
				    .sn = &sn,
				    .pubs = &pubs};
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

/* A start or a stop changes its lease's elements only: no table is replaced. */
static void test_render_change(void **state)
{
	_cleanup_pubs_ struct net_pubs pubs = {0};
	_cleanup_free_ char *buf = NULL, *del = NULL, *ip_and_del = NULL;
	struct net_lease leases[] = {{.id = "db"}};
	struct net_lease l = {.id = "web-0"};
	struct net_subnet sn;
	struct net_nft_spec spec = {.change = &l,
				    .change_add = true,
				    .table = "drover",
				    .bridge = "drover0",
				    .sn = &sn,
				    .pubs = &pubs,
				    .leases = leases,
				    .n_leases = 1};
	char veth[16], want[512];
	(void)state;

	assert_int_equal(net_subnet_parse("10.77.0.0/24", &sn), 0);
	assert_int_equal(net_ip_parse("10.77.0.5", &l.ip), 0);
	assert_int_equal(net_ip_parse("10.77.0.7", &leases[0].ip), 0);
	net_veth_name("drover0", "web-0", veth);
	assert_int_equal(net_nft_render(&spec, &buf), 0);
	snprintf(want, sizeof(want),
		 "add element bridge drover instances { \"%s\" }\n"
		 "add element bridge drover ipv4_ok { \"%s\" . 02:d7:0a:4d:00:05 . 10.77.0.5 }\n"
		 "add element bridge drover arp_ok { \"%s\" . 02:d7:0a:4d:00:05 . 02:d7:0a:4d:00:05 . "
		 "10.77.0.5 }\n",
		 veth, veth, veth);
	assert_string_equal(buf, want);
	/* a removal adds first, so it succeeds when an element is already gone */
	spec.change_add = false;
	assert_int_equal(net_nft_render(&spec, &del), 0);
	assert_int_equal(count(del, "add element"), 3);
	assert_int_equal(count(del, "delete element"), 3);
	assert_true(strstr(del, "add element bridge drover arp_ok") < strstr(del, "delete element"));
	assert_null(strstr(del, "table"));
	assert_null(strstr(del, "10.77.0.7"));
	/* with the ip table replaced (ports dropped) in the same transaction */
	spec.tables = NET_NFT_IP;
	assert_int_equal(net_nft_render(&spec, &ip_and_del), 0);
	assert_memory_equal(ip_and_del, "table ip drover\ndelete table ip drover\n", 38);
	assert_null(strstr(ip_and_del, "table bridge"));
	assert_int_equal(count(ip_and_del, "delete element"), 3);
}

/* Another lease whose veth has the same (hashed) name keeps that name in "instances", so its
 * frames stay filtered; only the removed lease's own address elements go. */
static void test_render_change_shared_veth_name(void **state)
{
	_cleanup_pubs_ struct net_pubs pubs = {0};
	_cleanup_free_ char *buf = NULL;
	/* two ids whose veth names collide on drover0 (found by search over 48-bit names) */
	struct net_lease l = {.id = "c16483267"};
	struct net_lease leases[] = {{.id = "c18118750"}};
	struct net_subnet sn;
	struct net_nft_spec spec = {.change = &l,
				    .table = "drover",
				    .bridge = "drover0",
				    .sn = &sn,
				    .pubs = &pubs,
				    .leases = leases,
				    .n_leases = 1};
	char a[16], b[16];
	(void)state;

	net_veth_name("drover0", l.id, a);
	net_veth_name("drover0", leases[0].id, b);
	assert_string_equal(a, b);
	assert_int_equal(net_subnet_parse("10.77.0.0/24", &sn), 0);
	assert_int_equal(net_ip_parse("10.77.0.5", &l.ip), 0);
	assert_int_equal(net_ip_parse("10.77.0.9", &leases[0].ip), 0);
	assert_int_equal(net_nft_render(&spec, &buf), 0);
	assert_null(strstr(buf, "delete element bridge drover instances"));
	assert_int_equal(count(buf, "delete element"), 2);
	assert_non_null(strstr(buf, "delete element bridge drover ipv4_ok { \"dvbef8d09a35f3\" . "
				    "02:d7:0a:4d:00:05 . 10.77.0.5 }"));
	free(buf);
	buf = NULL;
	/* no other lease: the name goes too */
	spec.n_leases = 0;
	assert_int_equal(net_nft_render(&spec, &buf), 0);
	assert_int_equal(count(buf, "delete element bridge drover instances"), 1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_render),
	    cmocka_unit_test(test_render_host_access_and_empty),
	    cmocka_unit_test(test_render_refuses_bad_names),
	    cmocka_unit_test(test_render_change),
	    cmocka_unit_test(test_render_change_shared_veth_name),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
