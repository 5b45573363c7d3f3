#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "http/http-internal.h"
#include "http/http.h"
#include "common/cleanup.h"

int http_listen_unix(const char *path, int *ret_fd, struct err **err)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	_cleanup_close_ int fd = -1;
	mode_t old;
	int r;

	if (strlen(path) >= sizeof(sa.sun_path))
		return err_set(err, ENAMETOOLONG, "socket path '%s' is too long", path);
	strcpy(sa.sun_path, path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0)
		return err_set(err, errno, "socket");
	(void)unlink(path); /* a stale socket from a previous run; the state-dir lock rules out a live one */
	old = umask(0177);
	r = bind(fd, (struct sockaddr *)&sa, sizeof(sa));
	umask(old);
	if (r < 0)
		return err_set(err, errno, "bind '%s'", path);
	if (chmod(path, 0600) < 0)
		return err_set(err, errno, "chmod '%s'", path);
	if (listen(fd, 128) < 0)
		return err_set(err, errno, "listen on '%s'", path);
	*ret_fd = TAKE_FD(fd);
	return 0;
}

struct http_ctx {
	http_handler h;
	http_gate gate; /* NULL on the unix socket */
	bool client_ca; /* TLS with client certificates: each request's peer is checked again */
	void *data;
};

/* One unix-socket daemon and one TCP daemon per process. */
static struct http_ctx unix_ctx, tls_ctx;

/* First call for a request: headers are in, no body yet. Gate, then the body cap by Content-Length. */
static enum MHD_Result on_headers(struct http_ctx *c, struct http_req *req)
{
	const char *cl =
	    MHD_lookup_connection_value(req->conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
	enum MHD_Result ret;

	if (c->client_ca && !http_tls_peer_verified(req->conn))
		return MHD_NO; /* defence in depth: the handshake already requires a verified certificate */
	if (c->gate && c->gate(c->data, req, &ret))
		return ret;
	req->body_max = http_body_cap(req->method, req->url);
	/* answered before the body is read: MHD then discards the body and closes the connection */
	if (cl && http_content_length_over(cl, req->body_max))
		return http_reply_error(req, 413, "", "request body is larger than %zu bytes", req->body_max);
	return MHD_YES;
}

static enum MHD_Result on_upload(struct http_req *req, const char *upload, size_t *upload_size)
{
	char *nb;

	if (req->body_len + *upload_size > req->body_max)
		return MHD_NO; /* a chunked body past the cap: MHD cannot answer mid-body, so close */
	nb = realloc(req->body, req->body_len + *upload_size + 1);
	if (!nb)
		return MHD_NO;
	req->body = nb;
	memcpy(req->body + req->body_len, upload, *upload_size);
	req->body_len += *upload_size;
	req->body[req->body_len] = '\0';
	*upload_size = 0;
	return MHD_YES;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url, const char *method,
				  const char *version, const char *upload, size_t *upload_size,
				  void **con_cls)
{
	struct http_ctx *c = cls;
	struct http_req *req = *con_cls;

	(void)version;
	if (!req) {
		req = calloc(1, sizeof(*req));
		if (!req)
			return MHD_NO;
		req->conn = conn;
		req->method = method;
		req->url = url;
		*con_cls = req;
		return on_headers(c, req);
	}
	if (*upload_size > 0)
		return on_upload(req, upload, upload_size);
	return c->h(c->data, req);
}

static void on_done(void *cls, struct MHD_Connection *conn, void **con_cls, enum MHD_RequestTerminationCode t)
{
	struct http_req *req = *con_cls;

	(void)cls;
	(void)conn;
	(void)t;
	if (req) {
		free(req->body);
		free(req);
		*con_cls = NULL;
	}
}

struct MHD_Daemon *http_start(int listen_fd, http_handler h, void *data, struct err **err)
{
	struct MHD_Daemon *d;

	unix_ctx = (struct http_ctx){.h = h, .data = data};
	d = MHD_start_daemon(MHD_USE_EPOLL | MHD_ALLOW_SUSPEND_RESUME | MHD_USE_ITC, 0, NULL, NULL,
			     on_request, &unix_ctx, MHD_OPTION_LISTEN_SOCKET, listen_fd,
			     MHD_OPTION_NOTIFY_COMPLETED, on_done, NULL, MHD_OPTION_CONNECTION_TIMEOUT,
			     (unsigned)0, MHD_OPTION_CONNECTION_LIMIT, (unsigned)512, MHD_OPTION_END);
	if (!d)
		err_set(err, EIO, "libmicrohttpd refused to start");
	return d;
}

/* Client certificates: MHD only asks for one (GNUTLS_CERT_REQUEST) and never checks it, so the
 * TLS session of every new connection is told, before its handshake starts, to require one and to
 * verify it against the trust list (--tls-client-ca): a client without a certificate signed by that
 * CA fails the handshake itself. See http-tls.c. */
struct MHD_Daemon *http_start_tls(int listen_fd, const struct http_tls *tls, http_gate gate, http_handler h,
				  void *data, struct err **err)
{
	struct MHD_OptionItem opts[] = {
	    {MHD_OPTION_LISTEN_SOCKET, listen_fd, NULL},
	    {MHD_OPTION_NOTIFY_COMPLETED, (intptr_t)on_done, NULL}, /* two pointers: function, closure */
	    {MHD_OPTION_CONNECTION_TIMEOUT, tls->idle_timeout_s, NULL},
	    {MHD_OPTION_CONNECTION_LIMIT, tls->conn_limit, NULL},
	    {MHD_OPTION_PER_IP_CONNECTION_LIMIT, tls->per_ip_limit, NULL},
	    {MHD_OPTION_CONNECTION_MEMORY_LIMIT, (intptr_t)tls->conn_memory, NULL},
	    {MHD_OPTION_HTTPS_MEM_CERT, 0, (void *)tls->cert_pem},
	    {MHD_OPTION_HTTPS_MEM_KEY, 0, (void *)tls->key_pem},
	    {MHD_OPTION_HTTPS_PRIORITIES, 0, (void *)HTTP_TLS_PRIORITIES},
	    {MHD_OPTION_END, 0, NULL}, /* client CA slots, filled below */
	    {MHD_OPTION_END, 0, NULL},
	    {MHD_OPTION_END, 0, NULL},
	};
	struct MHD_Daemon *d;

	tls_ctx =
	    (struct http_ctx){.h = h, .gate = gate, .client_ca = tls->client_ca_pem != NULL, .data = data};
	if (tls->client_ca_pem) {
		opts[9] = (struct MHD_OptionItem){MHD_OPTION_HTTPS_MEM_TRUST, 0, (void *)tls->client_ca_pem};
		opts[10] = (struct MHD_OptionItem){MHD_OPTION_NOTIFY_CONNECTION,
						   (intptr_t)http_tls_on_connection, NULL};
	}
	d = MHD_start_daemon(MHD_USE_EPOLL | MHD_ALLOW_SUSPEND_RESUME | MHD_USE_ITC | MHD_USE_TLS, 0, NULL,
			     NULL, on_request, &tls_ctx, MHD_OPTION_ARRAY, opts, MHD_OPTION_END);
	if (!d)
		err_set(err, EIO,
			"libmicrohttpd refused to start TLS (is the certificate or key malformed?)");
	return d;
}

int http_epoll_fd(struct MHD_Daemon *d)
{
	const union MHD_DaemonInfo *info = MHD_get_daemon_info(d, MHD_DAEMON_INFO_EPOLL_FD);

	return info ? info->epoll_fd : -1;
}

long http_run(struct MHD_Daemon *d)
{
	MHD_UNSIGNED_LONG_LONG ms;

	(void)MHD_run(d); /* failures are per connection and handled inside MHD */
	if (MHD_get_timeout(d, &ms) != MHD_YES)
		return -1;
	return ms > 60000 ? 60000 : (long)ms;
}

enum MHD_Result http_reply_json_text(struct http_req *r, unsigned status, char *text, size_t len)
{
	struct MHD_Response *resp;
	enum MHD_Result ret;

	if (!text)
		return MHD_NO;
	resp = MHD_create_response_from_buffer(len, text, MHD_RESPMEM_MUST_FREE);
	if (!resp) {
		free(text);
		return MHD_NO;
	}
	(void)MHD_add_response_header(resp, "Content-Type", "application/json");
	ret = MHD_queue_response(r->conn, status, resp);
	MHD_destroy_response(resp);
	return ret;
}

enum MHD_Result http_reply_json(struct http_req *r, unsigned status, json_t *doc)
{
	char *text = doc ? json_dumps(doc, JSON_COMPACT) : NULL;
	size_t len;

	json_decref(doc);
	if (!text)
		return MHD_NO;
	len = strlen(text);
	{
		char *t2 = realloc(text, len + 2);
		if (t2) {
			text = t2;
			text[len++] = '\n';
		}
	}
	return http_reply_json_text(r, status, text, len);
}

enum MHD_Result http_reply_error(struct http_req *r, unsigned status, const char *field, const char *fmt, ...)
{
	char msg[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	return http_reply_json(r, status, json_pack("{s:s, s:s}", "error", msg, "field", field ? field : ""));
}

enum MHD_Result http_reply_unauthorized(struct http_req *r, bool token_sent, const char *msg)
{
	json_t *doc = json_pack("{s:s, s:s}", "error", msg, "field", "");
	char *text = doc ? json_dumps(doc, JSON_COMPACT) : NULL;
	struct MHD_Response *resp;
	enum MHD_Result ret;

	json_decref(doc);
	if (!text)
		return MHD_NO;
	resp = MHD_create_response_from_buffer(strlen(text), text, MHD_RESPMEM_MUST_FREE);
	if (!resp) {
		free(text);
		return MHD_NO;
	}
	(void)MHD_add_response_header(resp, "Content-Type", "application/json");
	(void)MHD_add_response_header(resp, MHD_HTTP_HEADER_WWW_AUTHENTICATE,
				      token_sent ? "Bearer realm=\"droverd\", error=\"invalid_token\""
						 : "Bearer realm=\"droverd\"");
	ret = MHD_queue_response(r->conn, 401, resp);
	MHD_destroy_response(resp);
	return ret;
}

unsigned http_status_for(int r)
{
	switch (-r) {
	case ENOENT:
		return 404;
	case EEXIST:
	case ESTALE:
	case EADDRINUSE:
	case EPERM:
		return 409;
	case EINVAL:
	case ERANGE:
	case ENOTSUP:
	case EFBIG:
	case ENOSPC: /* admission: the node has no room for the spec */
		return 422;
	default:
		return 500;
	}
}

const char *http_query(struct http_req *r, const char *key)
{
	return MHD_lookup_connection_value(r->conn, MHD_GET_ARGUMENT_KIND, key);
}
