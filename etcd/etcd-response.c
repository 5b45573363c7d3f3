/* Parsing the gateway's replies. Everything here is untrusted: sizes are capped, int64s must
 * be decimal strings (or numbers) in range, keys and values must be valid base64. */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "common/cleanup.h"
#include "etcd/etcd.h"

#define _cleanup_json_ _cleanup_(json_decrefp) /* jansson provides json_decrefp */

/* gRPC codes the gateway passes on in {"code": N} */
#define GRPC_OUT_OF_RANGE 11
#define GRPC_NOT_FOUND 5

static int load(const char *buf, size_t len, json_t **ret, struct err **err)
{
	json_error_t jerr;
	json_t *doc;

	if (len > ETCD_MAX_MESSAGE)
		return err_set(err, EMSGSIZE, "etcd reply of %zu bytes is over the %d byte cap", len,
			       ETCD_MAX_MESSAGE);
	doc = json_loadb(buf, len, JSON_REJECT_DUPLICATES, &jerr);
	if (!doc)
		return err_set(err, EPROTO, "etcd reply is not JSON (line %d column %d)", jerr.line,
			       jerr.column);
	if (!json_is_object(doc)) {
		json_decref(doc);
		return err_set(err, EPROTO, "etcd reply is not a JSON object");
	}
	*ret = doc;
	return 0;
}

/* {"error": "...", "code": N} (unary) or {"error": {"grpc_code": N, "message": ...}} (streams) */
static int check_error(json_t *doc, struct err **err)
{
	json_t *e = json_object_get(doc, "error");
	json_t *code = json_object_get(doc, "code");
	const char *msg = NULL;
	json_int_t c = 0;

	if (!e)
		return 0;
	if (json_is_string(e)) {
		msg = json_string_value(e);
	} else if (json_is_object(e)) {
		msg = json_string_value(json_object_get(e, "message"));
		code = json_object_get(e, "grpc_code");
	}
	if (json_is_integer(code))
		c = json_integer_value(code);
	if (!msg)
		msg = "(no message)";
	if (c == GRPC_OUT_OF_RANGE)
		return err_set(err, ERANGE, "etcd: %.200s", msg);
	if (c == GRPC_NOT_FOUND)
		return err_set(err, ENOENT, "etcd: %.200s", msg);
	return err_set(err, EPROTO, "etcd: %.200s (code %" JSON_INTEGER_FORMAT ")", msg, c);
}

/* An int64 field: absent is 0 (the gateway omits zero values), a string of digits or a number. */
static int get_i64(json_t *o, const char *name, int64_t *ret)
{
	json_t *v = json_object_get(o, name);
	const char *s;
	char *end = NULL;
	long long n;

	*ret = 0;
	if (!v || json_is_null(v))
		return 0;
	if (json_is_integer(v)) {
		*ret = json_integer_value(v);
		return 0;
	}
	if (!json_is_string(v))
		return -EPROTO;
	s = json_string_value(v);
	if (*s == '\0' || (*s != '-' && (*s < '0' || *s > '9')))
		return -EPROTO;
	errno = 0;
	n = strtoll(s, &end, 10);
	if (errno || *end)
		return -EPROTO;
	*ret = n;
	return 0;
}

static int get_b64(json_t *o, const char *name, size_t max, char **ret, size_t *ret_len)
{
	json_t *v = json_object_get(o, name);

	*ret = NULL;
	*ret_len = 0;
	if (!v)
		return 0;
	if (!json_is_string(v) || json_string_length(v) > (max + 2) / 3 * 4)
		return -EPROTO;
	return etcd_b64_decode(json_string_value(v), json_string_length(v), ret, ret_len) < 0 ? -EPROTO : 0;
}

static int header_revision(json_t *doc, int64_t *ret)
{
	json_t *h = json_object_get(doc, "header");

	*ret = 0;
	if (!h)
		return 0;
	if (!json_is_object(h))
		return -EPROTO;
	return get_i64(h, "revision", ret);
}

void etcd_kv_done(struct etcd_kv *kv)
{
	free(kv->key);
	free(kv->value);
	*kv = (struct etcd_kv){0};
}

static int parse_kv(json_t *o, bool want_value, struct etcd_kv *ret)
{
	struct etcd_kv kv = {0};
	size_t klen = 0;

	if (!json_is_object(o))
		return -EPROTO;
	if (get_b64(o, "key", ETCD_MAX_KEY, &kv.key, &klen) < 0 || !kv.key || klen == 0 ||
	    memchr(kv.key, '\0', klen))
		goto out_bad;
	if (want_value && get_b64(o, "value", ETCD_MAX_VALUE, &kv.value, &kv.value_len) < 0)
		goto out_bad;
	if (want_value && !kv.value) {
		kv.value = strdup(""); /* an empty value is omitted by the gateway */
		if (!kv.value)
			goto out_bad;
	}
	if (get_i64(o, "mod_revision", &kv.mod_revision) < 0 || get_i64(o, "lease", &kv.lease) < 0)
		goto out_bad;
	*ret = kv;
	return 0;
out_bad:
	etcd_kv_done(&kv);
	return -EPROTO;
}

void etcd_range_done(struct etcd_range *r)
{
	for (size_t i = 0; i < r->n_kvs; i++)
		etcd_kv_done(&r->kvs[i]);
	free(r->kvs);
	*r = (struct etcd_range){0};
}

int etcd_parse_range(const char *buf, size_t len, struct etcd_range *ret, struct err **err)
{
	_cleanup_json_ json_t *doc = NULL;
	struct etcd_range r = {0};
	json_t *kvs;
	int rc;

	rc = load(buf, len, &doc, err);
	if (rc < 0 || (rc = check_error(doc, err)) < 0)
		return rc;
	if (header_revision(doc, &r.revision) < 0)
		return err_set(err, EPROTO, "etcd range reply: bad header revision");
	r.more = json_is_true(json_object_get(doc, "more"));
	kvs = json_object_get(doc, "kvs");
	if (kvs && (!json_is_array(kvs) || json_array_size(kvs) > ETCD_MAX_KVS))
		return err_set(err, EPROTO, "etcd range reply: 'kvs' is not an array of at most %d",
			       ETCD_MAX_KVS);
	r.kvs = calloc(json_array_size(kvs) + 1, sizeof(*r.kvs));
	if (!r.kvs)
		return err_set(err, ENOMEM, "out of memory");
	for (size_t i = 0; i < json_array_size(kvs); i++) {
		if (parse_kv(json_array_get(kvs, i), true, &r.kvs[r.n_kvs]) < 0) {
			etcd_range_done(&r);
			return err_set(err, EPROTO, "etcd range reply: bad entry %zu", i);
		}
		r.n_kvs++;
	}
	*ret = r;
	return 0;
}

int etcd_parse_header(const char *buf, size_t len, int64_t *ret_revision, struct err **err)
{
	_cleanup_json_ json_t *doc = NULL;
	int rc;

	rc = load(buf, len, &doc, err);
	if (rc < 0 || (rc = check_error(doc, err)) < 0)
		return rc;
	if (header_revision(doc, ret_revision) < 0)
		return err_set(err, EPROTO, "etcd reply: bad header revision");
	return 0;
}

int etcd_parse_lease_grant(const char *buf, size_t len, int64_t *ret_id, int64_t *ret_ttl, struct err **err)
{
	_cleanup_json_ json_t *doc = NULL;
	const char *e;
	int rc;

	rc = load(buf, len, &doc, err);
	if (rc < 0 || (rc = check_error(doc, err)) < 0)
		return rc;
	e = json_string_value(json_object_get(doc, "error"));
	if (e && *e)
		return err_set(err, EPROTO, "etcd lease grant: %.200s", e);
	if (get_i64(doc, "ID", ret_id) < 0 || get_i64(doc, "TTL", ret_ttl) < 0 || *ret_id == 0 ||
	    *ret_ttl <= 0)
		return err_set(err, EPROTO, "etcd lease grant: no lease ID and TTL in the reply");
	return 0;
}

/* Streamed replies wrap the message in {"result": ...} (or carry {"error": ...}). */
static int stream_result(const char *buf, size_t len, json_t **ret_doc, json_t **ret_result, struct err **err)
{
	_cleanup_json_ json_t *doc = NULL;
	json_t *result;
	int rc;

	rc = load(buf, len, &doc, err);
	if (rc < 0 || (rc = check_error(doc, err)) < 0)
		return rc;
	result = json_object_get(doc, "result");
	if (!json_is_object(result))
		return err_set(err, EPROTO, "etcd stream message has no 'result' object");
	*ret_result = result;
	*ret_doc = TAKE_PTR(doc);
	return 0;
}

int etcd_parse_keepalive(const char *buf, size_t len, int64_t *ret_ttl, struct err **err)
{
	_cleanup_json_ json_t *doc = NULL;
	json_t *result = NULL;
	int rc;

	rc = stream_result(buf, len, &doc, &result, err);
	if (rc < 0)
		return rc;
	if (get_i64(result, "TTL", ret_ttl) < 0)
		return err_set(err, EPROTO, "etcd keepalive: bad TTL");
	return 0;
}

void etcd_watch_msg_done(struct etcd_watch_msg *m)
{
	for (size_t i = 0; i < m->n_events; i++)
		etcd_kv_done(&m->events[i].kv);
	free(m->events);
	free(m->cancel_reason);
	*m = (struct etcd_watch_msg){0};
}

static int parse_event(json_t *o, struct etcd_event *ret)
{
	const char *type;

	if (!json_is_object(o))
		return -EPROTO;
	type = json_string_value(json_object_get(o, "type"));
	if (!type || strcmp(type, "PUT") == 0)
		ret->type = ETCD_EVENT_PUT; /* PUT is the zero value, so the gateway omits it */
	else if (strcmp(type, "DELETE") == 0)
		ret->type = ETCD_EVENT_DELETE;
	else
		return -EPROTO;
	return parse_kv(json_object_get(o, "kv"), ret->type == ETCD_EVENT_PUT, &ret->kv);
}

static int parse_events(json_t *events, struct etcd_watch_msg *m)
{
	if (!events)
		return 0;
	if (!json_is_array(events) || json_array_size(events) > ETCD_MAX_KVS)
		return -EPROTO;
	m->events = calloc(json_array_size(events) + 1, sizeof(*m->events));
	if (!m->events)
		return -ENOMEM;
	for (size_t i = 0; i < json_array_size(events); i++) {
		if (parse_event(json_array_get(events, i), &m->events[m->n_events]) < 0)
			return -EPROTO;
		m->n_events++;
	}
	return 0;
}

int etcd_parse_watch(const char *buf, size_t len, struct etcd_watch_msg *ret, struct err **err)
{
	_cleanup_json_ json_t *doc = NULL;
	struct etcd_watch_msg m = {0};
	json_t *result = NULL;
	const char *reason;
	int rc;

	rc = stream_result(buf, len, &doc, &result, err);
	if (rc < 0)
		return rc;
	m.created = json_is_true(json_object_get(result, "created"));
	m.canceled = json_is_true(json_object_get(result, "canceled"));
	reason = json_string_value(json_object_get(result, "cancel_reason"));
	if (reason && !(m.cancel_reason = strndup(reason, 200)))
		return err_set(err, ENOMEM, "out of memory");
	if (header_revision(result, &m.revision) < 0 ||
	    get_i64(result, "compact_revision", &m.compact_revision) < 0) {
		etcd_watch_msg_done(&m);
		return err_set(err, EPROTO, "etcd watch: bad revision field");
	}
	rc = parse_events(json_object_get(result, "events"), &m);
	if (rc < 0) {
		etcd_watch_msg_done(&m);
		return err_set(err, -rc, "etcd watch: bad event list");
	}
	*ret = m;
	return 0;
}
