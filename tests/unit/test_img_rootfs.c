/* img_rootfs_mount/umount on hand-made layer dirs: layer order (top first), whiteouts and opaque
 * dirs hide lower entries, writes land in the instance's upper dir, and the option-size check. */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <cmocka.h>

#include "common/cleanup.h"
#include "common/fs.h"
#include "image/img.h"

struct fixture {
	char base[64];
	char inst[96];
	char *dirs[2];
	struct img_image img;
};

static void put(const char *dir, const char *name, const char *text)
{
	char p[256];
	int fd;

	snprintf(p, sizeof(p), "%s/%s", dir, name);
	fd = open(p, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	close(fd);
}

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	char p[256];

	assert_non_null(f);
	strcpy(f->base, "/tmp/drover-test-rootfs-XXXXXX");
	assert_non_null(mkdtemp(f->base));
	snprintf(f->inst, sizeof(f->inst), "%s/inst", f->base);
	for (int i = 0; i < 2; i++) {
		assert_true(asprintf(&f->dirs[i], "%s/l%d", f->base, i) > 0);
		assert_int_equal(mkdir(f->dirs[i], 0755), 0);
	}
	/* bottom: a, same (bottom), d/old; top: same (top), b, whiteout of a, opaque d with d/new */
	put(f->dirs[0], "a", "a");
	put(f->dirs[0], "same", "bottom");
	snprintf(p, sizeof(p), "%s/d", f->dirs[0]);
	assert_int_equal(mkdir(p, 0755), 0);
	put(f->dirs[0], "d/old", "old");
	put(f->dirs[1], "same", "top");
	put(f->dirs[1], "b", "b");
	snprintf(p, sizeof(p), "%s/d", f->dirs[1]);
	assert_int_equal(mkdir(p, 0755), 0);
	if (geteuid() == 0) { /* whiteouts need CAP_MKNOD and CAP_SYS_ADMIN; the mount tests skip without */
		assert_int_equal(setxattr(p, "trusted.overlay.opaque", "y", 1, 0), 0);
		snprintf(p, sizeof(p), "%s/a", f->dirs[1]);
		assert_int_equal(mknod(p, S_IFCHR, makedev(0, 0)), 0);
	}
	put(f->dirs[1], "d/new", "new");
	f->img.n_layers = 2;
	f->img.layer_dirs = f->dirs;
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;
	_cleanup_err_ struct err *err = NULL;

	assert_int_equal(img_rootfs_umount(f->inst, &err), 0);
	assert_int_equal(fs_rm_rf(AT_FDCWD, f->base), 0);
	free(f->dirs[0]);
	free(f->dirs[1]);
	free(f);
	return 0;
}

static bool in(const char *dir, const char *name)
{
	char p[256];
	struct stat st;

	snprintf(p, sizeof(p), "%s/%s", dir, name);
	return lstat(p, &st) == 0;
}

static void test_mount_overlay(void **state)
{
	struct fixture *f = *state;
	_cleanup_err_ struct err *err = NULL;
	char rootfs[128], upper[128], buf[16], p[256];
	ssize_t n;
	int fd;

	if (geteuid() != 0)
		skip(); /* mounting needs CAP_SYS_ADMIN */
	snprintf(rootfs, sizeof(rootfs), "%s/rootfs", f->inst);
	snprintf(upper, sizeof(upper), "%s/upper", f->inst);
	assert_int_equal(img_rootfs_mount(&f->img, f->inst, &err), 0);
	assert_int_equal(img_rootfs_mount(&f->img, f->inst, &err), 0); /* already mounted: fine */
	assert_false(in(rootfs, "a"));
	assert_true(in(rootfs, "b"));
	assert_true(in(rootfs, "d/new"));
	assert_false(in(rootfs, "d/old"));
	snprintf(p, sizeof(p), "%s/same", rootfs);
	fd = open(p, O_RDONLY | O_CLOEXEC);
	assert_true(fd >= 0);
	n = read(fd, buf, sizeof(buf));
	close(fd);
	assert_int_equal(n, 3);
	assert_memory_equal(buf, "top", 3);
	put(rootfs, "written", "w");
	assert_true(in(upper, "written"));
	assert_false(in(f->dirs[1], "written"));

	assert_int_equal(img_rootfs_umount(f->inst, &err), 0);
	assert_false(in(rootfs, "b"));
	assert_int_equal(img_rootfs_umount(f->inst, &err), 0); /* idempotent */
}

static void test_single_layer(void **state)
{
	struct fixture *f = *state;
	_cleanup_err_ struct err *err = NULL;
	char rootfs[128];

	if (geteuid() != 0)
		skip();
	f->img.n_layers = 1;
	snprintf(rootfs, sizeof(rootfs), "%s/rootfs", f->inst);
	assert_int_equal(img_rootfs_mount(&f->img, f->inst, &err), 0);
	assert_true(in(rootfs, "a"));
	assert_true(in(rootfs, "d/old"));
	assert_int_equal(img_rootfs_umount(f->inst, &err), 0);
}

static void test_options_too_long(void **state)
{
	struct fixture *f = *state;
	_cleanup_err_ struct err *err = NULL;
	struct img_image big = {0};
	char *dirs[64];
	char rootfs[128];

	for (size_t i = 0; i < ELEMENTSOF(dirs); i++)
		assert_true(asprintf(&dirs[i], "%s/layers/%064zu", f->base, i) > 0);
	big.n_layers = ELEMENTSOF(dirs);
	big.layer_dirs = dirs;
	assert_true(img_rootfs_mount(&big, f->inst, &err) < 0);
	assert_non_null(strstr(err_msg(err), "more than one page"));
	snprintf(rootfs, sizeof(rootfs), "%s/rootfs", f->inst);
	assert_false(in(rootfs, "a"));
	for (size_t i = 0; i < ELEMENTSOF(dirs); i++)
		free(dirs[i]);
}

static void test_umount_not_mounted(void **state)
{
	struct fixture *f = *state;
	_cleanup_err_ struct err *err = NULL;
	char missing[128];

	assert_int_equal(img_rootfs_umount(f->inst, &err), 0); /* never created */
	assert_int_equal(mkdir(f->inst, 0700), 0);
	assert_int_equal(img_rootfs_umount(f->inst, &err), 0);
	snprintf(missing, sizeof(missing), "%s/no/such/dir", f->base);
	assert_int_equal(img_rootfs_umount(missing, &err), 0);
	assert_null(err);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_mount_overlay, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_single_layer, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_options_too_long, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_umount_not_mounted, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
