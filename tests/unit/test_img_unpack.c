/* img_unpack_layer: hostile tars (built here with libarchive's writer) are refused as a whole
 * and write nothing outside the destination; normal entries and OCI whiteouts come out right. */
#include <errno.h>
#include <fcntl.h>
#include <locale.h>
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

#include <archive.h>
#include <archive_entry.h>
#include <cmocka.h>

#include "common/cleanup.h"
#include "common/fs.h"
#include "image/img.h"

struct tent {
	const char *path;
	mode_t type; /* AE_IF*; 0 with hardlink set */
	mode_t perm;
	const char *data;     /* regular files */
	const char *symlink;  /* AE_IFLNK target */
	const char *hardlink; /* hard link target */
	unsigned rmajor, rminor;
	int64_t uid, gid;
	time_t mtime;
};

struct fixture {
	char base[64];
	char dest[96];
	char tar[96];
	int destfd;
};

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));

	assert_non_null(f);
	strcpy(f->base, "/tmp/drover-test-unpack-XXXXXX");
	assert_non_null(mkdtemp(f->base));
	snprintf(f->dest, sizeof(f->dest), "%s/dest", f->base);
	snprintf(f->tar, sizeof(f->tar), "%s/layer.tar", f->base);
	assert_int_equal(mkdir(f->dest, 0755), 0);
	f->destfd = open(f->dest, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	assert_true(f->destfd >= 0);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	close(f->destfd);
	assert_int_equal(fs_rm_rf(AT_FDCWD, f->base), 0);
	free(f);
	return 0;
}

/* Writes a pax tar as image builders do: names as UTF-8 records. The unpacker then runs in the
 * "C" locale, as droverd does, where those names cannot be converted to the locale's charset. */
static void write_tar(const char *file, const struct tent *ents, size_t n, bool gzip)
{
	struct archive *a = archive_write_new();

	assert_non_null(setlocale(LC_CTYPE, "C.UTF-8"));

	assert_non_null(a);
	assert_int_equal(archive_write_set_format_pax_restricted(a), ARCHIVE_OK);
	if (gzip)
		assert_int_equal(archive_write_add_filter_gzip(a), ARCHIVE_OK);
	assert_int_equal(archive_write_open_filename(a, file), ARCHIVE_OK);
	for (size_t i = 0; i < n; i++) {
		const struct tent *t = &ents[i];
		struct archive_entry *e = archive_entry_new();
		size_t len = t->data ? strlen(t->data) : 0;

		archive_entry_set_pathname(e, t->path);
		archive_entry_set_filetype(e, t->type ? t->type : AE_IFREG);
		archive_entry_set_perm(e, t->perm ? t->perm : 0644);
		archive_entry_set_uid(e, t->uid);
		archive_entry_set_gid(e, t->gid);
		archive_entry_set_mtime(e, t->mtime, 0);
		archive_entry_set_size(e, (la_int64_t)len);
		if (t->symlink)
			archive_entry_set_symlink(e, t->symlink);
		if (t->hardlink) {
			archive_entry_set_hardlink(e, t->hardlink);
			archive_entry_set_size(e, 0);
		}
		if (t->type == AE_IFCHR || t->type == AE_IFBLK)
			archive_entry_set_rdev(e, makedev(t->rmajor, t->rminor));
		assert_int_equal(archive_write_header(a, e), ARCHIVE_OK);
		if (len)
			assert_int_equal(archive_write_data(a, t->data, len), (la_ssize_t)len);
		archive_entry_free(e);
	}
	assert_int_equal(archive_write_close(a), ARCHIVE_OK);
	archive_write_free(a);
	assert_non_null(setlocale(LC_CTYPE, "C"));
}

/* Unpacks ents; returns r and keeps the error text in msg. */
static int unpack(struct fixture *f, const struct tent *ents, size_t n, bool gzip, char *msg, size_t size)
{
	_cleanup_err_ struct err *err = NULL;
	_cleanup_close_ int fd = -1;
	int r;

	write_tar(f->tar, ents, n, gzip);
	fd = open(f->tar, O_RDONLY | O_CLOEXEC);
	assert_true(fd >= 0);
	r = img_unpack_layer(fd, f->destfd, &err);
	if (msg)
		snprintf(msg, size, "%s", r < 0 ? err_msg(err) : "");
	if (r < 0)
		assert_non_null(err);
	return r;
}

static bool exists_at(const char *dir, const char *name)
{
	struct stat st;
	char p[512];

	snprintf(p, sizeof(p), "%s/%s", dir, name);
	return lstat(p, &st) == 0;
}

static void assert_refused(struct fixture *f, const struct tent *ents, size_t n, const char *must_contain)
{
	char msg[1024];
	int r = unpack(f, ents, n, false, msg, sizeof(msg));

	if (r >= 0 || !strstr(msg, must_contain))
		fail_msg("expected a refusal mentioning '%s', got r=%d '%s'", must_contain, r, msg);
}

static void test_normal_layer(void **state)
{
	struct fixture *f = *state;
	const struct tent ents[] = {
	    {.path = "etc", .type = AE_IFDIR, .perm = 0751},
	    {.path = "etc/hello", .perm = 0640, .data = "hello\n", .uid = 1000, .gid = 1001, .mtime = 12345},
	    {.path = "./etc/link", .type = AE_IFLNK, .perm = 0777, .symlink = "../nowhere/target"},
	    {.path = "etc/hard", .hardlink = "etc/hello"},
	    {.path = "run/fifo", .type = AE_IFIFO, .perm = 0620},
	    {.path = "bin/su", .perm = 04755, .data = "#!", .uid = 0},
	    {.path = "abs-link", .type = AE_IFLNK, .perm = 0777, .symlink = "/etc/passwd"},
	    {.path = "caf\xc3\xa9/na\xc3\xafve", .data = "utf-8 names", .mtime = 1},
	    {.path = "caf\xc3\xa9/link", .type = AE_IFLNK, .perm = 0777, .symlink = "na\xc3\xafve"},
	    {.path = "caf\xc3\xa9/hard", .hardlink = "caf\xc3\xa9/na\xc3\xafve"},
	};
	struct stat st, st2;
	char buf[64], p[256];
	ssize_t n;
	int fd;

	assert_int_equal(unpack(f, ents, ELEMENTSOF(ents), true, NULL, 0), 0);
	assert_int_equal(fstatat(f->destfd, "etc", &st, AT_SYMLINK_NOFOLLOW), 0);
	assert_true(S_ISDIR(st.st_mode));
	assert_int_equal(st.st_mode & 07777, 0751);
	assert_int_equal(fstatat(f->destfd, "etc/hello", &st, AT_SYMLINK_NOFOLLOW), 0);
	assert_true(S_ISREG(st.st_mode));
	assert_int_equal(st.st_mode & 07777, 0640);
	assert_int_equal(st.st_uid, 1000);
	assert_int_equal(st.st_gid, 1001);
	assert_int_equal(st.st_mtime, 12345);
	fd = openat(f->destfd, "etc/hello", O_RDONLY | O_CLOEXEC);
	assert_true(fd >= 0);
	n = read(fd, buf, sizeof(buf));
	close(fd);
	assert_int_equal(n, 6);
	assert_memory_equal(buf, "hello\n", 6);
	n = readlinkat(f->destfd, "etc/link", buf, sizeof(buf));
	assert_int_equal(n, strlen("../nowhere/target"));
	assert_memory_equal(buf, "../nowhere/target", (size_t)n);
	n = readlinkat(f->destfd, "abs-link", buf, sizeof(buf));
	assert_int_equal(n, strlen("/etc/passwd"));
	assert_int_equal(fstatat(f->destfd, "etc/hard", &st2, AT_SYMLINK_NOFOLLOW), 0);
	assert_int_equal(st2.st_ino, st.st_ino);
	assert_int_equal(st2.st_nlink, 2);
	assert_int_equal(fstatat(f->destfd, "run/fifo", &st, AT_SYMLINK_NOFOLLOW), 0);
	assert_true(S_ISFIFO(st.st_mode));
	assert_int_equal(st.st_mode & 07777, 0620);
	assert_int_equal(fstatat(f->destfd, "bin/su", &st, AT_SYMLINK_NOFOLLOW), 0);
	assert_int_equal(st.st_mode & 07777, 04755);
	assert_int_equal(fstatat(f->destfd, "caf\xc3\xa9/hard", &st, AT_SYMLINK_NOFOLLOW), 0);
	assert_int_equal(st.st_nlink, 2);
	n = readlinkat(f->destfd, "caf\xc3\xa9/link", buf, sizeof(buf));
	assert_int_equal(n, strlen("na\xc3\xafve"));
	snprintf(p, sizeof(p), "%s/run", f->dest);
	assert_int_equal(stat(p, &st), 0); /* implicit parent */
	assert_true(S_ISDIR(st.st_mode));
}

static void test_dotdot_refused(void **state)
{
	struct fixture *f = *state;
	const struct tent ents[] = {
	    {.path = "ok", .data = "x"},
	    {.path = "a/../../outside", .data = "evil"},
	};

	assert_refused(f, ents, ELEMENTSOF(ents), "a/../../outside");
	assert_false(exists_at(f->base, "outside"));
}

static void test_absolute_refused(void **state)
{
	struct fixture *f = *state;
	char abs[128];
	struct tent ents[] = {{.data = "evil"}};

	snprintf(abs, sizeof(abs), "%s/abs-sentinel", f->base);
	ents[0].path = abs;
	assert_refused(f, ents, ELEMENTSOF(ents), "absolute path");
	assert_false(exists_at(f->base, "abs-sentinel"));
}

static void test_write_through_symlink_refused(void **state)
{
	struct fixture *f = *state;
	char outdir[128];
	struct tent ents[] = {
	    {.path = "link", .type = AE_IFLNK, .perm = 0777},
	    {.path = "link/evil", .data = "evil"},
	};

	snprintf(outdir, sizeof(outdir), "%s/outdir", f->base);
	assert_int_equal(mkdir(outdir, 0755), 0);
	ents[0].symlink = outdir;
	assert_refused(f, ents, ELEMENTSOF(ents), "'link/evil': path goes through a symlink");
	assert_false(exists_at(outdir, "evil"));

	/* the same through a deeper relative link, and a dir entry through it */
	const struct tent rel[] = {
	    {.path = "d/up", .type = AE_IFLNK, .perm = 0777, .symlink = "../.."},
	    {.path = "d/up/outdir/evil2", .type = AE_IFDIR, .perm = 0755},
	};
	assert_refused(f, rel, ELEMENTSOF(rel), "symlink");
	assert_false(exists_at(outdir, "evil2"));
}

static void test_hardlink_escape_refused(void **state)
{
	struct fixture *f = *state;
	char outside[128];
	int fd;
	const struct tent up[] = {{.path = "hl", .hardlink = "../outside"}};
	const struct tent etc[] = {{.path = "hl", .hardlink = "/etc/passwd"}};
	const struct tent via[] = {
	    {.path = "sl", .type = AE_IFLNK, .perm = 0777, .symlink = "/etc"},
	    {.path = "hl", .hardlink = "sl/passwd"},
	};

	snprintf(outside, sizeof(outside), "%s/outside", f->base);
	fd = open(outside, O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
	assert_true(fd >= 0);
	close(fd);
	assert_refused(f, up, ELEMENTSOF(up), "'..' path component");
	assert_false(exists_at(f->dest, "hl"));
	assert_refused(f, etc, ELEMENTSOF(etc), "absolute path");
	assert_false(exists_at(f->dest, "hl"));
	assert_refused(f, via, ELEMENTSOF(via), "symlink");
	assert_false(exists_at(f->dest, "hl"));
}

static void test_device_nodes_refused(void **state)
{
	struct fixture *f = *state;
	const struct tent chr[] = {
	    {.path = "null", .type = AE_IFCHR, .perm = 0666, .rmajor = 1, .rminor = 3}};
	const struct tent blk[] = {
	    {.path = "disk", .type = AE_IFBLK, .perm = 0660, .rmajor = 7, .rminor = 0}};
	const struct tent zero[] = {{.path = "wh", .type = AE_IFCHR, .perm = 0, .rmajor = 0, .rminor = 0}};

	assert_refused(f, chr, ELEMENTSOF(chr), "'null': device node");
	assert_false(exists_at(f->dest, "null"));
	assert_refused(f, blk, ELEMENTSOF(blk), "'disk': device node");
	assert_false(exists_at(f->dest, "disk"));
	assert_refused(f, zero, ELEMENTSOF(zero), "device node");
}

static void test_whiteouts(void **state)
{
	struct fixture *f = *state;
	const struct tent ents[] = {
	    {.path = ".wh.gone"},
	    {.path = "d", .type = AE_IFDIR, .perm = 0755},
	    {.path = "d/.wh..wh..opq"},
	    {.path = "d/.wh.x"},
	    {.path = "d/kept", .data = "k"},
	};
	struct stat st;
	char val[8], p[256];
	ssize_t n;

	assert_int_equal(unpack(f, ents, ELEMENTSOF(ents), false, NULL, 0), 0);
	assert_int_equal(fstatat(f->destfd, "gone", &st, AT_SYMLINK_NOFOLLOW), 0);
	assert_true(S_ISCHR(st.st_mode));
	assert_int_equal(major(st.st_rdev), 0);
	assert_int_equal(minor(st.st_rdev), 0);
	assert_int_equal(fstatat(f->destfd, "d/x", &st, AT_SYMLINK_NOFOLLOW), 0);
	assert_true(S_ISCHR(st.st_mode));
	assert_int_equal(st.st_rdev, makedev(0, 0));
	assert_false(exists_at(f->dest, ".wh.gone"));
	assert_false(exists_at(f->dest, "d/.wh.x"));
	assert_false(exists_at(f->dest, "d/.wh..wh..opq"));
	assert_true(exists_at(f->dest, "d/kept"));
	snprintf(p, sizeof(p), "%s/d", f->dest);
	n = lgetxattr(p, "trusted.overlay.opaque", val, sizeof(val));
	assert_int_equal(n, 1);
	assert_int_equal(val[0], 'y');
	n = lgetxattr(f->dest, "trusted.overlay.opaque", val, sizeof(val));
	assert_true(n < 0); /* only the directory holding the marker */
}

static void test_replacing_entries(void **state)
{
	struct fixture *f = *state;
	char target[128];
	struct tent ents[] = {
	    {.path = "a", .data = "file first"},	   {.path = "a", .type = AE_IFDIR, .perm = 0755},
	    {.path = "b", .type = AE_IFLNK, .perm = 0777}, {.path = "b", .data = "regular now"},
	    {.path = "c", .type = AE_IFDIR, .perm = 0755}, {.path = "c/f", .data = "inside"},
	    {.path = "c", .type = AE_IFDIR, .perm = 0700},
	};
	struct stat st;

	snprintf(target, sizeof(target), "%s/b-target", f->base);
	ents[2].symlink = target;
	assert_int_equal(unpack(f, ents, ELEMENTSOF(ents), false, NULL, 0), 0);
	assert_int_equal(fstatat(f->destfd, "a", &st, AT_SYMLINK_NOFOLLOW), 0);
	assert_true(S_ISDIR(st.st_mode));
	assert_int_equal(fstatat(f->destfd, "b", &st, AT_SYMLINK_NOFOLLOW), 0);
	assert_true(S_ISREG(st.st_mode));
	assert_false(exists_at(f->base, "b-target")); /* never written through the old symlink */
	assert_int_equal(fstatat(f->destfd, "c", &st, AT_SYMLINK_NOFOLLOW), 0);
	assert_int_equal(st.st_mode & 07777, 0700);
	assert_true(exists_at(f->dest, "c/f")); /* an existing dir is kept */
}

static void test_garbage_refused(void **state)
{
	struct fixture *f = *state;
	_cleanup_err_ struct err *err = NULL;
	int fd;

	fd = open(f->tar, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, "this is not a tar archive at all, not even close", 48), 48);
	close(fd);
	fd = open(f->tar, O_RDONLY | O_CLOEXEC);
	assert_true(fd >= 0);
	assert_true(img_unpack_layer(fd, f->destfd, &err) < 0);
	close(fd);
	assert_non_null(err);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_normal_layer, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_dotdot_refused, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_absolute_refused, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_write_through_symlink_refused, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_hardlink_escape_refused, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_device_nodes_refused, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_whiteouts, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_replacing_entries, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_garbage_refused, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
