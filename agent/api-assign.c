/* The pushed set: PUT /v1/assignments replaces the API's whole set, GET returns it. The set is
 * the API source's (agent/source.h): PUT and DELETE /v1/instances/{id} edit the same set one
 * instance at a time, and the next PUT /v1/assignments replaces all of it. */
#include <errno.h>
#include <string.h>

#include "agent/api-internal.h"
#include "agent/source.h"
#include "common/cleanup.h"
#include "common/log.h"

static enum MHD_Result refuse_set(struct http_req *req, const struct set_check *c)
{
	const struct set_item *it = &c->items[c->first_refused];
	const char *field = it->field ? it->field : "";
	json_t *doc =
	    json_pack("{s:s++, s:s, s:i, s:i}", "error", field, ": ", it->error ? it->error : "refused",
		      "field", field, "index", (int)c->first_refused, "refused", (int)c->n_refused);

	log_notice("API: refused pushed set: %s: %s", field, it->error ? it->error : "");
	return http_reply_json(req, http_status_for(-it->errnum), doc);
}

/* Holds the new set on disk before touching any instance, so a crash half-way converges at start. */
static int hold(struct source_set *s, json_int_t rev, json_t *instances, struct err **err)
{
	int64_t old_rev = s->revision;
	json_t *old = s->instances;
	int r;

	s->revision = rev;
	s->instances = json_incref(instances);
	r = source_set_save(s, err);
	if (r < 0) {
		json_decref(s->instances);
		s->instances = old;
		s->revision = old_rev;
		return r;
	}
	json_decref(old);
	return 0;
}

static enum MHD_Result put_set(struct api *api, struct http_req *req, json_t *doc)
{
	_cleanup_err_ struct err *e = NULL;
	struct source_set *s = api->a->api_set;
	json_t *instances = NULL, *sum;
	json_int_t rev = -1;
	json_error_t jerr;
	struct set_check c;

	if (json_unpack_ex(doc, &jerr, JSON_STRICT, "{s:I, s:o}", "revision", &rev, "instances", &instances) <
	    0)
		return http_reply_error(
		    req, 422, jerr.text[0] && strstr(jerr.text, "instances") ? "instances" : "revision",
		    "a set is {\"revision\": N, \"instances\": [spec, ...]}: %s", jerr.text);
	if (rev < 0)
		return http_reply_error(req, 422, "revision", "revision must not be negative");
	if (rev < s->revision)
		return http_reply_error(req, 409, "revision", "set revision %lld is older than the held %lld",
					(long long)rev, (long long)s->revision);
	if (rev == s->revision)
		return http_reply_json(req, 200,
				       json_pack("{s:I, s:s}", "revision", rev, "result", "unchanged"));
	if (agent_set_check(api->a, SRC_API, instances, &c, &e) < 0)
		return http_reply_error(req, http_status_for(-e->errnum), e->field ? e->field : "", "%s",
					err_msg(e));
	if (c.n_refused) {
		enum MHD_Result ret = refuse_set(req, &c);
		set_check_done(&c);
		return ret;
	}
	if (hold(s, rev, instances, &e) < 0) {
		set_check_done(&c);
		log_err("API: cannot hold the pushed set: %s", err_msg(e));
		return http_reply_error(req, 500, "", "cannot persist the set: %s", err_msg(e));
	}
	sum = agent_set_sync(api->a, s, &c);
	set_check_done(&c);
	log_info("API: pushed set revision %lld held (%zu instances)", (long long)rev,
		 json_array_size(instances));
	json_object_set_new(sum, "revision", json_integer(rev));
	json_object_set_new(sum, "result", json_string("applied"));
	return http_reply_json(req, 200, sum);
}

enum MHD_Result api_assignments(struct api *api, struct http_req *req)
{
	json_error_t jerr;
	json_t *doc;
	enum MHD_Result ret;

	if (strcmp(req->method, "GET") == 0)
		return http_reply_json(req, 200, source_set_json(api->a->api_set));
	if (strcmp(req->method, "PUT") != 0)
		return http_reply_error(req, 405, "", "%s %s is not supported", req->method, req->url);
	doc = json_loadb(req->body ? req->body : "", req->body_len, JSON_REJECT_DUPLICATES, &jerr);
	if (!doc)
		return http_reply_error(req, 400, "", "malformed JSON at line %d column %d: %s", jerr.line,
					jerr.column, jerr.text);
	ret = put_set(api, req, doc);
	json_decref(doc);
	return ret;
}
