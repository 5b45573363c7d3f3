#pragma once
/* droverctl's HTTP client: one request to the agent over its unix socket or over TCP (TLS, token). */
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include "common/err.h"

#define CTL_DEFAULT_SOCKET "/run/drover/droverd.sock"
#define CTL_BODY_MAX (16u << 20)    /* cap on a buffered response */
#define CTL_ERRBODY_MAX (64u << 10) /* cap on an error body read while streaming */
#define CTL_TOKEN_MAX (64u << 10)

/* errno for "the agent could not be reached" (droverctl exits 3 on it). */
#define CTL_EUNREACH EHOSTUNREACH
/* errno for "the agent answered with an error status" (droverctl exits 1). */
#define CTL_EAGENT EREMOTEIO

struct ctl_conn_opts {
	const char *socket_path; /* used unless server is set */
	const char *server;	 /* http(s)://host:port */
	const char *token_file;
	const char *cacert;
	const char *cert;
	const char *key;
};

struct ctl_client {
	char *base;	   /* "http://localhost" or the server URL without a trailing '/' */
	char *socket_path; /* NULL over TCP */
	char *auth_header; /* "Authorization: Bearer ..." or NULL; never printed */
	const char *cacert, *cert, *key;
	const char *target; /* what "cannot reach droverd at %s" names */
};

struct ctl_reply {
	long status;
	char *body; /* NUL-terminated; for a stream only filled on a non-2xx status */
	size_t len;
};

/* ctl-url.c: whether url is http:// (not https://), and whether its host is a loopback address. */
bool ctl_url_is_plain_http(const char *url);
bool ctl_url_is_loopback(const char *url);

/* A bearer token over plain http:// is refused unless the host is loopback (then a warning). */
int ctl_client_init(struct ctl_client *c, const struct ctl_conn_opts *o, struct err **err);
void ctl_client_done(struct ctl_client *c);
void ctl_reply_done(struct ctl_reply *r);

/* METHOD path with an optional JSON body; the reply is buffered (capped at CTL_BODY_MAX).
 * Returns 0 whatever the HTTP status; transport failures are -CTL_EUNREACH. */
int ctl_http_do(const struct ctl_client *c, const char *method, const char *path, const char *body,
		struct ctl_reply *ret, struct err **err);
/* GET path, writing a 2xx body to out as it arrives (flushed per chunk); a non-2xx body is buffered
 * into ret instead. */
int ctl_http_stream(const struct ctl_client *c, const char *path, FILE *out, struct ctl_reply *ret,
		    struct err **err);
/* The same with any method and an optional JSON body. */
int ctl_http_stream_body(const struct ctl_client *c, const char *method, const char *path, const char *body,
			 FILE *out, struct ctl_reply *ret, struct err **err);
