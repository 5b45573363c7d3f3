#pragma once
/* HTTP plumbing for the agent API on libmicrohttpd, driven from the agent's
 * own event loop (MHD's epoll fd is one more fd in it): no threads, no locks. */
#include <stdbool.h>
#include <stddef.h>

#include <jansson.h>
#include <microhttpd.h>

#include "common/err.h"

#define HTTP_BODY_MAX (1024 * 1024)
/* PUT /v1/assignments carries a whole set: up to a few hundred instances of ordinary size (a spec
 * is mostly a few KiB; 16 MiB leaves room for files[] content) while still bounding memory. */
#define HTTP_SET_BODY_MAX (16 * 1024 * 1024)
#define HTTP_SET_PATH "/v1/assignments"

struct http_req {
	struct MHD_Connection *conn;
	const char *method;
	const char *url;
	char *body;
	size_t body_len;
	bool too_large;
	size_t body_max; /* HTTP_BODY_MAX, or HTTP_SET_BODY_MAX for HTTP_SET_PATH */
	void *user; /* a handler's state across a suspend/resume */
};

/* Called once the whole request body is in; must queue a response. */
typedef enum MHD_Result (*http_handler)(void *data, struct http_req *req);

/* Binds a unix stream socket at path (mode 0600), replacing a stale one. */
int http_listen_unix(const char *path, int *ret_fd, struct err **err);
struct MHD_Daemon *http_start(int listen_fd, http_handler h, void *data, struct err **err);
int http_epoll_fd(struct MHD_Daemon *d);
/* Runs MHD's work for ready sockets and returns the ms until MHD wants to run again (-1: none). */
long http_run(struct MHD_Daemon *d);

enum MHD_Result http_reply_json(struct http_req *r, unsigned status, json_t *doc); /* steals doc */
enum MHD_Result http_reply_error(struct http_req *r, unsigned status, const char *field, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
/* HTTP status for an -errno from the agent: ENOENT 404, EEXIST/ESTALE 409, EINVAL 422, ... */
unsigned http_status_for(int r);
const char *http_query(struct http_req *r, const char *key);
