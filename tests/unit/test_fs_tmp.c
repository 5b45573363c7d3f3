/* fs_write_atomic's temp files: recognised by name, and swept at start when a crash between write
 * and rename left them (issue 10); the crash hook stays off without DROVER_CRASH_AT. */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "common/cleanup.h"
#include "common/crash.h"
#include "common/fs.h"

static void touch(const char *dir, const char *name)
{
	_cleanup_free_ char *p = fs_path_join(dir, name);
	int fd = open(p, O_WRONLY | O_CREAT | O_CLOEXEC, 0600);

	assert_true(fd >= 0);
	close(fd);
}

static bool present(const char *dir, const char *name)
{
	_cleanup_free_ char *p = fs_path_join(dir, name);

	return fs_exists(p);
}

static void test_is_atomic_tmp(void **state)
{
	(void)state;
	assert_true(fs_is_atomic_tmp("web-0.json.tmp.1234"));
	assert_true(fs_is_atomic_tmp("a.tmp.1.tmp.2"));
	assert_false(fs_is_atomic_tmp("web-0.json"));
	assert_false(fs_is_atomic_tmp("web-0.json.tmp."));
	assert_false(fs_is_atomic_tmp("web-0.json.tmp.12x"));
	assert_false(fs_is_atomic_tmp(".tmp.12"));
	assert_false(fs_is_atomic_tmp("x.tmp.1.json"));
}

static void test_remove_stale(void **state)
{
	char dir[] = "/tmp/drover-fstmp-XXXXXX";
	char own[64];

	(void)state;
	assert_non_null(mkdtemp(dir));
	snprintf(own, sizeof(own), "mine.json.tmp.%d", (int)getpid());
	touch(dir, "a.json");
	touch(dir, "a.json.tmp.99999999");
	touch(dir, "b.json.tmp.1");
	touch(dir, own);
	touch(dir, "notes.tmp.txt");
	assert_int_equal(fs_remove_stale_tmp(dir), 2);
	assert_true(present(dir, "a.json"));
	assert_false(present(dir, "a.json.tmp.99999999"));
	assert_false(present(dir, "b.json.tmp.1"));
	assert_true(present(dir, own)); /* this process's own write may be under way */
	assert_true(present(dir, "notes.tmp.txt"));
	assert_int_equal(fs_remove_stale_tmp(dir), 0);
	assert_int_equal(fs_remove_stale_tmp("/nonexistent-drover-dir"), 0);
	assert_int_equal(fs_rm_rf(AT_FDCWD, dir), 0);
}

/* Without DROVER_CRASH_AT (or with another point named) a crash point is a no-op, and a write
 * through fs_write_atomic completes. */
static void test_crash_point_off(void **state)
{
	char dir[] = "/tmp/drover-fstmp-XXXXXX";
	_cleanup_close_ int dfd = -1;
	_cleanup_err_ struct err *e = NULL;

	(void)state;
	assert_non_null(mkdtemp(dir));
	crash_point("state-write");
	dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	assert_int_equal(fs_write_atomic(dfd, "x.json", "{}", 2, 0600, FS_NOSYNC, &e), 0);
	assert_true(present(dir, "x.json"));
	assert_int_equal(fs_rm_rf(AT_FDCWD, dir), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_is_atomic_tmp),
	    cmocka_unit_test(test_remove_stale),
	    cmocka_unit_test(test_crash_point_off),
	};

	unsetenv("DROVER_CRASH_AT");
	return cmocka_run_group_tests(tests, NULL, NULL);
}
