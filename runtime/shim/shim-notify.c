/* The container's NOTIFY_SOCKET: a datagram socket in BUNDLE/notify/ (bind-mounted read-only into the
 * container) where the service says READY=1 as it would to systemd. The readiness that gives is kept
 * in BUNDLE/notify.state, which droverd watches (inotify) and reads again after its own restart.
 * The container is not trusted: datagrams are read without blocking, junk and oversized ones are
 * dropped, and at most SHIM_NOTIFY_RATE are read per second (then the socket rests and the kernel's
 * bounded queue makes further senders wait or fail), so a flood costs the shim almost nothing. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "common/fs.h"
#include "common/log.h"
#include "common/timeutil.h"
#include "runtime/shim/shim.h"

#define NS_PER_SEC 1000000000LL

/* Zeroed static (.bss): untouched, and so not resident, in a shim without --notify. */
static char dgram[SHIM_NOTIFY_DGRAM_MAX + 1];

static bool line_is(const char *line, size_t n, const char *what)
{
	return n == strlen(what) && memcmp(line, what, n) == 0;
}

unsigned shim_notify_parse(const char *buf, size_t len)
{
	unsigned flags = 0;
	size_t k = 0;

	if (memchr(buf, '\0', len))
		return 0;
	while (k < len) {
		const char *nl = memchr(buf + k, '\n', len - k);
		size_t n = nl ? (size_t)(nl - (buf + k)) : len - k;

		if (line_is(buf + k, n, "READY=1"))
			flags |= SHIM_NOTIFY_READY;
		else if (line_is(buf + k, n, "STOPPING=1"))
			flags |= SHIM_NOTIFY_STOPPING;
		k += n + 1;
	}
	return flags;
}

enum shim_notify_state shim_notify_next(enum shim_notify_state s, unsigned flags)
{
	if (flags & SHIM_NOTIFY_STOPPING)
		return SHIM_NOTIFY_IS_STOPPING;
	if ((flags & SHIM_NOTIFY_READY) && s == SHIM_NOTIFY_NONE)
		return SHIM_NOTIFY_IS_READY;
	return s;
}

static int make_dir(int bundle_fd, struct err **err)
{
	struct stat st;

	if (mkdirat(bundle_fd, SHIM_NOTIFY_DIR, 0755) < 0 && errno != EEXIST)
		return err_set(err, errno, "create notify dir");
	if (fstatat(bundle_fd, SHIM_NOTIFY_DIR, &st, AT_SYMLINK_NOFOLLOW) < 0)
		return err_set(err, errno, "stat notify dir");
	if (!S_ISDIR(st.st_mode))
		return err_set(err, ENOTDIR, "notify dir is not a directory");
	/* the container's user may be anyone: it must reach the socket (whatever our umask was) */
	if (fchmodat(bundle_fd, SHIM_NOTIFY_DIR, 0755, 0) < 0)
		return err_set(err, errno, "chmod notify dir");
	return 0;
}

int shim_notify_open(struct shim_notify *n, int bundle_fd, struct err **err)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	int fd, r;

	n->fd = -1;
	n->bundle_fd = bundle_fd;
	n->state = SHIM_NOTIFY_NONE;
	n->in_window = 0;
	n->window_start = 0;
	/* what an earlier run said is not this run's readiness */
	if (unlinkat(bundle_fd, SHIM_NOTIFY_STATE, 0) < 0 && errno != ENOENT)
		return err_set(err, errno, "remove old '%s'", SHIM_NOTIFY_STATE);
	r = make_dir(bundle_fd, err);
	if (r < 0)
		return r;
	if (unlinkat(bundle_fd, SHIM_NOTIFY_SOCK, 0) < 0 && errno != ENOENT)
		return err_set(err, errno, "remove old notify socket");
	/* through the bundle's fd: the bundle's own path may pass sun_path's 108 bytes */
	snprintf(sa.sun_path, sizeof(sa.sun_path), "/proc/self/fd/%d/%s", bundle_fd, SHIM_NOTIFY_SOCK);
	fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return err_set(err, errno, "notify socket");
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 ||
	    fchmodat(bundle_fd, SHIM_NOTIFY_SOCK, 0666, 0) < 0) {
		r = errno;
		(void)close(fd); /* a socket nobody used yet */
		return err_set(err, r, "bind notify socket");
	}
	n->fd = fd;
	return 0;
}

void shim_notify_close(struct shim_notify *n)
{
	if (n->fd >= 0)
		(void)close(n->fd); /* a datagram socket: nothing to flush */
	n->fd = -1;
}

static void record(struct shim_notify *n, enum shim_notify_state s)
{
	_cleanup_err_ struct err *e = NULL;
	const char *text = s == SHIM_NOTIFY_IS_READY ? "ready\n" : "stopping\n";

	n->state = s;
	/* not synced: a reboot ends the container, and its readiness with it */
	if (fs_write_atomic(n->bundle_fd, SHIM_NOTIFY_STATE, text, strlen(text), 0644, FS_NOSYNC, &e) < 0)
		log_warn("record readiness '%.*s': %s, ignoring", (int)strlen(text) - 1, text, err_msg(e));
	else
		log_debug("notify: %.*s", (int)strlen(text) - 1, text);
}

void shim_notify_pump(struct shim_notify *n)
{
	int64_t now = time_mono_ns();

	if (n->fd < 0)
		return;
	if (now - n->window_start >= NS_PER_SEC) {
		n->window_start = now;
		n->in_window = 0;
	}
	while (n->fd >= 0 && n->in_window < SHIM_NOTIFY_RATE) {
		/* MSG_TRUNC: the datagram's real length, to drop an oversized one whole */
		ssize_t got = recv(n->fd, dgram, sizeof(dgram), MSG_DONTWAIT | MSG_TRUNC);
		enum shim_notify_state s;

		if (got < 0 && errno == EINTR)
			continue;
		if (got < 0)
			return; /* EAGAIN: empty; anything else: try again at the next wake-up */
		n->in_window++;
		if (got > SHIM_NOTIFY_DGRAM_MAX)
			continue;
		s = shim_notify_next(n->state, shim_notify_parse(dgram, (size_t)got));
		if (s == n->state)
			continue;
		record(n, s);
		if (s == SHIM_NOTIFY_IS_STOPPING)
			shim_notify_close(n); /* final: nothing the container says can change it now */
	}
}

int shim_notify_poll_fd(const struct shim_notify *n, int64_t now_mono, int *ret_timeout_ms)
{
	int64_t left;

	*ret_timeout_ms = -1;
	if (n->fd < 0)
		return -1;
	if (n->in_window < SHIM_NOTIFY_RATE)
		return n->fd;
	left = n->window_start + NS_PER_SEC - now_mono;
	if (left <= 0)
		return n->fd; /* the rest is over; pump starts a new window */
	*ret_timeout_ms = (int)((left + 999999) / 1000000);
	return -1;
}
