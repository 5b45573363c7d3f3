/* Node limits: overflow-safe quantities (L1), cpu minimum and clamps (L2), defaults and
 * oom_score_adj by class (H4), and the admission arithmetic (H4, L9). */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "agent/admission.h"
#include "agent/limits.h"
#include "spec/spec.h"

static struct spec *parse(const char *text, struct err **e)
{
	struct spec *s = NULL;

	if (spec_parse_text(text, strlen(text), &s, e) < 0)
		return NULL;
	return s;
}

static void test_quantity_overflow(void **state)
{
	int64_t v = 42;

	(void)state;
	/* each of these overflowed the old __int128 product (UB) or wrapped to a wrong value */
	assert_int_equal(quantity_parse_bytes("99999999999999999.999999999e18", &v), -ERANGE);
	assert_int_equal(quantity_parse_bytes("999999999999999999.999999999Ti", &v), -ERANGE);
	assert_int_equal(quantity_parse_bytes("9223372036854775807e18", &v), -ERANGE);
	assert_int_equal(quantity_parse_bytes("9223372036854775807Ti", &v), -ERANGE);
	assert_int_equal(quantity_parse_bytes("8388608Ti", &v), -ERANGE); /* 2^63 exactly */
	assert_int_equal(quantity_parse_cpu("9223372036854775807", &v), -ERANGE);
	assert_int_equal(v, 42); /* untouched on failure */
	/* the largest values still fit */
	assert_int_equal(quantity_parse_bytes("9223372036854775799", &v), 0);
	assert_int_equal(v, INT64_MAX - 8);
	assert_int_equal(quantity_parse_bytes("8388607Ti", &v), 0);
	assert_int_equal(v, 8388607LL * 1024 * 1024 * 1024 * 1024);
	assert_int_equal(quantity_parse_bytes("9.223372036e18", &v), 0);
	assert_int_equal(v, 9223372036000000000LL);
	assert_int_equal(quantity_parse_bytes("0.000000001e9", &v), 0);
	assert_int_equal(v, 1);
	assert_int_equal(quantity_parse_bytes("1.5e1", &v), 0);
	assert_int_equal(v, 15);
}

static void expect_refused(const char *text, const char *field, const char *needle)
{
	struct err *e = NULL;
	struct spec *s = parse(text, &e);

	assert_null(s);
	assert_non_null(e);
	assert_string_equal(e->field, field);
	if (!strstr(err_msg(e), needle))
		fail_msg("'%s' lacks '%s'", err_msg(e), needle);
	err_free(&e);
}

static void test_cpu_minimum(void **state)
{
	struct err *e = NULL;
	struct spec *s;

	(void)state;
	expect_refused("{\"id\":\"a\",\"image\":\"x\",\"resources\":{\"cpu\":\"1m\"}}", "resources.cpu",
		       "10m");
	expect_refused("{\"id\":\"a\",\"image\":\"x\",\"resources\":{\"cpu\":\"9m\"}}", "resources.cpu",
		       "10m");
	expect_refused("{\"id\":\"a\",\"image\":\"x\",\"resources\":{\"cpu\":0.009}}", "resources.cpu",
		       "10m");
	s = parse("{\"id\":\"a\",\"image\":\"x\",\"resources\":{\"cpu\":\"10m\"}}", &e);
	assert_non_null(s);
	assert_int_equal(s->cpu_millis, 10);
	spec_free(s);
}

static void test_cpu_clamps(void **state)
{
	struct limits_policy p = {0};
	struct spec s = {.cpu_millis = 10, .memory = -1, .pids = -1, .qos = SPEC_QOS_ONLINE};
	struct limits l;

	(void)state;
	limits_compute(&p, &s, &l);
	assert_int_equal(l.cpu_quota_us, 1000); /* the kernel's minimum */
	assert_int_equal(l.cpu_period_us, 100000);
	assert_int_equal(l.cpu_shares, 10); /* 10 * 1024 / 1000 */
	s.cpu_millis = 1;		    /* cannot come from a spec; the clamp holds anyway */
	limits_compute(&p, &s, &l);
	assert_int_equal(l.cpu_quota_us, 1000);
	assert_int_equal(l.cpu_shares, 2);
	s.cpu_millis = 1024 * 1000; /* 1024 CPUs */
	limits_compute(&p, &s, &l);
	assert_int_equal(l.cpu_quota_us, 102400000);
	assert_int_equal(l.cpu_shares, 262144);
	s.cpu_millis = 500;
	limits_compute(&p, &s, &l);
	assert_int_equal(l.cpu_shares, 512);
	s.qos = SPEC_QOS_BATCH;
	limits_compute(&p, &s, &l);
	assert_int_equal(l.cpu_shares, 2);
	s.cpu_millis = -1;
	limits_compute(&p, &s, &l);
	assert_int_equal(l.cpu_quota_us, -1);
}

static void test_defaults_and_oom(void **state)
{
	struct limits_policy p = {
	    .default_memory = 512LL << 20, .default_pids = 1024, .oom_adj_guaranteed = -500};
	struct spec s = {.cpu_millis = -1, .memory = -1, .pids = -1, .qos = SPEC_QOS_ONLINE};
	struct limits l;

	(void)state;
	/* no limits in the spec: the node's defaults, and no negative oom_score_adj */
	limits_compute(&p, &s, &l);
	assert_int_equal(l.memory, 512LL << 20);
	assert_int_equal(l.pids, 1024);
	assert_int_equal(l.oom_score_adj, LIMITS_OOM_ADJ_UNBOUNDED);
	assert_true(l.oom_score_adj > 0);
	/* an explicit memory limit: the protected online class */
	s.memory = 128LL << 20;
	s.pids = 50;
	limits_compute(&p, &s, &l);
	assert_int_equal(l.memory, 128LL << 20);
	assert_int_equal(l.pids, 50);
	assert_int_equal(l.oom_score_adj, -500);
	/* batch is killed first, limit or not */
	s.qos = SPEC_QOS_BATCH;
	limits_compute(&p, &s, &l);
	assert_int_equal(l.oom_score_adj, 1000);
	/* defaults switched off (0): no limit at all */
	p.default_memory = 0;
	p.default_pids = 0;
	s.memory = s.pids = -1;
	s.qos = SPEC_QOS_ONLINE;
	limits_compute(&p, &s, &l);
	assert_int_equal(l.memory, -1);
	assert_int_equal(l.pids, -1);
	assert_int_equal(l.oom_score_adj, LIMITS_OOM_ADJ_UNBOUNDED);
}

static void test_admission(void **state)
{
	struct admission_node n = {.memory_allocatable = 1000, .max_instances = 3};
	struct admission_usage u = {.memory = 600, .instances = 2};
	struct spec s = {.id = "x", .memory = 400, .pids = -1, .cpu_millis = -1};
	struct err *e = NULL;

	(void)state;
	assert_int_equal(admission_allocatable(8000, 1000), 7000);
	assert_int_equal(admission_allocatable(8000, 0), 8000);
	assert_int_equal(admission_allocatable(1000, 2000), 0);
	assert_int_equal(admission_allocatable(-1, 0), 0);

	assert_int_equal(admission_check(&n, &u, &s, true, &e), 0); /* 600 + 400 = 1000: fits exactly */
	s.memory = 401;
	assert_int_equal(admission_check(&n, &u, &s, true, &e), -ENOSPC);
	assert_string_equal(e->field, "resources.memory");
	assert_non_null(strstr(err_msg(e), "insufficient memory"));
	assert_non_null(strstr(err_msg(e), "401"));
	assert_non_null(strstr(err_msg(e), "only 400 of the node's 1000"));
	err_free(&e);
	/* a spec that asks for no memory always fits the memory check */
	s.memory = -1;
	assert_int_equal(admission_check(&n, &u, &s, true, &e), 0);
	/* over-allocation (a smaller allocatable after a restart) leaves nothing free, never negative */
	u.memory = 5000;
	s.memory = 1;
	assert_int_equal(admission_check(&n, &u, &s, true, &e), -ENOSPC);
	assert_non_null(strstr(err_msg(e), "only 0 of"));
	err_free(&e);
	/* the instance cap counts new instances only */
	u.memory = 0;
	u.instances = 3;
	assert_int_equal(admission_check(&n, &u, &s, true, &e), -ENOSPC);
	assert_non_null(strstr(err_msg(e), "3 of its 3"));
	assert_non_null(strstr(err_msg(e), "--max-instances"));
	err_free(&e);
	assert_int_equal(admission_check(&n, &u, &s, false, &e), 0); /* a new revision of one of them */
	n.max_instances = 0;					     /* no cap */
	assert_int_equal(admission_check(&n, &u, &s, true, &e), 0);
}

static void test_json_reason_quotes_nothing(void **state)
{
	static const char *const bad[] = {
	    "{\"id\": secret-token-123}",
	    "{\"id\":\"a\",\"id\":\"b\"}",
	    "{\"a\":",
	    "{} trailing-token-9",
	    "[1, 2, tok3n]",
	};

	(void)state;
	for (size_t k = 0; k < sizeof(bad) / sizeof(bad[0]); k++) {
		struct err *e = NULL;
		struct spec *s = parse(bad[k], &e);

		assert_null(s);
		assert_non_null(e);
		assert_non_null(strstr(err_msg(e), "line 1 column"));
		if (strstr(err_msg(e), "secret") || strstr(err_msg(e), "trailing") ||
		    strstr(err_msg(e), "tok3n") || strstr(err_msg(e), "near"))
			fail_msg("the message quotes the input: %s", err_msg(e));
		err_free(&e);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_quantity_overflow), cmocka_unit_test(test_cpu_minimum),
	    cmocka_unit_test(test_cpu_clamps),	      cmocka_unit_test(test_defaults_and_oom),
	    cmocka_unit_test(test_admission),	      cmocka_unit_test(test_json_reason_quotes_nothing),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
