/* The trash: a rename on the caller's side, the delete in a background child watched through its
 * pidfd; leftovers of an earlier run are swept at start. */
#include <errno.h>
#include <dirent.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "agent/loop.h"
#include "agent/trash.h"
#include "common/cleanup.h"
#include "common/fs.h"
#include "common/timeutil.h"

struct fixture {
	char tmp[64];
	char *trash_dir;
	struct loop *loop;
	struct trash *trash;
	int64_t deadline;
};

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));

	if (!f)
		return -1;
	snprintf(f->tmp, sizeof(f->tmp), "/tmp/drover-trash-XXXXXX");
	if (!mkdtemp(f->tmp) || !(f->trash_dir = fs_path_join(f->tmp, "trash")) || loop_new(&f->loop) < 0)
		return -1;
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	trash_free(f->trash);
	loop_free(f->loop);
	(void)fs_rm_rf(AT_FDCWD, f->tmp); /* best effort: a temp dir */
	free(f->trash_dir);
	free(f);
	return 0;
}

/* dir/sub{0..n-1}/file{0..9}, so the child has real work. */
static void make_tree(const char *dir, int n)
{
	assert_int_equal(fs_mkdir_p(AT_FDCWD, dir, 0755), 0);
	for (int i = 0; i < n; i++) {
		char sub[512];
		snprintf(sub, sizeof(sub), "%s/sub%d", dir, i);
		assert_int_equal(mkdir(sub, 0755), 0);
		for (int k = 0; k < 10; k++) {
			char file[600];
			snprintf(file, sizeof(file), "%s/file%d", sub, k);
			int fd = open(file, O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
			assert_true(fd >= 0);
			close(fd);
		}
	}
}

static bool dir_is_empty(const char *dir)
{
	_cleanup_closedir_ DIR *d = opendir(dir);
	struct dirent *de;

	assert_non_null(d);
	while ((de = readdir(d)))
		if (strcmp(de->d_name, ".") != 0 && strcmp(de->d_name, "..") != 0)
			return false;
	return true;
}

static void check(struct loop *l, void *data)
{
	struct fixture *f = data;

	if (!trash_busy(f->trash) && dir_is_empty(f->trash_dir)) {
		loop_quit(l, 0);
		return;
	}
	if (time_mono_ns() > f->deadline) {
		loop_quit(l, 1);
		return;
	}
	(void)loop_timer_add(l, 10, check, f);
}

/* Runs the loop until the trash is empty and no child runs (0), or 20 s pass (1). */
static int wait_empty(struct fixture *f)
{
	f->deadline = time_mono_ns() + 20LL * 1000 * 1000 * 1000;
	(void)loop_timer_add(f->loop, 10, check, f);
	return loop_run(f->loop);
}

static void test_put_and_sweep(void **state)
{
	struct fixture *f = *state;
	_cleanup_free_ char *a = fs_path_join(f->tmp, "bundle-a");
	_cleanup_free_ char *b = fs_path_join(f->tmp, "bundle-b");
	_cleanup_free_ char *old = fs_path_join(f->trash_dir, "left-by-a-crash");
	_cleanup_err_ struct err *e = NULL;

	/* what an earlier run left: swept at start */
	make_tree(old, 50);
	assert_int_equal(trash_new(f->loop, f->trash_dir, &f->trash, &e), 0);
	make_tree(a, 200);
	make_tree(b, 20);
	/* the caller's side is a rename: the path is free at once, whatever its size */
	assert_int_equal(trash_put(f->trash, a, &e), 0);
	assert_false(fs_exists(a));
	assert_int_equal(trash_put(f->trash, b, &e), 0); /* while the child may still run */
	assert_false(fs_exists(b));
	assert_int_equal(trash_put(f->trash, a, &e), 0); /* absent: nothing to do */
	assert_int_equal(wait_empty(f), 0);
	assert_false(trash_busy(f->trash));
	assert_true(fs_exists(f->trash_dir));
}

static void test_other_filesystem(void **state)
{
	struct fixture *f = *state;
	_cleanup_err_ struct err *e = NULL;
	char dir[] = "/dev/shm/drover-trash-XXXXXX";

	assert_int_equal(trash_new(f->loop, f->trash_dir, &f->trash, &e), 0);
	if (!mkdtemp(dir))
		skip(); /* no tmpfs at /dev/shm here */
	assert_int_equal(trash_put(f->trash, dir, &e), -EXDEV);
	assert_true(fs_exists(dir)); /* left for the caller */
	(void)rmdir(dir);
	assert_int_equal(wait_empty(f), 0);
}

/* A mount is detached at once; the next child holds (and drops) its last reference. */
static void test_detach_mount(void **state)
{
	struct fixture *f = *state;
	_cleanup_free_ char *m = fs_path_join(f->tmp, "m");
	_cleanup_free_ char *plain = fs_path_join(f->tmp, "plain");
	_cleanup_err_ struct err *e = NULL;
	struct stat top, st;

	assert_int_equal(trash_new(f->loop, f->trash_dir, &f->trash, &e), 0);
	assert_int_equal(mkdir(m, 0755), 0);
	assert_int_equal(mkdir(plain, 0755), 0);
	if (mount("tmpfs", m, "tmpfs", 0, "size=1m") < 0)
		skip(); /* not root */
	make_tree(m, 3);
	assert_int_equal(trash_detach_mount(f->trash, m, &e), 0);
	assert_int_equal(stat(f->tmp, &top), 0);
	assert_int_equal(stat(m, &st), 0);
	assert_true(st.st_dev == top.st_dev);			      /* the path is a plain dir again */
	assert_int_equal(trash_detach_mount(f->trash, plain, &e), 0); /* nothing mounted: fine */
	assert_int_equal(wait_empty(f), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_put_and_sweep, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_other_filesystem, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_detach_mount, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
