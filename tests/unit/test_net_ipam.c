/* net/net-ipam.c (and the subnet parser of net-util.c): host-local IPAM on a temp lease dir; no root. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/fs.h"
#include "net/net-internal.h"

struct fix {
	char root[64];
	char leases[PATH_MAX];
};

static int setup(void **state)
{
	struct fix *f = calloc(1, sizeof(*f));

	assert_non_null(f);
	snprintf(f->root, sizeof(f->root), "/tmp/test_net_ipam.XXXXXX");
	assert_non_null(mkdtemp(f->root));
	snprintf(f->leases, sizeof(f->leases), "%s/net/leases", f->root);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fix *f = *state;

	(void)fs_rm_rf(AT_FDCWD, f->root); /* best effort: a temp dir */
	free(f);
	return 0;
}

static struct net_ipam *open_ipam(struct fix *f, const char *subnet)
{
	_cleanup_err_ struct err *e = NULL;
	struct net_ipam *ipam = NULL;

	assert_int_equal(net_ipam_open(f->leases, subnet, &ipam, &e), 0);
	return ipam;
}

static uint32_t ip_of(const char *s)
{
	uint32_t ip = 0;

	assert_int_equal(net_ip_parse(s, &ip), 0);
	return ip;
}

static void read_lease_file(struct fix *f, const char *name, char *buf, size_t size)
{
	char path[PATH_MAX + 32];
	FILE *fp;
	size_t n;

	snprintf(path, sizeof(path), "%s/%s", f->leases, name);
	fp = fopen(path, "re");
	assert_non_null(fp);
	n = fread(buf, 1, size - 1, fp);
	buf[n] = '\0';
	fclose(fp);
}

static void write_lease_file(struct fix *f, const char *name, const char *content)
{
	char path[PATH_MAX + 32];
	int fd;

	snprintf(path, sizeof(path), "%s/%s", f->leases, name);
	fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
	assert_true(fd >= 0);
	assert_int_equal(fs_write_all(fd, content, strlen(content)), 0);
	close(fd);
}

static void test_subnet_parse(void **state)
{
	struct net_subnet sn;
	(void)state;

	assert_int_equal(net_subnet_parse("10.77.0.0/24", &sn), 0);
	assert_int_equal(sn.prefix_len, 24);
	assert_int_equal(sn.gateway, ip_of("10.77.0.1"));
	assert_int_equal(sn.first, ip_of("10.77.0.2"));
	assert_int_equal(sn.last, ip_of("10.77.0.254"));
	assert_int_equal(sn.broadcast, ip_of("10.77.0.255"));
	assert_int_equal(net_subnet_parse("10.77.0.0/30", &sn), 0);
	assert_int_equal(sn.first, sn.last); /* gateway + one instance */
}

static void test_subnet_malformed(void **state)
{
	static const char *const bad[] = {
	    "10.77.0.0",     "10.77.0.0/",    "10.77.0.0/33", "10.77.0.0/31",  "10.77.0.0/32",
	    "10.77.0.5/24",  "10.0.0.0/7",    "x/24",	      "256.1.1.1/24",  "10.77.0.0/2a",
	    "10.77.0.0/024", " 10.77.0.0/24", "10.77.0/24",   "10.77.0.0/24 ", ""};
	_cleanup_err_ struct err *e = NULL;
	struct net_ipam *ipam = NULL;
	struct fix *f = *state;
	struct net_subnet sn;

	for (size_t i = 0; i < ELEMENTSOF(bad); i++)
		assert_int_equal(net_subnet_parse(bad[i], &sn), -EINVAL);
	assert_int_equal(net_subnet_parse(NULL, &sn), -EINVAL);
	assert_int_equal(net_ipam_open(f->leases, "10.77.0.5/24", &ipam, &e), -EINVAL);
	assert_null(ipam);
	assert_non_null(strstr(err_msg(e), "10.77.0.5/24"));
}

static void test_allocate_and_reuse(void **state)
{
	_cleanup_err_ struct err *e = NULL;
	struct fix *f = *state;
	struct net_ipam *ipam = open_ipam(f, "10.77.0.0/24");
	uint32_t a = 0, again = 0;
	char id[64];

	assert_int_equal(net_ipam_allocate(ipam, "web-0", &a, &e), 1);
	assert_int_equal(a, ip_of("10.77.0.2")); /* .1 is the gateway */
	read_lease_file(f, "10.77.0.2", id, sizeof(id));
	assert_string_equal(id, "web-0");
	assert_int_equal(net_ipam_allocate(ipam, "web-0", &again, &e), 0);
	assert_int_equal(again, a);
	net_ipam_free(ipam);

	/* a new handle (a restarted agent) finds the same lease */
	ipam = open_ipam(f, "10.77.0.0/24");
	assert_int_equal(net_ipam_allocate(ipam, "web-0", &again, &e), 0);
	assert_int_equal(again, a);
	net_ipam_free(ipam);
}

static void test_distinct_ids(void **state)
{
	_cleanup_err_ struct err *e = NULL;
	struct fix *f = *state;
	struct net_ipam *ipam = open_ipam(f, "10.77.0.0/24");
	uint32_t ips[20];
	char id[16];

	for (int i = 0; i < 20; i++) {
		snprintf(id, sizeof(id), "i-%d", i);
		assert_int_equal(net_ipam_allocate(ipam, id, &ips[i], &e), 1);
		for (int k = 0; k < i; k++)
			assert_int_not_equal(ips[i], ips[k]);
		assert_true(ips[i] >= ip_of("10.77.0.2") && ips[i] <= ip_of("10.77.0.254"));
	}
	net_ipam_free(ipam);
}

static void test_exhaustion_30(void **state)
{
	_cleanup_err_ struct err *e = NULL;
	struct fix *f = *state;
	struct net_ipam *ipam = open_ipam(f, "10.77.0.0/30");
	uint32_t a = 0, b = 0;

	assert_int_equal(net_ipam_allocate(ipam, "a", &a, &e), 1);
	assert_int_equal(a, ip_of("10.77.0.2"));
	assert_int_equal(net_ipam_allocate(ipam, "b", &b, &e), -ENOSPC);
	assert_string_equal(err_msg(e), "subnet 10.77.0.0/30 has no free address (1 in use)");
	/* the holder is not disturbed, and still gets its address */
	assert_int_equal(net_ipam_allocate(ipam, "a", &b, &e), 0);
	assert_int_equal(b, a);
	net_ipam_free(ipam);
}

static void test_release_and_reallocate(void **state)
{
	_cleanup_err_ struct err *e = NULL;
	struct fix *f = *state;
	struct net_ipam *ipam = open_ipam(f, "10.77.0.0/30");
	uint32_t a = 0, b = 0;
	char path[PATH_MAX + 32];

	assert_int_equal(net_ipam_allocate(ipam, "a", &a, &e), 1);
	assert_int_equal(net_ipam_release(ipam, "a", &e), 1);
	snprintf(path, sizeof(path), "%s/10.77.0.2", f->leases);
	assert_false(fs_exists(path));
	assert_int_equal(net_ipam_release(ipam, "a", &e), 0); /* idempotent */
	assert_int_equal(net_ipam_allocate(ipam, "b", &b, &e), 1);
	assert_int_equal(b, a);
	/* release only removes the caller's own lease */
	assert_int_equal(net_ipam_release(ipam, "a", &e), 0);
	assert_true(fs_exists(path));
	assert_int_equal(net_ipam_release_ip(ipam, b, "someone-else", &e), 0);
	assert_true(fs_exists(path));
	net_ipam_free(ipam);
}

static void test_next_after_last(void **state)
{
	_cleanup_err_ struct err *e = NULL;
	struct fix *f = *state;
	struct net_ipam *ipam = open_ipam(f, "10.77.0.0/29"); /* .2 .. .6 */
	uint32_t ip = 0;
	char id[16];

	for (int i = 0; i < 5; i++) {
		snprintf(id, sizeof(id), "n%d", i);
		assert_int_equal(net_ipam_allocate(ipam, id, &ip, &e), 1);
	}
	assert_int_equal(ip, ip_of("10.77.0.6"));
	assert_int_equal(net_ipam_allocate(ipam, "more", &ip, &e), -ENOSPC);
	assert_non_null(strstr(err_msg(e), "(5 in use)"));
	/* a freed address is taken again only after wrapping around */
	assert_int_equal(net_ipam_release(ipam, "n1", &e), 1); /* .3 */
	assert_int_equal(net_ipam_release(ipam, "n3", &e), 1); /* .5 */
	assert_int_equal(net_ipam_allocate(ipam, "x", &ip, &e), 1);
	assert_int_equal(ip, ip_of("10.77.0.3"));
	net_ipam_free(ipam);
	ipam = open_ipam(f, "10.77.0.0/29"); /* the cursor is persisted */
	assert_int_equal(net_ipam_allocate(ipam, "y", &ip, &e), 1);
	assert_int_equal(ip, ip_of("10.77.0.5"));
	net_ipam_free(ipam);
}

static void test_existing_file_skipped(void **state)
{
	_cleanup_err_ struct err *e = NULL;
	_cleanup_free_ struct net_lease *v = NULL;
	struct fix *f = *state;
	struct net_ipam *ipam = open_ipam(f, "10.77.0.0/24");
	uint32_t ip = 0;
	size_t n = 0;

	/* another writer (or a crash between create and write) already holds .2 and .3 */
	write_lease_file(f, "10.77.0.2", "other");
	write_lease_file(f, "10.77.0.3", "");
	assert_int_equal(net_ipam_allocate(ipam, "mine", &ip, &e), 1);
	assert_int_equal(ip, ip_of("10.77.0.4"));
	assert_int_equal(net_ipam_allocate(ipam, "other", &ip, &e), 0);
	assert_int_equal(ip, ip_of("10.77.0.2"));
	assert_int_equal(net_ipam_list(ipam, &v, &n, &e), 0);
	assert_int_equal(n, 3); /* last_reserved and stray names are not leases */
	/* reclaim frees an empty lease by address */
	assert_int_equal(net_ipam_release_ip(ipam, ip_of("10.77.0.3"), "", &e), 1);
	net_ipam_free(ipam);
}

static void test_invalid_id(void **state)
{
	static const char *const bad[] = {"", "A", "-x", "a/b", "..", ".x", "a b"};
	_cleanup_err_ struct err *e = NULL;
	struct fix *f = *state;
	struct net_ipam *ipam = open_ipam(f, "10.77.0.0/24");
	uint32_t ip = 0;

	for (size_t i = 0; i < ELEMENTSOF(bad); i++)
		assert_int_equal(net_ipam_allocate(ipam, bad[i], &ip, &e), -EINVAL);
	assert_true(net_id_valid("web-0"));
	assert_true(net_id_valid("a.b_c-9"));
	net_ipam_free(ipam);
}

static void test_clear(void **state)
{
	_cleanup_err_ struct err *e = NULL;
	_cleanup_free_ struct net_lease *v = NULL;
	struct fix *f = *state;
	struct net_ipam *ipam = open_ipam(f, "10.77.0.0/24");
	uint32_t ip = 0;
	size_t n = 1;

	assert_int_equal(net_ipam_allocate(ipam, "a", &ip, &e), 1);
	assert_int_equal(net_ipam_allocate(ipam, "b", &ip, &e), 1);
	assert_int_equal(net_ipam_clear(ipam, &e), 0);
	assert_int_equal(net_ipam_list(ipam, &v, &n, &e), 0);
	assert_int_equal(n, 0);
	net_ipam_free(ipam);
}

static void test_veth_name(void **state)
{
	char a[16], b[16], c[16];
	(void)state;

	net_veth_name("drover0", "web-0", a);
	net_veth_name("drover0", "web-0", b);
	net_veth_name("drover1", "web-0", c);
	assert_string_equal(a, b);
	assert_string_not_equal(a, c);
	assert_int_equal(strlen(a), 14); /* "dv" + 48 bits in hex, within IFNAMSIZ */
	assert_memory_equal(a, "dv", 2);
	assert_int_equal(strspn(a + 2, "0123456789abcdef"), 12);
	net_veth_name("drover0", "web-1", b);
	assert_string_not_equal(a, b);
	/* the earlier 32-bit name is still known, and differs from the new one */
	net_veth_name_legacy("drover0", "web-0", c);
	assert_int_equal(strlen(c), 10);
	assert_string_not_equal(a, c);
}

static void test_mac_for_ip(void **state)
{
	char buf[NET_MAC_STRLEN];
	uint8_t m[6];
	uint32_t ip;
	(void)state;

	assert_int_equal(net_ip_parse("10.77.0.5", &ip), 0);
	net_mac_for_ip(ip, m);
	net_mac_format(m, buf);
	assert_string_equal(buf, "02:d7:0a:4d:00:05");
	assert_int_equal(m[0] & 1, 0); /* unicast */
	assert_int_equal(m[0] & 2, 2); /* locally administered */
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_subnet_parse),
	    cmocka_unit_test_setup_teardown(test_subnet_malformed, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_allocate_and_reuse, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_distinct_ids, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_exhaustion_30, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_release_and_reallocate, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_next_after_last, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_existing_file_skipped, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_invalid_id, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_clear, setup, teardown),
	    cmocka_unit_test(test_veth_name),
	    cmocka_unit_test(test_mac_for_ip),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
