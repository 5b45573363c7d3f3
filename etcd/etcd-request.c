/* Request bodies for the gateway. Built with jansson so keys and values are escaped by the
 * library; int64s are sent as strings, the way the gateway prints them. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "common/cleanup.h"
#include "etcd/etcd.h"

#define _cleanup_json_ _cleanup_(json_decrefp) /* jansson provides json_decrefp */

int etcd_prefix_end(const char *prefix, char **ret_end)
{
	size_t n = strlen(prefix);
	char *end;

	/* the last byte that is not 0xff, plus one; everything after it dropped */
	while (n > 0 && (unsigned char)prefix[n - 1] == 0xff)
		n--;
	if (n == 0)
		return -EINVAL; /* "every key": not something drover ever asks for */
	end = strndup(prefix, n);
	if (!end)
		return -ENOMEM;
	end[n - 1] = (char)((unsigned char)end[n - 1] + 1);
	*ret_end = end;
	return 0;
}

/* Adds name: base64(data) to o. */
static int set_b64(json_t *o, const char *name, const void *data, size_t len)
{
	_cleanup_free_ char *enc = etcd_b64_encode(data, len);

	if (!enc)
		return -ENOMEM;
	return json_object_set_new(o, name, json_string(enc)) == 0 ? 0 : -ENOMEM;
}

static int set_i64(json_t *o, const char *name, int64_t v)
{
	char buf[24];

	snprintf(buf, sizeof(buf), "%" PRId64, v);
	return json_object_set_new(o, name, json_string(buf)) == 0 ? 0 : -ENOMEM;
}

static char *dump(json_t *o)
{
	return json_dumps(o, JSON_COMPACT);
}

static int set_prefix(json_t *o, const char *prefix)
{
	_cleanup_free_ char *end = NULL;

	if (etcd_prefix_end(prefix, &end) < 0)
		return -EINVAL;
	if (set_b64(o, "key", prefix, strlen(prefix)) < 0 || set_b64(o, "range_end", end, strlen(end)) < 0)
		return -ENOMEM;
	return 0;
}

char *etcd_range_body(const char *prefix, int64_t revision)
{
	_cleanup_json_ json_t *o = json_object();

	if (!o || set_prefix(o, prefix) < 0)
		return NULL;
	if (revision > 0 && set_i64(o, "revision", revision) < 0)
		return NULL;
	return dump(o);
}

static json_t *put_object(const char *key, const void *value, size_t len, int64_t lease)
{
	_cleanup_json_ json_t *o = json_object();

	if (!o || set_b64(o, "key", key, strlen(key)) < 0 || set_b64(o, "value", value, len) < 0)
		return NULL;
	if (lease > 0 && set_i64(o, "lease", lease) < 0)
		return NULL;
	return TAKE_PTR(o);
}

char *etcd_put_body(const char *key, const void *value, size_t len, int64_t lease)
{
	_cleanup_json_ json_t *o = put_object(key, value, len, lease);

	return o ? dump(o) : NULL;
}

char *etcd_delete_body(const char *key)
{
	_cleanup_json_ json_t *o = json_object();

	if (!o || set_b64(o, "key", key, strlen(key)) < 0)
		return NULL;
	return dump(o);
}

char *etcd_lease_grant_body(int64_t ttl_s)
{
	_cleanup_json_ json_t *o = json_object();

	if (!o || set_i64(o, "TTL", ttl_s) < 0)
		return NULL;
	return dump(o);
}

char *etcd_lease_id_body(int64_t lease)
{
	_cleanup_json_ json_t *o = json_object();

	if (!o || set_i64(o, "ID", lease) < 0)
		return NULL;
	return dump(o);
}

char *etcd_watch_body(const char *prefix, int64_t start_revision)
{
	_cleanup_json_ json_t *o = json_object();
	json_t *create;

	if (!o)
		return NULL;
	create = json_object();
	if (json_object_set_new(o, "create_request", create) < 0)
		return NULL;
	if (set_prefix(create, prefix) < 0)
		return NULL;
	if (start_revision > 0 && set_i64(create, "start_revision", start_revision) < 0)
		return NULL;
	/* progress notifications keep the revision moving while nothing of ours changes, so a
	 * reconnect resumes near the head instead of replaying a long quiet history */
	if (json_object_set_new(create, "progress_notify", json_true()) < 0)
		return NULL;
	return dump(o);
}

static json_t *txn_op(const struct etcd_op *op, int64_t lease)
{
	_cleanup_json_ json_t *req = NULL;
	json_t *wrap = json_object();

	if (!wrap)
		return NULL;
	if (op->value) {
		req = put_object(op->key, op->value, op->len, lease);
	} else {
		req = json_object();
		if (req && set_b64(req, "key", op->key, strlen(op->key)) < 0)
			json_decref(TAKE_PTR(req));
	}
	if (!req || json_object_set_new(wrap, op->value ? "request_put" : "request_delete_range",
					TAKE_PTR(req)) < 0) {
		json_decref(wrap);
		return NULL;
	}
	return wrap;
}

char *etcd_txn_body(const struct etcd_op *ops, size_t n, int64_t lease)
{
	_cleanup_json_ json_t *o = json_object();
	json_t *success;

	if (!o)
		return NULL;
	success = json_array();
	if (json_object_set_new(o, "success", success) < 0)
		return NULL;
	for (size_t i = 0; i < n; i++) {
		json_t *op = txn_op(&ops[i], lease);

		if (!op || json_array_append_new(success, op) < 0)
			return NULL;
	}
	return dump(o);
}
