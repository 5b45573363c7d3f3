#pragma once
/* HTTP client requests on the agent's own loop: libcurl's multi interface, its sockets in the
 * loop's epoll (CURLMOPT_SOCKETFUNCTION) and its timeouts on the loop's timerfd
 * (CURLMOPT_TIMERFUNCTION). No threads, no polling: the loop wakes when a socket is ready or a
 * deadline is due. Used by the control-plane source (and meant for etcd's too). libcurl itself is
 * loaded at the first httpc_new(), so an agent without a remote source does not map it. */
#include <stddef.h>

#include "common/err.h"

struct loop;
struct httpc;
struct httpc_req;

struct httpc_opts {
	const char *method; /* "GET", "POST", "PUT" */
	const char *url;
	const char *body; /* copied; NULL: none */
	size_t body_len;
	const char *content_type;
	const char *token; /* "Authorization: Bearer TOKEN"; never logged */
	const char *ca;	   /* CA bundle to verify the server with */
	const char *cert;  /* client certificate and key (mutual TLS) */
	const char *key;
	size_t max_bytes; /* a longer response body fails the request */
	long timeout_ms;  /* the whole request, a stalled or half-closed stream included; 0: none */
	long connect_timeout_ms;
	/* A streamed response (etcd's watch): every chunk of the body goes here as it arrives
	 * instead of being collected, so max_bytes does not apply; a negative return aborts the
	 * request (its done callback then reports the failure). */
	int (*on_data)(void *data, const char *chunk, size_t len);
};

/* status: the HTTP status (0 if none came); body: NUL-terminated, len bytes; e: transport failure
 * (status and body are then unset). The request is freed after the callback returns. */
typedef void (*httpc_done_fn)(void *data, long status, const char *body, size_t len, const struct err *e);

int httpc_new(struct loop *l, struct httpc **ret, struct err **err);
struct httpc *httpc_free(struct httpc *h);
int httpc_start(struct httpc *h, const struct httpc_opts *o, httpc_done_fn done, void *data,
		struct httpc_req **ret, struct err **err);
/* Drops a request in flight; its callback is not called. */
void httpc_cancel(struct httpc *h, struct httpc_req *r);
