/* droverctl's pure output code: age/size formatting, table alignment, the ps table, agent error lines.
 * The CLI is not in libdrover.a, so its sources are compiled in here. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "cli/ctl-fmt.c"
#include "cli/ctl-list.c"
#include "cli/ctl-table.c"

/* Runs fn into a memstream and returns what it printed (caller frees). */
#define CAPTURE(buf, stmt)                                                                                   \
	do {                                                                                                 \
		size_t _len = 0;                                                                             \
		FILE *out = open_memstream(&(buf), &_len);                                                   \
		assert_non_null(out);                                                                        \
		stmt;                                                                                        \
		assert_int_equal(fclose(out), 0);                                                            \
	} while (0)

static void test_age(void **state)
{
	char b[24];

	(void)state;
	ctl_fmt_age(0, b, sizeof(b));
	assert_string_equal(b, "0s");
	ctl_fmt_age(5, b, sizeof(b));
	assert_string_equal(b, "5s");
	ctl_fmt_age(59, b, sizeof(b));
	assert_string_equal(b, "59s");
	ctl_fmt_age(60, b, sizeof(b));
	assert_string_equal(b, "1m");
	ctl_fmt_age(3 * 60 + 59, b, sizeof(b));
	assert_string_equal(b, "3m");
	ctl_fmt_age(3600, b, sizeof(b));
	assert_string_equal(b, "1h");
	ctl_fmt_age(2 * 3600 + 1, b, sizeof(b));
	assert_string_equal(b, "2h");
	ctl_fmt_age(86399, b, sizeof(b));
	assert_string_equal(b, "23h");
	ctl_fmt_age(4 * 86400 + 7, b, sizeof(b));
	assert_string_equal(b, "4d");
	ctl_fmt_age(-30, b, sizeof(b)); /* clock skew between agent and operator */
	assert_string_equal(b, "0s");
}

static void test_rfc3339(void **state)
{
	int64_t t = 0;

	(void)state;
	assert_int_equal(ctl_parse_rfc3339("1970-01-01T00:00:00Z", &t), 0);
	assert_int_equal(t, 0);
	assert_int_equal(ctl_parse_rfc3339("2026-11-25T10:00:00Z", &t), 0);
	assert_int_equal(t, 1795600800);
	assert_int_equal(ctl_parse_rfc3339("2026-11-25T10:00:00.123456789Z", &t), 0);
	assert_int_equal(t, 1795600800);
	assert_int_equal(ctl_parse_rfc3339("2026-11-25T11:30:00+01:30", &t), 0);
	assert_int_equal(t, 1795600800);
	assert_int_equal(ctl_parse_rfc3339("2026-11-25T09:00:00-01:00", &t), 0);
	assert_int_equal(t, 1795600800);
	assert_int_equal(ctl_parse_rfc3339("2026-11-25", &t), -EINVAL);
	assert_int_equal(ctl_parse_rfc3339("2026-11-25T10:00:00", &t), -EINVAL);
	assert_int_equal(ctl_parse_rfc3339("2026-13-25T10:00:00Z", &t), -EINVAL);
	assert_int_equal(ctl_parse_rfc3339("2026-11-25T10:00:00Zjunk", &t), -EINVAL);
	assert_int_equal(ctl_parse_rfc3339("2026-11-25T10:00:00.Z", &t), -EINVAL);
	assert_int_equal(ctl_parse_rfc3339("", &t), -EINVAL);
	assert_int_equal(ctl_parse_rfc3339(NULL, &t), -EINVAL);
}

static void test_age_since(void **state)
{
	char b[24];

	(void)state;
	ctl_fmt_age_since("2026-11-25T10:00:00Z", 1795600800 + 125, b, sizeof(b));
	assert_string_equal(b, "2m");
	ctl_fmt_age_since(NULL, 1795600800, b, sizeof(b));
	assert_string_equal(b, "-");
	ctl_fmt_age_since("yesterday", 1795600800, b, sizeof(b));
	assert_string_equal(b, "-");
}

static void test_size(void **state)
{
	char b[24];

	(void)state;
	ctl_fmt_size(0, b, sizeof(b));
	assert_string_equal(b, "0B");
	ctl_fmt_size(1023, b, sizeof(b));
	assert_string_equal(b, "1023B");
	ctl_fmt_size(1536, b, sizeof(b));
	assert_string_equal(b, "1.5KiB");
	ctl_fmt_size(20LL << 20, b, sizeof(b));
	assert_string_equal(b, "20.0MiB");
	ctl_fmt_size(3LL << 30, b, sizeof(b));
	assert_string_equal(b, "3.0GiB");
}

static void test_table_alignment(void **state)
{
	static const char *const hdr[] = {"ID", "PHASE", "AGE"};
	static const char *const r1[] = {"web-0", "running", "5s"};
	static const char *const r2[] = {"a-much-longer-id", "", NULL};
	struct ctl_table *t = ctl_table_new(hdr, 3);
	char *buf = NULL;

	(void)state;
	assert_non_null(t);
	assert_int_equal(ctl_table_add_row(t, r1), 0);
	assert_int_equal(ctl_table_add_row(t, r2), 0);
	assert_int_equal(ctl_table_rows(t), 2);
	CAPTURE(buf, ctl_table_print(t, out));
	assert_string_equal(buf, "ID                 PHASE     AGE\n"
				 "web-0              running   5s\n"
				 "a-much-longer-id   -         -\n");
	free(buf);
	ctl_table_free(t);
}

static void test_table_sanitizes_and_counts_utf8(void **state)
{
	static const char *const hdr[] = {"NAME", "X"};
	static const char *const r1[] = {"caf\xc3\xa9", "1"}; /* 4 columns wide, 5 bytes */
	static const char *const r2[] = {"a\x1b[31mb\n", "2"};
	struct ctl_table *t = ctl_table_new(hdr, 2);
	char *buf = NULL;

	(void)state;
	assert_int_equal(ctl_table_add_row(t, r1), 0);
	assert_int_equal(ctl_table_add_row(t, r2), 0);
	CAPTURE(buf, ctl_table_print(t, out));
	assert_string_equal(buf, "NAME       X\n"
				 "caf\xc3\xa9       1\n"
				 "a?[31mb?   2\n");
	free(buf);
	ctl_table_free(t);
}

static void test_table_header_only(void **state)
{
	static const char *const hdr[] = {"ID", "PHASE"};
	struct ctl_table *t = ctl_table_new(hdr, 2);
	char *buf = NULL;

	(void)state;
	CAPTURE(buf, ctl_table_print(t, out));
	assert_string_equal(buf, "ID   PHASE\n");
	free(buf);
	assert_null(ctl_table_free(t));
	assert_null(ctl_table_free(NULL));
}

static void test_table_many_rows(void **state)
{
	static const char *const hdr[] = {"N"};
	struct ctl_table *t = ctl_table_new(hdr, 1);
	char *buf = NULL, cell[16];
	const char *row[1] = {cell};

	(void)state;
	for (int i = 0; i < 100; i++) { /* past the first growth of the row array */
		snprintf(cell, sizeof(cell), "%d", i);
		assert_int_equal(ctl_table_add_row(t, row), 0);
	}
	assert_int_equal(ctl_table_rows(t), 100);
	CAPTURE(buf, ctl_table_print(t, out));
	assert_non_null(strstr(buf, "\n99\n"));
	free(buf);
	ctl_table_free(t);
}

static void test_ps_table(void **state)
{
	json_t *list = json_loads("[{\"id\":\"web-1\",\"revision\":7,\"phase\":\"running\",\"reason\":\"\","
				  "\"ready\":true,\"health\":\"healthy\","
				  "\"pid\":12345,\"ip\":\"10.77.0.5\",\"restarts\":0,"
				  "\"started_at\":\"2026-11-25T10:00:00Z\"},"
				  "{\"id\":\"batch-0\",\"revision\":1,\"phase\":\"failed\","
				  "\"reason\":\"ImagePullFailed\",\"ready\":false,\"health\":\"unknown\","
				  "\"pid\":0,\"ip\":null,\"restarts\":3,"
				  "\"started_at\":null}]",
				  0, NULL);
	char *buf = NULL;

	(void)state;
	assert_non_null(list);
	CAPTURE(buf, assert_int_equal(ctl_print_statuses(list, 1795600800 + 3 * 3600, out), 0));
	assert_string_equal(buf, "ID        REVISION   PHASE     READY   HEALTH    REASON            PID     "
				 "IP          RESTARTS   AGE\n"
				 "batch-0   1          failed    false   unknown   ImagePullFailed   -       "
				 "-           3          -\n"
				 "web-1     7          running   true    healthy   -                 12345   "
				 "10.77.0.5   0          3h\n");
	free(buf);
	json_decref(list);
}

static void test_ps_table_empty(void **state)
{
	json_t *list = json_array();
	char *buf = NULL;

	(void)state;
	CAPTURE(buf, assert_int_equal(ctl_print_statuses(list, 0, out), 0));
	assert_string_equal(buf,
			    "ID   REVISION   PHASE   READY   HEALTH   REASON   PID   IP   RESTARTS   AGE\n");
	free(buf);
	json_decref(list);
}

static void check_error(long status, const char *body, const char *want)
{
	char *got = ctl_agent_error(status, body, body ? strlen(body) : 0);

	assert_non_null(got);
	assert_string_equal(got, want);
	free(got);
}

static void test_error_body(void **state)
{
	(void)state;
	check_error(422, "{\"error\": \"image is required\", \"field\": \"image\"}",
		    "image is required (field 'image')");
	check_error(404, "{\"error\": \"no instance 'web-9'\"}", "no instance 'web-9'");
	check_error(409, "{\"error\": \"stale revision 3 < 7\", \"field\": \"\"}", "stale revision 3 < 7");
	check_error(400, "{\"error\": \"bad\", \"field\": 7}", "bad");
	check_error(404, "404 page not found\n", "404 page not found");
	check_error(500, "\n\n  first line  \nsecond line\n", "first line");
	check_error(502, "", "agent returned HTTP 502");
	check_error(503, NULL, "agent returned HTTP 503");
	check_error(500, "{\"message\": \"other shape\"}", "{\"message\": \"other shape\"}");
	check_error(500, "{\"error\": \"\"}", "{\"error\": \"\"}");
	check_error(400, "{\"error\": \"two\\nlines\\u001b\"}", "two?lines?");
}

static void test_error_body_capped(void **state)
{
	char *body = malloc(5001), *got;

	(void)state;
	memset(body, 'x', 5000);
	body[5000] = '\0';
	got = ctl_agent_error(500, body, 5000);
	assert_int_equal(strlen(got), CTL_ERR_LINE_MAX);
	free(got);
	free(body);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_age),
	    cmocka_unit_test(test_rfc3339),
	    cmocka_unit_test(test_age_since),
	    cmocka_unit_test(test_size),
	    cmocka_unit_test(test_table_alignment),
	    cmocka_unit_test(test_table_sanitizes_and_counts_utf8),
	    cmocka_unit_test(test_table_header_only),
	    cmocka_unit_test(test_table_many_rows),
	    cmocka_unit_test(test_ps_table),
	    cmocka_unit_test(test_ps_table_empty),
	    cmocka_unit_test(test_error_body),
	    cmocka_unit_test(test_error_body_capped),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
