/* droverctl's text helpers: URL escaping, generic "key: value" output, event lines, the image table.
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

/* Prints JSON text through fn into a memstream and compares with want. */
static void check_printed(void (*fn)(FILE *, const json_t *), const char *json, const char *want)
{
	json_t *doc = json_loads(json, JSON_DECODE_ANY, NULL);
	char *buf = NULL;
	size_t len = 0;
	FILE *out = open_memstream(&buf, &len);

	assert_non_null(doc);
	assert_non_null(out);
	fn(out, doc);
	assert_int_equal(fclose(out), 0);
	assert_string_equal(buf, want);
	free(buf);
	json_decref(doc);
}

static void print_flat_root(FILE *out, const json_t *v)
{
	ctl_print_flat(out, NULL, v);
}

static void print_images_at(FILE *out, const json_t *v)
{
	assert_int_equal(ctl_print_images(v, 1795600800 + 2 * 86400, out), 0);
}

static void test_url_escape(void **state)
{
	char *s;

	(void)state;
	s = ctl_url_escape("web-0_a.b~c");
	assert_string_equal(s, "web-0_a.b~c");
	free(s);
	s = ctl_url_escape("127.0.0.1:5000/demo/web:1.0");
	assert_string_equal(s, "127.0.0.1%3A5000%2Fdemo%2Fweb%3A1.0");
	free(s);
	s = ctl_url_escape("a b?c&d#e%\xc3\xa9");
	assert_string_equal(s, "a%20b%3Fc%26d%23e%25%C3%A9");
	free(s);
	s = ctl_url_escape("");
	assert_string_equal(s, "");
	free(s);
}

static void test_strip(void **state)
{
	char a[] = "  tok3n \n\t", b[] = "", c[] = "x";

	(void)state;
	assert_string_equal(ctl_strip(a), "tok3n");
	assert_string_equal(ctl_strip(b), "");
	assert_string_equal(ctl_strip(c), "x");
}

static void test_json_text(void **state)
{
	static const struct {
		const char *in, *want;
	} cases[] = {
	    {"\"s\"", "s"},
	    {"42", "42"},
	    {"-1", "-1"},
	    {"1.5", "1.5"},
	    {"true", "true"},
	    {"false", "false"},
	    {"null", ""},
	    {"[1,\"a\"]", "[1,\"a\"]"},
	    {"{\"k\":1}", "{\"k\":1}"},
	};
	char *s;

	(void)state;
	for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
		json_t *v = json_loads(cases[i].in, JSON_DECODE_ANY, NULL);

		s = ctl_json_text(v);
		assert_string_equal(s, cases[i].want);
		free(s);
		json_decref(v);
	}
	s = ctl_json_text(NULL);
	assert_string_equal(s, "");
	free(s);
}

static void test_flat_node(void **state)
{
	(void)state;
	check_printed(
	    print_flat_root,
	    "{\"name\":\"host-a\",\"version\":\"0.1\",\"capacity\":{\"cpu\":\"4\",\"memory\":\"8Gi\"},"
	    "\"allocated\":{\"online\":{\"cpu\":\"500m\"},\"batch\":{}},\"ready\":true,\"load\":0.5,"
	    "\"conditions\":[{\"type\":\"MemoryPressure\",\"status\":false}],\"labels\":[\"a\",\"b\"],"
	    "\"empty\":[],\"gone\":null,\"motd\":\"two\\nlines\"}",
	    "name: host-a\n"
	    "version: 0.1\n"
	    "capacity.cpu: 4\n"
	    "capacity.memory: 8Gi\n"
	    "allocated.online.cpu: 500m\n"
	    "ready: true\n"
	    "load: 0.5\n"
	    "conditions[0].type: MemoryPressure\n"
	    "conditions[0].status: false\n"
	    "labels: a, b\n"
	    "empty: \n"
	    "gone: -\n"
	    "motd: two?lines\n");
}

static void test_flat_non_object(void **state)
{
	(void)state;
	check_printed(print_flat_root, "\"ok\"", "value: ok\n");
	check_printed(print_flat_root, "[{\"a\":1},{\"a\":2}]", "items[0].a: 1\nitems[1].a: 2\n");
}

static void test_event_line(void **state)
{
	(void)state;
	check_printed(ctl_print_event,
		      "{\"seq\":12,\"time\":\"2026-11-25T10:00:00Z\",\"id\":\"web-0\",\"phase\":\"running\","
		      "\"reason\":\"\",\"message\":\"ignored\"}",
		      "12 2026-11-25T10:00:00Z web-0 running -\n");
	check_printed(
	    ctl_print_event,
	    "{\"seq\":13,\"timestamp\":\"2026-11-25T10:00:01Z\",\"id\":\"web-0\",\"phase\":\"exited\","
	    "\"reason\":\"OOMKilled\"}",
	    "13 2026-11-25T10:00:01Z web-0 exited OOMKilled\n");
	check_printed(ctl_print_event, "{\"id\":\"x\\u001b\"}", "- - x? - -\n");
}

static void test_image_table(void **state)
{
	(void)state;
	check_printed(
	    print_images_at,
	    "[{\"ref\":\"reg:5000/demo/web:1.0\",\"digest\":\"sha256:0123456789abcdef\",\"size\":5242880,"
	    "\"used_by\":[\"web-0\",\"web-1\"]},"
	    "{\"refs\":[\"busybox:latest\",\"bb:1\"],\"size\":100,\"used_by\":[]},{}]",
	    "REF                     DIGEST                SIZE     IN USE BY\n"
	    "-                       -                     -        -\n"
	    "busybox:latest,bb:1     -                     100B     -\n"
	    "reg:5000/demo/web:1.0   sha256:0123456789ab   5.0MiB   web-0,web-1\n");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_url_escape),	    cmocka_unit_test(test_strip),
	    cmocka_unit_test(test_json_text),	    cmocka_unit_test(test_flat_node),
	    cmocka_unit_test(test_flat_non_object), cmocka_unit_test(test_event_line),
	    cmocka_unit_test(test_image_table),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
