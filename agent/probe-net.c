/* http and tcp probes: a non-blocking connect watched by the agent's loop, no thread or process per
 * probe. The socket is closed with SO_LINGER 0 (a reset, no TIME_WAIT left behind); an http probe
 * reads only as far as the status line. The instance is reached where it listens: at its bridge
 * address in bridge mode and at 127.0.0.1 in mode none, both from inside its own network namespace
 * (net_ns_socket makes the socket there; the connection then never crosses the veth, the bridge,
 * the host's netfilter or connection tracking, which cost more than the rest of a probe), and at
 * 127.0.0.1 on the host in host mode. */
#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "agent/agent.h"
#include "agent/instance.h"
#include "agent/probe.h"
#include "net/net.h"

#define SOCK_FLAGS (SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC)

/* "Connection refused" -> "connection refused" */
static const char *errtext(int e, char *buf, size_t size)
{
	snprintf(buf, size, "%s", strerror(e));
	buf[0] = (char)tolower((unsigned char)buf[0]);
	return buf;
}

static int target(struct probe_state *ps, struct sockaddr_in *sa)
{
	const struct instance *i = ps->i;
	const char *ip = i->spec->net == SPEC_NET_BRIDGE ? i->ip : "127.0.0.1";

	memset(sa, 0, sizeof(*sa));
	sa->sin_family = AF_INET;
	sa->sin_port = htons(i->spec->probes[ps->role].port);
	if (!ip || inet_pton(AF_INET, ip, &sa->sin_addr) != 1)
		return -EADDRNOTAVAIL;
	snprintf(ps->addr, sizeof(ps->addr), "%s:%u", ip, (unsigned)i->spec->probes[ps->role].port);
	return 0;
}

void probe_net_cancel(struct probe_state *ps)
{
	if (ps->fd < 0)
		return;
	loop_del_fd(ps->i->a->loop, ps->fd);
	close(ps->fd); /* SO_LINGER 0: a reset, no TIME_WAIT */
	ps->fd = -1;
}

enum step { STEP_ENDED, STEP_WANT_OUT, STEP_WANT_IN };

static void on_io(struct loop *l, int fd, uint32_t events, void *data);

/* Sends (the rest of) the request. Before the connection is known to be up, a failure is the
 * connect's: a send on a socket whose connect failed returns that error, one still connecting
 * EAGAIN. */
static enum step send_request(struct probe_state *ps)
{
	const struct spec_probe *p = &ps->i->spec->probes[ps->role];
	char req[PROBE_HTTP_READ_MAX * 3], e[64];
	int len;
	ssize_t n;

	len = snprintf(req, sizeof(req),
		       "GET %s HTTP/1.1\r\nHost: %s\r\nUser-Agent: drover-probe/1\r\nAccept: */*\r\n"
		       "Connection: close\r\n\r\n",
		       p->path, ps->addr);
	if (len < 0 || (size_t)len >= sizeof(req)) {
		probe_done(ps, false, "request too long");
		return STEP_ENDED;
	}
	n = send(ps->fd, req + ps->sent, (size_t)len - ps->sent, MSG_NOSIGNAL | MSG_DONTWAIT);
	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return STEP_WANT_OUT;
	if (n < 0) {
		probe_done(ps, false, "%s %s: %s", ps->connected ? "send" : "connect", ps->addr,
			   errtext(errno, e, sizeof(e)));
		return STEP_ENDED;
	}
	ps->connected = true;
	ps->sent += (size_t)n;
	return ps->sent == (size_t)len ? STEP_WANT_IN : STEP_WANT_OUT;
}

/* An http probe's next step: send what it can, then watch for room to send the rest or for the
 * response. The socket joins the loop only here, with what it waits for, so a probe whose
 * connection and request went through at once costs one wake-up: the response's. */
static void http_step(struct probe_state *ps, bool first)
{
	enum step st = send_request(ps);
	uint32_t ev = st == STEP_WANT_IN ? EPOLLIN : EPOLLOUT;
	int r;

	if (st == STEP_ENDED)
		return;
	if (first)
		r = loop_add_fd(ps->i->a->loop, ps->fd, ev, on_io, ps);
	else if (st == STEP_WANT_IN && !ps->want_in)
		r = loop_mod_fd(ps->i->a->loop, ps->fd, ev);
	else
		r = 0;
	ps->want_in = st == STEP_WANT_IN;
	if (r < 0)
		probe_done(ps, false, "watch %s", ps->addr);
}

static void read_response(struct probe_state *ps)
{
	char e[64];
	ssize_t n;
	int code = 0, r;

	n = recv(ps->fd, ps->buf + ps->got, sizeof(ps->buf) - ps->got, MSG_DONTWAIT);
	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return;
	if (n < 0) {
		probe_done(ps, false, "read %s: %s", ps->addr, errtext(errno, e, sizeof(e)));
		return;
	}
	if (n == 0) {
		probe_done(ps, false, "%s: connection closed before a response", ps->addr);
		return;
	}
	ps->got += (size_t)n;
	r = probe_http_status(ps->buf, ps->got, &code);
	if (r > 0)
		probe_done(ps, probe_http_ok(code), "HTTP %d", code);
	else if (r < 0)
		probe_done(ps, false, "%s: not an HTTP response", ps->addr);
	else if (ps->got == sizeof(ps->buf))
		probe_done(ps, false, "%s: no HTTP status line in %zu bytes", ps->addr, sizeof(ps->buf));
}

/* A tcp probe's connection: up, failed, or still going (false). */
static bool tcp_connected(struct probe_state *ps)
{
	socklen_t len = sizeof(int);
	int soerr = 0;
	char e[64];

	if (getsockopt(ps->fd, SOL_SOCKET, SO_ERROR, &soerr, &len) < 0)
		soerr = errno;
	if (soerr == EINPROGRESS || soerr == EALREADY)
		return false;
	if (soerr != 0)
		probe_done(ps, false, "connect %s: %s", ps->addr, errtext(soerr, e, sizeof(e)));
	else
		probe_done(ps, true, "connected to %s", ps->addr);
	return true;
}

static void on_io(struct loop *l, int fd, uint32_t events, void *data)
{
	struct probe_state *ps = data;

	(void)l;
	(void)fd;
	(void)events;
	if (ps->i->spec->probes[ps->role].kind == SPEC_PROBE_TCP)
		(void)tcp_connected(ps);
	else if (!ps->want_in)
		http_step(ps, false);
	else
		read_response(ps);
}

/* The instance's network namespace, opened at its first probe and kept while its container runs
 * (an open of the namespace's file cost as much as the rest of the socket's set-up). In mode none it
 * is the container's own, found by its pid: held open, it stays the one that pid had when opened. */
static int open_ns(struct probe_state *ps)
{
	const struct instance *i = ps->i;
	char path[64];

	if (ps->nsfd >= 0)
		return 0;
	if (i->spec->net == SPEC_NET_BRIDGE) {
		if (!i->netns_path)
			return -EADDRNOTAVAIL;
		ps->nsfd = open(i->netns_path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	} else {
		if (i->pid <= 0)
			return -ESRCH;
		snprintf(path, sizeof(path), "/proc/%d/ns/net", (int)i->pid);
		ps->nsfd = open(path, O_RDONLY | O_CLOEXEC);
	}
	return ps->nsfd < 0 ? -errno : 0;
}

void probe_net_release(struct probe_state *ps)
{
	if (ps->nsfd >= 0)
		close(ps->nsfd);
	ps->nsfd = -1;
}

static int open_socket(struct probe_state *ps)
{
	struct linger lg = {.l_onoff = 1, .l_linger = 0};
	int fd;

	if (ps->i->spec->net == SPEC_NET_HOST) {
		fd = socket(AF_INET, SOCK_FLAGS, 0);
		if (fd < 0)
			fd = -errno;
	} else if ((fd = open_ns(ps)) >= 0) {
		fd = net_ns_socket(ps->nsfd, AF_INET, SOCK_FLAGS);
	}
	if (fd < 0)
		return fd;
	if (setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg)) < 0) {
		int r = -errno;
		close(fd);
		return r;
	}
	return fd;
}

int probe_net_begin(struct probe_state *ps)
{
	struct sockaddr_in sa;
	char e[64];
	int fd;

	ps->sent = ps->got = 0;
	ps->want_in = false;
	if (target(ps, &sa) < 0) {
		snprintf(ps->addr, sizeof(ps->addr), "?:%u", (unsigned)ps->i->spec->probes[ps->role].port);
		probe_done(ps, false, "the instance has no address yet");
		return -EADDRNOTAVAIL;
	}
	fd = open_socket(ps);
	if (fd < 0) {
		probe_done(ps, false, "socket for %s: %s", ps->addr, errtext(-fd, e, sizeof(e)));
		return fd;
	}
	ps->fd = fd; /* closed by probe_net_cancel when the probe ends */
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0) {
		ps->connected = true;
	} else if (errno != EINPROGRESS) {
		probe_done(ps, false, "connect %s: %s", ps->addr, errtext(errno, e, sizeof(e)));
		return -EIO;
	}
	if (ps->i->spec->probes[ps->role].kind == SPEC_PROBE_HTTP) {
		http_step(ps, true);
		return 0;
	}
	/* tcp: over a namespace's loopback the handshake is often done by the time connect returns */
	if (ps->connected) {
		probe_done(ps, true, "connected to %s", ps->addr);
		return 0;
	}
	if (tcp_connected(ps))
		return 0; /* a result either way */
	if (loop_add_fd(ps->i->a->loop, fd, EPOLLOUT, on_io, ps) < 0) {
		probe_done(ps, false, "watch %s", ps->addr);
		return -EIO;
	}
	return 0;
}
