/* drover-shim output framing and the capped log. The shim is not in libdrover.a, so its sources are
 * compiled into this test directly. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "runtime/shim/shim-log.c"

#define MAX_RECS 16

struct collected {
	int n;
	char tag[MAX_RECS];
	size_t len[MAX_RECS];
	const char *stream[MAX_RECS];
	char text[64 * 1024]; /* every record's text, concatenated */
	size_t text_len;
};

static int collect(void *ctx, const struct shim_record *rec)
{
	struct collected *c = ctx;

	assert_true(c->n < MAX_RECS);
	assert_true(c->text_len + rec->len <= sizeof(c->text));
	c->tag[c->n] = rec->tag;
	c->len[c->n] = rec->len;
	c->stream[c->n] = rec->stream;
	memcpy(c->text + c->text_len, rec->text, rec->len);
	c->text_len += rec->len;
	c->n++;
	return 0;
}

/* Feeds data through a pipe exactly as the shim reads container output, until EOF. */
static void feed(struct shim_linebuf *lb, const char *data, size_t len, struct collected *c)
{
	int p[2];
	ssize_t n;

	assert_int_equal(pipe2(p, O_CLOEXEC), 0);
	assert_true(len <= 60 * 1024); /* fits the default 64 KiB pipe: no writer thread needed */
	assert_int_equal(write(p[1], data, len), (ssize_t)len);
	close(p[1]);
	do {
		n = shim_linebuf_read(lb, p[0]);
		assert_true(n >= 0);
		assert_true(shim_frame(lb, n == 0, collect, c) >= 0);
	} while (n > 0);
	close(p[0]);
}

static struct shim_linebuf *new_linebuf(const char *stream)
{
	struct shim_linebuf *lb = calloc(1, sizeof(*lb));

	assert_non_null(lb);
	lb->stream = stream;
	return lb;
}

static struct collected *new_collected(void)
{
	struct collected *c = calloc(1, sizeof(*c));

	assert_non_null(c);
	return c;
}

static void test_full_lines(void **state)
{
	struct shim_linebuf *lb = new_linebuf("stdout");
	struct collected *c = new_collected();
	(void)state;

	feed(lb, "one\n\ntwo\n", 9, c);
	assert_int_equal(c->n, 3);
	assert_int_equal(c->tag[0], 'F');
	assert_int_equal(c->len[0], 3);
	assert_int_equal(c->tag[1], 'F');
	assert_int_equal(c->len[1], 0);
	assert_int_equal(c->len[2], 3);
	assert_string_equal(c->stream[2], "stdout");
	assert_memory_equal(c->text, "onetwo", 6);
	assert_int_equal(lb->len, 0);
	free(lb);
	free(c);
}

static void test_partial_at_eof(void **state)
{
	struct shim_linebuf *lb = new_linebuf("stderr");
	struct collected *c = new_collected();
	(void)state;

	feed(lb, "done\nno newline", 15, c);
	assert_int_equal(c->n, 2);
	assert_int_equal(c->tag[0], 'F');
	assert_int_equal(c->tag[1], 'P');
	assert_int_equal(c->len[1], 10);
	assert_memory_equal(c->text, "doneno newline", 14);
	free(lb);
	free(c);
}

/* Without EOF an incomplete line waits for more input instead of being cut. */
static void test_incomplete_line_is_kept(void **state)
{
	struct shim_linebuf *lb = new_linebuf("stdout");
	struct collected *c = new_collected();
	(void)state;

	memcpy(lb->buf, "a\nbc", 4);
	lb->len = 4;
	assert_int_equal(shim_frame(lb, false, collect, c), 1);
	assert_int_equal(lb->len, 2);
	assert_memory_equal(lb->buf, "bc", 2);
	memcpy(lb->buf + lb->len, "d\n", 2);
	lb->len += 2;
	assert_int_equal(shim_frame(lb, false, collect, c), 1);
	assert_int_equal(c->tag[1], 'F');
	assert_int_equal(c->len[1], 3);
	assert_int_equal(lb->len, 0);
	free(lb);
	free(c);
}

static void test_long_line_split(void **state)
{
	size_t len = 40 * 1024;
	char *data = malloc(len + 1);
	struct shim_linebuf *lb = new_linebuf("stdout");
	struct collected *c = new_collected();
	(void)state;

	assert_non_null(data);
	for (size_t i = 0; i < len; i++)
		data[i] = (char)('a' + i % 26);
	data[len] = '\n';
	feed(lb, data, len + 1, c);
	assert_int_equal(c->n, 3);
	assert_int_equal(c->tag[0], 'P');
	assert_int_equal(c->len[0], SHIM_LINE_MAX);
	assert_int_equal(c->tag[1], 'P');
	assert_int_equal(c->len[1], SHIM_LINE_MAX);
	assert_int_equal(c->tag[2], 'F');
	assert_int_equal(c->len[2], len - 2 * SHIM_LINE_MAX);
	assert_int_equal(c->text_len, len);
	assert_memory_equal(c->text, data, len);
	free(data);
	free(lb);
	free(c);
}

/* A line of exactly SHIM_LINE_MAX bytes is one F record, not a P plus an empty F. */
static void test_line_of_exact_max(void **state)
{
	char *data = malloc(SHIM_LINE_MAX + 1);
	struct shim_linebuf *lb = new_linebuf("stdout");
	struct collected *c = new_collected();
	(void)state;

	assert_non_null(data);
	memset(data, 'x', SHIM_LINE_MAX);
	data[SHIM_LINE_MAX] = '\n';
	feed(lb, data, SHIM_LINE_MAX + 1, c);
	assert_int_equal(c->n, 1);
	assert_int_equal(c->tag[0], 'F');
	assert_int_equal(c->len[0], SHIM_LINE_MAX);
	free(data);
	free(lb);
	free(c);
}

static void test_record_header(void **state)
{
	struct shim_record rec = {.stream = "stderr", .tag = 'P', .text = "x", .len = 1};
	char buf[64];
	size_t n;
	(void)state;

	/* 2026-11-25T10:00:00.000000123Z */
	n = shim_record_header(1795600800000000123LL, &rec, buf, sizeof(buf));
	assert_string_equal(buf, "2026-11-25T10:00:00.000000123Z stderr P ");
	assert_int_equal(n, strlen(buf));
}

static char *make_tmpdir(void)
{
	char *d = strdup("/tmp/test_shim_log-XXXXXX");

	assert_non_null(d);
	assert_non_null(mkdtemp(d));
	return d;
}

static off_t size_of(const char *dir, const char *name)
{
	char p[512];
	struct stat st;

	snprintf(p, sizeof(p), "%s/%s", dir, name);
	if (stat(p, &st) < 0)
		return -1;
	return st.st_size;
}

static void read_whole(const char *dir, const char *name, char *buf, size_t size)
{
	char p[512];
	ssize_t n;
	int fd;

	snprintf(p, sizeof(p), "%s/%s", dir, name);
	fd = open(p, O_RDONLY | O_CLOEXEC);
	assert_true(fd >= 0);
	n = read(fd, buf, size - 1);
	assert_true(n >= 0);
	buf[n] = '\0';
	close(fd);
}

static void remove_tmpdir(char *dir)
{
	char p[512];

	snprintf(p, sizeof(p), "%s/ctr.log", dir);
	unlink(p);
	snprintf(p, sizeof(p), "%s/ctr.log.1", dir);
	unlink(p);
	assert_int_equal(rmdir(dir), 0);
	free(dir);
}

/* Records are "TS stdout F 0123456789\n": 30 + 10 + 10 + 1 = 51 bytes each. */
static void test_rotation_at_cap(void **state)
{
	struct shim_record rec = {.stream = "stdout", .tag = 'F', .text = "0123456789", .len = 10};
	char *dir = make_tmpdir();
	char path[512], buf[512];
	struct shim_logfile lf;
	struct err *e = NULL;
	(void)state;

	snprintf(path, sizeof(path), "%s/ctr.log", dir);
	assert_int_equal(shim_logfile_open(&lf, path, 120, &e), 0);
	for (int i = 0; i < 2; i++)
		assert_int_equal(shim_logfile_write(&lf, 0, &rec), 0);
	assert_int_equal(size_of(dir, "ctr.log"), 102);
	assert_int_equal(size_of(dir, "ctr.log.1"), -1);
	/* the third record would pass 120 bytes: the first two move to ctr.log.1 */
	assert_int_equal(shim_logfile_write(&lf, 0, &rec), 0);
	assert_int_equal(size_of(dir, "ctr.log.1"), 102);
	assert_int_equal(size_of(dir, "ctr.log"), 51);
	read_whole(dir, "ctr.log", buf, sizeof(buf));
	assert_string_equal(buf, "1970-01-01T00:00:00.000000000Z stdout F 0123456789\n");
	/* two more: ctr.log.1 is replaced, so at most twice the cap is on disk */
	for (int i = 0; i < 2; i++)
		assert_int_equal(shim_logfile_write(&lf, 0, &rec), 0);
	assert_int_equal(size_of(dir, "ctr.log.1"), 102);
	assert_int_equal(size_of(dir, "ctr.log"), 51);
	shim_logfile_close(&lf);
	remove_tmpdir(dir);
}

/* A record larger than the cap still gets written, alone in a fresh file. */
static void test_record_larger_than_cap(void **state)
{
	struct shim_record rec = {.stream = "stdout", .tag = 'F', .text = "0123456789", .len = 10};
	char *dir = make_tmpdir();
	char path[512];
	struct shim_logfile lf;
	struct err *e = NULL;
	(void)state;

	snprintf(path, sizeof(path), "%s/ctr.log", dir);
	assert_int_equal(shim_logfile_open(&lf, path, 20, &e), 0);
	assert_int_equal(shim_logfile_write(&lf, 0, &rec), 0);
	assert_int_equal(shim_logfile_write(&lf, 0, &rec), 0);
	assert_int_equal(size_of(dir, "ctr.log"), 51);
	assert_int_equal(size_of(dir, "ctr.log.1"), 51);
	shim_logfile_close(&lf);
	remove_tmpdir(dir);
}

/* An existing log is appended to, and its size counts toward the cap. */
static void test_reopen_appends(void **state)
{
	struct shim_record rec = {.stream = "stderr", .tag = 'P', .text = "abc", .len = 3};
	char *dir = make_tmpdir();
	char path[512];
	struct shim_logfile lf;
	struct err *e = NULL;
	(void)state;

	snprintf(path, sizeof(path), "%s/ctr.log", dir);
	assert_int_equal(shim_logfile_open(&lf, path, 1000, &e), 0);
	assert_int_equal(shim_logfile_emit(&lf, &rec), 0);
	shim_logfile_close(&lf);
	assert_int_equal(shim_logfile_open(&lf, path, 1000, &e), 0);
	assert_int_equal(lf.size, 44);
	assert_int_equal(shim_logfile_emit(&lf, &rec), 0);
	shim_logfile_close(&lf);
	assert_int_equal(size_of(dir, "ctr.log"), 88);
	remove_tmpdir(dir);
}

static void test_open_fails_with_context(void **state)
{
	struct shim_logfile lf;
	struct err *e = NULL;
	(void)state;

	assert_int_equal(shim_logfile_open(&lf, "/nonexistent-dir/ctr.log", 100, &e), -ENOENT);
	assert_non_null(strstr(err_msg(e), "/nonexistent-dir/ctr.log"));
	assert_int_equal(lf.fd, -1);
	err_free(&e);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_full_lines),
	    cmocka_unit_test(test_partial_at_eof),
	    cmocka_unit_test(test_incomplete_line_is_kept),
	    cmocka_unit_test(test_long_line_split),
	    cmocka_unit_test(test_line_of_exact_max),
	    cmocka_unit_test(test_record_header),
	    cmocka_unit_test(test_rotation_at_cap),
	    cmocka_unit_test(test_record_larger_than_cap),
	    cmocka_unit_test(test_reopen_appends),
	    cmocka_unit_test(test_open_fails_with_context),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
