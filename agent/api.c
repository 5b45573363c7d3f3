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
#include "common/cleanup.h"
#include "common/log.h"
#include "common/timeutil.h"
#include "common/version.h"

#define ID_PREFIX "/v1/instances/"

static enum MHD_Result list_instances(struct api *api, struct http_req *req)
{
	json_t *arr = json_array();

	for (struct instance *i = api->a->instances; arr && i; i = i->next)
		json_array_append_new(arr, inst_status_json(i));
	return http_reply_json(req, 200, arr);
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
		return http_reply_error(req, 400, "", "malformed JSON at line %d column %d: %s", jerr.line, jerr.column,
					jerr.text);
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
	r = agent_apply(api->a, spec, SRC_API, NULL, &res, &e);
	if (r < 0)
		return http_reply_error(req, http_status_for(r), e ? e->field : "", "%s", err_msg(e));
	struct instance *i = agent_find(api->a, id);
	json_t *out = i ? inst_status_json(i) : json_object();
	json_object_set_new(out, "result",
			    json_string(res == APPLY_CREATED ? "created" : res == APPLY_REPLACED ? "replaced" : "unchanged"));
	return http_reply_json(req, res == APPLY_CREATED ? 201 : 200, out);
}

static enum MHD_Result delete_instance(struct api *api, struct http_req *req, const char *id)
{
	_cleanup_err_ struct err *e = NULL;
	int r;

	r = agent_remove(api->a, id, SRC_API, &e);
	if (r < 0)
		return http_reply_error(req, http_status_for(r), "id", "%s", err_msg(e));
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
	return http_reply_error(req, 405, "", "%s %s is not supported", req->method, req->url);
}

static enum MHD_Result node_status(struct api *api, struct http_req *req)
{
	struct agent *a = api->a;
	long cpus = sysconf(_SC_NPROCESSORS_ONLN);
	long long mem = (long long)sysconf(_SC_PHYS_PAGES) * sysconf(_SC_PAGESIZE);
	int counts[PH_FAILED + 1] = {0}, total = 0;
	json_t *phases = json_object();

	for (struct instance *i = a->instances; i; i = i->next, total++)
		counts[i->phase]++;
	for (int p = PH_PENDING; p <= PH_FAILED; p++)
		json_object_set_new(phases, inst_phase_name((enum inst_phase)p), json_integer(counts[p]));
	return http_reply_json(req, 200,
			       json_pack("{s:s, s:s, s:{s:I, s:I}, s:s, s:I, s:{s:i, s:o}, s:{s:s, s:s}}", "name", a->node_name,
					 "version", DROVER_VERSION, "capacity", "cpu_millis", (json_int_t)cpus * 1000,
					 "memory_bytes", (json_int_t)mem, "cgroup_version",
					 cg_ctx_version(a->cg) == CG_V2 ? "v2" : "v1", "uptime_seconds",
					 (json_int_t)((time_mono_ns() - a->started_mono) / 1000000000LL), "instances",
					 "total", total, "by_phase", phases, "runtime", "path", a->runtime_path, "root",
					 a->runc_root));
}

static enum MHD_Result route(void *data, struct http_req *req)
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
		return node_status(api, req);
	if (strcmp(req->url, "/v1/events") == 0 && strcmp(req->method, "GET") == 0)
		return api_events(api, req);
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
	long ms = http_run(api->d);

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
	if (r >= 0 && !(api->d = http_start(api->listen_fd, route, api, err)))
		r = -EIO;
	if (r >= 0) {
		api->epfd = http_epoll_fd(api->d);
		if (api->epfd < 0 || loop_add_fd(a->loop, api->epfd, EPOLLIN, on_mhd, api) < 0)
			r = err_set(err, EIO, "watch the API's epoll fd");
	}
	if (r < 0) {
		api_free(api);
		return r;
	}
	events_set_listener(on_event, api);
	*ret = api;
	return 0;
}

void api_wake(struct api *api)
{
	if (!api)
		return;
	api_followers_wake(api, true);
	api_pulls_wake(api);
}

struct api *api_free(struct api *api)
{
	if (!api)
		return NULL;
	events_set_listener(NULL, NULL);
	api_followers_free(api);
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
