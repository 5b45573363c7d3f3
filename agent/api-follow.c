/* Long-lived API requests: container logs (optionally followed) and event
 * long-polls. A request with nothing to send is suspended and resumed by an
 * event (a log write seen through inotify, a status change, a timer). */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <unistd.h>

#include "agent/api-internal.h"
#include "agent/events.h"
#include "agent/instance.h"
#include "common/cleanup.h"
#include "common/fs.h"
#include "common/log.h"

#define RAW_MAX (32 * 1024)

struct follower {
	struct api *api;
	struct MHD_Connection *conn;
	bool suspended;
	bool events;
	/* logs */
	char *id;
	char *path; /* the live log; path.1 is the rotated one */
	int fd;
	ino_t ino;
	bool follow, timestamps, rotated_next;
	char raw[RAW_MAX + 1];
	size_t raw_len;
	char *out;
	size_t out_len, out_off;
	int wd;
	/* events */
	uint64_t after;
	struct loop_timer *timer;
	struct follower *next;
};

static void link_follower(struct api *api, struct follower *f)
{
	f->next = api->followers;
	api->followers = f;
}

static void unlink_follower(struct api *api, struct follower *f)
{
	for (struct follower **pp = &api->followers; *pp; pp = &(*pp)->next)
		if (*pp == f) {
			*pp = f->next;
			return;
		}
}

static void kick_fired(struct loop *l, void *data)
{
	struct api *api = data;

	(void)l;
	api->kick_timer = NULL;
	api_kick(api);
}

/* Log writes wake log followers only; a status change wakes log followers (an instance that ended
 * ends its follow) and the event long-polls that have something new to answer (SECURITY-REVIEW L4). */
void api_followers_wake(struct api *api, enum follow_wake why)
{
	uint64_t last = events_last_seq();
	bool resumed = false;

	for (struct follower *f = api->followers; f; f = f->next) {
		if (!f->suspended ||
		    (f->events && why != WAKE_EVERYONE && (why == WAKE_LOG_WRITE || last <= f->after)))
			continue;
		f->suspended = false;
		MHD_resume_connection(f->conn);
		resumed = true;
	}
	if (resumed)
		api_schedule_kick(api);
}

/* MHD works on resumed connections in its next run; never re-enter it from a handler. */
void api_schedule_kick(struct api *api)
{
	if (!api->kick_timer)
		api->kick_timer = loop_timer_add(api->a->loop, 0, kick_fired, api);
}

/* One log record "TS STREAM F|P TEXT" becomes TEXT (with "\n" for a full line). */
static int format_record(struct follower *f, const char *line, size_t len)
{
	const char *sp1 = memchr(line, ' ', len), *sp2, *sp3;
	size_t need;

	if (!sp1 || !(sp2 = memchr(sp1 + 1, ' ', len - (size_t)(sp1 + 1 - line))) ||
	    !(sp3 = memchr(sp2 + 1, ' ', len - (size_t)(sp2 + 1 - line))))
		return 0; /* not a record: skip */
	const char *text = sp3 + 1;
	size_t tlen = len - (size_t)(text - line);
	bool full = sp2[1] == 'F';
	size_t tslen = f->timestamps ? (size_t)(sp1 - line) + 1 : 0;
	need = f->out_len + tslen + tlen + 1;
	char *nb = realloc(f->out, need);
	if (!nb)
		return -ENOMEM;
	f->out = nb;
	if (tslen) {
		memcpy(f->out + f->out_len, line, tslen - 1);
		f->out[f->out_len + tslen - 1] = ' ';
	}
	memcpy(f->out + f->out_len + tslen, text, tlen);
	f->out_len += tslen + tlen;
	if (full)
		f->out[f->out_len++] = '\n';
	return 0;
}

/* Reads more of the current file; returns bytes read (0 at EOF). */
static ssize_t fill(struct follower *f)
{
	ssize_t n = read(f->fd, f->raw + f->raw_len, RAW_MAX - f->raw_len);
	size_t start = 0;

	if (n <= 0)
		return n < 0 ? -errno : 0;
	f->raw_len += (size_t)n;
	for (size_t k = 0; k < f->raw_len; k++) {
		if (f->raw[k] != '\n')
			continue;
		if (format_record(f, f->raw + start, k - start) < 0)
			return -ENOMEM;
		start = k + 1;
	}
	if (start == 0 && f->raw_len == RAW_MAX)
		start = f->raw_len; /* a record longer than the buffer cannot be ours: drop it */
	memmove(f->raw, f->raw + start, f->raw_len - start);
	f->raw_len -= start;
	return n;
}

static int open_at(struct follower *f, const char *path, off_t off)
{
	struct stat st;
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		return -errno;
	if (fstat(fd, &st) < 0 || lseek(fd, off, SEEK_SET) < 0) {
		int r = -errno;
		close(fd);
		return r;
	}
	if (f->fd >= 0)
		close(f->fd);
	f->fd = fd;
	f->ino = st.st_ino;
	f->raw_len = 0;
	return 0;
}

/* At EOF: has the shim rotated the file under us? Then continue with the new one. */
static bool switch_if_rotated(struct follower *f)
{
	struct stat st;

	if (f->rotated_next) {
		f->rotated_next = false;
		return open_at(f, f->path, 0) == 0;
	}
	if (stat(f->path, &st) == 0 && st.st_ino != f->ino)
		return open_at(f, f->path, 0) == 0;
	return false;
}

static bool instance_live(struct follower *f)
{
	struct instance *i = agent_find(f->api->a, f->id);

	return i && (inst_is_active(i) || i->restart_timer);
}

static ssize_t logs_read(void *cls, uint64_t pos, char *buf, size_t max)
{
	struct follower *f = cls;

	(void)pos;
	for (;;) {
		if (f->out_off < f->out_len) {
			size_t n = f->out_len - f->out_off < max ? f->out_len - f->out_off : max;
			memcpy(buf, f->out + f->out_off, n);
			f->out_off += n;
			if (f->out_off == f->out_len)
				f->out_off = f->out_len = 0;
			return (ssize_t)n;
		}
		ssize_t r = f->fd >= 0 ? fill(f) : 0;
		if (r < 0)
			return MHD_CONTENT_READER_END_WITH_ERROR;
		if (r > 0)
			continue;
		if (switch_if_rotated(f))
			continue;
		if (!f->follow || !instance_live(f))
			return MHD_CONTENT_READER_END_OF_STREAM;
		f->suspended = true;
		MHD_suspend_connection(f->conn);
		return 0;
	}
}

static void free_follower(void *cls)
{
	struct follower *f = cls;

	unlink_follower(f->api, f);
	if (f->wd >= 0 && f->api->ifd >= 0)
		(void)inotify_rm_watch(f->api->ifd, f->wd); /* fails if the dir is gone: fine */
	if (f->timer)
		loop_timer_cancel(f->api->a->loop, f->timer);
	if (f->fd >= 0)
		close(f->fd);
	free(f->id);
	free(f->path);
	free(f->out);
	free(f);
}

/* Offset of the start of the last n lines of fd (of size size); *ret_found lines were there. */
static off_t tail_offset(int fd, off_t size, long n, long *ret_found)
{
	char chunk[8192];
	off_t pos = size;
	long lines = 0;
	bool first = true;

	while (pos > 0) {
		size_t len = pos > (off_t)sizeof(chunk) ? sizeof(chunk) : (size_t)pos;
		ssize_t got = pread(fd, chunk, len, pos - (off_t)len);
		if (got != (ssize_t)len)
			break;
		for (ssize_t k = got - 1; k >= 0; k--) {
			if (chunk[k] != '\n')
				continue;
			if (first && pos - (off_t)len + k == size - 1) {
				first = false; /* the newline that ends the last record */
				continue;
			}
			if (++lines == n) {
				*ret_found = lines;
				return pos - (off_t)len + k + 1;
			}
		}
		pos -= (off_t)len;
	}
	*ret_found = size > 0 ? lines + 1 : 0;
	return 0;
}

/* Positions the follower so that the last `tail` records (across path.1 and path) are sent. */
static int position(struct follower *f, long tail)
{
	_cleanup_free_ char *old = NULL;
	struct stat st;
	long found = 0;
	off_t off = 0;

	if (asprintf(&old, "%s.1", f->path) < 0)
		return -ENOMEM;
	if (open_at(f, f->path, 0) < 0)
		return 0; /* no output yet: nothing to send (follow still waits) */
	if (tail < 0)
		return open_at(f, old, 0) == 0 ? (f->rotated_next = true, 0) : 0;
	if (fstat(f->fd, &st) < 0)
		return -errno;
	off = tail_offset(f->fd, st.st_size, tail, &found);
	if (found >= tail || open_at(f, old, 0) < 0)
		return open_at(f, f->path, off);
	if (fstat(f->fd, &st) < 0)
		return -errno;
	off = tail_offset(f->fd, st.st_size, tail - found, &found);
	f->rotated_next = true;
	return (int)lseek(f->fd, off, SEEK_SET) < 0 ? -errno : 0;
}

static void on_log_change(struct loop *l, int fd, uint32_t events, void *data)
{
	char buf[4096] __attribute__((aligned(8)));

	(void)l;
	(void)events;
	while (read(fd, buf, sizeof(buf)) > 0)
		;
	api_followers_wake(data, WAKE_LOG_WRITE);
}

static int watch_dir(struct api *api, const char *dir)
{
	if (api->ifd < 0) {
		api->ifd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
		if (api->ifd < 0 || loop_add_fd(api->a->loop, api->ifd, EPOLLIN, on_log_change, api) < 0)
			return -errno;
	}
	return inotify_add_watch(api->ifd, dir, IN_MODIFY | IN_CREATE | IN_MOVED_TO);
}

enum MHD_Result api_logs(struct api *api, struct http_req *req, struct instance *i)
{
	const char *tail = http_query(req, "tail"), *follow = http_query(req, "follow");
	const char *ts = http_query(req, "timestamps");
	struct MHD_Response *resp;
	struct follower *f;
	enum MHD_Result ret;
	char *end = NULL;
	long n = -1;

	if (tail && *tail) {
		errno = 0;
		n = strtol(tail, &end, 10);
		if (errno || *end || n < 0)
			return http_reply_error(req, 400, "tail", "'tail' must be a non-negative integer");
	}
	f = calloc(1, sizeof(*f));
	if (!f)
		return MHD_NO;
	f->api = api;
	f->conn = req->conn;
	f->fd = -1;
	f->wd = -1;
	f->follow = follow && (strcmp(follow, "1") == 0 || strcmp(follow, "true") == 0);
	f->timestamps = ts && (strcmp(ts, "1") == 0 || strcmp(ts, "true") == 0);
	f->id = strdup(i->id);
	char *dir = fs_path_join(api->a->bundles_dir, i->id);
	f->path = dir ? fs_path_join(dir, "container.log") : NULL;
	if (!f->id || !f->path || position(f, n) < 0) {
		free(dir);
		free_follower(f);
		return http_reply_error(req, 500, "", "cannot open the log of '%s'", i->id);
	}
	if (f->follow)
		f->wd = watch_dir(api, dir);
	free(dir);
	link_follower(api, f);
	resp = MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 32 * 1024, logs_read, f, free_follower);
	if (!resp) {
		free_follower(f);
		return MHD_NO;
	}
	(void)MHD_add_response_header(resp, "Content-Type", "text/plain; charset=utf-8");
	ret = MHD_queue_response(req->conn, 200, resp);
	MHD_destroy_response(resp);
	return ret;
}

static void events_timeout(struct loop *l, void *data)
{
	struct follower *f = data;

	(void)l;
	f->timer = NULL;
	if (f->suspended) {
		f->suspended = false;
		MHD_resume_connection(f->conn);
		api_schedule_kick(f->api); /* MHD answers a resumed connection only when it runs */
	}
}

static enum MHD_Result events_reply(struct http_req *req, uint64_t after)
{
	uint64_t last = 0;
	json_t *evs = events_since(after, 1000, &last);

	return http_reply_json(req, 200, json_pack("{s:I, s:o}", "last", (json_int_t)last, "events", evs));
}

static enum MHD_Result events_gone(struct http_req *req)
{
	uint64_t first = events_first_kept();

	return http_reply_json(
	    req, 410,
	    json_pack("{s:s, s:s, s:I, s:I}", "error",
		      "events after this sequence number are no longer kept: re-list the instances", "field",
		      "after", "first", (json_int_t)first, "last", (json_int_t)events_last_seq()));
}

static int parse_u64(const char *s, unsigned long long max, unsigned long long *ret)
{
	char *end = NULL;

	if (!s || !*s)
		return 0;
	errno = 0;
	*ret = strtoull(s, &end, 10);
	return errno || *end || *s == '-' || *ret > max ? -EINVAL : 0;
}

static enum MHD_Result events_wait(struct api *api, struct http_req *req, uint64_t after,
				   unsigned long long wait)
{
	struct follower *f = calloc(1, sizeof(*f));

	if (!f)
		return MHD_NO;
	f->api = api;
	f->conn = req->conn;
	f->events = true;
	f->after = after;
	f->fd = -1;
	f->wd = -1;
	f->suspended = true;
	f->timer = loop_timer_add(api->a->loop, (int64_t)(wait > 300 ? 300 : wait) * 1000, events_timeout, f);
	link_follower(api, f);
	req->user = f;
	MHD_suspend_connection(req->conn);
	return MHD_YES;
}

enum MHD_Result api_events(struct api *api, struct http_req *req)
{
	unsigned long long after = 0, wait = 0;
	struct follower *f = req->user;
	uint64_t last = events_last_seq();

	if (parse_u64(http_query(req, "after"), UINT64_MAX, &after) < 0)
		return http_reply_error(req, 400, "after", "'after' must be a sequence number");
	if (parse_u64(http_query(req, "wait"), 3600, &wait) < 0)
		return http_reply_error(req, 400, "wait", "'wait' must be seconds (0 to 3600)");
	if (after > last)
		after = 0; /* a number this agent never handed out (its state dir was wiped): start over */
	if (f) {	   /* resumed by an event or by the wait running out: answer with what is there now */
		unlink_follower(api, f);
		if (f->timer)
			loop_timer_cancel(api->a->loop, f->timer);
		free(f);
		req->user = NULL;
	} else if (after + 1 < events_first_kept()) {
		return events_gone(req);
	} else if (after >= last && wait > 0) {
		return events_wait(api, req, after, wait);
	}
	if (after + 1 < events_first_kept())
		return events_gone(req);
	return events_reply(req, after);
}

void api_followers_free(struct api *api)
{
	api_followers_wake(api, WAKE_EVERYONE);
	if (api->ifd >= 0) {
		loop_del_fd(api->a->loop, api->ifd);
		close(api->ifd);
		api->ifd = -1;
	}
}
