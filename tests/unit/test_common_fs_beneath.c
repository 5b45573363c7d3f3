/* fs_read_beneath: how the assignments dir is read. FIFOs, devices, /proc files and symlinks out
 * of the dir are refused without blocking; symlinks inside the dir are followed. */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <cmocka.h>

#include "common/cleanup.h"
#include "common/fs.h"

struct fixture {
	char tmp[64];
	int dfd;
};

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));

	if (!f)
		return -1;
	snprintf(f->tmp, sizeof(f->tmp), "/tmp/drover-beneath-XXXXXX");
	if (!mkdtemp(f->tmp))
		return -1;
	f->dfd = open(f->tmp, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	*state = f;
	return f->dfd >= 0 ? 0 : -1;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	close(f->dfd);
	(void)fs_rm_rf(AT_FDCWD, f->tmp); /* best effort: a temp dir */
	free(f);
	return 0;
}

static void put(struct fixture *f, const char *name, const char *text)
{
	_cleanup_close_ int fd = openat(f->dfd, name, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);

	assert_true(fd >= 0);
	assert_int_equal(fs_write_all(fd, text, strlen(text)), 0);
}

static int try_read(struct fixture *f, const char *name, size_t max, char **ret, struct err **e)
{
	size_t len = 0;

	*ret = NULL;
	return fs_read_beneath(f->dfd, name, max, ret, &len, e);
}

static void expect_refused(struct fixture *f, const char *name, int errnum, const char *needle)
{
	_cleanup_err_ struct err *e = NULL;
	_cleanup_free_ char *buf = NULL;
	int r = try_read(f, name, 4096, &buf, &e);

	if (r != -errnum)
		fail_msg("'%s': got %d (%s), expected %d", name, r, e ? err_msg(e) : "", -errnum);
	assert_null(buf);
	if (needle && !strstr(err_msg(e), needle))
		fail_msg("'%s': '%s' lacks '%s'", name, err_msg(e), needle);
}

static void test_regular(void **state)
{
	struct fixture *f = *state;
	_cleanup_err_ struct err *e = NULL;
	_cleanup_free_ char *buf = NULL;

	put(f, "a.json", "{\"id\":\"a\"}");
	assert_int_equal(try_read(f, "a.json", 4096, &buf, &e), 0);
	assert_string_equal(buf, "{\"id\":\"a\"}");
	expect_refused(f, "missing.json", ENOENT, NULL);
	put(f, "big.json", "0123456789");
	{
		_cleanup_err_ struct err *e2 = NULL;
		_cleanup_free_ char *b2 = NULL;
		assert_int_equal(try_read(f, "big.json", 5, &b2, &e2), -EFBIG);
	}
	put(f, "empty.json", "");
	expect_refused(f, "empty.json", ENODATA, "empty");
}

static void test_fifo_and_dir(void **state)
{
	struct fixture *f = *state;

	/* no writer ever comes: a blocking open would hang the test (and the agent) here */
	assert_int_equal(mkfifoat(f->dfd, "fifo.json", 0644), 0);
	expect_refused(f, "fifo.json", EINVAL, "not a regular file");
	assert_int_equal(mkdirat(f->dfd, "dir.json", 0755), 0);
	expect_refused(f, "dir.json", EINVAL, "not a regular file");
	/* a symlink (inside the dir) to the FIFO is no way around it */
	assert_int_equal(symlinkat("fifo.json", f->dfd, "to-fifo.json"), 0);
	expect_refused(f, "to-fifo.json", EINVAL, "not a regular file");
}

static void test_symlinks(void **state)
{
	struct fixture *f = *state;
	_cleanup_err_ struct err *e = NULL;
	_cleanup_free_ char *buf = NULL;

	/* inside the dir (ConfigMap style): followed */
	assert_int_equal(mkdirat(f->dfd, "..data", 0755), 0);
	put(f, "..data/b.json", "{\"id\":\"b\"}");
	assert_int_equal(symlinkat("..data/b.json", f->dfd, "b.json"), 0);
	assert_int_equal(try_read(f, "b.json", 4096, &buf, &e), 0);
	assert_string_equal(buf, "{\"id\":\"b\"}");
	/* out of the dir: refused, whatever the target is */
	assert_int_equal(symlinkat("/proc/kmsg", f->dfd, "kmsg.json"), 0);
	expect_refused(f, "kmsg.json", EXDEV, "leads out of its directory");
	assert_int_equal(symlinkat("/proc/self/status", f->dfd, "status.json"), 0);
	expect_refused(f, "status.json", EXDEV, "leads out of its directory");
	assert_int_equal(symlinkat("/etc/passwd", f->dfd, "passwd.json"), 0);
	expect_refused(f, "passwd.json", EXDEV, NULL);
	assert_int_equal(symlinkat("../../../../etc/passwd", f->dfd, "rel.json"), 0);
	expect_refused(f, "rel.json", EXDEV, NULL);
	/* a device node is never opened for reading */
	if (mknodat(f->dfd, "null.json", S_IFCHR | 0644, makedev(1, 3)) == 0)
		expect_refused(f, "null.json", EINVAL, "not a regular file");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_regular, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_fifo_and_dir, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_symlinks, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
