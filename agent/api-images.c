/* The image endpoints. Each runs drover-image (joining a run in flight for the same reference)
 * while the request is suspended; the run's end resumes it with the answer. */
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "agent/api-internal.h"
#include "agent/image-jobs.h"
#include "agent/instance.h"
#include "common/cleanup.h"
#include "common/log.h"
#include "image/img-internal.h"

#define IMAGES_PREFIX "/v1/images/"

struct image_req {
	struct api *api;
	struct MHD_Connection *conn;
	bool done;
	unsigned status;
	json_t *body;
};

static json_t *image_json(const struct img_image *img)
{
	json_t *layers = json_array();

	for (size_t k = 0; layers && k < img->n_layers; k++) {
		const char *slash = strrchr(img->layer_dirs[k], '/');
		json_array_append_new(layers, json_string(slash ? slash + 1 : img->layer_dirs[k]));
	}
	return json_pack("{s:s, s:s, s:o}", "digest", img->manifest_digest, "config_digest",
			 img->config_digest, "layers", layers);
}

/* ids of the instances whose image has this digest */
static json_t *users_of(struct agent *a, const char *digest)
{
	json_t *ids = json_array();

	for (struct instance *i = a->instances; ids && i; i = i->next)
		if (digest && i->image_digest && strcmp(i->image_digest, digest) == 0)
			json_array_append_new(ids, json_string(i->id));
	return ids;
}

/* `ls` output with "used_by" added to each image. */
static json_t *with_users(struct agent *a, const char *out)
{
	json_t *list = json_loads(out, 0, NULL), *img;
	size_t k;

	if (!json_is_array(list)) {
		json_decref(list);
		return NULL;
	}
	for (k = 0; k < json_array_size(list); k++) {
		img = json_array_get(list, k);
		json_object_set_new(img, "used_by",
				    users_of(a, json_string_value(json_object_get(img, "digest"))));
	}
	return list;
}

static void job_done(void *data, const struct img_image *img, const char *out, const struct err *e)
{
	struct image_req *ir = data;

	ir->done = true;
	if (e) {
		ir->status = e->errnum == EINVAL ? 422 : 502;
		ir->body = json_pack("{s:s, s:s}", "error", err_msg(e), "field", "");
	} else if (img) {
		ir->status = 200;
		ir->body = image_json(img);
	} else {
		ir->status = 200;
		ir->body = json_loads(out ? out : "", 0, NULL);
		if (json_is_array(ir->body)) {
			json_decref(ir->body);
			ir->body = with_users(ir->api->a, out);
		}
		if (!ir->body)
			ir->body = json_object();
	}
	MHD_resume_connection(ir->conn);
	api_schedule_kick(ir->api);
}

/* First call: start (or join) the run and suspend. Second call, after job_done: answer. */
static enum MHD_Result run(struct api *api, struct http_req *req, const char *cmd, char *const *args)
{
	_cleanup_err_ struct err *e = NULL;
	struct image_req *ir = req->user;

	if (ir) {
		enum MHD_Result res = http_reply_json(req, ir->status, ir->body);
		free(ir);
		req->user = NULL;
		return res;
	}
	ir = calloc(1, sizeof(*ir));
	if (!ir)
		return MHD_NO;
	ir->api = api;
	ir->conn = req->conn;
	if (agent_image_run(api->a, cmd, args, job_done, ir, &e) < 0) {
		free(ir);
		return http_reply_error(req, 500, "", "%s", err_msg(e));
	}
	req->user = ir;
	MHD_suspend_connection(req->conn);
	return MHD_YES;
}

/* The string field key of the JSON request body. */
static const char *body_field(struct http_req *req, const char *key, json_t **keep)
{
	*keep = json_loadb(req->body ? req->body : "", req->body_len, JSON_REJECT_DUPLICATES, NULL);
	return json_string_value(json_object_get(*keep, key));
}

/* What reaches drover-image's argv from the API is checked here first: a reference (or, for rm,
 * a bare digest) of the documented form, or an absolute import path without control bytes. */
static int check_arg(const char *kind, const char *v, struct err **err)
{
	char hex[IMG_HEX_LEN + 1];

	if (strcmp(kind, "path") == 0) {
		if (v[0] != '/' || strlen(v) >= PATH_MAX)
			return err_set(err, EINVAL, "path '%.200s' must be absolute", v);
		for (const char *c = v; *c; c++)
			if ((unsigned char)*c < 0x20 || *c == 0x7f)
				return err_set(err, EINVAL, "path has a control character");
		return 0;
	}
	if (strcmp(kind, "digest-or-ref") == 0 && strncmp(v, "sha256:", 7) == 0)
		return img_digest_parse(v, hex, err);
	return img_ref_validate(v, err);
}

static enum MHD_Result remove_image(struct api *api, struct http_req *req, const char *ref)
{
	_cleanup_err_ struct err *e = NULL;
	char *args[] = {(char *)ref, NULL};

	if (!req->user && check_arg("digest-or-ref", ref, &e) < 0)
		return http_reply_error(req, 400, "ref", "%s", err_msg(e));

	if (!req->user)
		for (struct instance *i = api->a->instances; i; i = i->next)
			if (i->spec && strcmp(i->spec->image, ref) == 0)
				return http_reply_error(req, 409, "ref",
							"image '%s' is in use by instance '%s'", ref, i->id);
	return run(api, req, "rm", args);
}

static enum MHD_Result prune(struct api *api, struct http_req *req)
{
	_cleanup_free_ char **args = NULL;
	size_t n = 0, cap = 2;

	if (req->user)
		return run(api, req, "prune", NULL);
	for (struct instance *i = api->a->instances; i; i = i->next)
		cap += 2;
	args = calloc(cap, sizeof(char *));
	if (!args)
		return MHD_NO;
	/* every image an instance uses stays, whatever state the instance is in */
	for (struct instance *i = api->a->instances; i; i = i->next)
		if (i->image_digest) {
			args[n++] = (char *)"--keep";
			args[n++] = i->image_digest;
		}
	return run(api, req, "prune", n ? args : NULL);
}

enum MHD_Result api_pull_stream(struct api *api, struct http_req *req, const char *ref);

/* POST {"KEY": "value"}: runs drover-image CMD on the value. */
static enum MHD_Result with_body_field(struct api *api, struct http_req *req, const char *cmd,
				       const char *key)
{
	json_t *doc = NULL;
	enum MHD_Result res;
	const char *v;

	if (req->user)
		return run(api, req, cmd, NULL);
	v = body_field(req, key, &doc);
	if (!v || !*v) {
		json_decref(doc);
		return http_reply_error(req, 400, key, "the body must be {\"%s\": \"...\"}", key);
	}
	_cleanup_err_ struct err *e = NULL;
	if (check_arg(key, v, &e) < 0) {
		res = http_reply_error(req, 400, key, "%s", err_msg(e));
		json_decref(doc);
		return res;
	}
	char *args[] = {(char *)v, NULL};
	const char *progress = http_query(req, "progress");
	if (strcmp(cmd, "resolve") == 0 && progress && strcmp(progress, "1") == 0)
		res = api_pull_stream(api, req, v);
	else
		res = run(api, req, cmd, args);
	json_decref(doc);
	return res;
}

enum MHD_Result api_images(struct api *api, struct http_req *req)
{
	if (strcmp(req->url, "/v1/images") == 0 && strcmp(req->method, "GET") == 0)
		return run(api, req, "ls", NULL);
	if (strcmp(req->url, "/v1/images/prune") == 0 && strcmp(req->method, "POST") == 0)
		return prune(api, req);
	if (strcmp(req->url, "/v1/images/pull") == 0 && strcmp(req->method, "POST") == 0)
		return with_body_field(api, req, "resolve", "ref");
	if (strcmp(req->url, "/v1/images/import") == 0 && strcmp(req->method, "POST") == 0)
		return with_body_field(api, req, "import", "path");
	if (strncmp(req->url, IMAGES_PREFIX, strlen(IMAGES_PREFIX)) == 0 &&
	    strcmp(req->method, "DELETE") == 0 && req->url[strlen(IMAGES_PREFIX)])
		return remove_image(api, req, req->url + strlen(IMAGES_PREFIX));
	return http_reply_error(req, 404, "", "no endpoint %s %s", req->method, req->url);
}

/* POST /v1/images/pull?progress=1: "progress DONE TOTAL" lines while the pull runs, then the
 * result (or {"error"}) as the last line. The response is suspended between lines. */
struct pull_stream {
	struct api *api;
	struct MHD_Connection *conn;
	char *ref;
	bool suspended, done, finished;
	int64_t last_done;
	char *result;
	struct pull_stream *next;
};

static void stream_unlink(struct api *api, struct pull_stream *ps)
{
	for (struct pull_stream **pp = &api->pulls; *pp; pp = &(*pp)->next)
		if (*pp == ps) {
			*pp = ps->next;
			return;
		}
}

void api_pulls_wake(struct api *api)
{
	bool resumed = false;

	for (struct pull_stream *ps = api->pulls; ps; ps = ps->next)
		if (ps->suspended) {
			ps->suspended = false;
			MHD_resume_connection(ps->conn);
			resumed = true;
		}
	if (resumed)
		api_schedule_kick(api);
}

static void stream_done(void *data, const struct img_image *img, const char *out, const struct err *e)
{
	struct pull_stream *ps = data;
	json_t *doc = e ? json_pack("{s:s}", "error", err_msg(e)) : img ? image_json(img) : NULL;

	(void)out;
	ps->result = doc ? json_dumps(doc, JSON_COMPACT) : strdup("{\"error\":\"out of memory\"}");
	json_decref(doc);
	ps->done = true;
	api_pulls_wake(ps->api);
}

static ssize_t stream_read(void *cls, uint64_t pos, char *buf, size_t max)
{
	struct pull_stream *ps = cls;
	int64_t done, total;
	int n;

	(void)pos;
	if (ps->finished)
		return MHD_CONTENT_READER_END_OF_STREAM;
	if (ps->done) {
		n = snprintf(buf, max, "%s\n", ps->result ? ps->result : "{}");
		ps->finished = true;
		return n > 0 && (size_t)n < max ? n : MHD_CONTENT_READER_END_WITH_ERROR;
	}
	if (agent_image_progress(ps->api->a, ps->ref, &done, &total) && done != ps->last_done) {
		ps->last_done = done;
		n = snprintf(buf, max, "progress %lld %lld\n", (long long)done, (long long)total);
		return n > 0 && (size_t)n < max ? n : MHD_CONTENT_READER_END_WITH_ERROR;
	}
	ps->suspended = true;
	MHD_suspend_connection(ps->conn);
	return 0;
}

static void stream_free(void *cls)
{
	struct pull_stream *ps = cls;

	stream_unlink(ps->api, ps);
	agent_image_cancel(ps->api->a, ps); /* a client that went away no longer waits */
	free(ps->ref);
	free(ps->result);
	free(ps);
}

enum MHD_Result api_pull_stream(struct api *api, struct http_req *req, const char *ref)
{
	_cleanup_err_ struct err *e = NULL;
	struct pull_stream *ps = calloc(1, sizeof(*ps));
	struct MHD_Response *resp;
	char *args[] = {(char *)ref, NULL};
	enum MHD_Result ret;

	if (!ps || !(ps->ref = strdup(ref))) {
		free(ps);
		return MHD_NO;
	}
	ps->api = api;
	ps->conn = req->conn;
	ps->last_done = -1;
	if (agent_image_run(api->a, "resolve", args, stream_done, ps, &e) < 0) {
		free(ps->ref);
		free(ps);
		return http_reply_error(req, 500, "", "%s", err_msg(e));
	}
	ps->next = api->pulls;
	api->pulls = ps;
	resp = MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 4096, stream_read, ps, stream_free);
	if (!resp) {
		stream_free(ps);
		return MHD_NO;
	}
	(void)MHD_add_response_header(resp, "Content-Type", "text/plain; charset=utf-8");
	ret = MHD_queue_response(req->conn, 200, resp);
	MHD_destroy_response(resp);
	return ret;
}
