/* http and tcp probes: a non-blocking connect watched by the agent's loop, no thread or process per
 * probe. The socket is closed with SO_LINGER 0 (a reset, no TIME_WAIT left behind); an http probe
 * reads only as far as the status line. The instance is reached at its bridge address, at 127.0.0.1
 * in host mode, and at 127.0.0.1 inside its own namespace in mode none (the socket is made there by
 * a short helper thread and used from the loop like any other). */
#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "agent/agent.h"
#include "agent/instance.h"
#include "agent/probe.h"

#define SOCK_FLAGS (SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC)

struct ns_socket {
	pid_t pid;
	int fd;
	int err;
};

/* setns changes only the calling thread's network namespace: this thread enters the container's,
 * makes the socket there and ends; the socket stays in that namespace. */
static void *ns_socket_thread(void *arg)
{
	struct ns_socket *ns = arg;
	char path[64];
	int nsfd;

	snprintf(path, sizeof(path), "/proc/%d/ns/net", (int)ns->pid);
	nsfd = open(path, O_RDONLY | O_CLOEXEC);
	if (nsfd < 0) {
		ns->err = errno;
		return NULL;
	}
	if (setns(nsfd, CLONE_NEWNET) == 0)
		ns->fd = socket(AF_INET, SOCK_FLAGS, 0);
	if (ns->fd < 0)
		ns->err = errno; /* of setns, or of socket */
	close(nsfd);
	return NULL;
}

static int socket_in_netns(pid_t pid)
{
	struct ns_socket ns = {.pid = pid, .fd = -1, .err = 0};
	pthread_t t;
	int r;

	r = pthread_create(&t, NULL, ns_socket_thread, &ns);
	if (r != 0)
		return -r;
	(void)pthread_join(t, NULL); /* only fails for a bad thread id */
	return ns.fd >= 0 ? ns.fd : -(ns.err ? ns.err : EIO);
}

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

static void send_request(struct probe_state *ps)
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
		return;
	}
	n = send(ps->fd, req + ps->sent, (size_t)len - ps->sent, MSG_NOSIGNAL | MSG_DONTWAIT);
	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return; /* EPOLLOUT again */
	if (n < 0) {
		probe_done(ps, false, "send %s: %s", ps->addr, errtext(errno, e, sizeof(e)));
		return;
	}
	ps->sent += (size_t)n;
	if (ps->sent == (size_t)len && loop_mod_fd(ps->i->a->loop, ps->fd, EPOLLIN) < 0)
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

static void connected(struct probe_state *ps)
{
	ps->connected = true;
	if (ps->i->spec->probes[ps->role].kind == SPEC_PROBE_TCP)
		probe_done(ps, true, "connected to %s", ps->addr);
	else
		send_request(ps);
}

static void on_io(struct loop *l, int fd, uint32_t events, void *data)
{
	struct probe_state *ps = data;
	socklen_t len = sizeof(int);
	int soerr = 0;
	char e[64];

	(void)l;
	(void)events;
	if (!ps->connected) {
		if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &len) < 0)
			soerr = errno;
		if (soerr == EINPROGRESS || soerr == EALREADY)
			return;
		if (soerr != 0)
			probe_done(ps, false, "connect %s: %s", ps->addr, errtext(soerr, e, sizeof(e)));
		else
			connected(ps);
		return;
	}
	if (ps->sent == 0 || (events & EPOLLOUT))
		send_request(ps);
	else
		read_response(ps);
}

static int open_socket(struct probe_state *ps)
{
	struct linger lg = {.l_onoff = 1, .l_linger = 0};
	int fd;

	if (ps->i->spec->net == SPEC_NET_NONE)
		fd = ps->i->pid > 0 ? socket_in_netns(ps->i->pid) : -ESRCH;
	else if ((fd = socket(AF_INET, SOCK_FLAGS, 0)) < 0)
		fd = -errno;
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
	ps->fd = fd;
	if (loop_add_fd(ps->i->a->loop, fd, EPOLLOUT, on_io, ps) < 0) {
		close(fd);
		ps->fd = -1;
		probe_done(ps, false, "watch %s", ps->addr);
		return -EIO;
	}
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0) {
		connected(ps);
		return 0;
	}
	if (errno != EINPROGRESS) {
		probe_done(ps, false, "connect %s: %s", ps->addr, errtext(errno, e, sizeof(e)));
		return -EIO;
	}
	return 0;
}
