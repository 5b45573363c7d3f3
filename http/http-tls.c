/* The TCP side of the API server: the listening socket and client-certificate enforcement.
 *
 * libmicrohttpd (built with GnuTLS in Debian) loads --tls-client-ca as the trust list but only
 * *requests* a client certificate and never verifies it. Its connection-start notification runs
 * after the GnuTLS session is made and before the first handshake byte is read, so there the
 * session is switched to GNUTLS_CERT_REQUIRE with automatic verification: a client with no
 * certificate, or one not signed by the CA, fails the TLS handshake and no request is ever parsed.
 * As a second guard every request re-checks the verified peer before any handler runs. */
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <gnutls/gnutls.h>

#include "http/http-internal.h"
#include "http/http.h"
#include "common/cleanup.h"

static gnutls_session_t session_of(struct MHD_Connection *conn)
{
	const union MHD_ConnectionInfo *ci =
	    MHD_get_connection_info(conn, MHD_CONNECTION_INFO_GNUTLS_SESSION);

	return ci ? (gnutls_session_t)ci->tls_session : NULL;
}

void http_tls_on_connection(void *cls, struct MHD_Connection *conn, void **socket_context,
			    enum MHD_ConnectionNotificationCode code)
{
	gnutls_session_t s;

	(void)cls;
	(void)socket_context;
	if (code != MHD_CONNECTION_NOTIFY_STARTED)
		return;
	s = session_of(conn);
	if (!s)
		return; /* no session: http_tls_peer_verified refuses every request on it */
	gnutls_certificate_server_set_request(s, GNUTLS_CERT_REQUIRE);
	gnutls_session_set_verify_cert(s, NULL, 0); /* chain to the trust list; no host name for clients */
}

bool http_tls_peer_verified(struct MHD_Connection *conn)
{
	gnutls_session_t s = session_of(conn);
	unsigned status = ~0u;

	if (!s || gnutls_certificate_type_get(s) != GNUTLS_CRT_X509)
		return false;
	if (gnutls_certificate_verify_peers2(s, &status) != GNUTLS_E_SUCCESS)
		return false;
	return status == 0;
}

/* "host:port" or "[v6]:port" into host (maybe empty) and port. */
static int split_addr(const char *s, char *host, size_t host_size, const char **ret_port)
{
	const char *colon, *h = s;
	size_t n;

	if (*s == '[') {
		const char *close = strchr(s, ']');
		if (!close || close[1] != ':')
			return -EINVAL;
		h = s + 1;
		n = (size_t)(close - h);
		colon = close + 1;
	} else {
		colon = strrchr(s, ':');
		if (!colon || memchr(s, ':', (size_t)(colon - s)))
			return -EINVAL; /* IPv6 addresses go in brackets */
		n = (size_t)(colon - s);
	}
	if (n >= host_size || !colon[1])
		return -EINVAL;
	memcpy(host, h, n);
	host[n] = '\0';
	*ret_port = colon + 1;
	return 0;
}

static int bind_listen(const struct addrinfo *ai, const char *addr_port, int *ret_fd, struct err **err)
{
	_cleanup_close_ int fd = -1;
	int one = 1;

	fd = socket(ai->ai_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0)
		return err_set(err, errno, "socket for '%s': %s", addr_port, strerror(errno));
	if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0)
		return err_set(err, errno, "SO_REUSEADDR on '%s': %s", addr_port, strerror(errno));
	if (bind(fd, ai->ai_addr, ai->ai_addrlen) < 0)
		return err_set(err, errno, "bind '%s': %s", addr_port, strerror(errno));
	if (listen(fd, 128) < 0)
		return err_set(err, errno, "listen on '%s': %s", addr_port, strerror(errno));
	*ret_fd = TAKE_FD(fd);
	return 0;
}

static bool dotted_quad(const char *s)
{
	int dots = 0;

	for (; *s; s++)
		dots += *s == '.';
	return dots == 3;
}

static int resolve(const char *addr_port, struct addrinfo **ret, struct err **err)
{
	struct addrinfo hints = {.ai_socktype = SOCK_STREAM,
				 .ai_flags = AI_NUMERICHOST | AI_NUMERICSERV | AI_PASSIVE};
	const char *port;
	char host[64];
	int r;

	if (split_addr(addr_port, host, sizeof(host), &port) < 0)
		return err_set(err, EINVAL, "'%s' is not ADDR:PORT (e.g. 0.0.0.0:7443 or [::]:7443)",
			       addr_port);
	/* getaddrinfo takes "1.2.3" as 1.2.0.3: only a full dotted quad (or an IPv6 address) */
	if (*host && !strchr(host, ':') && !dotted_quad(host))
		return err_set(err, EINVAL, "'%s': '%s' is not an IPv4 address like 0.0.0.0", addr_port,
			       host);
	*ret = NULL;
	r = getaddrinfo(*host ? host : NULL, port, &hints, ret);
	if (r == 0 && !*ret)
		r = EAI_NONAME;
	if (r != 0)
		return err_set(err, EINVAL, "'%s' is not ADDR:PORT with a numeric address: %s", addr_port,
			       gai_strerror(r));
	return 0;
}

int http_check_tcp_addr(const char *addr_port, struct err **err)
{
	struct addrinfo *ai = NULL;
	int r = resolve(addr_port, &ai, err);

	if (ai)
		freeaddrinfo(ai);
	return r;
}

int http_listen_tcp(const char *addr_port, int *ret_fd, struct err **err)
{
	struct addrinfo *ai = NULL;
	int r = resolve(addr_port, &ai, err);

	if (r < 0 || !ai)
		return r < 0 ? r : -EINVAL;
	r = bind_listen(ai, addr_port, ret_fd, err);
	freeaddrinfo(ai);
	return r;
}
