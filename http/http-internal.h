#pragma once
/* http/ internals shared by http.c and http-tls.c. */
#include <stdbool.h>

#include <microhttpd.h>

/* TLS 1.2 and 1.3 only. */
#define HTTP_TLS_PRIORITIES "NORMAL:-VERS-ALL:+VERS-TLS1.3:+VERS-TLS1.2"

/* MHD_OPTION_NOTIFY_CONNECTION callback: on a new TLS connection, before its handshake, makes the
 * session require a client certificate and verify it against the daemon's trust list. */
void http_tls_on_connection(void *cls, struct MHD_Connection *conn, void **socket_context,
			    enum MHD_ConnectionNotificationCode code);
/* Whether the connection's peer presented a certificate that verifies against the trust list. */
bool http_tls_peer_verified(struct MHD_Connection *conn);
