/* etcd as a source of assignments and a sink of statuses (see source-etcd.h).
 *
 * Three channels share one connection state: the desired set (a range, then a watch that
 * resumes from the last applied revision; a compaction makes it list again), the lease (granted,
 * then kept alive at a third of its TTL) and the status writes (one txn per batch of changes,
 * under the lease). Any failing makes the state "lost" (one log line), all working again makes
 * it "back" (one line); retries back off with jitter and log at debug only. The protocol itself
 * (bodies, parsing, the cursor's rules) is in etcd/. */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "agent/agent.h"
#include "agent/api.h"
#include "agent/events.h"
#include "agent/httpc.h"
#include "agent/instance.h"
#include "agent/source-etcd.h"
#include "agent/source.h"
#include "common/cleanup.h"
#include "common/log.h"
#include "common/timeutil.h"
#include "etcd/etcd.h"

#define REQ_TIMEOUT_MS 10000L
#define RANGE_MAX ((size_t)ETCD_MAX_MESSAGE)
#define REPLY_MAX ((size_t)64 * 1024)
#define BATCH_MS 100
#define BACKOFF_MIN_MS 500
#define BACKOFF_MAX_MS 10000

enum es_state { ES_NEW, ES_UP, ES_DOWN };
enum es_chan { CH_SYNC, CH_LEASE, CH_REPORT, _CH_MAX };

struct etcd_source {
	struct agent *a;
	struct httpc *http;
	struct source_set *set;
	json_t *specs;	 /* id -> the item as etcd holds it (a spec object, or a refusal string) */
	json_t *written; /* id -> the status text last written; "" is the node's own key */
	json_t *pending; /* what the txn in flight writes (null: deletes), for written once it lands */
	char *base, *prefix, *inst_prefix;
	struct etcd_cursor cur;
	struct etcd_stream stream;
	bool relist; /* the watch ended for a compaction: list before watching again */
	int64_t lease;
	struct httpc_req *req[_CH_MAX];
	struct loop_timer *timer[_CH_MAX];
	struct loop_timer *beat;
	int64_t backoff[_CH_MAX];
	bool failing[_CH_MAX];
	bool dirty, beat_due;
	enum es_state state;
	int64_t down_since;
};

static void sync_start(struct etcd_source *es);
static void lease_start(struct etcd_source *es);
static void report_start(struct etcd_source *es);
static void report_soon(struct etcd_source *es);

int etcd_config_check(const struct agent_config *c, struct err **err)
{
	if (!c->etcd) {
		if (c->etcd_ca || c->etcd_cert || c->etcd_key)
			return err_set(err, EINVAL, "--etcd-ca, --etcd-cert and --etcd-key need --etcd");
		return 0;
	}
	if (strncmp(c->etcd, "https://", 8) != 0 && strncmp(c->etcd, "http://", 7) != 0)
		return err_set(err, EINVAL, "--etcd wants a URL such as http://127.0.0.1:2379, got '%s'",
			       c->etcd);
	if (!!c->etcd_cert != !!c->etcd_key)
		return err_set(err, EINVAL, "--etcd-cert and --etcd-key go together");
	if (!c->etcd_prefix || c->etcd_prefix[0] != '/' ||
	    strspn(c->etcd_prefix, "/") == strlen(c->etcd_prefix))
		return err_set(err, EINVAL,
			       "--etcd-prefix must be an absolute key prefix such as /drover, got '%s'",
			       c->etcd_prefix ? c->etcd_prefix : "");
	if (c->etcd_lease_ttl_ms < 2000 || c->etcd_lease_ttl_ms > 3600 * 1000)
		return err_set(err, EINVAL, "--etcd-lease-ttl must be between 2s and 1h");
	return 0;
}

/* ---- the connection state and retries ---- */

static int64_t backoff_next(int64_t *step)
{
	*step = *step ? *step * 2 : BACKOFF_MIN_MS;
	if (*step > BACKOFF_MAX_MS)
		*step = BACKOFF_MAX_MS;
	return *step / 2 + random() % (*step / 2 + 1); /* equal jitter: nodes do not retry in step */
}

static void set_state(struct etcd_source *es, const char *why)
{
	bool up = !es->failing[CH_SYNC] && !es->failing[CH_LEASE] && !es->failing[CH_REPORT];

	if (up && es->state != ES_UP) {
		if (es->state == ES_NEW)
			log_notice("etcd connected url='%s' prefix='%s' node=%s", es->base, es->prefix,
				   es->a->node_name);
		else
			log_notice("etcd back after %.1f s url='%s'",
				   (double)(time_mono_ns() - es->down_since) / 1e9, es->base);
		es->state = ES_UP;
	} else if (!up && es->state != ES_DOWN) {
		log_warn("etcd %s: %s; retrying with back-off, instances keep running url='%s'",
			 es->state == ES_NEW ? "unreachable" : "lost", why, es->base);
		es->state = ES_DOWN;
		es->down_since = time_mono_ns();
	} else if (!up && *why) {
		log_debug("etcd still failing: %s", why);
	}
}

static void chan_ok(struct etcd_source *es, enum es_chan ch)
{
	es->failing[ch] = false;
	es->backoff[ch] = 0;
	set_state(es, "");
}

static void timer_fired(struct etcd_source *es, enum es_chan ch)
{
	es->timer[ch] = NULL;
	if (ch == CH_SYNC)
		sync_start(es);
	else if (ch == CH_LEASE)
		lease_start(es);
	else
		report_start(es);
}

static void sync_fired(struct loop *l, void *data)
{
	(void)l;
	timer_fired(data, CH_SYNC);
}

static void lease_fired(struct loop *l, void *data)
{
	(void)l;
	timer_fired(data, CH_LEASE);
}

static void report_fired(struct loop *l, void *data)
{
	(void)l;
	timer_fired(data, CH_REPORT);
}

static void chan_after(struct etcd_source *es, enum es_chan ch, int64_t delay_ms)
{
	static const loop_timer_cb cbs[_CH_MAX] = {sync_fired, lease_fired, report_fired};

	if (!es->timer[ch])
		es->timer[ch] = loop_timer_add(es->a->loop, delay_ms, cbs[ch], es);
}

static void chan_failed(struct etcd_source *es, enum es_chan ch, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void chan_failed(struct etcd_source *es, enum es_chan ch, const char *fmt, ...)
{
	_cleanup_free_ char *why = NULL;
	va_list ap;

	va_start(ap, fmt);
	if (vasprintf(&why, fmt, ap) < 0)
		why = NULL;
	va_end(ap);
	es->failing[ch] = true;
	set_state(es, why ? why : "?");
	chan_after(es, ch, backoff_next(&es->backoff[ch]));
}

/* POST base/v3/PATH with a JSON body on the loop. */
static int post(struct etcd_source *es, enum es_chan ch, const char *path, char *body_in, httpc_done_fn done,
		int (*on_data)(void *, const char *, size_t), struct err **err)
{
	_cleanup_free_ char *url = NULL;
	_cleanup_free_ char *body = body_in; /* taken over: freed here whatever happens */

	if (!body || asprintf(&url, "%s/v3/%s", es->base, path) < 0)
		return err_set(err, ENOMEM, "out of memory");
	struct httpc_opts o = {.method = "POST",
			       .url = url,
			       .body = body,
			       .body_len = strlen(body),
			       .content_type = "application/json",
			       .ca = es->a->cfg->etcd_ca,
			       .cert = es->a->cfg->etcd_cert,
			       .key = es->a->cfg->etcd_key,
			       .max_bytes = ch == CH_SYNC ? RANGE_MAX : REPLY_MAX,
			       .timeout_ms = on_data ? 0 : REQ_TIMEOUT_MS,
			       .on_data = on_data};
	return httpc_start(es->http, &o, done, es, &es->req[ch], err);
}

/* ---- the desired set ---- */

/* What etcd holds under one key, as an item of the set: the spec object, with the key's id
 * filled in when the spec names none; anything else becomes a string the set check refuses. */
static json_t *make_item(const char *id, const char *value, size_t len)
{
	json_t *doc = json_loadb(value, len, JSON_REJECT_DUPLICATES, NULL);
	const char *sid;
	char *msg = NULL;
	json_t *item;

	if (!json_is_object(doc)) {
		log_warn("etcd: key for '%s' does not hold a JSON object; refused", id);
		json_decref(doc);
		return json_string("not a JSON object");
	}
	sid = json_string_value(json_object_get(doc, "id"));
	if (!sid && json_object_set_new(doc, "id", json_string(id)) == 0)
		return doc;
	if (sid && strcmp(sid, id) == 0)
		return doc;
	if (asprintf(&msg, "the key names instance '%s' but its spec has another id", id) < 0)
		msg = NULL;
	log_warn("etcd: %s; refused", msg ? msg : "a spec with another id than its key");
	json_decref(doc);
	item = json_string(msg ? msg : "id mismatch");
	free(msg);
	return item;
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* The held map as the set's array, by id, so the same keys always make the same set. */
static json_t *specs_array(json_t *specs)
{
	_cleanup_free_ const char **ids = calloc(json_object_size(specs) + 1, sizeof(*ids));
	json_t *arr = json_array(), *v;
	const char *k;
	size_t n = 0;

	if (!ids || !arr) {
		json_decref(arr);
		return NULL;
	}
	json_object_foreach (specs, k, v)
		ids[n++] = k;
	qsort(ids, n, sizeof(*ids), cmp_str);
	for (size_t j = 0; j < n; j++)
		if (json_array_append(arr, json_object_get(specs, ids[j])) < 0) {
			json_decref(arr);
			return NULL;
		}
	return arr;
}

/* The map changed: persist it as the set at the cursor's revision and converge. */
static void converge(struct etcd_source *es)
{
	_cleanup_err_ struct err *e = NULL;
	json_t *instances = specs_array(es->specs), *sum;
	struct set_check c;

	if (!instances || agent_set_check(es->a, SRC_ETCD, instances, &c, &e) < 0) {
		log_err("etcd: cannot check the desired set at revision %" PRId64 ": %s", es->cur.revision,
			e ? err_msg(e) : "out of memory");
		json_decref(instances);
		return;
	}
	json_decref(es->set->instances);
	es->set->instances = instances;
	es->set->revision = es->cur.revision;
	if (source_set_save(es->set, &e) < 0)
		log_err("etcd: cannot persist revision %" PRId64 ": %s", es->cur.revision, err_msg(e));
	sum = agent_set_sync(es->a, es->set, &c);
	set_check_done(&c);
	log_info(
	    "etcd: revision %" PRId64 " (%zu instances: %zu created, %zu replaced, %zu removed, %zu refused)",
	    es->cur.revision, json_array_size(instances), json_array_size(json_object_get(sum, "created")),
	    json_array_size(json_object_get(sum, "replaced")),
	    json_array_size(json_object_get(sum, "removed")),
	    json_array_size(json_object_get(sum, "refused")));
	json_decref(sum);
	report_soon(es); /* refusals are reported even when no instance changes */
}

static void put_spec(struct etcd_source *es, const struct etcd_kv *kv)
{
	const char *id = etcd_key_id(es->inst_prefix, kv->key);

	if (!id) {
		log_debug("etcd: key '%s' is not an instance key, ignoring", kv->key);
		return;
	}
	if (!kv->value) {
		(void)json_object_del(es->specs, id); /* absent is fine */
		return;
	}
	if (json_object_set_new(es->specs, id, make_item(id, kv->value, kv->value_len)) < 0)
		log_err("etcd: out of memory holding '%s'", id);
}

static void list_done(void *data, long status, const char *body, size_t len, const struct err *e)
{
	_cleanup_err_ struct err *pe = NULL;
	struct etcd_source *es = data;
	struct etcd_range rg = {0};

	es->req[CH_SYNC] = NULL;
	if (e)
		return chan_failed(es, CH_SYNC, "range: %s", err_msg(e));
	if (status != 200)
		return chan_failed(es, CH_SYNC, "range answered HTTP %ld", status);
	if (etcd_parse_range(body, len, &rg, &pe) < 0)
		return chan_failed(es, CH_SYNC, "range: %s", err_msg(pe));
	if (rg.more) {
		etcd_range_done(&rg);
		return chan_failed(es, CH_SYNC, "range: more than one reply's worth of instances");
	}
	json_object_clear(es->specs);
	for (size_t k = 0; k < rg.n_kvs; k++)
		put_spec(es, &rg.kvs[k]);
	etcd_cursor_listed(&es->cur, rg.revision);
	etcd_range_done(&rg);
	es->relist = false;
	converge(es);
	sync_start(es); /* the watch, from the revision just listed */
}

/* One message of the watch stream. Returns -1 to end the stream (a compaction: list again). */
static int watch_message(struct etcd_source *es, const char *msg, size_t len)
{
	_cleanup_err_ struct err *e = NULL;
	struct etcd_watch_msg m = {0};
	bool changed = false;

	if (etcd_parse_watch(msg, len, &m, &e) < 0) {
		log_warn("etcd: watch: %s; watching again", err_msg(e));
		return -1;
	}
	if (m.created)
		chan_ok(es, CH_SYNC);
	for (size_t k = 0; k < m.n_events; k++)
		if (etcd_cursor_event(&es->cur, &m.events[k]) == ETCD_APPLY) {
			put_spec(es, &m.events[k].kv);
			changed = true;
		}
	if (etcd_cursor_message(&es->cur, &m)) {
		log_notice("etcd: revision %" PRId64 " was compacted away; listing again",
			   m.compact_revision);
		es->relist = true;
	}
	if (changed)
		converge(es);
	bool end = m.canceled;
	etcd_watch_msg_done(&m);
	return end ? -1 : 0;
}

static int watch_data(void *data, const char *chunk, size_t len)
{
	struct etcd_source *es = data;
	char *msg = NULL;
	size_t n = 0;
	int r;

	if (etcd_stream_feed(&es->stream, chunk, len) < 0) {
		log_warn("etcd: a watch message over %d bytes; watching again", ETCD_MAX_MESSAGE);
		return -1;
	}
	while ((r = etcd_stream_next(&es->stream, &msg, &n)) > 0) {
		r = watch_message(es, msg, n);
		free(msg);
		if (r < 0)
			return -1;
	}
	return r;
}

static void watch_done(void *data, long status, const char *body, size_t len, const struct err *e)
{
	struct etcd_source *es = data;

	(void)body;
	(void)len;
	es->req[CH_SYNC] = NULL;
	etcd_stream_done(&es->stream);
	if (es->relist) /* not a failure: the cursor is gone, a list is due at once */
		return sync_start(es);
	if (e)
		return chan_failed(es, CH_SYNC, "watch: %s", err_msg(e));
	chan_failed(es, CH_SYNC, "watch ended (HTTP %ld)", status);
}

static void sync_start(struct etcd_source *es)
{
	_cleanup_err_ struct err *e = NULL;
	int64_t from = etcd_cursor_watch_from(&es->cur);
	int r;

	if (from == 0)
		r = post(es, CH_SYNC, "kv/range", etcd_range_body(es->inst_prefix, 0), list_done, NULL, &e);
	else
		r = post(es, CH_SYNC, "watch", etcd_watch_body(es->inst_prefix, from), watch_done, watch_data,
			 &e);
	if (r < 0)
		chan_failed(es, CH_SYNC, "%s", err_msg(e));
}

/* ---- the lease ---- */

static void lease_done(void *data, long status, const char *body, size_t len, const struct err *e)
{
	_cleanup_err_ struct err *pe = NULL;
	struct etcd_source *es = data;
	int64_t id = 0, ttl = 0;
	bool grant = es->lease == 0;
	int r;

	es->req[CH_LEASE] = NULL;
	if (e)
		return chan_failed(es, CH_LEASE, "lease: %s", err_msg(e));
	if (status != 200)
		return chan_failed(es, CH_LEASE, "lease answered HTTP %ld", status);
	r = grant ? etcd_parse_lease_grant(body, len, &id, &ttl, &pe)
		  : etcd_parse_keepalive(body, len, &ttl, &pe);
	if (r < 0)
		return chan_failed(es, CH_LEASE, "lease: %s", err_msg(pe));
	chan_ok(es, CH_LEASE);
	if (!grant && ttl <= 0) {
		/* expired while etcd was out of reach: a new lease, and every key written again */
		log_notice("etcd: lease %" PRIx64 " expired; taking a new one", (uint64_t)es->lease);
		es->lease = 0;
		return lease_start(es);
	}
	if (grant) {
		es->lease = id;
		json_object_clear(es->written);
		report_soon(es);
	}
	chan_after(es, CH_LEASE, es->a->cfg->etcd_lease_ttl_ms / 3);
}

static void lease_start(struct etcd_source *es)
{
	_cleanup_err_ struct err *e = NULL;
	int r;

	if (es->lease == 0)
		r = post(es, CH_LEASE, "lease/grant",
			 etcd_lease_grant_body((es->a->cfg->etcd_lease_ttl_ms + 999) / 1000), lease_done,
			 NULL, &e);
	else
		r = post(es, CH_LEASE, "lease/keepalive", etcd_lease_id_body(es->lease), lease_done, NULL,
			 &e);
	if (r < 0)
		chan_failed(es, CH_LEASE, "%s", err_msg(e));
}

/* ---- status writes ---- */

struct report {
	struct etcd_op *ops;
	char **keys;
	json_t *texts; /* id -> text of what this txn writes; null for a delete */
	size_t n, cap;
};

static void report_done_free(struct report *rp)
{
	for (size_t k = 0; k < rp->n; k++)
		free(rp->keys[k]);
	free(rp->keys);
	free(rp->ops);
	json_decref(rp->texts);
}

static int report_add(struct etcd_source *es, struct report *rp, const char *id, json_t *doc)
{
	_cleanup_free_ char *text = doc ? json_dumps(doc, JSON_COMPACT) : NULL;
	const char *old = json_string_value(json_object_get(es->written, id));
	json_t *t;

	if (doc && !text)
		return -ENOMEM;
	if ((text && old && strcmp(text, old) == 0) || (!text && !old))
		return 0; /* unchanged: nothing to write */
	if (rp->n == rp->cap) {
		size_t cap = rp->cap ? rp->cap * 2 : 16;
		struct etcd_op *ops = realloc(rp->ops, cap * sizeof(*ops));
		char **keys = ops ? realloc(rp->keys, cap * sizeof(*keys)) : NULL;
		if (ops)
			rp->ops = ops;
		if (!keys)
			return -ENOMEM;
		rp->keys = keys;
		rp->cap = cap;
	}
	rp->keys[rp->n] = etcd_status_key(es->prefix, es->a->node_name, *id ? id : NULL);
	t = text ? json_string(text) : json_null();
	if (!rp->keys[rp->n] || !t || json_object_set_new(rp->texts, id, t) < 0)
		return -ENOMEM;
	/* the op points into texts, which outlives the body built from it */
	rp->ops[rp->n] = (struct etcd_op){rp->keys[rp->n], json_string_value(t), text ? strlen(text) : 0};
	rp->n++;
	return 0;
}

static void report_done(void *data, long status, const char *body, size_t len, const struct err *e);

static int report_build(struct etcd_source *es, struct report *rp)
{
	json_t *v, *seen = json_object();
	const char *id;
	size_t k;
	int r = 0;

	rp->texts = json_object();
	if (!seen || !rp->texts)
		r = -ENOMEM;
	for (struct instance *i = es->a->instances; r >= 0 && i; i = i->next) {
		json_t *doc = inst_status_json(i);
		r = doc ? report_add(es, rp, i->id, doc) : -ENOMEM;
		json_decref(doc);
		(void)json_object_set_new(seen, i->id, json_true());
	}
	json_array_foreach (es->set->refused, k, v) {
		const char *rid = json_string_value(json_object_get(v, "id"));
		if (r >= 0 && rid && !json_object_get(seen, rid)) {
			r = report_add(es, rp, rid, v);
			(void)json_object_set_new(seen, rid, json_true());
		}
	}
	/* gone since the last write: the key goes too */
	json_object_foreach (es->written, id, v)
		if (r >= 0 && *id && !json_object_get(seen, id))
			r = report_add(es, rp, id, NULL);
	if (r >= 0 && (es->beat_due || rp->n > 0)) {
		json_t *node = api_node_json(es->a);
		r = node ? report_add(es, rp, "", node) : -ENOMEM;
		json_decref(node);
	}
	json_decref(seen);
	return r;
}

static void report_start(struct etcd_source *es)
{
	_cleanup_err_ struct err *e = NULL;
	struct report rp = {0};
	char *body;

	if (es->lease == 0 || es->req[CH_REPORT])
		return; /* the grant, or the write in flight, reports again when it ends */
	es->dirty = false;
	if (report_build(es, &rp) < 0) {
		report_done_free(&rp);
		es->dirty = true;
		return chan_after(es, CH_REPORT, 1000);
	}
	es->beat_due = false;
	if (rp.n == 0) {
		report_done_free(&rp);
		return;
	}
	body = etcd_txn_body(rp.ops, rp.n, es->lease);
	json_decref(es->pending);
	es->pending = json_incref(rp.texts);
	report_done_free(&rp);
	if (post(es, CH_REPORT, "kv/txn", body, report_done, NULL, &e) < 0) {
		es->dirty = true;
		chan_failed(es, CH_REPORT, "%s", err_msg(e));
	}
}

static void report_done(void *data, long status, const char *body, size_t len, const struct err *e)
{
	_cleanup_err_ struct err *pe = NULL;
	struct etcd_source *es = data;
	int64_t rev = 0;
	const char *id;
	json_t *v;

	es->req[CH_REPORT] = NULL;
	if (e || status != 200 || etcd_parse_header(body, len, &rev, &pe) < 0) {
		es->dirty = true; /* the retry writes whatever is current then */
		if (e)
			return chan_failed(es, CH_REPORT, "status write: %s", err_msg(e));
		if (pe && pe->errnum == ENOENT) { /* the lease is gone: a new one rewrites everything */
			es->lease = 0;
			lease_start(es);
		}
		return chan_failed(es, CH_REPORT, "status write answered HTTP %ld%s%s", status,
				   pe ? ": " : "", pe ? err_msg(pe) : "");
	}
	json_object_foreach (es->pending, id, v) {
		if (json_is_null(v))
			(void)json_object_del(es->written, id);
		else
			(void)json_object_set(es->written, id, v);
	}
	chan_ok(es, CH_REPORT);
	if (es->dirty)
		report_soon(es);
}

static void report_soon(struct etcd_source *es)
{
	es->dirty = true;
	chan_after(es, CH_REPORT, BATCH_MS); /* changes in this window go in one txn */
}

static void beat_fired(struct loop *l, void *data)
{
	struct etcd_source *es = data;

	(void)l;
	es->beat = loop_timer_add(es->a->loop, es->a->cfg->status_interval_ms, beat_fired, es);
	es->beat_due = true; /* the node's usage and conditions move without events */
	report_soon(es);
}

static void on_event(void *data)
{
	report_soon(data);
}

/* ---- start and stop ---- */

static int es_init(struct agent *a, struct etcd_source *es, struct err **err)
{
	json_t *v;
	size_t k;
	int r;

	es->a = a;
	es->base = strdup(a->cfg->etcd);
	es->prefix = strdup(a->cfg->etcd_prefix);
	es->specs = json_object();
	es->written = json_object();
	if (!es->base || !es->prefix || !es->specs || !es->written)
		return err_set(err, ENOMEM, "out of memory");
	for (size_t n = strlen(es->base); n > 0 && es->base[n - 1] == '/'; n--)
		es->base[n - 1] = '\0';
	es->inst_prefix = etcd_instances_prefix(es->prefix, a->node_name);
	if (!es->inst_prefix)
		return err_set(err, ENOMEM, "out of memory");
	r = source_set_open(a, SRC_ETCD, &es->set, err);
	if (r > 0) { /* the last set seen: kept running while etcd is away */
		json_array_foreach (es->set->instances, k, v) {
			const char *id = json_string_value(json_object_get(v, "id"));
			if (id)
				(void)json_object_set(es->specs, id, v);
		}
		r = agent_set_converge(a, es->set, err);
	}
	if (r < 0)
		return r;
	r = httpc_new(a->loop, &es->http, err);
	if (r < 0)
		return r;
	return events_add_listener(on_event, es) < 0 ? err_set(err, ENOSPC, "too many event listeners") : 0;
}

int etcd_source_start(struct agent *a, struct etcd_source **ret)
{
	_cleanup_err_ struct err *e = NULL;
	struct etcd_source *es = calloc(1, sizeof(*es));
	int r;

	if (!es)
		return log_err_errno(-ENOMEM, "etcd: out of memory");
	srandom((unsigned)(time_now_ns() ^ getpid()));
	r = es_init(a, es, &e);
	if (r < 0 || !es->set) {
		etcd_source_free(es);
		return log_err_errno(r, "etcd: %s", err_msg(e));
	}
	log_info("etcd: watching '%s' at '%s' (held revision %" PRId64 ")", es->inst_prefix, es->base,
		 es->set->revision);
	sync_start(es); /* a list first: the held set may be stale */
	lease_start(es);
	es->beat = loop_timer_add(a->loop, a->cfg->status_interval_ms, beat_fired, es);
	*ret = es;
	return 0;
}

struct etcd_source *etcd_source_free(struct etcd_source *es)
{
	if (!es)
		return NULL;
	events_remove_listener(on_event, es);
	for (int ch = 0; es->a && ch < _CH_MAX; ch++)
		if (es->timer[ch])
			loop_timer_cancel(es->a->loop, es->timer[ch]);
	if (es->a && es->beat)
		loop_timer_cancel(es->a->loop, es->beat);
	httpc_free(es->http); /* cancels the requests in flight */
	etcd_stream_done(&es->stream);
	source_set_free(es->set);
	json_decref(es->specs);
	json_decref(es->written);
	json_decref(es->pending);
	free(es->base);
	free(es->prefix);
	free(es->inst_prefix);
	free(es);
	return NULL;
}
