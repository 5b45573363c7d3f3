/* Container output: line framing ("RFC3339NANO STREAM F|P TEXT\n") and the capped, rotated log file.
 * No stdio and no heap per line: a fixed buffer per stream and one writev(2) per record. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

#include "common/log.h"
#include "common/timeutil.h"
#include "runtime/shim/shim.h"

#define LOG_FILE_MODE 0640

ssize_t shim_linebuf_read(struct shim_linebuf *lb, int fd)
{
	ssize_t n;

	/* shim_frame always leaves less than a full buffer, so there is room for at least one byte */
	do
		n = read(fd, lb->buf + lb->len, sizeof(lb->buf) - lb->len);
	while (n < 0 && errno == EINTR);
	if (n < 0)
		return -errno;
	lb->len += (size_t)n;
	return n;
}

/* The next record at lb->buf[start], or false when the rest must wait for more input. */
static bool next_record(const struct shim_linebuf *lb, size_t start, bool eof, struct shim_record *rec,
			size_t *ret_next)
{
	const char *p = lb->buf + start;
	size_t avail = lb->len - start;
	const char *nl = memchr(p, '\n', avail);

	*rec = (struct shim_record){.stream = lb->stream, .text = p};
	if (nl && (size_t)(nl - p) <= SHIM_LINE_MAX) {
		rec->tag = 'F';
		rec->len = (size_t)(nl - p);
		*ret_next = start + rec->len + 1;
		return true;
	}
	if (avail > SHIM_LINE_MAX || (eof && avail > 0)) {
		rec->tag = 'P';
		rec->len = avail > SHIM_LINE_MAX ? SHIM_LINE_MAX : avail;
		*ret_next = start + rec->len;
		return true;
	}
	return false;
}

int shim_frame(struct shim_linebuf *lb, bool eof, int (*emit)(void *ctx, const struct shim_record *rec),
	       void *ctx)
{
	struct shim_record rec;
	size_t start = 0, next;
	int count = 0, r = 0;

	while (next_record(lb, start, eof, &rec, &next)) {
		r = emit(ctx, &rec);
		if (r < 0)
			break;
		start = next;
		count++;
	}
	if (start > 0) {
		memmove(lb->buf, lb->buf + start, lb->len - start);
		lb->len -= start;
	}
	return r < 0 ? r : count;
}

size_t shim_record_header(int64_t ns, const struct shim_record *rec, char *buf, size_t size)
{
	char ts[40];
	int n;

	time_fmt_rfc3339_nano(ns, ts, sizeof(ts));
	n = snprintf(buf, size, "%s %s %c ", ts, rec->stream, rec->tag);
	if (n < 0)
		return 0;
	return (size_t)n >= size ? size - 1 : (size_t)n;
}

static int open_log(struct shim_logfile *lf)
{
	struct stat st;
	int fd;

	fd = open(lf->path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC | O_NOFOLLOW, LOG_FILE_MODE);
	if (fd < 0)
		return -errno;
	if (fstat(fd, &st) < 0) {
		int r = -errno;
		(void)close(fd); /* read-only use so far: nothing to flush */
		return r;
	}
	if (lf->fd >= 0)
		(void)close(lf->fd); /* the old file is complete: every record was one write */
	lf->fd = fd;
	lf->size = (uint64_t)st.st_size;
	return 0;
}

int shim_logfile_open(struct shim_logfile *lf, const char *path, uint64_t max, struct err **err)
{
	int r;

	*lf = (struct shim_logfile){.fd = -1, .max = max};
	lf->path = strdup(path);
	if (!lf->path || asprintf(&lf->path_old, "%s.1", path) < 0) {
		lf->path_old = NULL;
		shim_logfile_close(lf);
		return err_set(err, ENOMEM, "log path '%s'", path);
	}
	r = open_log(lf);
	if (r < 0) {
		shim_logfile_close(lf);
		return err_set(err, -r, "open log '%s'", path);
	}
	return 0;
}

static int rotate(struct shim_logfile *lf)
{
	if (rename(lf->path, lf->path_old) < 0)
		return -errno;
	return open_log(lf);
}

/* writev until done; a short write only happens on a full disk or a signal. */
static int writev_all(int fd, struct iovec *iov, int n)
{
	while (n > 0) {
		ssize_t w = writev(fd, iov, n);

		if (w < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		while (n > 0 && (size_t)w >= iov->iov_len) {
			w -= (ssize_t)iov->iov_len;
			iov++;
			n--;
		}
		if (n > 0) {
			iov->iov_base = (char *)iov->iov_base + w;
			iov->iov_len -= (size_t)w;
		}
	}
	return 0;
}

int shim_logfile_write(struct shim_logfile *lf, int64_t ns, const struct shim_record *rec)
{
	char hdr[64];
	size_t hl = shim_record_header(ns, rec, hdr, sizeof(hdr));
	struct iovec iov[3] = {
	    {.iov_base = hdr, .iov_len = hl},
	    {.iov_base = (void *)rec->text, .iov_len = rec->len},
	    {.iov_base = (void *)"\n", .iov_len = 1},
	};
	uint64_t total = hl + rec->len + 1;
	int r;

	if (lf->fd < 0)
		return -EBADF;
	if (lf->size > 0 && lf->size + total > lf->max) {
		r = rotate(lf);
		if (r < 0)
			return r;
	}
	r = writev_all(lf->fd, iov, 3);
	if (r < 0)
		return r;
	lf->size += total;
	return 0;
}

int shim_logfile_emit(void *ctx, const struct shim_record *rec)
{
	struct shim_logfile *lf = ctx;
	int r;

	r = shim_logfile_write(lf, time_now_ns(), rec);
	if (r < 0 && !lf->warned) {
		log_warn_errno(r, "write container log '%s', dropping output until it works again", lf->path);
		lf->warned = true;
	} else if (r == 0) {
		lf->warned = false;
	}
	return 0; /* never stall the container on a log problem */
}

void shim_logfile_close(struct shim_logfile *lf)
{
	if (lf->fd >= 0)
		(void)close(lf->fd); /* O_APPEND writes are already in the page cache */
	free(lf->path);
	free(lf->path_old);
	*lf = (struct shim_logfile){.fd = -1};
}
