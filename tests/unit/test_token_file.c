/* Bearer-token files: one token read and trimmed; group- or world-accessible files, other owners,
 * FIFOs (without hanging), empty files and tokens with spaces or lines refused, each with
 * the flag and the path in the message; a symlink is followed and judged by its target. */
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
#include <unistd.h>

#include <cmocka.h>

#include "agent/token-file.h"
#include "common/fs.h"

static char dir[64], path[128];

static int make_dir(void **state)
{
	(void)state;
	snprintf(dir, sizeof(dir), "/tmp/drover-test-token.XXXXXX");
	if (!mkdtemp(dir))
		return -1;
	snprintf(path, sizeof(path), "%s/token", dir);
	return 0;
}

static int remove_dir(void **state)
{
	(void)state;
	return fs_rm_rf(AT_FDCWD, dir) < 0 ? -1 : 0;
}

static void put(const char *text, mode_t mode)
{
	FILE *f;

	(void)unlink(path);
	f = fopen(path, "w");
	assert_non_null(f);
	assert_int_equal(fputs(text, f) >= 0, 1);
	assert_int_equal(fclose(f), 0);
	assert_int_equal(chmod(path, mode), 0);
}

/* Reads path; returns -errno and leaves the message in msg. */
static int read_it(char **tok, size_t *size, char *msg, size_t msg_size)
{
	struct err *e = NULL;
	int r = token_file_read("--token-file", path, tok, size, &e);

	snprintf(msg, msg_size, "%s", r < 0 ? err_msg(e) : "");
	err_free(&e);
	return r;
}

static void one_token_trimmed(void **state)
{
	char *tok = NULL, msg[512];
	size_t size = 0;

	(void)state;
	put("s3cret-token \r\n", 0600);
	assert_int_equal(read_it(&tok, &size, msg, sizeof(msg)), 0);
	assert_string_equal(tok, "s3cret-token");
	assert_true(size > strlen(tok));
	assert_null(token_file_free(tok, size));
	assert_null(token_file_free(NULL, 0));
}

static void refusals_name_the_flag_and_path(void **state)
{
	static const struct {
		const char *text;
		mode_t mode;
		int err;
		const char *says;
	} bad[] = {
	    {"tok\n", 0644, -EPERM, "has mode 0644: it must not be readable or writable by group or others"},
	    {"tok\n", 0620, -EPERM, "has mode 0620"},
	    {"", 0600, -EINVAL, "is empty"},
	    {" \n\n", 0600, -EINVAL, "is empty"},
	    {"two tokens\n", 0600, -EINVAL, "must hold one token"},
	    {"line1\nline2\n", 0600, -EINVAL, "must hold one token"},
	};
	char *tok = NULL, msg[512];
	size_t size = 0;

	(void)state;
	for (size_t k = 0; k < sizeof(bad) / sizeof(bad[0]); k++) {
		put(bad[k].text, bad[k].mode);
		assert_int_equal(read_it(&tok, &size, msg, sizeof(msg)), bad[k].err);
		assert_null(tok);
		assert_non_null(strstr(msg, "--token-file"));
		assert_non_null(strstr(msg, path));
		if (!strstr(msg, bad[k].says))
			fail_msg("case %zu: '%s' does not say '%s'", k, msg, bad[k].says);
	}
}

static void not_a_regular_file_of_ours(void **state)
{
	char *tok = NULL, msg[512], target[160];
	size_t size = 0;

	(void)state;
	/* a FIFO: refused at once, not waited on for a writer */
	(void)unlink(path);
	assert_int_equal(mkfifo(path, 0600), 0);
	assert_int_equal(read_it(&tok, &size, msg, sizeof(msg)), -EINVAL);
	assert_non_null(strstr(msg, "is not a regular file"));
	/* a symlink is followed, and the rules hold for its target */
	snprintf(target, sizeof(target), "%s/real", dir);
	(void)unlink(path);
	put("tok\n", 0600);
	assert_int_equal(rename(path, target), 0);
	assert_int_equal(symlink(target, path), 0);
	assert_int_equal(read_it(&tok, &size, msg, sizeof(msg)), 0);
	assert_string_equal(tok, "tok");
	tok = token_file_free(tok, size);
	assert_int_equal(chmod(target, 0644), 0);
	assert_int_equal(read_it(&tok, &size, msg, sizeof(msg)), -EPERM);
	(void)unlink(path);
	/* another uid's file */
	put("tok\n", 0600);
	if (geteuid() == 0) {
		assert_int_equal(chown(path, 65534, 65534), 0);
		assert_int_equal(read_it(&tok, &size, msg, sizeof(msg)), -EPERM);
		assert_non_null(strstr(msg, "is owned by uid 65534"));
	}
	/* missing */
	(void)unlink(path);
	assert_int_equal(read_it(&tok, &size, msg, sizeof(msg)), -ENOENT);
	assert_null(tok);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(one_token_trimmed),
	    cmocka_unit_test(refusals_name_the_flag_and_path),
	    cmocka_unit_test(not_a_regular_file_of_ours),
	};
	return cmocka_run_group_tests(tests, make_dir, remove_dir);
}
