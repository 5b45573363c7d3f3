/* Request routing and the instance endpoints. Handlers never block: they
 * answer from memory, or suspend the connection until an event resumes it. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <unistd.h>

#include "agent/api-internal.h"
#include "agent/api.h"
#include "agent/events.h"
#include "agent/history.h"
#include "agent/instance.h"
#include "agent/source.h"
#include "common/cleanup.h"
#include "common/log.h"
#include "common/timeutil.h"
#include "common/version.h"

#define ID_PREFIX "/v1/instances/"

/* Appends the compact text of doc (stolen) to *buf, growing it; -ENOMEM. */
static int append_dump(char **buf, size_t *len, size_t *cap, json_t *doc)
{
	size_t n;

	for (;;) {
		n = json_dumpb(doc, *buf + *len, *cap - *len, JSON_COMPACT);
		if (n && n + 3 <= *cap - *len) /* room kept for ",", "]" and "\n" */
			break;
		if (!n) {
			json_decref(doc);
			return -ENOMEM;
		}
		size_t want = *cap * 2 > *len + n + 3 ? *cap * 2 : *len + n + 3;
		char *nb = realloc(*buf, want);
		if (!nb) {
			json_decref(doc);
			return -ENOMEM;
		}
		*buf = nb;
		*cap = want;
	}
	json_decref(doc);
	*len += n;
	return 0;
}

/* One status at a time into one buffer, the same bytes as a dumped array: a tree of 500 statuses
 * is some 1.7 MiB of jansson nodes made and freed on every GET (bench/scale.sh: 22 ms, mostly the
 * allocator); one status's nodes are reused memory. */
static enum MHD_Result list_instances(struct api *api, struct http_req *req)
{
	size_t len = 0, cap = 64 * 1024;
	char *buf = malloc(cap);

	if (!buf)
		return MHD_NO;
	buf[len++] = '[';
	for (struct instance *i = api->a->instances; i; i = i->next) {
		json_t *st = inst_status_json(i);

		if (!st)
			continue;
		if (len > 1)
			buf[len++] = ',';
		if (append_dump(&buf, &len, &cap, st) < 0) {
			free(buf);
			return MHD_NO;
		}
	}
	buf[len++] = ']';
	buf[len++] = '\n';
	return http_reply_json_text(req, 200, buf, len);
}

static enum MHD_Result put_instance(struct api *api, struct http_req *req, const char *id)
{
	_cleanup_err_ struct err *e = NULL;
	struct spec *spec = NULL;
	enum apply_result res;
	json_error_t jerr;
	json_t *doc;
	int r;

	doc = json_loadb(req->body ? req->body : "", req->body_len, JSON_REJECT_DUPLICATES, &jerr);
	if (!doc)
		return http_reply_error(req, 400, "", "malformed JSON at line %d column %d: %s", jerr.line,
					jerr.column, jerr.text);
	if (json_is_object(doc) && !json_object_get(doc, "id"))
		json_object_set_new(doc, "id", json_string(id));
	r = spec_parse(doc, &spec, &e);
	json_decref(doc);
	if (r >= 0 && strcmp(spec->id, id) != 0)
		r = err_field(&e, "id", EINVAL, "spec id '%s' does not match the URL's '%s'", spec->id, id);
	if (r >= 0)
		r = spec_check_supported(spec, &e);
	if (r < 0) {
		spec_free(spec);
		log_notice("API: refused spec for '%s': %s", id, err_msg(e));
		return http_reply_error(req, http_status_for(r), e ? e->field : "", "%s", err_msg(e));
	}
	json_t *raw = json_incref(spec->raw);
	r = agent_apply(api->a, spec, SRC_API, NULL, &res, &e);
	/* the instance is part of the API's set, which a PUT /v1/assignments replaces as a whole */
	if (r >= 0 && res != APPLY_UNCHANGED && source_set_put(api->a->api_set, raw, &e) < 0) {
		log_err("API: cannot hold '%s' in the API's set: %s: %s, retrying", id, err_msg(e),
			strerror(e->errnum));
		inst_save_retry_api_set(api->a);
	}
	json_decref(raw);
	if (r < 0)
		return http_reply_error(req, http_status_for(r), e ? e->field : "", "%s", err_msg(e));
	struct instance *i = agent_find(api->a, id);
	json_t *out = i ? inst_status_json(i) : json_object();
	json_object_set_new(out, "result",
			    json_string(res == APPLY_CREATED	? "created"
					: res == APPLY_REPLACED ? "replaced"
								: "unchanged"));
	return http_reply_json(req, res == APPLY_CREATED ? 201 : 200, out);
}

static enum MHD_Result delete_instance(struct api *api, struct http_req *req, const char *id)
{
	_cleanup_err_ struct err *e = NULL;
	const char *force = http_query(req, "force");
	int r;

	if (force && strcmp(force, "1") != 0 && strcmp(force, "true") != 0 && strcmp(force, "0") != 0 &&
	    strcmp(force, "false") != 0)
		return http_reply_error(req, 400, "force", "'force' must be 1 or 0, got '%s'", force);
	r = agent_remove_opt(api->a, id, SRC_API,
			     force && (strcmp(force, "1") == 0 || strcmp(force, "true") == 0), &e);
	if (r < 0)
		return http_reply_error(req, http_status_for(r), "id", "%s", err_msg(e));
	if (source_set_drop(api->a->api_set, id, &e) < 0) {
		log_err("API: cannot drop '%s' from the API's set: %s: %s, retrying", id, err_msg(e),
			strerror(e->errnum));
		inst_save_retry_api_set(api->a);
	}
	return http_reply_json(req, 202, json_pack("{s:s, s:s}", "id", id, "result", "removing"));
}

static enum MHD_Result instance_route(struct api *api, struct http_req *req)
{
	const char *rest = req->url + strlen(ID_PREFIX);
	const char *slash = strchr(rest, '/');
	char id[64];
	size_t n = slash ? (size_t)(slash - rest) : strlen(rest);
	struct instance *i;

	if (n == 0 || n >= sizeof(id))
		return http_reply_error(req, 404, "id", "no such instance");
	memcpy(id, rest, n);
	id[n] = '\0';
	if (!spec_id_valid(id))
		return http_reply_error(req, 404, "id", "'%s' is not a valid instance id", id);
	if (!slash && strcmp(req->method, "PUT") == 0)
		return put_instance(api, req, id);
	if (!slash && strcmp(req->method, "DELETE") == 0)
		return delete_instance(api, req, id);
	i = agent_find(api->a, id);
	if (!i)
		return http_reply_error(req, 404, "id", "no instance '%s'", id);
	if (!slash && strcmp(req->method, "GET") == 0)
		return http_reply_json(req, 200, inst_status_json(i));
	if (slash && strcmp(slash, "/logs") == 0 && strcmp(req->method, "GET") == 0)
		return api_logs(api, req, i);
	if (slash && strcmp(slash, "/history") == 0 && strcmp(req->method, "GET") == 0)
		return http_reply_json(req, 200, history_json(i));
	return http_reply_error(req, 405, "", "%s %s is not supported", req->method, req->url);
}

enum MHD_Result api_route(void *data, struct http_req *req)
{
	struct api *api = data;

	if (strcmp(req->url, "/v1/healthz") == 0)
		return http_reply_json(req, 200, json_pack("{s:s}", "status", "ok"));
	if (strcmp(req->url, "/v1/instances") == 0 && strcmp(req->method, "GET") == 0)
		return list_instances(api, req);
	if (strncmp(req->url, ID_PREFIX, strlen(ID_PREFIX)) == 0)
		return instance_route(api, req);
	if (strcmp(req->url, "/metrics") == 0 && strcmp(req->method, "GET") == 0)
		return api_metrics(api, req);
	if (strcmp(req->url, "/v1/node") == 0 && strcmp(req->method, "GET") == 0)
		return api_node(api, req);
	if (strcmp(req->url, "/v1/events") == 0 && strcmp(req->method, "GET") == 0)
		return api_events(api, req);
	if (strcmp(req->url, HTTP_SET_PATH) == 0)
		return api_assignments(api, req);
	if (strcmp(req->url, "/v1/images") == 0 || strncmp(req->url, "/v1/images/", 11) == 0)
		return api_images(api, req);
	return http_reply_error(req, 404, "", "no endpoint %s %s", req->method, req->url);
}

static void mhd_timer_fired(struct loop *l, void *data)
{
	struct api *api = data;

	(void)l;
	api->mhd_timer = NULL;
	api_kick(api);
}

/* Runs MHD and re-arms its own timeout (connection timeouts, resumed connections). */
void api_kick(struct api *api)
{
	long ms = http_run(api->d), tcp_ms = api_tcp_run(api);

	if (tcp_ms >= 0 && (ms < 0 || tcp_ms < ms))
		ms = tcp_ms;
	if (api->mhd_timer) {
		loop_timer_cancel(api->a->loop, api->mhd_timer);
		api->mhd_timer = NULL;
	}
	if (ms >= 0)
		api->mhd_timer = loop_timer_add(api->a->loop, ms, mhd_timer_fired, api);
}

static void on_mhd(struct loop *l, int fd, uint32_t events, void *data)
{
	(void)l;
	(void)fd;
	(void)events;
	api_kick(data);
}

static void on_event(void *data)
{
	api_wake(data);
}

int api_start(struct agent *a, const char *socket_path, struct api **ret, struct err **err)
{
	struct api *api = calloc(1, sizeof(*api));
	int r;

	if (!api || !(api->socket_path = strdup(socket_path))) {
		free(api);
		return err_set(err, ENOMEM, "out of memory");
	}
	api->a = a;
	api->ifd = -1;
	api->listen_fd = -1;
	r = http_listen_unix(socket_path, &api->listen_fd, err);
	if (r >= 0 && !(api->d = http_start(api->listen_fd, api_route, api, err)))
		r = -EIO;
	if (r >= 0) {
		api->epfd = http_epoll_fd(api->d);
		if (api->epfd < 0 || loop_add_fd(a->loop, api->epfd, EPOLLIN, on_mhd, api) < 0)
			r = err_set(err, EIO, "watch the API's epoll fd");
	}
	if (r >= 0)
		r = api_tcp_start(api, err);
	if (r < 0) {
		api_free(api);
		return r;
	}
	(void)events_add_listener(on_event, api); /* the first listener: room is there */
	*ret = api;
	return 0;
}

void api_wake(struct api *api)
{
	if (!api)
		return;
	api_followers_wake(api, WAKE_EVENT);
	api_pulls_wake(api);
}

struct api *api_free(struct api *api)
{
	if (!api)
		return NULL;
	events_remove_listener(on_event, api);
	api_followers_free(api);
	api_tcp_free(api);
	if (api->mhd_timer)
		loop_timer_cancel(api->a->loop, api->mhd_timer);
	if (api->kick_timer)
		loop_timer_cancel(api->a->loop, api->kick_timer);
	if (api->d) {
		loop_del_fd(api->a->loop, api->epfd);
		MHD_stop_daemon(api->d);
	}
	if (api->listen_fd >= 0)
		close(api->listen_fd);
	if (api->socket_path)
		(void)unlink(api->socket_path);
	free(api->socket_path);
	free(api);
	return NULL;
}
