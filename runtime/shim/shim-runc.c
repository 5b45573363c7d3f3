/* runc create/start/delete for the shim, and the error text from runc's JSON log. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/cleanup.h"
#include "common/fs.h"
#include "runtime/shim/shim.h"

#define RUNC_LOG_TAIL (64 * 1024) /* only the end of runc.log is searched for the error */
#define RUNC_MSG_MAX 1024

/* --- the runc.log scanner: a line is {"level":"error","msg":"...","time":"..."} --- */

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* Appends code point cp as UTF-8 if it fits. */
static size_t put_utf8(char *out, size_t o, size_t size, unsigned cp)
{
	char t[3];
	size_t n;

	if (cp >= 0xd800 && cp < 0xe000)
		cp = '?'; /* half of a surrogate pair: not worth decoding for an error line */
	if (cp < 0x80) {
		t[0] = (char)(cp < 0x20 ? ' ' : cp);
		n = 1;
	} else if (cp < 0x800) {
		t[0] = (char)(0xc0 | (cp >> 6));
		t[1] = (char)(0x80 | (cp & 0x3f));
		n = 2;
	} else {
		t[0] = (char)(0xe0 | (cp >> 12));
		t[1] = (char)(0x80 | ((cp >> 6) & 0x3f));
		t[2] = (char)(0x80 | (cp & 0x3f));
		n = 3;
	}
	if (o + n >= size)
		return o;
	memcpy(out + o, t, n);
	return o + n;
}

/* Decodes the JSON string starting after its opening quote at s (up to end) into out, one line. */
static size_t unescape(const char *s, const char *end, char *out, size_t size)
{
	size_t o = 0;

	while (s < end && *s != '"') {
		unsigned cp = (unsigned char)*s++;

		if (cp == '\\' && s < end) {
			char c = *s++;
			cp =
			    c == 'n' || c == 'r' || c == 't' || c == 'b' || c == 'f' ? ' ' : (unsigned char)c;
			if (c == 'u' && end - s >= 4 && hexval(s[0]) >= 0 && hexval(s[1]) >= 0 &&
			    hexval(s[2]) >= 0 && hexval(s[3]) >= 0) {
				cp = (unsigned)(hexval(s[0]) << 12 | hexval(s[1]) << 8 | hexval(s[2]) << 4 |
						hexval(s[3]));
				s += 4;
			}
			o = put_utf8(out, o, size, cp);
			continue;
		}
		if (cp < 0x20)
			cp = ' ';
		if (o + 1 < size)
			out[o++] = (char)cp; /* raw UTF-8 bytes pass through unchanged */
	}
	out[o] = '\0';
	return o;
}

/* Value start (after the opening quote) of "key":"..." in [line, end), or NULL. */
static const char *find_str_value(const char *line, const char *end, const char *key)
{
	size_t kl = strlen(key);

	for (const char *p = line; p + kl + 2 < end; p++) {
		const char *v;

		if (p[0] != '"' || memcmp(p + 1, key, kl) != 0 || p[kl + 1] != '"')
			continue;
		v = p + kl + 2;
		while (v < end && (*v == ' ' || *v == '\t'))
			v++;
		if (v >= end || *v++ != ':')
			continue;
		while (v < end && (*v == ' ' || *v == '\t'))
			v++;
		if (v < end && *v == '"')
			return v + 1;
	}
	return NULL;
}

static bool is_error_line(const char *line, const char *end)
{
	const char *lv = find_str_value(line, end, "level");

	if (!lv)
		return false;
	return (end - lv >= 6 && memcmp(lv, "error\"", 6) == 0) ||
	       (end - lv >= 6 && memcmp(lv, "fatal\"", 6) == 0);
}

int shim_runc_last_msg(const char *buf, size_t len, char *out, size_t size)
{
	const char *best = NULL, *best_end = NULL;
	bool best_is_error = false;
	const char *p = buf, *end = buf + len;

	if (size == 0)
		return -ENOBUFS;
	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		const char *le = nl ? nl : end;
		const char *msg = find_str_value(p, le, "msg");

		if (msg) {
			bool is_err = is_error_line(p, le);
			if (is_err || !best_is_error) {
				best = msg;
				best_end = le;
				best_is_error = is_err;
			}
		}
		p = nl ? nl + 1 : end;
	}
	if (!best)
		return -ENOENT;
	return (int)unescape(best, best_end, out, size);
}

/* --- running runc --- */

static off_t file_size(const char *path)
{
	struct stat st;

	return stat(path, &st) < 0 ? 0 : st.st_size;
}

/* The last runc message written to runc.log after offset `from`, into out. */
static int read_runc_msg(const char *log_path, off_t from, char *out, size_t size)
{
	_cleanup_close_ int fd = -1;
	_cleanup_free_ char *buf = NULL;
	off_t sz = file_size(log_path);
	ssize_t n;

	if (sz - from > RUNC_LOG_TAIL)
		from = sz - RUNC_LOG_TAIL;
	if (sz <= from)
		return -ENOENT;
	fd = open(log_path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	buf = malloc((size_t)(sz - from));
	if (!buf)
		return -ENOMEM;
	n = pread(fd, buf, (size_t)(sz - from), from);
	if (n <= 0)
		return n < 0 ? -errno : -ENOENT;
	return shim_runc_last_msg(buf, (size_t)n, out, size);
}

/* Kept out of run_runc so its buffers are only on the stack when runc failed. */
static int __attribute__((noinline))
runc_failed(const struct shim_args *a, const char *cmd, off_t from, int status, struct err **err)
{
	char msg[RUNC_MSG_MAX], how[32];

	if (read_runc_msg(a->runc_log, from, msg, sizeof(msg)) > 0)
		return err_set(err, EPROTO, "%s", msg);
	shim_status_str(status, how, sizeof(how));
	return err_set(err, EPROTO, "runc %s: %s", cmd, how);
}

/* Runs RUNTIME --root ROOT --log BUNDLE/runc.log --log-format json CMD... and fails with runc's message. */
static int run_runc(const struct shim_args *a, const char *cmd, char *const *cmd_argv, int fds[3],
		    struct err **err)
{
	char *argv[16] = {a->runtime,  (char *)"--root",       a->runtime_root, (char *)"--log",
			  a->runc_log, (char *)"--log-format", (char *)"json"};
	size_t n = 7;
	off_t from;
	pid_t pid = -1;
	int r, status = 0;

	for (; *cmd_argv && n < ELEMENTSOF(argv) - 1; cmd_argv++)
		argv[n++] = *cmd_argv;
	argv[n] = NULL;
	from = file_size(a->runc_log);
	r = shim_spawn(a->runtime, argv, fds[0], fds[1], fds[2], &pid, err);
	if (r < 0)
		return err_wrap(err, "runc %s", cmd);
	r = shim_wait_deadline(pid, a->runtime_timeout_ms, &status);
	if (r == -ETIMEDOUT)
		return err_set(err, EPROTO, "runtime '%s' %s did not finish within %llu ms: killed",
			       a->runtime, cmd, (unsigned long long)a->runtime_timeout_ms);
	if (r < 0)
		return err_set(err, -r, "wait for runc %s", cmd);
	if (status == 0)
		return 0;
	return runc_failed(a, cmd, from, status, err);
}

/* fds for runc itself when it must not touch the container's pipes. */
static int devnull_fds(int fds[3])
{
	int fd = open("/dev/null", O_RDWR | O_CLOEXEC);

	if (fd < 0)
		return -errno;
	fds[0] = fds[1] = fds[2] = fd;
	return fd;
}

int shim_runc_run(const struct shim_args *a, int out_fd, int err_fd, struct err **err)
{
	_cleanup_close_ int null_fd = -1;
	int fds[3] = {-1, -1, -1};
	char *argv[] = {(char *)"run",	      (char *)"--detach", (char *)"--bundle", a->bundle,
			(char *)"--pid-file", a->pid_file,	  (char *)a->id,      NULL};

	null_fd = devnull_fds(fds);
	if (null_fd < 0)
		return err_set(err, -null_fd, "open /dev/null");
	/* with --detach and no terminal, runc hands its stdio to the container: the pipes reach it */
	fds[1] = out_fd;
	fds[2] = err_fd;
	return run_runc(a, "run", argv, fds, err);
}

void shim_runc_delete_force(const struct shim_args *a)
{
	_cleanup_close_ int null_fd = -1;
	char *argv[] = {(char *)"delete", (char *)"--force", (char *)a->id, NULL};
	struct err *e = NULL;
	int fds[3] = {-1, -1, -1};

	null_fd = devnull_fds(fds);
	if (null_fd < 0)
		return;
	(void)run_runc(a, "delete", argv, fds, &e); /* best effort: the caller reports the first error */
	err_free(&e);
}

int shim_parse_pid(const char *s, pid_t *ret)
{
	const char *end = NULL;
	uint64_t v;

	if (shim_parse_u64(s, &end, &v) < 0)
		return -EINVAL;
	while (*end == '\n' || *end == ' ')
		end++;
	if (*end != '\0' || v < 1 || v > INT_MAX)
		return -EINVAL;
	*ret = (pid_t)v;
	return 0;
}

int shim_read_container_pid(int bundle_fd, pid_t *ret, struct err **err)
{
	char buf[32];
	int r;

	r = fs_read_knob(bundle_fd, "container.pid", buf, sizeof(buf), err);
	if (r < 0)
		return err_wrap(err, "container pid");
	if (shim_parse_pid(buf, ret) < 0)
		return err_set(err, EPROTO, "invalid container.pid '%s'", buf);
	return 0;
}
