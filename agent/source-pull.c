/* The control plane by pull, and status reporting to it (see source-pull.h).
 *
 * Two channels share one connection state: the long-poll for the desired set and the status
 * posts. Either failing makes the state "lost" (one log line), both working again makes it "back"
 * (one log line); retries back off exponentially with jitter (0.5 s doubling to 10 s) and log at
 * debug only. Everything is driven by the loop: curl's sockets and deadlines (agent/httpc.c), a
 * 100 ms batching timer after a change, the heartbeat timer, the back-off timers. */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "agent/agent.h"
#include "agent/api.h"
#include "agent/events.h"
#include "agent/httpc.h"
#include "agent/instance.h"
#include "agent/source-pull.h"
#include "agent/source.h"
#include "agent/token-file.h"
#include "common/cleanup.h"
#include "common/fs.h"
#include "common/log.h"
#include "common/timeutil.h"

#define POLL_WAIT_S 30
#define POLL_TIMEOUT_MS ((POLL_WAIT_S + 15) * 1000L) /* the wait plus slack: a stalled stream ends */
#define POST_TIMEOUT_MS 15000L
#define POLL_OK_MS 2000
#define RESPONSE_MAX ((size_t)16 * 1024 * 1024)
#define BATCH_MS 100
#define BACKOFF_MIN_MS 500
#define BACKOFF_MAX_MS 10000
#define POST_EVENTS_MAX 500

enum cp_state { CP_NEW, CP_UP, CP_DOWN };

struct cp_source {
	struct agent *a;
	struct httpc *http;
	struct source_set *set;
	char *base;  /* the URL without a trailing slash */
	char *node;  /* URL-escaped node name */
	char *token; /* never logged */
	size_t token_size;
	struct httpc_req *poll, *post;
	struct loop_timer *poll_timer, *post_timer, *beat_timer;
	struct loop_timer *poll_ok_timer; /* a long-poll parked this long after a failure: reachable again */
	int64_t poll_backoff, post_backoff;
	int64_t poll_began;
	bool poll_failing, post_failing, dirty;
	enum cp_state state;
	int64_t down_since;
	uint64_t posted_upto;
};

static void poll_start(struct cp_source *cp);
static void post_soon(struct cp_source *cp);
static void post_start(struct cp_source *cp);

int cp_config_check(const struct agent_config *c, struct err **err)
{
	if (!c->control_plane) {
		if (c->control_plane_ca || c->control_plane_cert || c->control_plane_key ||
		    c->control_plane_token_file)
			return err_set(
			    err, EINVAL,
			    "--control-plane-ca, -cert, -key and -token-file need --control-plane");
		return 0;
	}
	if (strncmp(c->control_plane, "https://", 8) != 0 && strncmp(c->control_plane, "http://", 7) != 0)
		return err_set(err, EINVAL, "--control-plane wants a URL such as https://cp:8443, got '%s'",
			       c->control_plane);
	if (!!c->control_plane_cert != !!c->control_plane_key)
		return err_set(err, EINVAL, "--control-plane-cert and --control-plane-key go together");
	if (c->control_plane_token_file) { /* refused at start, before anything is made */
		char *token = NULL;
		size_t size = 0;
		int r = token_file_read("--control-plane-token-file", c->control_plane_token_file, &token,
					&size, err);
		(void)token_file_free(token, size);
		return r < 0 ? r : 0;
	}
	return 0;
}

/* Exponential back-off with equal jitter: half the step fixed, half random. */
static int64_t backoff_next(int64_t *step)
{
	*step = *step ? *step * 2 : BACKOFF_MIN_MS;
	if (*step > BACKOFF_MAX_MS)
		*step = BACKOFF_MAX_MS;
	return *step / 2 + random() % (*step / 2 + 1);
}

/* One log line per change of the connection: connected, lost, back. */
static void set_state(struct cp_source *cp, const char *why)
{
	bool up = !cp->poll_failing && !cp->post_failing;

	if (up && cp->state != CP_UP) {
		if (cp->state == CP_NEW)
			log_notice("control plane connected url='%s' node=%s", cp->base, cp->a->node_name);
		else
			log_notice("control plane back after %.1f s url='%s'",
				   (double)(time_mono_ns() - cp->down_since) / 1e9, cp->base);
		cp->state = CP_UP;
	} else if (!up && cp->state != CP_DOWN) {
		log_warn("control plane %s: %s; retrying with back-off, instances keep running url='%s'",
			 cp->state == CP_NEW ? "unreachable" : "lost", why, cp->base);
		cp->state = CP_DOWN;
		cp->down_since = time_mono_ns();
	} else if (!up && *why) {
		log_debug("control plane still failing: %s", why);
	}
}

static void poll_fired(struct loop *l, void *data)
{
	struct cp_source *cp = data;

	(void)l;
	cp->poll_timer = NULL;
	poll_start(cp);
}

static void poll_again(struct cp_source *cp, int64_t delay_ms)
{
	if (!cp->poll_timer)
		cp->poll_timer = loop_timer_add(cp->a->loop, delay_ms, poll_fired, cp);
}

static void poll_failed(struct cp_source *cp, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void poll_failed(struct cp_source *cp, const char *fmt, ...)
{
	_cleanup_free_ char *why = NULL;
	va_list ap;

	va_start(ap, fmt);
	if (vasprintf(&why, fmt, ap) < 0)
		why = NULL;
	va_end(ap);
	cp->poll_failing = true;
	set_state(cp, why ? why : "?");
	poll_again(cp, backoff_next(&cp->poll_backoff));
}

/* A new desired set: held on disk first, then converged; refusals are reported, never fatal. */
static void take_set(struct cp_source *cp, json_int_t rev, json_t *instances)
{
	_cleanup_err_ struct err *e = NULL;
	struct set_check c;
	json_t *sum;

	if (agent_set_check(cp->a, SRC_CP, instances, &c, &e) < 0) {
		poll_failed(cp, "revision %lld refused: %s", (long long)rev, err_msg(e));
		return;
	}
	json_decref(cp->set->instances);
	cp->set->instances = json_incref(instances);
	cp->set->revision = rev;
	if (source_set_save(cp->set, &e) < 0)
		log_err("control plane: cannot persist revision %lld: %s", (long long)rev, err_msg(e));
	sum = agent_set_sync(cp->a, cp->set, &c);
	set_check_done(&c);
	log_info("control plane: revision %lld (%zu instances: %zu created, %zu replaced, %zu removed, %zu "
		 "refused)",
		 (long long)rev, json_array_size(instances), json_array_size(json_object_get(sum, "created")),
		 json_array_size(json_object_get(sum, "replaced")),
		 json_array_size(json_object_get(sum, "removed")),
		 json_array_size(json_object_get(sum, "refused")));
	json_decref(sum);
	cp->dirty = true; /* the refusals, if any, are reported even when no instance changes */
}

static void poll_done(void *data, long status, const char *body, size_t len, const struct err *e)
{
	struct cp_source *cp = data;
	bool quick = time_mono_ns() - cp->poll_began < 1000000000LL;
	json_t *doc, *instances = NULL;
	json_int_t rev = -1;
	json_error_t jerr;

	int64_t held = cp->set->revision;

	cp->poll = NULL;
	if (cp->poll_ok_timer) {
		loop_timer_cancel(cp->a->loop, cp->poll_ok_timer);
		cp->poll_ok_timer = NULL;
	}
	if (e)
		return poll_failed(cp, "GET assignments: %s", err_msg(e));
	if (status != 200 && status != 304)
		return poll_failed(cp, "GET assignments answered HTTP %ld", status);
	if (status == 200) {
		doc = json_loadb(body, len, JSON_REJECT_DUPLICATES, &jerr);
		if (!doc ||
		    json_unpack_ex(doc, &jerr, 0, "{s:I, s:o}", "revision", &rev, "instances", &instances) <
			0 ||
		    !json_is_array(instances) || rev < 0) {
			json_decref(doc);
			return poll_failed(cp, "GET assignments answered junk (%zu bytes): %s", len,
					   doc ? "not {\"revision\": N, \"instances\": [...]}" : jerr.text);
		}
		if (rev < cp->set->revision) {
			json_decref(doc);
			return poll_failed(cp, "revision %lld is older than the held %lld", (long long)rev,
					   (long long)cp->set->revision);
		}
		if (rev > cp->set->revision)
			take_set(cp, rev, instances);
		json_decref(doc);
	}
	cp->poll_failing = false;
	cp->poll_backoff = 0;
	set_state(cp, "");
	if (cp->dirty)
		post_soon(cp);
	/* an answer with nothing new that came back at once must not turn the long-poll into a spin */
	poll_again(cp, quick && cp->set->revision == held ? 1000 : 0);
}

/* A long-poll answers only when something changes: one that is still parked a while after a
 * failure reached a control plane that accepted it, so the poll channel counts as working again. */
static void poll_looks_ok(struct loop *l, void *data)
{
	struct cp_source *cp = data;

	(void)l;
	cp->poll_ok_timer = NULL;
	if (!cp->poll)
		return;
	cp->poll_failing = false;
	cp->poll_backoff = 0;
	set_state(cp, "");
}

static void poll_start(struct cp_source *cp)
{
	_cleanup_err_ struct err *e = NULL;
	_cleanup_free_ char *url = NULL;

	if (asprintf(&url, "%s/v1/nodes/%s/assignments?after=%lld&wait=%d", cp->base, cp->node,
		     (long long)cp->set->revision, POLL_WAIT_S) < 0)
		return poll_again(cp, 1000);
	struct httpc_opts o = {.method = "GET",
			       .url = url,
			       .token = cp->token,
			       .ca = cp->a->cfg->control_plane_ca,
			       .cert = cp->a->cfg->control_plane_cert,
			       .key = cp->a->cfg->control_plane_key,
			       .max_bytes = RESPONSE_MAX,
			       .timeout_ms = POLL_TIMEOUT_MS};
	cp->poll_began = time_mono_ns();
	if (httpc_start(cp->http, &o, poll_done, cp, &cp->poll, &e) < 0)
		poll_failed(cp, "%s", err_msg(e));
	else if (cp->poll_failing && !cp->poll_ok_timer)
		cp->poll_ok_timer = loop_timer_add(cp->a->loop, POLL_OK_MS, poll_looks_ok, cp);
}

/* ---- status reporting ---- */

static void post_fired(struct loop *l, void *data)
{
	struct cp_source *cp = data;

	(void)l;
	cp->post_timer = NULL;
	post_start(cp);
}

/* A change: posted within BATCH_MS, together with whatever else changes meanwhile. */
static void post_soon(struct cp_source *cp)
{
	cp->dirty = true;
	if (cp->post || cp->post_timer)
		return; /* the post in flight, or the one already due (a back-off too), carries it */
	cp->post_timer = loop_timer_add(cp->a->loop, BATCH_MS, post_fired, cp);
}

static void beat_fired(struct loop *l, void *data)
{
	struct cp_source *cp = data;

	(void)l;
	cp->beat_timer = NULL;
	if (!cp->post && !cp->post_timer)
		post_start(cp);
}

static void post_done(void *data, long status, const char *body, size_t len, const struct err *e)
{
	struct cp_source *cp = data;
	_cleanup_err_ struct err *ae = NULL;
	_cleanup_free_ char *why = NULL;

	(void)body;
	(void)len;
	cp->post = NULL;
	if (e || status < 200 || status >= 300) {
		if (e ? asprintf(&why, "POST status: %s", err_msg(e)) < 0
		      : asprintf(&why, "POST status answered HTTP %ld", status) < 0)
			why = NULL;
		cp->post_failing = true;
		set_state(cp, why ? why : "?");
		cp->dirty = true; /* the retry sends the latest status and every unacknowledged event */
		if (!cp->post_timer)
			cp->post_timer =
			    loop_timer_add(cp->a->loop, backoff_next(&cp->post_backoff), post_fired, cp);
		return;
	}
	/* a 2xx acknowledges every event in the body */
	if (cp->posted_upto && events_ack(cp->posted_upto, &ae) < 0)
		log_err("control plane: cannot record acknowledged events: %s", err_msg(ae));
	cp->post_failing = false;
	cp->post_backoff = 0;
	set_state(cp, "");
	if (cp->dirty || events_last_seq() > events_acked())
		post_soon(cp);
	else if (!cp->beat_timer)
		cp->beat_timer = loop_timer_add(cp->a->loop, cp->a->cfg->status_interval_ms, beat_fired, cp);
}

static json_t *report(struct cp_source *cp, struct err **err)
{
	json_t *instances = json_array(), *events = NULL, *doc;
	size_t k;
	json_t *v;

	if (events_outbox(POST_EVENTS_MAX, &events, err) < 0) {
		json_decref(instances);
		return NULL;
	}
	for (struct instance *i = cp->a->instances; instances && i; i = i->next)
		json_array_append_new(instances, inst_status_json(i));
	json_array_foreach (cp->set->refused, k, v) {
		json_array_append(instances, v);
	}
	cp->posted_upto = 0;
	json_array_foreach (events, k, v) {
		uint64_t seq = (uint64_t)json_integer_value(json_object_get(v, "seq"));
		if (seq > cp->posted_upto)
			cp->posted_upto = seq;
	}
	doc = json_pack("{s:o, s:o, s:o}", "node", api_node_json(cp->a), "instances", instances, "events",
			events);
	if (!doc)
		err_set(err, ENOMEM, "out of memory");
	return doc;
}

static void post_start(struct cp_source *cp)
{
	_cleanup_err_ struct err *e = NULL;
	_cleanup_free_ char *url = NULL, *body = NULL;
	json_t *doc;

	if (cp->beat_timer) {
		loop_timer_cancel(cp->a->loop, cp->beat_timer);
		cp->beat_timer = NULL;
	}
	doc = report(cp, &e);
	body = doc ? json_dumps(doc, JSON_COMPACT) : NULL;
	json_decref(doc);
	if (!body || asprintf(&url, "%s/v1/nodes/%s/status", cp->base, cp->node) < 0) {
		log_err("control plane: cannot build the status report: %s",
			e ? err_msg(e) : "out of memory");
		cp->post_timer = loop_timer_add(cp->a->loop, 1000, post_fired, cp);
		return;
	}
	struct httpc_opts o = {.method = "POST",
			       .url = url,
			       .body = body,
			       .body_len = strlen(body),
			       .content_type = "application/json",
			       .token = cp->token,
			       .ca = cp->a->cfg->control_plane_ca,
			       .cert = cp->a->cfg->control_plane_cert,
			       .key = cp->a->cfg->control_plane_key,
			       .max_bytes = 64 * 1024,
			       .timeout_ms = POST_TIMEOUT_MS};
	cp->dirty = false;
	if (httpc_start(cp->http, &o, post_done, cp, &cp->post, &e) < 0)
		post_done(cp, 0, "", 0, e);
}

static void on_event(void *data)
{
	post_soon(data);
}

/* ---- start and stop ---- */

/* A URL path segment: RFC 3986 unreserved characters as they are, the rest %XX. */
static char *escape_segment(const char *s)
{
	char *out = malloc(strlen(s) * 3 + 1), *o = out;

	for (const unsigned char *c = (const unsigned char *)s; out && *c; c++) {
		if ((*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') || (*c >= '0' && *c <= '9') ||
		    strchr("-._~", *c))
			*o++ = (char)*c;
		else
			o += sprintf(o, "%%%02X", *c);
	}
	if (out)
		*o = '\0';
	return out;
}

static int cp_init(struct agent *a, struct cp_source *cp, struct err **err)
{
	const struct agent_config *c = a->cfg;
	size_t n;
	int r;

	cp->a = a;
	cp->base = strdup(c->control_plane);
	if (!cp->base) {
		err_set(err, ENOMEM, "out of memory");
		return -ENOMEM;
	}
	for (n = strlen(cp->base); n > 0 && cp->base[n - 1] == '/'; n--)
		cp->base[n - 1] = '\0';
	/* node names are host names; anything else is escaped into the path */
	cp->node = escape_segment(a->node_name);
	if (!cp->node) {
		err_set(err, ENOMEM, "out of memory");
		return -ENOMEM;
	}
	if (c->control_plane_token_file &&
	    (r = token_file_read("--control-plane-token-file", c->control_plane_token_file, &cp->token,
				 &cp->token_size, err)) < 0)
		return r;
	if (cp->token && strncmp(cp->base, "http://", 7) == 0)
		log_warn("control plane: the bearer token goes over plain http to '%s'", cp->base);
	r = source_set_open(a, SRC_CP, &cp->set, err);
	if (r < 0 || !cp->set)
		return r < 0 ? r : -ENOMEM;
	if (r > 0 && (r = agent_set_converge(a, cp->set, err)) < 0) /* kept while the control plane is away */
		return r;
	r = httpc_new(a->loop, &cp->http, err);
	if (r < 0)
		return r;
	return events_add_listener(on_event, cp) < 0 ? err_set(err, ENOSPC, "too many event listeners") : 0;
}

int cp_source_start(struct agent *a, struct cp_source **ret)
{
	_cleanup_err_ struct err *e = NULL;
	struct cp_source *cp = calloc(1, sizeof(*cp));
	int r;

	if (!cp)
		return log_err_errno(-ENOMEM, "control plane: out of memory");
	srandom((unsigned)(time_now_ns() ^ getpid()));
	r = cp_init(a, cp, &e);
	if (r < 0) {
		cp_source_free(cp);
		return log_err_errno(r, "control plane: %s", err_msg(e));
	}
	events_outbox_enable(true);
	log_info("control plane: pulling from '%s' (held revision %lld, %" PRIu64 " events unacknowledged)",
		 cp->base, (long long)cp->set->revision, events_last_seq() - events_acked());
	poll_start(cp);
	post_start(cp); /* the first report says the node is up */
	*ret = cp;
	return 0;
}

struct cp_source *cp_source_free(struct cp_source *cp)
{
	if (!cp)
		return NULL;
	events_remove_listener(on_event, cp);
	if (cp->a) {
		if (cp->poll_timer)
			loop_timer_cancel(cp->a->loop, cp->poll_timer);
		if (cp->post_timer)
			loop_timer_cancel(cp->a->loop, cp->post_timer);
		if (cp->beat_timer)
			loop_timer_cancel(cp->a->loop, cp->beat_timer);
		if (cp->poll_ok_timer)
			loop_timer_cancel(cp->a->loop, cp->poll_ok_timer);
	}
	httpc_free(cp->http); /* cancels the requests in flight */
	source_set_free(cp->set);
	free(cp->base);
	free(cp->node);
	cp->token = token_file_free(cp->token, cp->token_size);
	free(cp);
	return NULL;
}
