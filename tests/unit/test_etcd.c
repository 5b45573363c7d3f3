/* The etcd gateway protocol: bodies the gateway accepts, replies parsed exactly (as printed
 * by etcd 3.4's gateway), hostile replies refused, stream framing, and the watch cursor. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "etcd/etcd.h"

static void test_b64_roundtrip(void **state)
{
	(void)state;
	const char *cases[] = {"",     "f",	"fo",	  "foo",
			       "foob", "fooba", "foobar", "/drover/nodes/a/instances/x"};
	const char *enc[] = {"",	 "Zg==",     "Zm8=",	 "Zm9v",
			     "Zm9vYg==", "Zm9vYmE=", "Zm9vYmFy", "L2Ryb3Zlci9ub2Rlcy9hL2luc3RhbmNlcy94"};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char *e = etcd_b64_encode(cases[i], strlen(cases[i]));
		char *d = NULL;
		size_t n = 0;

		assert_string_equal(e, enc[i]);
		assert_int_equal(etcd_b64_decode(e, strlen(e), &d, &n), 0);
		assert_int_equal(n, strlen(cases[i]));
		assert_memory_equal(d, cases[i], n);
		free(e);
		free(d);
	}
}

static void test_b64_refuses(void **state)
{
	(void)state;
	const char *bad[] = {"Zg=", "Z===", "Zm9v\n", "Zm=v", "Zm9*", "====", "Zg==Zg=="};
	char *d = NULL;
	size_t n;

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		if (etcd_b64_decode(bad[i], strlen(bad[i]), &d, &n) == 0)
			fail_msg("accepted '%s'", bad[i]);
}

static void test_prefix_end(void **state)
{
	(void)state;
	char *e = NULL;

	assert_int_equal(etcd_prefix_end("/drover/a/", &e), 0);
	assert_string_equal(e, "/drover/a0");
	free(e);
	assert_int_equal(etcd_prefix_end("a\xff\xff", &e), 0);
	assert_string_equal(e, "b");
	free(e);
	assert_int_equal(etcd_prefix_end("\xff", &e), -EINVAL);
}

static void test_bodies(void **state)
{
	(void)state;
	char *b = etcd_range_body("/d/", 0);
	assert_string_equal(b, "{\"key\":\"L2Qv\",\"range_end\":\"L2Qw\"}");
	free(b);
	b = etcd_range_body("/d/", 42);
	assert_non_null(strstr(b, "\"revision\":\"42\""));
	free(b);
	b = etcd_put_body("k", "v", 1, 7);
	assert_string_equal(b, "{\"key\":\"aw==\",\"value\":\"dg==\",\"lease\":\"7\"}");
	free(b);
	b = etcd_lease_grant_body(10);
	assert_string_equal(b, "{\"TTL\":\"10\"}");
	free(b);
	b = etcd_watch_body("/d/", 5);
	assert_non_null(strstr(
	    b, "\"create_request\":{\"key\":\"L2Qv\",\"range_end\":\"L2Qw\",\"start_revision\":\"5\""));
	free(b);
	struct etcd_op ops[] = {{"a", "1", 1}, {"b", NULL, 0}};
	b = etcd_txn_body(ops, 2, 9);
	assert_string_equal(
	    b, "{\"success\":[{\"request_put\":{\"key\":\"YQ==\",\"value\":\"MQ==\",\"lease\":\"9\"}},"
	       "{\"request_delete_range\":{\"key\":\"Yg==\"}}]}");
	free(b);
}

#define HDR "\"header\":{\"cluster_id\":\"1\",\"member_id\":\"2\",\"revision\":\"6\",\"raft_term\":\"2\"}"

static void test_parse_range(void **state)
{
	(void)state;
	const char *r =
	    "{" HDR ",\"kvs\":[{\"key\":\"L2Qvbm9kZXMvYS9pbnN0YW5jZXMveA==\",\"create_revision\":\"2\","
	    "\"mod_revision\":\"5\",\"version\":\"4\",\"value\":\"eyJpZCI6IngifQ==\"}],\"count\":\"1\"}";
	struct etcd_range rg = {0};
	struct err *e = NULL;

	assert_int_equal(etcd_parse_range(r, strlen(r), &rg, &e), 0);
	assert_int_equal(rg.revision, 6);
	assert_int_equal(rg.n_kvs, 1);
	assert_string_equal(rg.kvs[0].key, "/d/nodes/a/instances/x");
	assert_string_equal(rg.kvs[0].value, "{\"id\":\"x\"}");
	assert_int_equal(rg.kvs[0].mod_revision, 5);
	etcd_range_done(&rg);

	const char *empty = "{" HDR "}";
	assert_int_equal(etcd_parse_range(empty, strlen(empty), &rg, &e), 0);
	assert_int_equal(rg.n_kvs, 0);
	etcd_range_done(&rg);
}

static void test_parse_errors(void **state)
{
	(void)state;
	const char *compacted =
	    "{\"error\":\"etcdserver: mvcc: required revision has been compacted\","
	    "\"message\":\"etcdserver: mvcc: required revision has been compacted\",\"code\":11}";
	const char *bad[] = {"",
			     "[]",
			     "{\"kvs\":{}}",
			     "{\"kvs\":[{\"key\":\"!!\"}]}",
			     "{\"kvs\":[{\"value\":\"YQ==\"}]}",
			     "{\"header\":{\"revision\":\"x1\"}}",
			     "{\"kvs\":[{\"key\":\"YQBi\"}]}",
			     "{\"a\":1,\"a\":2}"};
	struct etcd_range rg = {0};
	struct err *e = NULL;

	assert_int_equal(etcd_parse_range(compacted, strlen(compacted), &rg, &e), -ERANGE);
	assert_non_null(strstr(err_msg(e), "compacted"));
	err_free(&e);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		if (etcd_parse_range(bad[i], strlen(bad[i]), &rg, &e) == 0)
			fail_msg("accepted '%s'", bad[i]);
		err_free(&e);
	}
}

static void test_parse_lease(void **state)
{
	(void)state;
	const char *g = "{" HDR ",\"ID\":\"2324035756376023814\",\"TTL\":\"10\"}";
	const char *ka = "{\"result\":{" HDR ",\"ID\":\"2324035756376023814\",\"TTL\":\"10\"}}";
	const char *gone = "{\"result\":{" HDR ",\"ID\":\"2324035756376023814\"}}";
	int64_t id = 0, ttl = 0;
	struct err *e = NULL;

	assert_int_equal(etcd_parse_lease_grant(g, strlen(g), &id, &ttl, &e), 0);
	assert_int_equal(id, 2324035756376023814LL);
	assert_int_equal(ttl, 10);
	assert_int_equal(etcd_parse_keepalive(ka, strlen(ka), &ttl, &e), 0);
	assert_int_equal(ttl, 10);
	assert_int_equal(etcd_parse_keepalive(gone, strlen(gone), &ttl, &e), 0);
	assert_int_equal(ttl, 0);
	const char *nottl = "{" HDR ",\"ID\":\"5\"}";
	assert_true(etcd_parse_lease_grant(nottl, strlen(nottl), &id, &ttl, &e) < 0);
	err_free(&e);
}

static void test_parse_watch(void **state)
{
	(void)state;
	const char *created = "{\"result\":{" HDR ",\"created\":true}}";
	const char *events =
	    "{\"result\":{" HDR ",\"events\":[{\"kv\":{\"key\":\"eA==\",\"create_revision\":\"2\","
	    "\"mod_revision\":\"5\",\"version\":\"4\",\"value\":\"e30=\"}},{\"type\":\"DELETE\","
	    "\"kv\":{\"key\":\"eA==\",\"mod_revision\":\"6\"}}]}}";
	const char *compact =
	    "{\"result\":{\"header\":{\"raft_term\":\"2\"},\"canceled\":true,\"compact_revision\":\"5\"}}";
	struct etcd_watch_msg m = {0};
	struct err *e = NULL;

	assert_int_equal(etcd_parse_watch(created, strlen(created), &m, &e), 0);
	assert_true(m.created);
	assert_int_equal(m.revision, 6);
	etcd_watch_msg_done(&m);
	assert_int_equal(etcd_parse_watch(events, strlen(events), &m, &e), 0);
	assert_int_equal(m.n_events, 2);
	assert_int_equal(m.events[0].type, ETCD_EVENT_PUT);
	assert_string_equal(m.events[0].kv.value, "{}");
	assert_int_equal(m.events[1].type, ETCD_EVENT_DELETE);
	assert_null(m.events[1].kv.value);
	assert_int_equal(m.events[1].kv.mod_revision, 6);
	etcd_watch_msg_done(&m);
	assert_int_equal(etcd_parse_watch(compact, strlen(compact), &m, &e), 0);
	assert_true(m.canceled);
	assert_int_equal(m.compact_revision, 5);
	etcd_watch_msg_done(&m);
	const char *bad = "{\"result\":{\"events\":[{\"type\":\"EXPLODE\",\"kv\":{\"key\":\"eA==\"}}]}}";
	assert_true(etcd_parse_watch(bad, strlen(bad), &m, &e) < 0);
	err_free(&e);
	const char *err = "{\"error\":{\"grpc_code\":14,\"http_code\":503,\"message\":\"unavailable\"}}";
	assert_int_equal(etcd_parse_watch(err, strlen(err), &m, &e), -EPROTO);
	assert_non_null(strstr(err_msg(e), "unavailable"));
	err_free(&e);
}

static void test_stream(void **state)
{
	(void)state;
	struct etcd_stream s = {0};
	const char *in = "{\"a\":1}\n\r\n{\"b\":";
	char *msg = NULL;
	size_t n = 0;

	assert_int_equal(etcd_stream_feed(&s, in, strlen(in)), 0);
	assert_int_equal(etcd_stream_next(&s, &msg, &n), 1);
	assert_string_equal(msg, "{\"a\":1}");
	free(msg);
	assert_int_equal(etcd_stream_next(&s, &msg, &n), 0);
	assert_int_equal(etcd_stream_feed(&s, "2}\n", 3), 0);
	assert_int_equal(etcd_stream_next(&s, &msg, &n), 1);
	assert_string_equal(msg, "{\"b\":2}");
	free(msg);
	assert_int_equal(etcd_stream_next(&s, &msg, &n), 0);
	etcd_stream_done(&s);

	char *big = calloc(1, 1024 * 1024);
	for (int i = 0; i < 64; i++)
		assert_int_equal(etcd_stream_feed(&s, big, 1024 * 1024), 0);
	assert_int_equal(etcd_stream_feed(&s, "x", 1), -EMSGSIZE);
	etcd_stream_done(&s);
	free(big);
}

static void test_keys(void **state)
{
	(void)state;
	char *p = etcd_instances_prefix("/drover/", "host-a");
	char *k = etcd_status_key("/drover", "host-a", "web-0");
	char *n = etcd_status_key("/drover", "host-a", NULL);

	assert_string_equal(p, "/drover/nodes/host-a/instances/");
	assert_string_equal(k, "/drover/status/host-a/web-0");
	assert_string_equal(n, "/drover/status/host-a");
	assert_string_equal(etcd_key_id(p, "/drover/nodes/host-a/instances/web-0"), "web-0");
	assert_null(etcd_key_id(p, "/drover/nodes/host-a/instances/"));
	assert_null(etcd_key_id(p, "/drover/nodes/host-a/instances/x/y"));
	assert_null(etcd_key_id(p, "/drover/nodes/host-b/instances/x"));
	free(p);
	free(k);
	free(n);
}

static struct etcd_event ev(int64_t rev)
{
	struct etcd_event e = {.type = ETCD_EVENT_PUT};
	e.kv.mod_revision = rev;
	return e;
}

static void test_cursor(void **state)
{
	(void)state;
	struct etcd_cursor c = {0};
	struct etcd_event e;

	assert_int_equal(etcd_cursor_watch_from(&c), 0); /* list first */
	etcd_cursor_listed(&c, 10);
	assert_int_equal(etcd_cursor_watch_from(&c), 11);
	e = ev(9);
	assert_int_equal(etcd_cursor_event(&c, &e), ETCD_SKIP);
	e = ev(10);
	assert_int_equal(etcd_cursor_event(&c, &e), ETCD_SKIP);
	e = ev(12);
	assert_int_equal(etcd_cursor_event(&c, &e), ETCD_APPLY);
	assert_int_equal(etcd_cursor_watch_from(&c), 13);
	/* a reconnect replays 12: skipped */
	assert_int_equal(etcd_cursor_event(&c, &e), ETCD_SKIP);
	/* progress notification */
	struct etcd_watch_msg m = {.revision = 20};
	assert_false(etcd_cursor_message(&c, &m));
	assert_int_equal(etcd_cursor_watch_from(&c), 21);
	/* created message does not move it */
	struct etcd_watch_msg cr = {.revision = 30, .created = true};
	assert_false(etcd_cursor_message(&c, &cr));
	assert_int_equal(c.revision, 20);
	/* compaction: relist */
	struct etcd_watch_msg cp = {.canceled = true, .compact_revision = 25};
	assert_true(etcd_cursor_message(&c, &cp));
	assert_int_equal(etcd_cursor_watch_from(&c), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_b64_roundtrip), cmocka_unit_test(test_b64_refuses),
	    cmocka_unit_test(test_prefix_end),	  cmocka_unit_test(test_bodies),
	    cmocka_unit_test(test_parse_range),	  cmocka_unit_test(test_parse_errors),
	    cmocka_unit_test(test_parse_lease),	  cmocka_unit_test(test_parse_watch),
	    cmocka_unit_test(test_stream),	  cmocka_unit_test(test_keys),
	    cmocka_unit_test(test_cursor),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
