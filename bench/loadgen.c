/* Open-loop HTTP load generator for the colocation bench (bench/coloc.sh).
 *
 *   loadgen HOST PORT PATH RATE SECONDS
 *
 * Request k is due at start + k/RATE. Each request gets its own connection (the servers under test
 * close after one response), so a slow server never slows the schedule: its latency is measured
 * from the due time, and a send that could not start on time because the generator itself fell
 * behind counts that delay too. Prints one line: "sent ok errors p50 p99 p999 max" (ms). A request
 * is an error if the connection fails or the status is not 200; those still open 5 s after the
 * last one was due count as errors too. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define TIMEOUT_NS 5000000000LL
#define MAX_INFLIGHT 4096

struct req {
	int fd;
	int64_t due;
	size_t sent, got;
	char buf[512];
};

static int64_t now_ns(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (int64_t)t.tv_sec * 1000000000LL + t.tv_nsec;
}

static int cmp64(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;

	return (x > y) - (x < y);
}

static double pct_ms(const int64_t *v, size_t n, double p)
{
	size_t k;

	if (!n)
		return 0;
	k = (size_t)(p * (double)n);
	if (k >= n)
		k = n - 1;
	return (double)v[k] / 1e6;
}

static char request[256];
static size_t request_len;
static struct sockaddr_in addr;
static int64_t *lat;
static size_t n_ok, n_err;

static void finish(int ep, struct req *r, bool ok)
{
	epoll_ctl(ep, EPOLL_CTL_DEL, r->fd, NULL);
	close(r->fd);
	if (ok && r->got >= 12 && strncmp(r->buf, "HTTP/1.", 7) == 0 && strncmp(r->buf + 9, "200", 3) == 0)
		lat[n_ok++] = now_ns() - r->due;
	else
		n_err++;
	free(r);
}

static void start(int ep, int64_t due)
{
	struct req *r = calloc(1, sizeof(*r));
	struct epoll_event ev = {.events = EPOLLOUT | EPOLLIN | EPOLLRDHUP};
	int one = 1;

	if (!r) {
		n_err++;
		return;
	}
	r->due = due;
	r->fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (r->fd < 0) {
		n_err++;
		free(r);
		return;
	}
	setsockopt(r->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	if (connect(r->fd, (struct sockaddr *)&addr, sizeof(addr)) < 0 && errno != EINPROGRESS) {
		close(r->fd);
		n_err++;
		free(r);
		return;
	}
	ev.data.ptr = r;
	epoll_ctl(ep, EPOLL_CTL_ADD, r->fd, &ev);
}

static void step(int ep, struct req *r, uint32_t events)
{
	if (events & EPOLLERR) {
		finish(ep, r, false);
		return;
	}
	if (r->sent < request_len && (events & EPOLLOUT)) {
		ssize_t w = send(r->fd, request + r->sent, request_len - r->sent, MSG_NOSIGNAL);

		if (w < 0 && errno != EAGAIN) {
			finish(ep, r, false);
			return;
		}
		if (w > 0)
			r->sent += (size_t)w;
		if (r->sent == request_len) {
			struct epoll_event ev = {.events = EPOLLIN | EPOLLRDHUP, .data.ptr = r};

			epoll_ctl(ep, EPOLL_CTL_MOD, r->fd, &ev);
		}
	}
	if (events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP)) {
		for (;;) {
			char sink[4096];
			size_t room = sizeof(r->buf) - 1 - r->got;
			ssize_t n =
			    room ? read(r->fd, r->buf + r->got, room) : read(r->fd, sink, sizeof(sink));

			if (n == 0) { /* the server closes after its answer */
				finish(ep, r, true);
				return;
			}
			if (n < 0) {
				if (errno == EAGAIN)
					break;
				finish(ep, r, r->got > 0);
				return;
			}
			if (room)
				r->got += (size_t)n;
		}
	}
}

int main(int argc, char **argv)
{
	struct epoll_event evs[256];
	struct rlimit rl = {65536, 65536};
	size_t n_live = 0, total, next = 0;
	double rate;
	int64_t t0, period;
	int ep;

	if (argc != 6) {
		fprintf(stderr, "usage: %s HOST PORT PATH RATE SECONDS\n", argv[0]);
		return 2;
	}
	rate = atof(argv[4]);
	total = (size_t)(rate * atof(argv[5]));
	if (rate <= 0 || !total || inet_pton(AF_INET, argv[1], &addr.sin_addr) != 1) {
		fprintf(stderr, "loadgen: bad host, rate or duration\n");
		return 2;
	}
	addr.sin_family = AF_INET;
	addr.sin_port = htons((uint16_t)atoi(argv[2]));
	request_len =
	    (size_t)snprintf(request, sizeof(request),
			     "GET %s HTTP/1.0\r\nHost: %s\r\nConnection: close\r\n\r\n", argv[3], argv[1]);
	setrlimit(RLIMIT_NOFILE, &rl);
	lat = calloc(total, sizeof(*lat));
	ep = epoll_create1(EPOLL_CLOEXEC);
	if (!lat || ep < 0) {
		perror("loadgen");
		return 1;
	}
	period = (int64_t)(1e9 / rate);
	t0 = now_ns() + 10000000;
	while (next < total || n_live) {
		int64_t now = now_ns(), wait_ms;
		int n;

		/* everything due by now starts now (late starts still count from their due time) */
		while (next < total && t0 + (int64_t)next * period <= now && n_live < MAX_INFLIGHT) {
			start(ep, t0 + (int64_t)next * period);
			next++;
		}
		wait_ms = next < total ? (t0 + (int64_t)next * period - now) / 1000000 : 50;
		n = epoll_wait(ep, evs, 256, (int)(wait_ms < 0 ? 0 : wait_ms));
		for (int k = 0; k < n; k++)
			step(ep, evs[k].data.ptr, evs[k].events);
		n_live = (size_t)(next - n_ok - n_err);
		if (next >= total && n_live && now - (t0 + (int64_t)(total - 1) * period) > TIMEOUT_NS)
			break; /* the rest never answered */
	}
	n_err += n_live;
	qsort(lat, n_ok, sizeof(*lat), cmp64);
	printf("%zu %zu %zu %.3f %.3f %.3f %.3f\n", total, n_ok, n_err, pct_ms(lat, n_ok, 0.50),
	       pct_ms(lat, n_ok, 0.99), pct_ms(lat, n_ok, 0.999), n_ok ? (double)lat[n_ok - 1] / 1e6 : 0.0);
	return 0;
}
