/* net/net-util.c: net_run_thread reports like net_run_child, and a namespace the thread makes or
 * joins stays the thread's (the netns part needs root: skipped without it). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <sched.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/cleanup.h"
#include "common/err.h"
#include "net/net-internal.h"

static int fails_with_msg(void *arg, char *msg, size_t msg_size)
{
	(void)arg;
	snprintf(msg, msg_size, "in the netns: %s", "it went wrong");
	return -EINVAL;
}

static int fails_silently(void *arg, char *msg, size_t msg_size)
{
	(void)arg;
	(void)msg;
	(void)msg_size;
	return -ENOENT;
}

static int succeeds(void *arg, char *msg, size_t msg_size)
{
	(void)msg;
	(void)msg_size;
	*(int *)arg = 42;
	return 0;
}

static void test_thread_report(void **state)
{
	_cleanup_err_ struct err *e = NULL;
	int seen = 0;

	(void)state;
	assert_int_equal(net_run_thread(succeeds, &seen, &e), 0);
	assert_int_equal(seen, 42);
	assert_null(e);
	assert_int_equal(net_run_thread(fails_with_msg, NULL, &e), -EINVAL);
	assert_string_equal(err_msg(e), "in the netns: it went wrong");
	err_free(&e);
	assert_int_equal(net_run_thread(fails_silently, NULL, &e), -ENOENT);
	assert_string_equal(err_msg(e), strerror(ENOENT));
}

static ino_t netns_ino(void)
{
	struct stat st;

	assert_int_equal(stat("/proc/thread-self/ns/net", &st), 0);
	return st.st_ino;
}

static int new_netns(void *arg, char *msg, size_t msg_size)
{
	if (unshare(CLONE_NEWNET) < 0) {
		snprintf(msg, msg_size, "unshare: %s", strerror(errno));
		return -errno;
	}
	*(ino_t *)arg = netns_ino();
	return 0;
}

/* The thread's new namespace is its own: the caller's stays, before and after. */
static void test_thread_netns_stays_in_thread(void **state)
{
	_cleanup_err_ struct err *e = NULL;
	ino_t before, inside = 0;

	(void)state;
	if (geteuid() != 0)
		skip();
	before = netns_ino();
	assert_int_equal(net_run_thread(new_netns, &inside, &e), 0);
	assert_true(inside != 0);
	assert_true(inside != before);
	assert_true(netns_ino() == before);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_thread_report),
	    cmocka_unit_test(test_thread_netns_stays_in_thread),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
