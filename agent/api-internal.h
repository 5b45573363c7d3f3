#pragma once
#include <stdbool.h>

#include "agent/agent.h"
#include "http/http.h"

struct follower;
struct pull_stream;
struct api_tcp;

struct api {
	struct agent *a;
	struct MHD_Daemon *d;
	int listen_fd;
	int epfd;
	char *socket_path;
	struct loop_timer *mhd_timer;
	struct loop_timer *kick_timer;
	struct follower *followers; /* suspended log streams and event long-polls */
	int ifd;		    /* inotify on the bundle dirs of followed logs */
	struct pull_stream *pulls;  /* image pulls streaming their progress */
	struct api_tcp *tcp;	    /* the TLS listener (--listen), or NULL */
};

/* Every route, for both listeners. */
enum MHD_Result api_route(void *data, struct http_req *req);
enum MHD_Result api_node(struct api *api, struct http_req *req);
enum MHD_Result api_logs(struct api *api, struct http_req *req, struct instance *i);
enum MHD_Result api_events(struct api *api, struct http_req *req);
enum MHD_Result api_assignments(struct api *api, struct http_req *req);
enum MHD_Result api_images(struct api *api, struct http_req *req);
enum MHD_Result api_metrics(struct api *api, struct http_req *req);
enum MHD_Result api_pull_stream(struct api *api, struct http_req *req, const char *ref);
void api_pulls_wake(struct api *api);
enum follow_wake {
	WAKE_LOG_WRITE, /* log followers only */
	WAKE_EVENT,	/* log followers and the event long-polls with something new to answer */
	WAKE_EVERYONE,	/* shutting down */
};
void api_followers_wake(struct api *api, enum follow_wake why);
void api_followers_free(struct api *api);
void api_kick(struct api *api);
void api_schedule_kick(struct api *api);

/* api-tcp.c: the --listen daemon; run by api_kick with the unix one. */
int api_tcp_start(struct api *api, struct err **err);
long api_tcp_run(struct api *api); /* ms until it wants to run again, -1: none */
void api_tcp_free(struct api *api);
