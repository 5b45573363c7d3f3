/* The exit record (BUNDLE/exit.json) and the cgroup OOM-kill counter. */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>

#include "common/fs.h"
#include "runtime/shim/shim.h"

int shim_parse_u64(const char *s, const char **ret_end, uint64_t *ret)
{
	uint64_t v = 0;
	const char *p = s;

	if (*p < '0' || *p > '9')
		return -EINVAL;
	for (; *p >= '0' && *p <= '9'; p++) {
		unsigned d = (unsigned)(*p - '0');
		if (v > (UINT64_MAX - d) / 10)
			return -ERANGE;
		v = v * 10 + d;
	}
	*ret = v;
	if (ret_end)
		*ret_end = p;
	return 0;
}

int shim_parse_oom_kill(const char *text, uint64_t *ret)
{
	static const char key[] = "oom_kill ";
	const char *p = text;

	while (p && *p) {
		if (strncmp(p, key, sizeof(key) - 1) == 0) {
			const char *end = NULL;
			uint64_t v;

			if (shim_parse_u64(p + sizeof(key) - 1, &end, &v) < 0 ||
			    (*end != '\n' && *end != '\0'))
				return -EPROTO;
			*ret = v;
			return 0;
		}
		p = strchr(p, '\n');
		if (p)
			p++;
	}
	return -ENOENT;
}

int shim_read_oom_kill(const char *path, uint64_t *ret)
{
	char buf[512]; /* memory.oom_control and memory.events are a handful of short lines */
	struct err *e = NULL;
	int r;

	r = fs_read_knob(AT_FDCWD, path, buf, sizeof(buf), &e);
	err_free(&e); /* the caller only needs the errno: a missing counter means "no OOM info" */
	if (r < 0)
		return r;
	return shim_parse_oom_kill(buf, ret);
}

void shim_exit_from_status(int status, struct shim_exit *e)
{
	if (WIFSIGNALED(status)) {
		e->signal = WTERMSIG(status);
		e->exit_code = 128 + e->signal;
	} else {
		e->signal = 0;
		e->exit_code = WEXITSTATUS(status);
	}
}

int shim_exit_format(const struct shim_exit *e, char *buf, size_t size)
{
	int n;

	n = snprintf(buf, size,
		     "{\"exit_code\": %d, \"signal\": %d, \"oom_killed\": %s, \"started_at\": %" PRId64
		     ", \"finished_at\": %" PRId64 "}\n",
		     e->exit_code, e->signal, e->oom_killed ? "true" : "false", e->started_at,
		     e->finished_at);
	if (n < 0 || (size_t)n >= size)
		return -ENOBUFS;
	return n;
}

int shim_exit_write(int bundle_fd, const struct shim_exit *e, struct err **err)
{
	char buf[192];
	int n, r;

	n = shim_exit_format(e, buf, sizeof(buf));
	if (n < 0)
		return err_set(err, -n, "format exit record");
	r = fs_write_atomic(bundle_fd, "exit.json", buf, (size_t)n, 0644, 0, err);
	if (r < 0)
		return err_wrap(err, "write exit record");
	return 0;
}
