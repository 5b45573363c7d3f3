#pragma once
/* HTTP plumbing for the agent API on libmicrohttpd, driven from the agent's
 * own event loop (MHD's epoll fd is one more fd in it): no threads, no locks. */
#include <stdbool.h>
#include <stddef.h>

#include <jansson.h>
#include <microhttpd.h>

#include "common/err.h"

#define HTTP_BODY_MAX (1024 * 1024)
/* PUT /v1/assignments carries a whole desired set: up to a few hundred specs at the 1 MiB spec cap
 * would be far more than any node runs, while a few KiB each for a node's 100-odd instances fits
 * 16 MiB with room to spare; the cap still bounds what one request may make the agent hold. */
#define HTTP_ASSIGNMENTS_BODY_MAX (16 * 1024 * 1024)
#define HTTP_SET_PATH "/v1/assignments"

struct http_req {
	struct MHD_Connection *conn;
	const char *method;
	const char *url;
	char *body;
	size_t body_len;
	size_t body_max; /* http_body_cap() of this request */
	void *user;	 /* a handler's state across a suspend/resume */
};

/* Called once the whole request body is in; must queue a response. */
typedef enum MHD_Result (*http_handler)(void *data, struct http_req *req);

/* Called once a request's headers are in, before any body is read or any handler runs. Returns
 * true when it has dealt with the request: *ret is then what MHD gets (a queued response, after
 * which the body is discarded and the connection closed, or MHD_NO to close at once). */
typedef bool (*http_gate)(void *data, struct http_req *req, enum MHD_Result *ret);

/* The TCP listener's TLS material (PEM text that must outlive the daemon) and limits. */
struct http_tls {
	const char *cert_pem;
	const char *key_pem;
	const char *client_ca_pem; /* NULL: no client certificate is asked for */
	unsigned conn_limit;	   /* connections in all */
	unsigned per_ip_limit;	   /* connections from one address */
	unsigned idle_timeout_s;   /* idle connections are closed; suspended ones are exempt */
	size_t conn_memory;	   /* per-connection memory pool (headers, buffers) */
};

/* Binds a unix stream socket at path (mode 0600), replacing a stale one. */
int http_listen_unix(const char *path, int *ret_fd, struct err **err);
/* Binds a TCP socket to "ADDR:PORT" ("0.0.0.0:7443", "[::1]:7443", ":7443" for every address). */
int http_listen_tcp(const char *addr_port, int *ret_fd, struct err **err);
/* Checks "ADDR:PORT" as http_listen_tcp would, without binding. */
int http_check_tcp_addr(const char *addr_port, struct err **err);
struct MHD_Daemon *http_start(int listen_fd, http_handler h, void *data, struct err **err);
/* The same over TLS, with gate run before every request. One such daemon per process. */
struct MHD_Daemon *http_start_tls(int listen_fd, const struct http_tls *tls, http_gate gate, http_handler h,
				  void *data, struct err **err);
int http_epoll_fd(struct MHD_Daemon *d);
/* Runs MHD's work for ready sockets and returns the ms until MHD wants to run again (-1: none). */
long http_run(struct MHD_Daemon *d);

enum MHD_Result http_reply_json(struct http_req *r, unsigned status, json_t *doc); /* steals doc */
/* A JSON body already serialised (len bytes, a newline included); takes text (malloc'd). */
enum MHD_Result http_reply_json_text(struct http_req *r, unsigned status, char *text, size_t len);
enum MHD_Result http_reply_error(struct http_req *r, unsigned status, const char *field, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
/* 401 with "WWW-Authenticate: Bearer realm=..." (and error="invalid_token" when one was sent). */
enum MHD_Result http_reply_unauthorized(struct http_req *r, bool token_sent, const char *msg);
/* HTTP status for an -errno from the agent: ENOENT 404, EEXIST/ESTALE 409, EINVAL 422, ... */
unsigned http_status_for(int r);
const char *http_query(struct http_req *r, const char *key);

/* The largest body accepted for a request: HTTP_BODY_MAX, or HTTP_ASSIGNMENTS_BODY_MAX for
 * PUT /v1/assignments. */
size_t http_body_cap(const char *method, const char *url);
/* Whether a Content-Length header value announces more than max bytes (junk counts as too large). */
bool http_content_length_over(const char *value, size_t max);
/* The token of an "Authorization: Bearer TOKEN" value (scheme in any case), or NULL. */
const char *http_bearer_token(const char *header, size_t *ret_len);
/* Compares a presented token with the expected one in time that depends on the presented length
 * only, never on where the two first differ. */
bool http_token_equal(const char *given, size_t given_len, const char *want, size_t want_len);
