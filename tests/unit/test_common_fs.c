/* common/fs.c: atomic writes (content, mode, no tmp file left, nothing on failure), capped reads,
 * knobs, mkdir -p, rm -rf that stops at symlinks and mount points, path joins. */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "common/cleanup.h"
#include "common/err.h"
#include "common/fs.h"

struct fixture {
	char dir[64];
	int dfd;
};

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));

	assert_non_null(f);
	snprintf(f->dir, sizeof(f->dir), "/tmp/test-common-fs-XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	f->dfd = open(f->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	assert_true(f->dfd >= 0);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	close(f->dfd);
	assert_int_equal(fs_rm_rf(AT_FDCWD, f->dir), 0);
	free(f);
	return 0;
}

static size_t count_entries(int dfd)
{
	_cleanup_closedir_ DIR *d = fdopendir(dup(dfd));
	struct dirent *de;
	size_t n = 0;

	assert_non_null(d);
	rewinddir(d); /* the dup shares its offset with earlier reads */
	while ((de = readdir(d)))
		if (strcmp(de->d_name, ".") != 0 && strcmp(de->d_name, "..") != 0)
			n++;
	return n;
}

static void test_write_atomic(void **state)
{
	struct fixture *f = *state;
	_cleanup_err_ struct err *e = NULL;
	_cleanup_free_ char *buf = NULL;
	struct stat st;
	size_t len = 0;

	for (int flags = 0; flags <= FS_NOSYNC; flags += FS_NOSYNC) {
		assert_int_equal(fs_write_atomic(f->dfd, "rec.json", "first", 5, 0600, flags, &e), 0);
		assert_int_equal(fs_write_atomic(f->dfd, "rec.json", "second!", 7, 0640, flags, &e), 0);
		assert_int_equal(fstatat(f->dfd, "rec.json", &st, 0), 0);
		assert_int_equal(st.st_mode & 07777, 0640); /* the mode asked for, whatever the umask */
		assert_int_equal(fs_read_file(f->dfd, "rec.json", 100, &buf, &len, &e), 0);
		assert_string_equal(buf, "second!");
		assert_int_equal(len, 7);
		free(TAKE_PTR(buf));
		assert_int_equal(count_entries(f->dfd), 1); /* no .tmp left behind */
	}
	/* a missing directory: an error naming the file, nothing created */
	assert_int_equal(fs_write_atomic(f->dfd, "no/such/dir/x", "x", 1, 0600, 0, &e), -ENOENT);
	assert_non_null(strstr(err_msg(e), "no/such/dir/x.tmp."));
	/* the target is a directory: the rename fails and the tmp file goes */
	assert_int_equal(mkdirat(f->dfd, "isdir", 0755), 0);
	assert_true(fs_write_atomic(f->dfd, "isdir", "x", 1, 0600, 0, &e) < 0);
	assert_non_null(strstr(err_msg(e), "rename"));
	assert_int_equal(count_entries(f->dfd), 2);
}

static void test_read_limits(void **state)
{
	struct fixture *f = *state;
	_cleanup_err_ struct err *e = NULL;
	_cleanup_free_ char *buf = NULL, *big = malloc(20000);
	size_t len = 0;

	assert_non_null(big);
	memset(big, 'a', 20000);
	assert_int_equal(fs_write_atomic(f->dfd, "big", big, 20000, 0600, FS_NOSYNC, &e), 0);
	assert_int_equal(fs_read_file(f->dfd, "big", 20000, &buf, &len, &e), 0);
	assert_int_equal(len, 20000);
	assert_int_equal(buf[20000], '\0');
	assert_int_equal(fs_read_file(f->dfd, "big", 19999, &buf, &len, &e), -EFBIG);
	assert_non_null(strstr(err_msg(e), "'big'"));
	assert_int_equal(fs_read_file(f->dfd, ".", 100, &buf, &len, &e), -EINVAL); /* not a regular file */
	assert_int_equal(fs_read_file(f->dfd, "missing", 100, &buf, &len, &e), -ENOENT);
	assert_string_equal(err_msg(e), "open 'missing'");
}

static void test_knobs(void **state)
{
	struct fixture *f = *state;
	_cleanup_err_ struct err *e = NULL;
	char buf[8];

	assert_int_equal(fs_write_knob(f->dfd, "knob", "1", &e), -ENOENT); /* knobs are never created */
	assert_int_equal(fs_write_atomic(f->dfd, "knob", "", 0, 0600, FS_NOSYNC, &e), 0);
	assert_int_equal(fs_write_knob(f->dfd, "knob", "123456789", &e), 0);
	assert_int_equal(fs_read_knob(f->dfd, "knob", buf, sizeof(buf), &e), 7); /* cut to the buffer */
	assert_string_equal(buf, "1234567");
	assert_int_equal(fs_read_knob(f->dfd, "knob", buf, 0, &e), -EINVAL);
	assert_int_equal(symlinkat("knob", f->dfd, "link"), 0);
	assert_int_equal(fs_read_knob(f->dfd, "link", buf, sizeof(buf), &e), -ELOOP); /* O_NOFOLLOW */
	assert_int_equal(fs_write_knob(f->dfd, "link", "1", &e), -ELOOP);
}

static void test_mkdir_rm(void **state)
{
	struct fixture *f = *state;
	_cleanup_free_ char *outside = fs_path_join(f->dir, "outside");
	_cleanup_free_ char *mnt = fs_path_join(f->dir, "tree/m");
	struct stat st;

	assert_int_equal(fs_mkdir_p(f->dfd, "tree/a/b/c", 0755), 0);
	assert_int_equal(fs_mkdir_p(f->dfd, "tree/a/b/c", 0755), 0); /* existing is fine */
	assert_int_equal(fs_mkdir_p(f->dfd, "tree/a/b/c/", 0755), 0);
	assert_int_equal(fstatat(f->dfd, "tree/a/b/c", &st, 0), 0);
	assert_true(S_ISDIR(st.st_mode));
	/* a symlink inside the tree to a dir outside: the link goes, the target stays */
	assert_int_equal(mkdirat(f->dfd, "outside", 0755), 0);
	assert_int_equal(mkdirat(f->dfd, "outside/keep", 0755), 0);
	assert_int_equal(symlinkat(outside, f->dfd, "tree/a/link"), 0);
	assert_int_equal(fs_write_atomic(f->dfd, "tree/a/b/file", "x", 1, 0600, FS_NOSYNC, NULL), 0);
	assert_int_equal(fs_rm_rf(f->dfd, "tree"), 0);
	assert_int_equal(fstatat(f->dfd, "tree", &st, AT_SYMLINK_NOFOLLOW), -1);
	assert_int_equal(fstatat(f->dfd, "outside/keep", &st, 0), 0);
	assert_int_equal(fs_rm_rf(f->dfd, "tree"), 0); /* missing is fine */
	/* a mount point inside: -EBUSY, and nothing on the other filesystem is touched */
	assert_int_equal(fs_mkdir_p(f->dfd, "tree/m", 0755), 0);
	if (mount("tmpfs", mnt, "tmpfs", 0, "size=1m") < 0)
		skip(); /* not root */
	_cleanup_free_ char *inside = fs_path_join(mnt, "data");
	assert_int_equal(fs_write_atomic(AT_FDCWD, inside, "x", 1, 0600, FS_NOSYNC, NULL), 0);
	assert_int_equal(fs_rm_rf(f->dfd, "tree"), -EBUSY);
	assert_int_equal(stat(inside, &st), 0);
	assert_int_equal(umount2(mnt, MNT_DETACH), 0);
	assert_int_equal(fs_rm_rf(f->dfd, "tree"), 0);
}

static void test_path_join(void **state)
{
	static const char *const cases[][3] = {
	    {"/a", "b", "/a/b"},	{"/a/", "b", "/a/b"}, {"/a", "/b", "/a/b"},
	    {"/a/", "//b/c", "/a/b/c"}, {"", "b", "/b"},      {"/", "b", "/b"},
	};

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		_cleanup_free_ char *p = fs_path_join(cases[i][0], cases[i][1]);
		assert_string_equal(p, cases[i][2]);
	}
	assert_true(fs_exists("/"));
	assert_false(fs_exists("/nonexistent/x"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_write_atomic, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_read_limits, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_knobs, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_mkdir_rm, setup, teardown),
	    cmocka_unit_test(test_path_join),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
