/* The set diff behind every whole-set source (push, pull): what to create, replace, keep, refuse
 * and remove. */
#include <setjmp.h>
#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "agent/source.h"

static struct set_step *plan(enum inst_source src, const struct set_have *have, size_t n_have,
			     const struct set_want *want, size_t n_want, size_t *ret_n)
{
	struct set_step *steps = NULL;

	assert_int_equal(source_plan(src, have, n_have, want, n_want, &steps, ret_n), 0);
	return steps;
}

static void test_create_replace_keep_remove(void **state)
{
	const struct set_have have[] = {
	    {"a", SRC_API, 1, true, false}, /* kept at the same revision */
	    {"b", SRC_API, 1, true, false}, /* replaced by revision 2 */
	    {"c", SRC_API, 1, true, false}, /* left the set: removed */
	    {"d", SRC_DIR, 1, true, false}, /* another source's: never touched */
	};
	const struct set_want want[] = {{"a", 1, true}, {"b", 2, true}, {"e", 1, true}};
	size_t n = 0;
	struct set_step *s = plan(SRC_API, have, 4, want, 3, &n);

	(void)state;
	assert_int_equal(n, 4);
	assert_int_equal(s[0].op, SET_UNCHANGED);
	assert_int_equal(s[1].op, SET_REPLACE);
	assert_int_equal(s[2].op, SET_CREATE);
	assert_int_equal(s[2].index, 2);
	assert_int_equal(s[3].op, SET_REMOVE);
	assert_string_equal(have[s[3].index].id, "c");
	free(s);
}

static void test_refusals(void **state)
{
	const struct set_have have[] = {
	    {"dirs", SRC_DIR, 1, true, false},
	    {"old", SRC_CP, 5, true, false},
	};
	const struct set_want want[] = {
	    {"dirs", 9, true},			 /* owned by the assignments dir */
	    {"old", 4, true},			 /* lower than the running revision */
	    {"new", 1, true},  {"new", 2, true}, /* twice in one set */
	    {NULL, 0, false},			 /* did not parse */
	};
	size_t n = 0;
	struct set_step *s = plan(SRC_CP, have, 2, want, 5, &n);

	(void)state;
	assert_int_equal(n, 5); /* "old" is named (stale), so it is not removed */
	assert_int_equal(s[0].op, SET_FOREIGN);
	assert_int_equal(s[1].op, SET_STALE);
	assert_int_equal(s[2].op, SET_CREATE);
	assert_int_equal(s[3].op, SET_DUPLICATE);
	assert_int_equal(s[4].op, SET_INVALID);
	free(s);
}

static void test_invalid_item_keeps_its_instance(void **state)
{
	/* a broken spec for a running id never takes the running instance away */
	const struct set_have have[] = {{"web", SRC_CP, 3, true, false}, {"gone", SRC_CP, 1, true, false}};
	const struct set_want want[] = {{"web", 0, false}};
	size_t n = 0;
	struct set_step *s = plan(SRC_CP, have, 2, want, 1, &n);

	(void)state;
	assert_int_equal(n, 2);
	assert_int_equal(s[0].op, SET_INVALID);
	assert_int_equal(s[1].op, SET_REMOVE);
	assert_string_equal(have[s[1].index].id, "gone");
	free(s);
}

static void test_removing_and_placeholders(void **state)
{
	const struct set_have have[] = {
	    {"back", SRC_API, 2, true, true},  /* being removed: the same revision brings it back */
	    {"going", SRC_API, 1, true, true}, /* being removed already: no second removal */
	    {"broken", SRC_API, 0, false, false},
	};
	const struct set_want want[] = {{"back", 2, true}, {"broken", 1, true}};
	size_t n = 0;
	struct set_step *s = plan(SRC_API, have, 3, want, 2, &n);

	(void)state;
	assert_int_equal(n, 2);
	assert_int_equal(s[0].op, SET_REPLACE);
	assert_int_equal(s[1].op, SET_REPLACE);
	free(s);
}

static void test_empty_set_removes_all_of_the_source(void **state)
{
	const struct set_have have[] = {{"x", SRC_API, 1, true, false}, {"y", SRC_CP, 1, true, false}};
	size_t n = 0;
	struct set_step *s = plan(SRC_CP, have, 2, NULL, 0, &n);

	(void)state;
	assert_int_equal(n, 1);
	assert_int_equal(s[0].op, SET_REMOVE);
	assert_string_equal(have[s[0].index].id, "y");
	free(s);
}

static void test_names(void **state)
{
	enum inst_source s;

	(void)state;
	assert_string_equal(source_name(SRC_CP), "control-plane");
	assert_int_equal(source_parse("api", &s), 0);
	assert_int_equal(s, SRC_API);
	assert_int_equal(source_parse("nope", &s), -EINVAL);
	assert_non_null(strstr(source_desc(SRC_DIR), "assignments dir"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_create_replace_keep_remove),
	    cmocka_unit_test(test_refusals),
	    cmocka_unit_test(test_invalid_item_keeps_its_instance),
	    cmocka_unit_test(test_removing_and_placeholders),
	    cmocka_unit_test(test_empty_set_removes_all_of_the_source),
	    cmocka_unit_test(test_names),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
