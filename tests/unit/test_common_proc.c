/* proc_run_deadline: output is kept, exit statuses come back, and a child past its deadline is
 * killed and reaped at the deadline, not when it would have finished. */
#include <errno.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "common/cleanup.h"
#include "common/err.h"
#include "common/proc.h"
#include "common/timeutil.h"

static void test_output_and_status(void **state)
{
	(void)state;
	char *argv[] = {"/bin/sh", "-c", "echo out; echo err >&2; exit 3", NULL};
	_cleanup_free_ char *out = NULL, *errtxt = NULL;
	_cleanup_err_ struct err *e = NULL;
	int status = -1;

	assert_int_equal(proc_run_deadline("/bin/sh", argv, 5000, &status, &out, &errtxt, &e), 0);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 3);
	assert_string_equal(out, "out\n");
	assert_string_equal(errtxt, "err\n");
}

static void test_deadline_kills(void **state)
{
	(void)state;
	char *argv[] = {"/bin/sleep", "30", NULL};
	_cleanup_err_ struct err *e = NULL;
	int64_t t0 = time_mono_ns();
	int status = -1;

	assert_int_equal(proc_run_deadline("/bin/sleep", argv, 200, &status, NULL, NULL, &e), -ETIMEDOUT);
	assert_true(time_mono_ns() - t0 < 5LL * 1000 * 1000 * 1000);
	assert_non_null(strstr(err_msg(e), "200 ms"));
	assert_int_equal(status, -1); /* not written on failure */
	/* reaped: no child of ours is left */
	assert_int_equal(waitpid(-1, NULL, WNOHANG), -1);
	assert_int_equal(errno, ECHILD);
}

/* A grandchild keeping the pipe open does not hold the caller past the child's exit. */
static void test_grandchild_holding_pipe(void **state)
{
	(void)state;
	char *argv[] = {"/bin/sh", "-c", "sleep 30 & echo $!; exit 0", NULL};
	_cleanup_free_ char *out = NULL;
	_cleanup_err_ struct err *e = NULL;
	int64_t t0 = time_mono_ns();
	int status = -1;

	long grandchild;

	assert_int_equal(proc_run_deadline("/bin/sh", argv, 10000, &status, &out, NULL, &e), 0);
	grandchild = strtol(out, NULL, 10);
	if (grandchild > 0)
		(void)kill((pid_t)grandchild, SIGKILL); /* the test's own sleep, its pid just printed */
	assert_true(time_mono_ns() - t0 < 5LL * 1000 * 1000 * 1000);
	assert_int_equal(WEXITSTATUS(status), 0);
	assert_true(grandchild > 0);
}

static void test_missing_program(void **state)
{
	(void)state;
	char *argv[] = {"/nonexistent/prog", NULL};
	_cleanup_err_ struct err *e = NULL;
	int status = -1;

	/* the exec failure is the call's error (common/spawn.c), not an exit status 127 */
	assert_int_equal(proc_run_deadline("/nonexistent/prog", argv, 1000, &status, NULL, NULL, &e),
			 -ENOENT);
	assert_string_equal(err_msg(e), "cannot exec '/nonexistent/prog'");
	assert_int_equal(status, -1);
}

static void test_parent(void **state)
{
	(void)state;
	pid_t parent = 0;

	assert_int_equal(proc_parent(getpid(), &parent), 0);
	assert_int_equal(parent, getppid());
	assert_int_equal(proc_parent(1, &parent), 0);
	assert_int_equal(parent, 0);
	assert_true(proc_parent(-5, &parent) < 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_output_and_status),
	    cmocka_unit_test(test_deadline_kills),
	    cmocka_unit_test(test_grandchild_holding_pipe),
	    cmocka_unit_test(test_missing_program),
	    cmocka_unit_test(test_parent),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
