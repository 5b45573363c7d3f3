/* common/err.c: the message chain ("outer: inner"), the field, NULL-safety and errno defaults. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "common/err.h"

static int inner(struct err **err)
{
	return err_set(err, ENOENT, "open '%s'", "/x/y");
}

static int middle(struct err **err)
{
	int r = inner(err);

	return r < 0 ? err_wrap(err, "read config %d", 2) : 0;
}

static void test_chain(void **state)
{
	_cleanup_err_ struct err *e = NULL;

	(void)state;
	assert_int_equal(middle(&e), -ENOENT);
	assert_int_equal(e->errnum, ENOENT);
	assert_string_equal(err_msg(e), "read config 2: open '/x/y'");
	assert_null(e->field);
	assert_int_equal(err_wrap(&e, "start"), -ENOENT);
	assert_string_equal(err_msg(e), "start: read config 2: open '/x/y'");
}

static void test_field_and_replace(void **state)
{
	_cleanup_err_ struct err *e = NULL;

	(void)state;
	assert_int_equal(err_field(&e, "resources.memory", EINVAL, "'%s' is not a quantity", "12Q"), -EINVAL);
	assert_string_equal(e->field, "resources.memory");
	assert_string_equal(err_msg(e), "'12Q' is not a quantity");
	/* a second err_set replaces the first (no leak: LeakSanitizer checks under make sanitize) */
	assert_int_equal(err_set(&e, EPERM, "denied"), -EPERM);
	assert_null(e->field);
	assert_string_equal(err_msg(e), "denied");
}

static void test_null_and_defaults(void **state)
{
	_cleanup_err_ struct err *e = NULL;

	(void)state;
	/* callers that do not want the text pass NULL and still get -errno */
	assert_int_equal(err_set(NULL, EAGAIN, "x"), -EAGAIN);
	assert_int_equal(err_field(NULL, "f", EBUSY, "x"), -EBUSY);
	assert_int_equal(err_wrap(NULL, "x"), -EIO);
	assert_int_equal(err_wrap(&e, "nothing to wrap"), -EIO);
	assert_null(e);
	assert_string_equal(err_msg(NULL), "unknown error");
	/* errnum 0 or negative would read as success: EIO instead */
	assert_int_equal(err_set(&e, 0, "zero"), -EIO);
	assert_int_equal(e->errnum, EIO);
	assert_int_equal(err_set(&e, -5, "negative"), -EIO);
	err_free(&e);
	assert_null(e);
	err_free(&e); /* twice is fine */
	err_free(NULL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_chain),
	    cmocka_unit_test(test_field_and_replace),
	    cmocka_unit_test(test_null_and_defaults),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
