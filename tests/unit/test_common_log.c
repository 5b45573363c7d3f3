/* common/log.c: one "<N>module: message[: strerror]" record per line on stderr (not a terminal),
 * level filtering, level names, DROVER_LOG_LEVEL, newlines flattened, errno kept. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cmocka.h>

#include "common/log.h"

static int saved_stderr = -1, capture = -1;

/* stderr goes to a memfd until captured() gives back what was written. */
static void capture_start(void)
{
	fflush(stderr);
	saved_stderr = dup(STDERR_FILENO);
	capture = memfd_create("test-log", MFD_CLOEXEC);
	assert_true(saved_stderr >= 0 && capture >= 0);
	assert_int_equal(dup2(capture, STDERR_FILENO), STDERR_FILENO);
}

static const char *captured(void)
{
	static char buf[8192];
	ssize_t n;

	fflush(stderr);
	assert_int_equal(dup2(saved_stderr, STDERR_FILENO), STDERR_FILENO);
	close(saved_stderr);
	assert_int_equal(lseek(capture, 0, SEEK_SET), 0);
	n = read(capture, buf, sizeof(buf) - 1);
	assert_true(n >= 0);
	buf[n] = '\0';
	close(capture);
	return buf;
}

static void test_format_and_levels(void **state)
{
	(void)state;
	assert_int_equal(unsetenv("DROVER_LOG_LEVEL"), 0);
	capture_start();
	log_init("droverd");
	log_set_level(LOG_LVL_INFO);
	log_err("start failed: %s id=%s", "boom", "a");
	log_warn("two\nlines\r");
	log_info("kept");
	log_debug("dropped at info");
	errno = EDOM;
	assert_int_equal(log_warn_errno(-ENOENT, "open '%s'", "/x"), -ENOENT);
	assert_int_equal(errno, EDOM); /* logging never changes errno */
	assert_string_equal(captured(), "<3>droverd: start failed: boom id=a\n"
					"<4>droverd: two lines \n"
					"<6>droverd: kept\n"
					"<4>droverd: open '/x': No such file or directory\n");
}

static void test_level_names(void **state)
{
	(void)state;
	assert_int_equal(log_set_level_str("debug"), 0);
	assert_true(log_enabled(LOG_LVL_DEBUG));
	assert_int_equal(log_set_level_str("warn"), 0);
	assert_true(log_enabled(LOG_LVL_WARN));
	assert_false(log_enabled(LOG_LVL_NOTICE));
	assert_int_equal(log_set_level_str("warning"), 0);
	assert_false(log_enabled(LOG_LVL_INFO));
	assert_int_equal(log_set_level_str("error"), 0);
	assert_false(log_enabled(LOG_LVL_WARN));
	assert_true(log_enabled(LOG_LVL_ERR));
	assert_int_equal(log_set_level_str("loud"), -EINVAL);
	assert_false(log_enabled(LOG_LVL_WARN)); /* unchanged */
}

static void test_env_level(void **state)
{
	(void)state;
	log_set_level(LOG_LVL_INFO);
	assert_int_equal(setenv("DROVER_LOG_LEVEL", "debug", 1), 0);
	capture_start();
	log_init("drover-shim");
	log_debug("seen");
	assert_string_equal(captured(), "<7>drover-shim: seen\n");
	/* a bad value keeps the level as it was */
	log_set_level(LOG_LVL_NOTICE);
	assert_int_equal(setenv("DROVER_LOG_LEVEL", "chatty", 1), 0);
	log_init("drover-shim");
	assert_true(log_enabled(LOG_LVL_NOTICE));
	assert_false(log_enabled(LOG_LVL_INFO));
	assert_int_equal(unsetenv("DROVER_LOG_LEVEL"), 0);
}

/* A message longer than the record buffer is cut, still one line. */
static void test_long_message(void **state)
{
	char big[4096];
	const char *out;

	(void)state;
	memset(big, 'x', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	log_set_level(LOG_LVL_INFO);
	capture_start();
	log_init("droverd");
	log_info("%s", big);
	out = captured();
	assert_int_equal(strncmp(out, "<6>droverd: xxx", 15), 0);
	assert_non_null(strchr(out, '\n'));
	assert_int_equal(strchr(out, '\n')[1], '\0');
	assert_true(strlen(out) < sizeof(big));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_format_and_levels),
	    cmocka_unit_test(test_level_names),
	    cmocka_unit_test(test_env_level),
	    cmocka_unit_test(test_long_message),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
