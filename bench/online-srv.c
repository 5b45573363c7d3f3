/* A light online service for the colocation bench (bench/coloc.sh): one thread, epoll, no fork.
 *
 *   online-srv PORT [BURN_US]
 *
 * Listens on 0.0.0.0:PORT; for each request (read up to the blank line) spends BURN_US (default
 * 200) microseconds of its own CPU time, answers 200 "ok" and closes. CPU time rather than wall
 * time, so a server that waits for a CPU takes longer, as a real one would. Static, so it runs
 * inside the busybox bench image. */
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define MAX_CONN 65536

static char inbuf[MAX_CONN][64]; /* the tail of each request, to spot "\r\n\r\n" across reads */
static unsigned char inlen[MAX_CONN];

static long long cpu_ns(void)
{
	struct timespec t;

	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
	return (long long)t.tv_sec * 1000000000LL + t.tv_nsec;
}

static void burn(long long ns)
{
	long long end = cpu_ns() + ns;
	volatile unsigned x = 1;

	while (cpu_ns() < end)
		for (int k = 0; k < 200; k++)
			x = x * 1103515245u + 12345u;
}

static void answer(int ep, int fd, long long burn_ns)
{
	static const char ok[] =
	    "HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 3\r\n\r\nok\n";

	burn(burn_ns);
	(void)!write(fd, ok, sizeof(ok) - 1);
	epoll_ctl(ep, EPOLL_CTL_DEL, fd, NULL);
	close(fd);
}

static void readable(int ep, int fd, long long burn_ns)
{
	char buf[4096];

	for (;;) {
		ssize_t n = read(fd, buf, sizeof(buf));
		size_t keep;

		if (n == 0 || (n < 0 && errno != EAGAIN)) {
			epoll_ctl(ep, EPOLL_CTL_DEL, fd, NULL);
			close(fd);
			return;
		}
		if (n < 0)
			return;
		/* keep the last bytes seen and look for the end of the header there */
		keep = (size_t)n < sizeof(inbuf[0]) - 1 ? (size_t)n : sizeof(inbuf[0]) - 1;
		if (inlen[fd] + keep >= sizeof(inbuf[0])) {
			size_t drop = inlen[fd] + keep - (sizeof(inbuf[0]) - 1);

			memmove(inbuf[fd], inbuf[fd] + drop, inlen[fd] - drop);
			inlen[fd] = (unsigned char)(inlen[fd] - drop);
		}
		memcpy(inbuf[fd] + inlen[fd], buf + n - keep, keep);
		inlen[fd] = (unsigned char)(inlen[fd] + keep);
		inbuf[fd][inlen[fd]] = '\0';
		if (strstr(inbuf[fd], "\r\n\r\n")) {
			inlen[fd] = 0;
			answer(ep, fd, burn_ns);
			return;
		}
	}
}

int main(int argc, char **argv)
{
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_ANY)};
	struct epoll_event ev = {.events = EPOLLIN}, evs[64];
	long long burn_ns = (argc > 2 ? atoll(argv[2]) : 200) * 1000;
	int one = 1, lfd, ep;

	if (argc < 2 || atoi(argv[1]) <= 0) {
		fprintf(stderr, "usage: %s PORT [BURN_US]\n", argv[0]);
		return 2;
	}
	a.sin_port = htons((unsigned short)atoi(argv[1]));
	lfd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	ep = epoll_create1(EPOLL_CLOEXEC);
	if (lfd < 0 || ep < 0 || setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0 ||
	    bind(lfd, (struct sockaddr *)&a, sizeof(a)) < 0 || listen(lfd, 4096) < 0) {
		perror("online-srv");
		return 1;
	}
	ev.data.fd = lfd;
	epoll_ctl(ep, EPOLL_CTL_ADD, lfd, &ev);
	for (;;) {
		int n = epoll_wait(ep, evs, 64, -1);

		for (int k = 0; k < n; k++) {
			int fd = evs[k].data.fd;

			if (fd != lfd) {
				readable(ep, fd, burn_ns);
				continue;
			}
			while ((fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC)) >= 0) {
				struct epoll_event cev = {.events = EPOLLIN, .data.fd = fd};

				if (fd >= MAX_CONN) {
					close(fd);
					continue;
				}
				inlen[fd] = 0;
				epoll_ctl(ep, EPOLL_CTL_ADD, fd, &cev);
			}
		}
	}
}
