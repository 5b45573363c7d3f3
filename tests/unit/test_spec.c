/* Spec parsing: a valid spec round-trips, and every validation error names its field. */
#include <setjmp.h>
#include <stdbool.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "spec/spec.h"

static struct spec *parse_ok(const char *text)
{
	struct err *e = NULL;
	struct spec *s = NULL;

	if (spec_parse_text(text, strlen(text), &s, &e) < 0)
		fail_msg("unexpected error: %s", err_msg(e));
	return s;
}

static void expect_error(const char *text, const char *field, const char *needle)
{
	struct err *e = NULL;
	struct spec *s = NULL;
	int r = spec_parse_text(text, strlen(text), &s, &e);

	if (r >= 0)
		fail_msg("accepted: %s", text);
	assert_null(s);
	assert_non_null(e);
	if (strcmp(e->field ? e->field : "", field) != 0)
		fail_msg("field '%s', expected '%s' (%s)", e->field, field, err_msg(e));
	if (needle && !strstr(err_msg(e), needle))
		fail_msg("message '%s' lacks '%s'", err_msg(e), needle);
	err_free(&e);
}

static void test_full_spec(void **state)
{
	(void)state;
	struct spec *s =
	    parse_ok("{\"id\":\"web-0\",\"app\":\"web\",\"revision\":7,\"image\":\"oci:/x\","
		     "\"command\":[\"/bin/"
		     "httpd\",\"-f\",\"-p\",\"8080\"],\"env\":{\"MODE\":\"prod\"},\"workdir\":\"/\","
		     "\"user\":\"1000:1000\",\"files\":[{\"path\":\"/etc/"
		     "app.conf\",\"content\":\"k=v\\n\",\"mode\":\"0600\"}],"
		     "\"resources\":{\"cpu\":\"500m\",\"memory\":\"128Mi\",\"pids\":256},\"qos\":\"batch\","
		     "\"network\":{\"mode\":\"host\",\"ports\":[{\"container\":8080,\"host\":18080,"
		     "\"protocol\":\"udp\"}]},"
		     "\"health\":{\"liveness\":{\"tcp\":{\"port\":8080},\"interval_ms\":2000}},"
		     "\"restart\":\"on-failure\",\"stop_grace_ms\":500,\"labels\":{\"team\":\"a\"}}");
	assert_string_equal(s->id, "web-0");
	assert_string_equal(s->app, "web");
	assert_int_equal(s->revision, 7);
	assert_string_equal(s->command[3], "8080");
	assert_null(s->command[4]);
	assert_string_equal(s->env[0], "MODE=prod");
	assert_string_equal(s->user, "1000:1000");
	assert_int_equal(s->n_files, 1);
	assert_int_equal(s->files[0].mode, 0600);
	assert_int_equal(s->files[0].len, 4);
	assert_int_equal(s->cpu_millis, 500);
	assert_int_equal(s->memory, 128 * 1024 * 1024);
	assert_int_equal(s->pids, 256);
	assert_int_equal(s->qos, SPEC_QOS_BATCH);
	assert_int_equal(s->net, SPEC_NET_HOST);
	assert_int_equal(s->n_ports, 1);
	assert_true(s->ports[0].udp);
	assert_int_equal(s->ports[0].host, 18080);
	assert_true(s->has_health);
	assert_int_equal(s->restart, SPEC_RESTART_ON_FAILURE);
	assert_int_equal(s->stop_grace_ms, 500);
	spec_free(s);
}

/* The fuzzers start from these seeds: a seed the parser refuses keeps them from ever reaching the
 * code behind a valid spec (an instance record's next_spec, say), as a stale env list once did. */
static void test_fuzz_seeds_are_valid(void **state)
{
	static const struct {
		const char *path;
		bool named; /* the assignments harness's input: a file name, a newline, the file */
	} seeds[] = {{"tests/fuzz/corpus/fuzz_spec/full.json", false},
		     {"tests/fuzz/corpus/fuzz_assignments/full", true}};
	(void)state;
	for (size_t k = 0; k < sizeof(seeds) / sizeof(seeds[0]); k++) {
		char text[16384], *body = text;
		FILE *f = fopen(seeds[k].path, "r");
		size_t n;

		if (!f)
			fail_msg("%s: run the unit tests from the source tree", seeds[k].path);
		n = fread(text, 1, sizeof(text) - 1, f);
		fclose(f);
		text[n] = '\0';
		if (seeds[k].named && (body = strchr(text, '\n')))
			body++;
		assert_non_null(body);
		spec_free(parse_ok(body));
	}
}

static void test_defaults(void **state)
{
	(void)state;
	struct spec *s = parse_ok("{\"id\":\"a\",\"image\":\"oci:/x\"}");
	assert_int_equal(s->revision, 0);
	assert_null(s->command);
	assert_int_equal(s->cpu_millis, -1);
	assert_int_equal(s->memory, -1);
	assert_int_equal(s->pids, -1);
	assert_int_equal(s->qos, SPEC_QOS_ONLINE);
	assert_int_equal(s->net, SPEC_NET_BRIDGE);
	assert_int_equal(s->restart, SPEC_RESTART_ALWAYS);
	assert_int_equal(s->stop_grace_ms, 10000);
	assert_int_equal(s->backoff.initial_ms, 1000);
	assert_int_equal(s->backoff.max_ms, 300000);
	assert_int_equal(s->backoff.reset_after_ms, 600000);
	spec_free(s);
}

static void test_restart_backoff(void **state)
{
	(void)state;
	struct spec *s =
	    parse_ok("{\"id\":\"a\",\"image\":\"oci:/x\","
		     "\"restart_backoff\":{\"initial_ms\":200,\"max_ms\":400,\"reset_after_ms\":5000}}");
	int64_t cur = 0;

	assert_int_equal(s->backoff.initial_ms, 200);
	assert_int_equal(s->backoff.max_ms, 400);
	assert_int_equal(s->backoff.reset_after_ms, 5000);
	/* the delays of successive restarts: 200, 400, 400 */
	cur = spec_backoff_delay(&s->backoff, cur);
	assert_int_equal(cur, 200);
	cur = spec_backoff_delay(&s->backoff, spec_backoff_grow(&s->backoff, cur));
	assert_int_equal(cur, 400);
	cur = spec_backoff_delay(&s->backoff, spec_backoff_grow(&s->backoff, cur));
	assert_int_equal(cur, 400);
	assert_int_equal(spec_backoff_delay(&s->backoff, 0), 200); /* a reset starts over */
	/* left by an earlier revision with a larger cap: cut to this one's */
	assert_int_equal(spec_backoff_delay(&s->backoff, 300000), 400);
	assert_int_equal(spec_backoff_grow(&s->backoff, 300000), 400);
	spec_free(s);
	/* absent fields keep their defaults */
	s = parse_ok("{\"id\":\"a\",\"image\":\"oci:/x\",\"restart_backoff\":{\"initial_ms\":250}}");
	assert_int_equal(s->backoff.initial_ms, 250);
	assert_int_equal(s->backoff.max_ms, 300000);
	assert_int_equal(s->backoff.reset_after_ms, 600000);
	spec_free(s);
	s = parse_ok("{\"id\":\"a\",\"image\":\"oci:/x\",\"restart_backoff\":{}}");
	assert_int_equal(s->backoff.initial_ms, 1000);
	spec_free(s);
	/* the defaults double from 1 s and stop at 5 min */
	s = parse_ok("{\"id\":\"a\",\"image\":\"oci:/x\"}");
	cur = 0;
	for (int64_t want = 1000; want < 300000; want *= 2) {
		cur = spec_backoff_delay(&s->backoff, cur);
		assert_int_equal(cur, want);
		cur = spec_backoff_grow(&s->backoff, cur);
	}
	assert_int_equal(spec_backoff_delay(&s->backoff, cur), 300000);
	assert_int_equal(spec_backoff_grow(&s->backoff, 300000), 300000);
	assert_int_equal(spec_backoff_grow(NULL, 256000), 300000); /* no spec: the defaults */
	spec_free(s);
}

static void test_restart_backoff_errors(void **state)
{
	(void)state;
	const char *pre = "{\"id\":\"a\",\"image\":\"x\",\"restart_backoff\":";
	char buf[256];
#define BO(body) (snprintf(buf, sizeof(buf), "%s%s}", pre, body), buf)
	expect_error(BO("5"), "restart_backoff", "must be an object");
	expect_error(BO("{\"initial\":5}"), "restart_backoff.initial", "unknown");
	expect_error(BO("{\"initial_ms\":0}"), "restart_backoff.initial_ms", "between 100 and 3600000");
	expect_error(BO("{\"initial_ms\":-200}"), "restart_backoff.initial_ms", "between");
	expect_error(BO("{\"initial_ms\":\"1s\"}"), "restart_backoff.initial_ms", "integer");
	expect_error(BO("{\"initial_ms\":1.5}"), "restart_backoff.initial_ms", "integer");
	expect_error(BO("{\"max_ms\":3600001}"), "restart_backoff.max_ms", "between");
	expect_error(BO("{\"max_ms\":99}"), "restart_backoff.max_ms", "between");
	expect_error(BO("{\"reset_after_ms\":0}"), "restart_backoff.reset_after_ms",
		     "between 100 and 86400000");
	expect_error(BO("{\"reset_after_ms\":86400001}"), "restart_backoff.reset_after_ms", "between");
	expect_error(BO("{\"initial_ms\":500,\"max_ms\":400}"), "restart_backoff.initial_ms",
		     "(500) must not exceed max_ms (400)");
	/* a larger initial_ms than the default cap needs max_ms too */
	expect_error(BO("{\"initial_ms\":400000}"), "restart_backoff.initial_ms",
		     "max_ms (300000, the default)");
#undef BO
}

static void test_errors(void **state)
{
	(void)state;
	expect_error("{", "", "malformed JSON");
	expect_error("[1]", "", "JSON object");
	expect_error("{\"image\":\"x\"}", "id", "required");
	expect_error("{\"id\":\"A\",\"image\":\"x\"}", "id", "must match");
	expect_error("{\"id\":\"-a\",\"image\":\"x\"}", "id", "must match");
	expect_error("{\"id\":7,\"image\":\"x\"}", "id", "string");
	expect_error("{\"id\":\"a\"}", "image", "required");
	expect_error("{\"id\":\"a\",\"image\":\"\"}", "image", "empty");
	expect_error("{\"id\":\"a\",\"image\":\"Registry.Example/App\"}", "image", "invalid");
	expect_error("{\"id\":\"a\",\"image\":\"oci:relative/layout\"}", "image", "absolute");
	expect_error("{\"id\":\"a\",\"image\":\"x:y:z\"}", "image", NULL);
	expect_error("{\"id\":\"a\",\"image\":\"x\",\"revision\":-1}", "revision", "between");
	expect_error("{\"id\":\"a\",\"image\":\"x\",\"revision\":\"3\"}", "revision", "integer");
	expect_error("{\"id\":\"a\",\"image\":\"x\",\"comand\":[\"x\"]}", "comand", "unknown field");
	expect_error("{\"id\":\"a\",\"image\":\"x\",\"command\":\"sh -c x\"}", "command", "array");
	expect_error("{\"id\":\"a\",\"image\":\"x\",\"command\":[]}", "command", "empty");
	expect_error("{\"id\":\"a\",\"image\":\"x\",\"command\":[\"a\",1]}", "command[1]", "string");
	expect_error("{\"id\":\"a\",\"image\":\"x\",\"env\":{\"A=B\":\"c\"}}", "env.A=B", "not valid");
	expect_error("{\"id\":\"a\",\"image\":\"x\",\"env\":{\"A\":1}}", "env.A", "string");
	expect_error("{\"id\":\"a\",\"image\":\"x\",\"workdir\":\"rel\"}", "workdir", "absolute");
	expect_error("{\"id\":\"a\",\"image\":\"x\",\"user\":\"a:b:c\"}", "user", "uid");
	expect_error("{\"id\":\"a\",\"image\":\"x\",\"files\":[{\"path\":\"/../etc/x\",\"content\":\"\"}]}",
		     "files[0].path", "inside the container");
	expect_error("{\"id\":\"a\",\"image\":\"x\",\"files\":[{\"path\":\"etc/x\",\"content\":\"\"}]}",
		     "files[0].path", "absolute");
	expect_error("{\"id\":\"a\",\"image\":\"x\",\"files\":[{\"path\":\"/a/./b\",\"content\":\"\"}]}",
		     "files[0].path", NULL);
	expect_error("{\"id\":\"a\",\"image\":\"x\",\"files\":[{\"path\":\"/a\"}]}", "files[0].content",
		     "string");
	expect_error(
	    "{\"id\":\"a\",\"image\":\"x\",\"files\":[{\"path\":\"/a\",\"content\":\"\",\"mode\":\"999\"}]}",
	    "files[0].mode", "octal");
	expect_error(
	    "{\"id\":\"a\",\"image\":\"x\",\"files\":[{\"path\":\"/a\",\"content\":\"\",\"mode\":99999}]}",
	    "files[0].mode", "between");
	expect_error("{\"id\":\"a\",\"image\":\"x\",\"files\":[{\"path\":\"/a\",\"content\":\"\"},"
		     "{\"path\":\"/a\",\"content\":\"\"}]}",
		     "files", "twice");
	expect_error("{\"id\":\"a\",\"image\":\"x\",\"resources\":{\"cpu\":\"lots\"}}", "resources.cpu",
		     "quantity");
	expect_error("{\"id\":\"a\",\"image\":\"x\",\"resources\":{\"cpu\":0}}", "resources.cpu", "positive");
	expect_error("{\"id\":\"a\",\"image\":\"x\",\"resources\":{\"memory\":\"12Qi\"}}", "resources.memory",
		     "quantity");
	expect_error("{\"id\":\"a\",\"image\":\"x\",\"resources\":{\"memory\":\"1Mi\"}}", "resources.memory",
		     "4Mi");
	expect_error("{\"id\":\"a\",\"image\":\"x\",\"resources\":{\"pids\":0}}", "resources.pids",
		     "between");
	expect_error("{\"id\":\"a\",\"image\":\"x\",\"resources\":{\"gpu\":1}}", "resources.gpu", "unknown");
	expect_error("{\"id\":\"a\",\"image\":\"x\",\"qos\":\"gold\"}", "qos", "online");
	expect_error("{\"id\":\"a\",\"image\":\"x\",\"network\":{\"mode\":\"overlay\"}}", "network.mode",
		     "bridge");
	expect_error("{\"id\":\"a\",\"image\":\"x\",\"network\":{\"ports\":[{\"container\":0}]}}",
		     "network.ports[0].container", "between");
	expect_error(
	    "{\"id\":\"a\",\"image\":\"x\",\"network\":{\"ports\":[{\"container\":80,\"host\":70000}]}}",
	    "network.ports[0].host", "between");
	expect_error("{\"id\":\"a\",\"image\":\"x\",\"network\":{\"ports\":[{\"container\":80,\"protocol\":"
		     "\"sctp\"}]}}",
		     "network.ports[0].protocol", "tcp");
	expect_error("{\"id\":\"a\",\"image\":\"x\",\"network\":{\"ports\":[{\"container\":80,\"host\":81},"
		     "{\"container\":90,\"host\":81}]}}",
		     "network.ports", "twice");
	expect_error("{\"id\":\"a\",\"image\":\"x\",\"health\":{\"readiness\":{}}}", "health.readiness",
		     "exactly one");
	expect_error("{\"id\":\"a\",\"image\":\"x\",\"health\":{\"liveness\":{\"tcp\":{\"port\":1},"
		     "\"interval_ms\":-5}}}",
		     "health.liveness.interval_ms", "between");
	expect_error("{\"id\":\"a\",\"image\":\"x\",\"health\":{\"sometimes\":{}}}", "health.sometimes",
		     "unknown");
	expect_error("{\"id\":\"a\",\"image\":\"x\",\"restart\":\"sometimes\"}", "restart", "on-failure");
	expect_error("{\"id\":\"a\",\"image\":\"x\",\"stop_grace_ms\":-1}", "stop_grace_ms", "between");
	expect_error("{\"id\":\"a\",\"image\":\"x\",\"labels\":{\"k\":1}}", "labels", "string");
	expect_error("{\"id\":\"a\",\"id\":\"b\",\"image\":\"x\"}", "", "duplicate");
}

#define HS(h) "{\"id\":\"a\",\"image\":\"x\",\"health\":" h "}"

static void test_health(void **state)
{
	struct spec *s;

	(void)state;
	s = parse_ok(
	    HS("{\"readiness\":{\"http\":{\"port\":8080,\"path\":\"/ready?x=1\"},\"interval_ms\":100,"
	       "\"success_threshold\":2,\"failure_threshold\":4,\"initial_delay_ms\":50},"
	       "\"liveness\":{\"tcp\":{\"port\":9}},"
	       "\"startup\":{\"exec\":{\"command\":[\"test\",\"-f\",\"/tmp/ok\"]},\"timeout_ms\":5000}}"));
	assert_true(s->has_health);
	assert_int_equal(s->probes[SPEC_PROBE_READINESS].kind, SPEC_PROBE_HTTP);
	assert_int_equal(s->probes[SPEC_PROBE_READINESS].port, 8080);
	assert_string_equal(s->probes[SPEC_PROBE_READINESS].path, "/ready?x=1");
	assert_int_equal(s->probes[SPEC_PROBE_READINESS].interval_ms, 100);
	assert_int_equal(s->probes[SPEC_PROBE_READINESS].timeout_ms, 100); /* never more than the interval */
	assert_int_equal(s->probes[SPEC_PROBE_READINESS].success_threshold, 2);
	assert_int_equal(s->probes[SPEC_PROBE_READINESS].failure_threshold, 4);
	assert_int_equal(s->probes[SPEC_PROBE_READINESS].initial_delay_ms, 50);
	assert_int_equal(s->probes[SPEC_PROBE_LIVENESS].kind, SPEC_PROBE_TCP);
	assert_int_equal(s->probes[SPEC_PROBE_LIVENESS].interval_ms, 10000);
	assert_int_equal(s->probes[SPEC_PROBE_LIVENESS].timeout_ms, 1000);
	assert_int_equal(s->probes[SPEC_PROBE_LIVENESS].failure_threshold, 3);
	assert_int_equal(s->probes[SPEC_PROBE_LIVENESS].success_threshold, 1);
	assert_int_equal(s->probes[SPEC_PROBE_STARTUP].kind, SPEC_PROBE_EXEC);
	assert_string_equal(s->probes[SPEC_PROBE_STARTUP].command[2], "/tmp/ok");
	assert_int_equal(s->probes[SPEC_PROBE_STARTUP].timeout_ms, 5000);
	spec_free(s);
	s = parse_ok(HS("{\"readiness\":{\"http\":{\"port\":80}}}"));
	assert_string_equal(s->probes[SPEC_PROBE_READINESS].path, "/");
	assert_int_equal(s->probes[SPEC_PROBE_LIVENESS].kind, SPEC_PROBE_NONE);
	spec_free(s);
	s = parse_ok(HS("{\"readiness\":{\"notify\":true}}"));
	assert_int_equal(s->probes[SPEC_PROBE_READINESS].kind, SPEC_PROBE_NOTIFY);
	spec_free(s);
}

static void test_health_errors(void **state)
{
	(void)state;
	expect_error(HS("[]"), "health", "object");
	expect_error(HS("{\"readiness\":{\"tcp\":{\"port\":1},\"http\":{\"port\":1}}}"), "health.readiness",
		     "exactly one");
	expect_error(HS("{\"readiness\":{\"tcp\":{}}}"), "health.readiness.tcp.port", "required");
	expect_error(HS("{\"readiness\":{\"tcp\":{\"port\":0}}}"), "health.readiness.tcp.port",
		     "between 1 and 65535");
	expect_error(HS("{\"readiness\":{\"tcp\":8080}}"), "health.readiness.tcp", "object");
	expect_error(HS("{\"readiness\":{\"tcp\":{\"port\":1,\"host\":\"x\"}}}"), "health.readiness.tcp.host",
		     "unknown");
	expect_error(HS("{\"liveness\":{\"http\":{\"port\":1,\"path\":\"nope\"}}}"),
		     "health.liveness.http.path", "start with '/'");
	expect_error(HS("{\"liveness\":{\"http\":{\"port\":1,\"path\":\"/a b\"}}}"),
		     "health.liveness.http.path", "spaces");
	expect_error(HS("{\"liveness\":{\"http\":{\"port\":1,\"path\":\"/a\\r\\nX: y\"}}}"),
		     "health.liveness.http.path", "control");
	expect_error(HS("{\"startup\":{\"exec\":{\"command\":[]}}}"), "health.startup.exec.command", "empty");
	expect_error(HS("{\"startup\":{\"exec\":{\"command\":[\"\"]}}}"), "health.startup.exec.command",
		     "program");
	expect_error(HS("{\"startup\":{\"exec\":{}}}"), "health.startup.exec.command", "required");
	expect_error(HS("{\"readiness\":{\"tcp\":{\"port\":1},\"interval_ms\":99}}"),
		     "health.readiness.interval_ms", "between 100");
	expect_error(HS("{\"readiness\":{\"tcp\":{\"port\":1},\"interval_ms\":500,\"timeout_ms\":501}}"),
		     "health.readiness.timeout_ms", "between 1 and 500");
	expect_error(HS("{\"readiness\":{\"tcp\":{\"port\":1},\"failure_threshold\":0}}"),
		     "health.readiness.failure_threshold", "between 1");
	expect_error(HS("{\"liveness\":{\"tcp\":{\"port\":1},\"success_threshold\":2}}"),
		     "health.liveness.success_threshold", "must be 1");
	expect_error(HS("{\"readiness\":{\"tcp\":{\"port\":1},\"initial_delay_ms\":\"5\"}}"),
		     "health.readiness.initial_delay_ms", "integer");
	expect_error(HS("{\"liveness\":{\"notify\":true}}"), "health.liveness.notify", "only allowed under");
	expect_error(HS("{\"readiness\":{\"notify\":1}}"), "health.readiness.notify", "true or false");
	expect_error(HS("{\"readiness\":{\"notify\":true,\"interval_ms\":100}}"),
		     "health.readiness.interval_ms", "no meaning");
	expect_error(HS("{\"readiness\":{\"notify\":false}}"), "health.readiness", "exactly one");
}

static void test_unsupported(void **state)
{
	(void)state;
	struct err *e = NULL;
	struct spec *s =
	    parse_ok("{\"id\":\"a\",\"image\":\"127.0.0.1:5000/x:1\",\"network\":{\"mode\":\"none\"}}");
	assert_int_equal(spec_check_supported(s, &e), 0); /* registry images are pulled */
	spec_free(s);
	s = parse_ok("{\"id\":\"a\",\"image\":\"oci:/x\"}");
	assert_int_equal(spec_check_supported(s, &e), 0); /* bridge, the default */
	spec_free(s);
	s = parse_ok("{\"id\":\"a\",\"image\":\"oci:/"
		     "x\",\"network\":{\"mode\":\"none\",\"ports\":[{\"container\":80,\"host\":8080}]}}");
	assert_true(spec_check_supported(s, &e) < 0);
	assert_string_equal(e->field, "network.ports");
	err_free(&e);
	spec_free(s);
	s = parse_ok("{\"id\":\"a\",\"image\":\"oci:/x\",\"network\":{\"mode\":\"none\"},"
		     "\"health\":{\"liveness\":{\"tcp\":{\"port\":1}}}}");
	assert_int_equal(spec_check_supported(s, &e), 0);
	spec_free(s);
	s = parse_ok("{\"id\":\"a\",\"image\":\"oci:/x\",\"health\":{\"readiness\":{\"notify\":true}}}");
	assert_int_equal(spec_check_supported(s, &e), 0);
	spec_free(s);
	s = parse_ok("{\"id\":\"a\",\"image\":\"oci:/x\",\"network\":{\"mode\":\"host\"}}");
	assert_int_equal(spec_check_supported(s, &e), 0);
	spec_free(s);
}

static void test_quantities(void **state)
{
	int64_t v;

	(void)state;
	assert_int_equal(quantity_parse_cpu("500m", &v), 0);
	assert_int_equal(v, 500);
	assert_int_equal(quantity_parse_cpu("0.5", &v), 0);
	assert_int_equal(v, 500);
	assert_int_equal(quantity_parse_cpu("2", &v), 0);
	assert_int_equal(v, 2000);
	assert_int_equal(quantity_parse_cpu("1.0005", &v), 0);
	assert_int_equal(v, 1001); /* rounded up to the next millicore */
	assert_int_equal(quantity_parse_cpu(".25", &v), 0);
	assert_int_equal(v, 250);
	assert_true(quantity_parse_cpu("", &v) < 0);
	assert_true(quantity_parse_cpu("1k", &v) < 0);
	assert_true(quantity_parse_cpu("-1", &v) < 0);
	assert_true(quantity_parse_cpu("1..2", &v) < 0);
	assert_int_equal(quantity_parse_bytes("128Mi", &v), 0);
	assert_int_equal(v, 134217728);
	assert_int_equal(quantity_parse_bytes("1G", &v), 0);
	assert_int_equal(v, 1000000000);
	assert_int_equal(quantity_parse_bytes("1.5Gi", &v), 0);
	assert_int_equal(v, 1610612736);
	assert_int_equal(quantity_parse_bytes("1e3", &v), 0);
	assert_int_equal(v, 1000);
	assert_int_equal(quantity_parse_bytes("4096", &v), 0);
	assert_int_equal(v, 4096);
	assert_int_equal(quantity_parse_bytes("2k", &v), 0);
	assert_int_equal(v, 2000);
	assert_true(quantity_parse_bytes("1MB", &v) < 0);
	assert_true(quantity_parse_bytes("Mi", &v) < 0);
	assert_true(quantity_parse_bytes("99999999999999999999", &v) < 0);
	assert_true(quantity_parse_bytes("9000000Ti", &v) < 0);
}

static void test_id_and_paths(void **state)
{
	(void)state;
	assert_true(spec_id_valid("a"));
	assert_true(spec_id_valid("web-0.x_y"));
	assert_true(spec_id_valid("0abc"));
	assert_false(spec_id_valid(""));
	assert_false(spec_id_valid("Web"));
	assert_false(spec_id_valid("_a"));
	assert_false(spec_id_valid("a/b"));
	assert_false(
	    spec_id_valid("aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa")); /* 64 */
}

/* workdir is normalised; '..', /proc, /sys and /dev are refused naming the field (M4). */
static void test_workdir(void **state)
{
	(void)state;
	static const char *const bad_under[] = {"/proc/self/fd/7", "/proc",	    "/sys/kernel", "/dev",
						"//dev/shm/",	   "/./proc/1/root"};
	static const char *const bad_dots[] = {"/app/../proc", "/..", "/a/b/..", "rel", "./x", ""};
	char text[256];
	struct spec *s;

	s = parse_ok("{\"id\":\"a\",\"image\":\"oci:/x\",\"workdir\":\"//srv/./app/\"}");
	assert_string_equal(s->workdir, "/srv/app");
	spec_free(s);
	s = parse_ok("{\"id\":\"a\",\"image\":\"oci:/x\",\"workdir\":\"/procfs/devices\"}");
	assert_string_equal(s->workdir, "/procfs/devices");
	spec_free(s);
	s = parse_ok("{\"id\":\"a\",\"image\":\"oci:/x\",\"workdir\":\"/a..b/.c\"}");
	assert_string_equal(s->workdir, "/a..b/.c");
	spec_free(s);
	for (size_t i = 0; i < sizeof(bad_under) / sizeof(bad_under[0]); i++) {
		snprintf(text, sizeof(text), "{\"id\":\"a\",\"image\":\"oci:/x\",\"workdir\":\"%s\"}",
			 bad_under[i]);
		expect_error(text, "workdir", "/proc, /sys or /dev");
	}
	for (size_t i = 0; i < sizeof(bad_dots) / sizeof(bad_dots[0]); i++) {
		snprintf(text, sizeof(text), "{\"id\":\"a\",\"image\":\"oci:/x\",\"workdir\":\"%s\"}",
			 bad_dots[i]);
		expect_error(text, "workdir", "'..'");
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_full_spec),	    cmocka_unit_test(test_fuzz_seeds_are_valid),
	    cmocka_unit_test(test_defaults),	    cmocka_unit_test(test_errors),
	    cmocka_unit_test(test_unsupported),	    cmocka_unit_test(test_quantities),
	    cmocka_unit_test(test_id_and_paths),    cmocka_unit_test(test_workdir),
	    cmocka_unit_test(test_health),	    cmocka_unit_test(test_health_errors),
	    cmocka_unit_test(test_restart_backoff), cmocka_unit_test(test_restart_backoff_errors),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
