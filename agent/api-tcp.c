/* The agent API over TCP (--listen): always TLS, always authenticated (mutual TLS with
 * --tls-client-ca, a bearer token from --token-file, or both). It serves the same routes as the
 * unix socket from a second libmicrohttpd daemon whose epoll fd sits in the agent's one loop. */
#include <errno.h>
#include <stdbool.h>
#include <fcntl.h>
#include <netdb.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/stat.h>
#include <unistd.h>

#include "agent/api-internal.h"
#include "agent/api.h"
#include "agent/token-file.h"
#include "common/cleanup.h"
#include "common/fs.h"
#include "common/log.h"
#include "common/timeutil.h"

#define TLS_FILE_MAX (1024 * 1024)
#define TOKEN_SHORT 16
/* Limits for a listener that faces the network (SECURITY-REVIEW L5). The idle timeout is
 * --api-idle-timeout (60 s): long-polls and followed logs are suspended while they wait, and
 * libmicrohttpd exempts suspended connections from it. */
#define TCP_CONN_LIMIT 256
#define TCP_PER_IP_LIMIT 32
#define TCP_CONN_MEMORY (64 * 1024)
#define REFUSAL_LOG_EVERY_NS (10LL * 1000 * 1000 * 1000)

struct api_tcp {
	char *cert, *key, *client_ca; /* PEM text, kept for the daemon's life */
	char *token;		      /* NULL: no token required */
	size_t token_len, key_len;
	struct http_tls tls;
	struct MHD_Daemon *d;
	int listen_fd;
	int epfd;
	int64_t last_refusal_log; /* refusals are logged at most once per 10 s, with a count */
	unsigned refused_quiet;
};

static void material_free(struct api_tcp *t)
{
	if (t->key)
		explicit_bzero(t->key, t->key_len);
	t->token = token_file_free(t->token, t->token_len);
	free(t->cert);
	free(t->key);
	free(t->client_ca);
	t->cert = t->key = t->client_ca = NULL;
}

static int read_pem(const char *flag, const char *path, char **ret, size_t *ret_len, struct err **err)
{
	int r = fs_read_file(AT_FDCWD, path, TLS_FILE_MAX, ret, ret_len, err);

	if (r < 0)
		return err_wrap(err, "--%s '%s'", flag, path);
	if (!strstr(*ret, "-----BEGIN "))
		return err_set(err, EINVAL, "--%s '%s' holds no PEM data", flag, path);
	return 0;
}

static int read_token(struct api_tcp *t, const char *path, bool warn, struct err **err)
{
	size_t len;
	int r;

	if ((r = token_file_read("--token-file", path, &t->token, &t->token_len, err)) < 0)
		return r;
	len = strlen(t->token);
	if (warn && len < TOKEN_SHORT)
		log_warn("--token-file '%s' holds a token of %zu characters; use at least %d random ones",
			 path, len, TOKEN_SHORT);
	return 0;
}

static int check_flags(const struct agent_config *c, struct err **err)
{
	if (!c->tls_cert || !c->tls_key)
		return err_set(
		    err, EINVAL,
		    "--listen needs --tls-cert and --tls-key: the TCP API is only served over TLS");
	if (!c->tls_client_ca && !c->token_file)
		return err_set(
		    err, EINVAL,
		    "--listen needs --tls-client-ca (mutual TLS) or --token-file (bearer token), or both: "
		    "the TCP API never serves unauthenticated callers");
	return 0;
}

/* Checks the flags and reads every file named; what it reads is kept in t. */
static int load(const struct agent_config *c, struct api_tcp *t, bool warn, struct err **err)
{
	size_t len;
	int r;

	if ((r = check_flags(c, err)) < 0)
		return r;
	if (c->api_idle_timeout < 1)
		return err_set(err, EINVAL, "--api-idle-timeout must be at least 1 second");
	if (http_check_tcp_addr(c->listen, err) < 0)
		return err_wrap(err, "--listen");
	if ((r = read_pem("tls-cert", c->tls_cert, &t->cert, &len, err)) < 0 ||
	    (r = read_pem("tls-key", c->tls_key, &t->key, &t->key_len, err)) < 0)
		return r;
	if (c->tls_client_ca &&
	    (r = read_pem("tls-client-ca", c->tls_client_ca, &t->client_ca, &len, err)) < 0)
		return r;
	if (c->token_file && (r = read_token(t, c->token_file, warn, err)) < 0)
		return r;
	return 0;
}

int api_tcp_check(const struct agent_config *c, struct err **err)
{
	struct api_tcp t = {0};
	int r;

	if (!c->listen) {
		if (c->tls_cert || c->tls_key || c->tls_client_ca || c->token_file)
			log_warn("--tls-cert, --tls-key, --tls-client-ca and --token-file only apply with "
				 "--listen, "
				 "ignoring");
		return 0;
	}
	r = load(c, &t, true, err);
	material_free(&t);
	return r;
}

static void client_addr(struct MHD_Connection *conn, char *buf, size_t size)
{
	const union MHD_ConnectionInfo *ci =
	    MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
	const struct sockaddr *sa = ci ? ci->client_addr : NULL;
	socklen_t len =
	    sa && sa->sa_family == AF_INET6 ? sizeof(struct sockaddr_in6) : sizeof(struct sockaddr_in);

	if (!sa || getnameinfo(sa, len, buf, (socklen_t)size, NULL, 0, NI_NUMERICHOST) != 0)
		snprintf(buf, size, "?");
}

/* One line per 10 s at most, so a flood of bad requests cannot flood the journal. */
static void log_refusal(struct api_tcp *t, struct http_req *req, const char *why)
{
	int64_t now = time_mono_ns();
	char addr[64];

	if (t->last_refusal_log && now - t->last_refusal_log < REFUSAL_LOG_EVERY_NS) {
		t->refused_quiet++;
		return;
	}
	client_addr(req->conn, addr, sizeof(addr));
	log_notice("API: refused %s %s from %s over TCP: %s (%u more refusals not logged)", req->method,
		   req->url, addr, why, t->refused_quiet);
	t->last_refusal_log = now;
	t->refused_quiet = 0;
}

/* Runs before any handler and before the body is read. The token is never logged. */
static bool gate(void *data, struct http_req *req, enum MHD_Result *ret)
{
	struct api *api = data;
	struct api_tcp *t = api->tcp;
	const char *hdr, *tok;
	size_t len = 0;

	if (!t->token)
		return false; /* mutual TLS only: the handshake has authenticated the client */
	hdr = MHD_lookup_connection_value(req->conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_AUTHORIZATION);
	tok = http_bearer_token(hdr, &len);
	if (tok && http_token_equal(tok, len, t->token, strlen(t->token)))
		return false;
	log_refusal(t, req, tok ? "wrong bearer token" : "no bearer token");
	*ret = http_reply_unauthorized(req, tok != NULL,
				       tok ? "the bearer token is not valid" : "a bearer token is required");
	return true;
}

static void on_tcp(struct loop *l, int fd, uint32_t events, void *data)
{
	(void)l;
	(void)fd;
	(void)events;
	api_kick(data);
}

static int start_daemon(struct api *api, struct api_tcp *t, struct err **err)
{
	const char *addr = api->a->cfg->listen;
	int r;

	t->tls = (struct http_tls){.cert_pem = t->cert,
				   .key_pem = t->key,
				   .client_ca_pem = t->client_ca,
				   .conn_limit = TCP_CONN_LIMIT,
				   .per_ip_limit = TCP_PER_IP_LIMIT,
				   .idle_timeout_s = (unsigned)api->a->cfg->api_idle_timeout,
				   .conn_memory = TCP_CONN_MEMORY};
	if ((r = http_listen_tcp(addr, &t->listen_fd, err)) < 0)
		return r;
	t->d = http_start_tls(t->listen_fd, &t->tls, gate, api_route, api, err);
	if (!t->d)
		return -EIO;
	t->epfd = http_epoll_fd(t->d);
	if (t->epfd < 0 || loop_add_fd(api->a->loop, t->epfd, EPOLLIN, on_tcp, api) < 0) {
		t->epfd = -1;
		return err_set(err, EIO, "watch the TCP API's epoll fd");
	}
	log_info("serving the API on %s over TLS, authentication:%s%s", addr,
		 t->client_ca ? " client certificate" : "",
		 t->token ? (t->client_ca ? " and bearer token" : " bearer token") : "");
	return 0;
}

int api_tcp_start(struct api *api, struct err **err)
{
	struct api_tcp *t;
	int r;

	if (!api->a->cfg->listen)
		return 0;
	t = calloc(1, sizeof(*t));
	if (!t)
		return err_set(err, ENOMEM, "out of memory");
	t->listen_fd = t->epfd = -1;
	api->tcp = t;
	r = load(api->a->cfg, t, false, err); /* api_tcp_check has warned */
	if (r >= 0)
		r = start_daemon(api, t, err);
	if (r < 0)
		return err_wrap(err, "--listen %s", api->a->cfg->listen);
	return 0;
}

long api_tcp_run(struct api *api)
{
	return api->tcp && api->tcp->d ? http_run(api->tcp->d) : -1;
}

void api_tcp_free(struct api *api)
{
	struct api_tcp *t = api->tcp;

	if (!t)
		return;
	if (t->epfd >= 0)
		loop_del_fd(api->a->loop, t->epfd);
	if (t->d)
		MHD_stop_daemon(t->d);
	if (t->listen_fd >= 0)
		close(t->listen_fd);
	material_free(t);
	free(t);
	api->tcp = NULL;
}
