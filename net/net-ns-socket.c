/* A socket made inside another network namespace, for the agent's health probes: the probe then
 * talks to the instance over that namespace's own loopback path, with no veth, bridge, netfilter
 * or connection tracking on the way (on the host, those were most of a probe's cost).
 *
 * The calling thread enters the namespace for the one socket() call and comes straight back. A
 * socket keeps the namespace it was made in, so it is used from the agent's loop like any other.
 * If the thread cannot get back (it cannot happen short of the kernel refusing its own namespace),
 * the agent aborts: it must never go on working inside a tenant's namespace. */
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

#include "common/log.h"
#include "net/net.h"

/* The agent's own namespace, opened before the first switch away from it. */
static int home_ns = -1;

int net_ns_socket(int nsfd, int domain, int type)
{
	int fd, e;

	if (home_ns < 0) {
		home_ns = open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);
		if (home_ns < 0)
			return -errno;
	}
	if (setns(nsfd, CLONE_NEWNET) < 0)
		return -errno;
	fd = socket(domain, type, 0);
	e = errno;
	if (setns(home_ns, CLONE_NEWNET) < 0) {
		(void)log_err_errno(-errno, "cannot return to the agent's network namespace");
		abort();
	}
	return fd >= 0 ? fd : -e;
}
