/* net/net-ports.c: the published-ports set and its ports.json round trip, on a temp dir; no root. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/fs.h"
#include "net/net-internal.h"

static const struct net_port web_ports[] = {
    {.container = 8080, .host = 18080},
    {.container = 53, .host = 10053, .udp = true},
    {.container = 9090, .host = 0}, /* not published: dropped */
};

static void test_set_and_holder(void **state)
{
	_cleanup_pubs_ struct net_pubs p = {0};
	(void)state;

	assert_int_equal(net_pubs_set(&p, "web-0", "10.77.0.2", web_ports, ELEMENTSOF(web_ports)), 0);
	assert_int_equal(p.n, 1);
	assert_int_equal(p.v[0].n_ports, 2);
	assert_string_equal(net_pubs_holder(&p, "other", 18080, false), "web-0");
	assert_string_equal(net_pubs_holder(&p, "other", 10053, true), "web-0");
	assert_null(net_pubs_holder(&p, "other", 18080, true));	 /* udp/18080 is free */
	assert_null(net_pubs_holder(&p, "web-0", 18080, false)); /* its own port */
	/* replacing, then removing with no ports */
	assert_int_equal(net_pubs_set(&p, "web-0", "10.77.0.2", web_ports, 1), 0);
	assert_int_equal(p.v[0].n_ports, 1);
	assert_int_equal(net_pubs_set(&p, "web-0", "", NULL, 0), 0);
	assert_int_equal(p.n, 0);
	assert_int_equal(net_pubs_find(&p, "web-0"), -1);
}

static void test_save_load(void **state)
{
	_cleanup_pubs_ struct net_pubs p = {0}, q = {0}, empty = {0};
	_cleanup_err_ struct err *e = NULL;
	char dir[] = "/tmp/test_net_ports.XXXXXX";
	int dfd;
	(void)state;

	assert_non_null(mkdtemp(dir));
	dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	assert_true(dfd >= 0);
	assert_int_equal(net_pubs_load(dfd, "ports.json", &empty, &e), 0); /* missing: empty */
	assert_int_equal(empty.n, 0);
	assert_int_equal(net_pubs_set(&p, "web-0", "10.77.0.2", web_ports, ELEMENTSOF(web_ports)), 0);
	assert_int_equal(net_pubs_set(&p, "db", "10.77.0.3", web_ports, 1), 0);
	assert_int_equal(net_pubs_save(dfd, "ports.json", &p, &e), 0);
	assert_int_equal(net_pubs_load(dfd, "ports.json", &q, &e), 0);
	assert_int_equal(q.n, 2);
	assert_string_equal(q.v[net_pubs_find(&q, "web-0")].ip, "10.77.0.2");
	assert_int_equal(q.v[net_pubs_find(&q, "web-0")].n_ports, 2);
	assert_true(q.v[net_pubs_find(&q, "web-0")].ports[1].udp);
	assert_int_equal(q.v[net_pubs_find(&q, "db")].ports[0].container, 8080);
	close(dfd);
	(void)fs_rm_rf(AT_FDCWD, dir); /* best effort: a temp dir */
}

static void test_load_bad(void **state)
{
	static const char *const bad[] = {
	    "{",
	    "[]",
	    "{\"instances\": []}",
	    "{\"instances\": {\"a\": {\"ip\": \"x\", \"ports\": []}}}",
	    "{\"instances\": {\"A/b\": {\"ip\": \"10.0.0.2\", \"ports\": []}}}",
	    "{\"instances\": {\"a\": {\"ip\": \"10.0.0.2\", \"ports\": [{\"container\": 0, \"host\": 1, "
	    "\"protocol\": \"tcp\"}]}}}",
	    "{\"instances\": {\"a\": {\"ip\": \"10.0.0.2\", \"ports\": [{\"container\": 1, \"host\": 1, "
	    "\"protocol\": \"sctp\"}]}}}",
	    "{\"instances\": {}, \"instances\": {}}",
	};
	char dir[] = "/tmp/test_net_ports.XXXXXX";
	int dfd;
	(void)state;

	assert_non_null(mkdtemp(dir));
	dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	assert_true(dfd >= 0);
	for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
		_cleanup_pubs_ struct net_pubs p = {0};
		_cleanup_err_ struct err *e = NULL;

		assert_int_equal(
		    fs_write_atomic(dfd, "ports.json", bad[i], strlen(bad[i]), 0600, FS_NOSYNC, &e), 0);
		assert_true(net_pubs_load(dfd, "ports.json", &p, &e) < 0);
		assert_non_null(e);
		assert_int_equal(p.n, 0);
	}
	close(dfd);
	(void)fs_rm_rf(AT_FDCWD, dir); /* best effort: a temp dir */
}

static void test_portset_parse(void **state)
{
	static const char *const bad[] = {"0",	   "65536", "22,",	  ",22", "22,,23", "a",
					  "22-",   "-22",   "30-20",	  "22 ", " 22",	   "1-2-3",
					  "99999", "22;23", "2379-2380x", NULL};
	struct net_portset set;
	(void)state;

	assert_int_equal(net_portset_parse("22,2379-2380,10250", &set), 0);
	assert_true(net_portset_has(&set, 22));
	assert_true(net_portset_has(&set, 2379));
	assert_true(net_portset_has(&set, 2380));
	assert_true(net_portset_has(&set, 10250));
	assert_false(net_portset_has(&set, 21));
	assert_false(net_portset_has(&set, 2381));
	assert_false(net_portset_has(&set, 0));
	assert_int_equal(net_portset_parse("1-65535", &set), 0);
	assert_true(net_portset_has(&set, 1));
	assert_true(net_portset_has(&set, 65535));
	assert_int_equal(net_portset_parse("", &set), 0); /* the empty set */
	assert_false(net_portset_has(&set, 22));
	assert_false(net_portset_has(NULL, 22));
	for (size_t i = 0; bad[i]; i++) {
		memset(&set, 0, sizeof(set));
		assert_int_equal(net_portset_parse(bad[i], &set), -EINVAL);
		assert_false(net_portset_has(&set, 22)); /* nothing written on failure */
	}
}

static void test_check_host_reserved(void **state)
{
	_cleanup_err_ struct err *e = NULL;
	struct net_portset set;
	(void)state;

	assert_int_equal(net_portset_parse("22,5000", &set), 0);
	assert_int_equal(net_port_check_host(5000, false, &set, &e), -EADDRINUSE);
	assert_non_null(strstr(err_msg(e), "host port tcp/5000 is reserved"));
	err_free(&e);
	assert_int_equal(net_port_check_host(5000, true, &set, &e), -EADDRINUSE);
	assert_non_null(strstr(err_msg(e), "udp/5000"));
	err_free(&e);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_set_and_holder),
	    cmocka_unit_test(test_save_load),
	    cmocka_unit_test(test_load_bad),
	    cmocka_unit_test(test_portset_parse),
	    cmocka_unit_test(test_check_host_reserved),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
