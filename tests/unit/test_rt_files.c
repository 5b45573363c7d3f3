/* rt_files_write: files land inside the rootfs only, parents are made, '..' and symlink escapes fail. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "common/cleanup.h"
#include "common/err.h"
#include "common/fs.h"
#include "runtime/rt.h"

struct fixture {
	char rootfs[64];
	char outside[64];
	int rootfd;
};

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));

	if (!f)
		return -1;
	umask(022);
	snprintf(f->rootfs, sizeof(f->rootfs), "/tmp/drover-test-rootfs-XXXXXX");
	snprintf(f->outside, sizeof(f->outside), "/tmp/outside-XXXXXX");
	f->rootfd = -1;
	*state = f;
	if (!mkdtemp(f->rootfs) || !mkdtemp(f->outside))
		return -1;
	f->rootfd = open(f->rootfs, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	return f->rootfd < 0 ? -1 : 0;
}

/* Runs even when a test fails: nothing is left in /tmp. */
static int teardown(void **state)
{
	struct fixture *f = *state;

	if (f->rootfd >= 0)
		close(f->rootfd);
	if (f->rootfs[strlen(f->rootfs) - 1] != 'X')
		(void)fs_rm_rf(AT_FDCWD, f->rootfs);
	if (f->outside[strlen(f->outside) - 1] != 'X')
		(void)fs_rm_rf(AT_FDCWD, f->outside);
	free(f);
	return 0;
}

static char *read_in(const char *dir, const char *rel)
{
	_cleanup_free_ char *p = fs_path_join(dir, rel);
	_cleanup_err_ struct err *e = NULL;
	char *buf = NULL;

	if (fs_read_file(AT_FDCWD, p, 4096, &buf, NULL, &e) < 0)
		return NULL;
	return buf;
}

static mode_t mode_of(const char *dir, const char *rel)
{
	_cleanup_free_ char *p = fs_path_join(dir, rel);
	struct stat st;

	if (lstat(p, &st) < 0)
		return (mode_t)-1;
	return st.st_mode;
}

static bool dir_empty(const char *dir)
{
	_cleanup_closedir_ DIR *d = opendir(dir);
	struct dirent *de;

	assert_non_null(d);
	while ((de = readdir(d)))
		if (strcmp(de->d_name, ".") != 0 && strcmp(de->d_name, "..") != 0)
			return false;
	return true;
}

static void test_write_with_parents(void **state)
{
	struct fixture *f = *state;
	const struct rt_file files[] = {
	    {"/etc/hosts", "127.0.0.1 localhost\n", 20, 0644},
	    {"/run/secrets/db/password", "s3cret", 6, 0400},
	    {"/empty", NULL, 0, 0600},
	};
	_cleanup_err_ struct err *e = NULL;
	_cleanup_free_ char *hosts = NULL, *pw = NULL, *empty = NULL;
	int r;

	r = rt_files_write(f->rootfd, files, ELEMENTSOF(files), 0, &e);
	if (r < 0)
		fail_msg("rt_files_write: %s", err_msg(e));
	hosts = read_in(f->rootfs, "etc/hosts");
	pw = read_in(f->rootfs, "run/secrets/db/password");
	empty = read_in(f->rootfs, "empty");
	assert_non_null(hosts);
	assert_string_equal(hosts, "127.0.0.1 localhost\n");
	assert_string_equal(pw, "s3cret");
	assert_string_equal(empty, "");
	assert_int_equal(mode_of(f->rootfs, "etc/hosts") & 07777, 0644);
	assert_int_equal(mode_of(f->rootfs, "run/secrets/db/password") & 07777, 0400);
	assert_true(S_ISDIR(mode_of(f->rootfs, "run/secrets/db")));
	assert_int_equal(mode_of(f->rootfs, "run/secrets/db") & 07777, 0755);
}

static void test_replace_existing(void **state)
{
	struct fixture *f = *state;
	const struct rt_file first = {"/etc/resolv.conf", "old old old\n", 12, 0600};
	const struct rt_file second = {"/etc/resolv.conf", "nameserver 10.0.0.1\n", 20, 0644};
	_cleanup_err_ struct err *e = NULL;
	_cleanup_free_ char *got = NULL;

	assert_int_equal(rt_files_write(f->rootfd, &first, 1, 0, &e), 0);
	assert_int_equal(rt_files_write(f->rootfd, &second, 1, 0, &e), 0);
	got = read_in(f->rootfs, "etc/resolv.conf");
	assert_string_equal(got, "nameserver 10.0.0.1\n");
	assert_int_equal(mode_of(f->rootfs, "etc/resolv.conf") & 07777, 0644);
}

/* The image's rootfs/etc is a symlink to a host directory: nothing may appear there. */
static void test_symlink_dir_escape(void **state)
{
	struct fixture *f = *state;
	_cleanup_free_ char *link = fs_path_join(f->rootfs, "etc");
	_cleanup_free_ char *up = NULL;
	const struct rt_file x = {"/etc/x", "pwned", 5, 0644};
	const struct rt_file y = {"/up/y", "pwned", 5, 0644};
	_cleanup_err_ struct err *e = NULL;
	char rel[PATH_MAX];
	int r;

	assert_int_equal(symlink(f->outside, link), 0);
	r = rt_files_write(f->rootfd, &x, 1, 0, &e);
	/* the link resolves to rootfs/tmp/outside-XXXXXX, which does not exist */
	assert_int_equal(r, -ENOENT);
	assert_non_null(strstr(e->msg, "/etc/x"));
	assert_true(dir_empty(f->outside));

	/* a relative link climbing out with '..' stops at the rootfs */
	snprintf(rel, sizeof(rel), "../../../../../../..%s", f->outside);
	up = fs_path_join(f->rootfs, "up");
	assert_int_equal(symlink(rel, up), 0);
	r = rt_files_write(f->rootfd, &y, 1, 0, &e);
	assert_true(r < 0);
	assert_true(dir_empty(f->outside));
}

/* The final component is a symlink out of the rootfs: it is replaced, not followed. */
static void test_symlink_file_replaced(void **state)
{
	struct fixture *f = *state;
	_cleanup_free_ char *target = fs_path_join(f->outside, "resolv.conf");
	_cleanup_free_ char *link = fs_path_join(f->rootfs, "resolv.conf");
	const struct rt_file rf = {"/resolv.conf", "nameserver 1.1.1.1\n", 19, 0644};
	_cleanup_err_ struct err *e = NULL;
	_cleanup_free_ char *got = NULL;

	assert_int_equal(symlink(target, link), 0);
	assert_int_equal(rt_files_write(f->rootfd, &rf, 1, 0, &e), 0);
	assert_true(S_ISREG(mode_of(f->rootfs, "resolv.conf")));
	got = read_in(f->rootfs, "resolv.conf");
	assert_string_equal(got, "nameserver 1.1.1.1\n");
	assert_true(dir_empty(f->outside));
}

/* An absolute symlink that stays inside the image resolves against the rootfs, like in the container. */
static void test_symlink_inside(void **state)
{
	struct fixture *f = *state;
	_cleanup_free_ char *data = fs_path_join(f->rootfs, "data");
	_cleanup_free_ char *link = fs_path_join(f->rootfs, "lnk");
	const struct rt_file z = {"/lnk/sub/z", "zz", 2, 0644};
	_cleanup_err_ struct err *e = NULL;
	_cleanup_free_ char *got = NULL;

	assert_int_equal(mkdir(data, 0755), 0);
	assert_int_equal(symlink("/data", link), 0);
	if (rt_files_write(f->rootfd, &z, 1, 0, &e) < 0)
		fail_msg("rt_files_write: %s", err_msg(e));
	got = read_in(f->rootfs, "data/sub/z");
	assert_string_equal(got, "zz");
}

/* setuid, setgid and sticky go unless the operator keeps them; chown gives the files to the user
 * and puts the mode back (chown clears setuid). */
static void test_mode_special_bits(void **state)
{
	struct fixture *f = *state;
	const struct rt_file files[] = {
	    {"/bin/tool", "#!/bin/sh\n", 10, 06755},
	    {"/tmp/shared", "x", 1, 01777},
	};
	_cleanup_err_ struct err *e = NULL;

	assert_int_equal(rt_files_write(f->rootfd, files, ELEMENTSOF(files), 0, &e), 0);
	assert_int_equal(mode_of(f->rootfs, "bin/tool") & 07777, 0755);
	assert_int_equal(mode_of(f->rootfs, "tmp/shared") & 07777, 0777);
	assert_int_equal(rt_files_chown(f->rootfd, files, ELEMENTSOF(files), getuid(), getgid(), 0, &e), 0);
	assert_int_equal(mode_of(f->rootfs, "bin/tool") & 07777, 0755);

	assert_int_equal(rt_files_write(f->rootfd, files, ELEMENTSOF(files), RT_FILES_KEEP_SPECIAL, &e), 0);
	assert_int_equal(mode_of(f->rootfs, "bin/tool") & 07777, 06755);
	assert_int_equal(mode_of(f->rootfs, "tmp/shared") & 07777, 01777);
	assert_int_equal(rt_files_chown(f->rootfd, files, ELEMENTSOF(files), getuid(), getgid(),
					RT_FILES_KEEP_SPECIAL, &e),
			 0);
	assert_int_equal(mode_of(f->rootfs, "bin/tool") & 07777, 06755);
}

static void test_chown_to_user(void **state)
{
	struct fixture *f = *state;
	const struct rt_file files[] = {
	    {"/run/secrets/token", "t0k3n", 5, 0600},
	    {"/top", "t", 1, 0640},
	};
	_cleanup_err_ struct err *e = NULL;
	_cleanup_free_ char *p = fs_path_join(f->rootfs, "run/secrets/token");
	_cleanup_free_ char *dir = fs_path_join(f->rootfs, "run/secrets");
	uid_t uid = geteuid() == 0 ? 1234 : getuid();
	gid_t gid = geteuid() == 0 ? 5678 : getgid();
	struct stat st;

	assert_int_equal(rt_files_write(f->rootfd, files, ELEMENTSOF(files), 0, &e), 0);
	assert_int_equal(rt_files_chown(f->rootfd, files, ELEMENTSOF(files), uid, gid, 0, &e), 0);
	assert_int_equal(lstat(p, &st), 0);
	assert_int_equal(st.st_uid, uid);
	assert_int_equal(st.st_gid, gid);
	assert_int_equal(st.st_mode & 07777, 0600);
	/* the parents it made stay root's (or the test user's) */
	assert_int_equal(lstat(dir, &st), 0);
	assert_int_equal(st.st_uid, geteuid());
	free(p);
	p = fs_path_join(f->rootfs, "top");
	assert_int_equal(lstat(p, &st), 0);
	assert_int_equal(st.st_uid, uid);
}

/* Something other than the written file at the path (a FIFO, a symlink) is never chowned. */
static void test_chown_refuses_non_regular(void **state)
{
	struct fixture *f = *state;
	const struct rt_file fifo = {"/pipe", "x", 1, 0644};
	const struct rt_file link = {"/lnk", "x", 1, 0644};
	_cleanup_free_ char *pp = fs_path_join(f->rootfs, "pipe");
	_cleanup_free_ char *lp = fs_path_join(f->rootfs, "lnk");
	_cleanup_free_ char *target = fs_path_join(f->outside, "t");
	_cleanup_err_ struct err *e = NULL;
	_cleanup_err_ struct err *e2 = NULL;
	_cleanup_close_ int tfd = open(target, O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
	struct stat st;

	assert_true(tfd >= 0);
	assert_int_equal(mkfifo(pp, 0644), 0);
	assert_int_equal(symlink(target, lp), 0);
	assert_int_equal(rt_files_chown(f->rootfd, &fifo, 1, 4321, 4321, 0, &e), -EINVAL);
	assert_non_null(strstr(err_msg(e), "/pipe"));
	assert_true(rt_files_chown(f->rootfd, &link, 1, 4321, 4321, 0, &e2) < 0);
	assert_int_equal(stat(target, &st), 0);
	assert_int_equal(st.st_uid, geteuid());
}

static void test_bad_paths(void **state)
{
	struct fixture *f = *state;
	static const char *const bad[] = {"/etc/../../x", "..", "/..", "etc/x", "", "/", "/etc/", "/a/../b"};

	for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
		const struct rt_file b = {bad[i], "x", 1, 0644};
		_cleanup_err_ struct err *e = NULL;

		assert_int_equal(rt_files_write(f->rootfd, &b, 1, 0, &e), -EINVAL);
		assert_string_equal(e->field, "files");
	}
	const struct rt_file nul = {NULL, "x", 1, 0644};
	_cleanup_err_ struct err *e = NULL;
	assert_int_equal(rt_files_write(f->rootfd, &nul, 1, 0, &e), -EINVAL);
	assert_true(dir_empty(f->rootfs));
	assert_true(dir_empty(f->outside));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_write_with_parents, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_replace_existing, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_symlink_dir_escape, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_symlink_file_replaced, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_symlink_inside, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_bad_paths, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_mode_special_bits, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_chown_to_user, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_chown_refuses_non_regular, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
