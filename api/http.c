#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "api/http.h"
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
	void *data;
};

static struct http_ctx the_ctx; /* one API daemon per process */

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url, const char *method,
				  const char *version, const char *upload, size_t *upload_size, void **con_cls)
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
		req->body_max = strcmp(url, HTTP_SET_PATH) == 0 ? HTTP_SET_BODY_MAX : HTTP_BODY_MAX;
		*con_cls = req;
		return MHD_YES;
	}
	if (*upload_size > 0) {
		if (!req->too_large && req->body_len + *upload_size <= req->body_max) {
			char *nb = realloc(req->body, req->body_len + *upload_size + 1);
			if (!nb)
				return MHD_NO;
			req->body = nb;
			memcpy(req->body + req->body_len, upload, *upload_size);
			req->body_len += *upload_size;
			req->body[req->body_len] = '\0';
		} else {
			req->too_large = true;
		}
		*upload_size = 0;
		return MHD_YES;
	}
	if (req->too_large)
		return http_reply_error(req, 413, "", "request body is larger than %zu bytes", req->body_max);
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

	the_ctx.h = h;
	the_ctx.data = data;
	d = MHD_start_daemon(MHD_USE_EPOLL | MHD_ALLOW_SUSPEND_RESUME | MHD_USE_ITC, 0, NULL, NULL, on_request,
			     &the_ctx, MHD_OPTION_LISTEN_SOCKET, listen_fd, MHD_OPTION_NOTIFY_COMPLETED, on_done,
			     NULL, MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)0, MHD_OPTION_CONNECTION_LIMIT,
			     (unsigned)512, MHD_OPTION_END);
	if (!d)
		err_set(err, EIO, "libmicrohttpd refused to start");
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

enum MHD_Result http_reply_json(struct http_req *r, unsigned status, json_t *doc)
{
	char *text = doc ? json_dumps(doc, JSON_COMPACT) : NULL;
	struct MHD_Response *resp;
	enum MHD_Result ret;
	size_t len;

	json_decref(doc);
	if (!text)
		return MHD_NO;
	len = strlen(text);
	text[len] = '\0';
	{
		char *t2 = realloc(text, len + 2);
		if (t2) {
			text = t2;
			text[len++] = '\n';
		}
	}
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

enum MHD_Result http_reply_error(struct http_req *r, unsigned status, const char *field, const char *fmt, ...)
{
	char msg[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	return http_reply_json(r, status, json_pack("{s:s, s:s}", "error", msg, "field", field ? field : ""));
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
		return 422;
	default:
		return 500;
	}
}

const char *http_query(struct http_req *r, const char *key)
{
	return MHD_lookup_connection_value(r->conn, MHD_GET_ARGUMENT_KIND, key);
}
