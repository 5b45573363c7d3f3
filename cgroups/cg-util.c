/* Helpers shared by the v1 and v2 backends: tier dirs, knobs, and tearing down a cgroup
 * subtree (kill, wait until empty, rmdir depth-first). */
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cg-internal.h"
#include "common/cleanup.h"
#include "common/fs.h"
#include "common/timeutil.h"

/* Pause between checks while a killed cgroup empties. v1 gives no "became empty" event, so the
 * rare-path cleanup polls, bounded by the caller's deadline. */
#define CG_POLL_NS (10LL * 1000 * 1000)

const char *cg_qos_dir(enum cg_qos qos)
{
	switch (qos) {
	case CG_QOS_ONLINE:
		return "online";
	case CG_QOS_BATCH:
		return "batch";
	}
	return NULL;
}

int cg_first_err(int r, int q, struct err **e, struct err **err)
{
	if (q >= 0 || r < 0)
		return r;
	if (err) {
		err_free(err);
		*err = TAKE_PTR(*e);
	}
	return q;
}

bool cg_list_has(const char *list, const char *word)
{
	size_t wlen = strlen(word);
	const char *p = list;

	while (*p) {
		size_t n;

		while (*p && isspace((unsigned char)*p))
			p++;
		n = 0;
		while (p[n] && !isspace((unsigned char)p[n]))
			n++;
		if (n == wlen && n > 0 && strncmp(p, word, n) == 0)
			return true;
		p += n;
	}
	return false;
}

static void trim_end(char *s)
{
	size_t n = strlen(s);

	while (n > 0 && isspace((unsigned char)s[n - 1]))
		s[--n] = '\0';
}

int cg_set_knob(int dirfd, const char *dir, const char *name, const char *value, struct err **err)
{
	char cur[64]; /* the knobs set here hold one small integer */
	int r;

	r = fs_read_knob(dirfd, name, cur, sizeof(cur), err);
	if (r < 0)
		return err_wrap(err, "cgroup '%s'", dir);
	trim_end(cur);
	if (strcmp(cur, value) == 0)
		return 0;
	r = fs_write_knob(dirfd, name, value, err);
	if (r < 0)
		return err_wrap(err, "cgroup '%s'", dir);
	return 0;
}

int cg_set_idle_tier(int dirfd, const char *dir, const char *weight_knob, const char *weight,
		     struct err **err)
{
	_cleanup_err_ struct err *e = NULL;
	char idle[16];
	bool have_idle;
	int r;

	r = fs_read_knob(dirfd, "cpu.idle", idle, sizeof(idle), &e);
	if (r < 0 && e && e->errnum != ENOENT)
		return err_set(err, -r, "cgroup '%s': %s", dir, err_msg(e));
	have_idle = r >= 0;
	if (have_idle && idle[0] == '1')
		return 0;
	r = cg_set_knob(dirfd, dir, weight_knob, weight, err);
	if (r < 0 || !have_idle)
		return r;
	r = fs_write_knob(dirfd, "cpu.idle", "1", err);
	if (r < 0)
		return err_wrap(err, "cgroup '%s'", dir);
	return 0;
}

int cg_set_weight_tier(int dirfd, const char *dir, const char *weight_knob, const char *weight,
		       struct err **err)
{
	char cur[16];

	if (fs_read_knob(dirfd, "cpu.idle", cur, sizeof(cur), NULL) > 0 && cur[0] == '1' &&
	    fs_write_knob(dirfd, "cpu.idle", "0", err) < 0)
		return err_wrap(err, "cgroup '%s'", dir);
	return cg_set_knob(dirfd, dir, weight_knob, weight, err);
}

const struct cg_weight *cg_weight_of(enum cg_version v)
{
	/* v1: 2 is the lowest cpu.shares the kernel accepts; v2: cpu.weight 1..10000, 100 default */
	static const struct cg_weight v1 = {"cpu.shares", "2", "1024"}, v2 = {"cpu.weight", "1", "100"};

	return v == CG_V2 ? &v2 : &v1;
}

int cg_mkdir_tiers(const char *base, const struct cg_ctx *c, struct err **err)
{
	const char *const dirs[] = {c->root, c->tier[CG_QOS_ONLINE], c->tier[CG_QOS_BATCH]};
	_cleanup_close_ int bfd = -1;
	int r;

	bfd = open(base[0] ? base : "/", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (bfd < 0)
		return err_set(err, errno, "open cgroup mount '%s'", base);
	for (size_t i = 0; i < ELEMENTSOF(dirs); i++) {
		r = fs_mkdir_p(bfd, dirs[i] + 1, 0755);
		if (r < 0)
			return err_set(err, -r, "create cgroup '%s%s'", base, dirs[i]);
	}
	return 0;
}

static int rmdir_parent(const char *path, struct err **err)
{
	if (rmdir(path) == 0 || errno == ENOENT)
		return 0;
	if (errno == EBUSY || errno == ENOTEMPTY)
		return err_set(err, errno, "remove cgroup '%s': it still has processes or child cgroups",
			       path);
	return err_set(err, errno, "remove cgroup '%s'", path);
}

int cg_remove_root_dirs(const char *base, const struct cg_ctx *c, struct err **err)
{
	const char *const dirs[] = {c->tier[CG_QOS_ONLINE], c->tier[CG_QOS_BATCH], c->root};
	int r;

	for (size_t i = 0; i < ELEMENTSOF(dirs); i++) {
		_cleanup_free_ char *p = NULL;

		if (asprintf(&p, "%s%s", base, dirs[i]) < 0)
			return err_set(err, ENOMEM, "remove cgroup '%s%s'", base, dirs[i]);
		r = rmdir_parent(p, err);
		if (r < 0)
			return r;
	}
	return 0;
}

/* Digits only, no sign, no overflow; cgroup.procs has one decimal pid per line. */
static int parse_pid(const char *s, size_t len, pid_t *ret)
{
	long long v = 0;

	if (len == 0 || len > 10)
		return -EINVAL;
	for (size_t i = 0; i < len; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -EINVAL;
		v = v * 10 + (s[i] - '0');
	}
	if (v <= 0 || v > INT32_MAX)
		return -ERANGE;
	*ret = (pid_t)v;
	return 0;
}

/* Sends SIGKILL to every process listed in the cgroup's cgroup.procs. Returns how many were
 * listed (0: empty). pid 1 and ourselves are never signalled, so such a cgroup never empties
 * and the caller's deadline reports it. */
static int kill_members(int fd, const char *dir, struct err **err)
{
	_cleanup_free_ char *buf = NULL;
	_cleanup_err_ struct err *e = NULL;
	pid_t self = getpid();
	int count = 0, r;

	r = fs_read_file(fd, "cgroup.procs", CG_LIST_MAX, &buf, NULL, &e);
	if (r < 0) {
		if (e && e->errnum == ENOENT)
			return 0; /* no member list: nothing can be in it */
		return err_set(err, -r, "cgroup '%s': %s", dir, err_msg(e));
	}
	for (char *line = buf; *line;) {
		size_t len = strcspn(line, "\n");
		pid_t pid;

		if (parse_pid(line, len, &pid) < 0)
			return err_set(err, EPROTO, "cgroup '%s': bad line in cgroup.procs", dir);
		count++;
		if (pid != 1 && pid != self && kill(pid, SIGKILL) < 0 && errno != ESRCH)
			return err_set(err, errno, "cgroup '%s': kill %d", dir, (int)pid);
		line += len;
		if (*line == '\n')
			line++;
	}
	return count;
}

static void pause_poll(void)
{
	struct timespec ts = {.tv_sec = 0, .tv_nsec = CG_POLL_NS};

	(void)nanosleep(&ts, NULL); /* EINTR only shortens one poll interval */
}

/* Kills until cgroup.procs reads empty or the deadline passes. */
static int drain(int fd, const char *dir, int64_t deadline, struct err **err)
{
	for (;;) {
		int n = kill_members(fd, dir, err);

		if (n <= 0)
			return n;
		if (time_mono_ns() >= deadline)
			return err_set(err, EBUSY, "cgroup '%s' still has %d processes after SIGKILL", dir,
				       n);
		pause_poll();
	}
}

/* rmdir, retrying EBUSY (a killed task may still be leaving) until the deadline. */
static int rmdir_retry(int pfd, const char *name, const char *dir, int64_t deadline, struct err **err)
{
	for (;;) {
		if (unlinkat(pfd, name, AT_REMOVEDIR) == 0 || errno == ENOENT)
			return 0;
		if (errno != EBUSY || time_mono_ns() >= deadline)
			return err_set(err, errno, "remove cgroup '%s'", dir);
		pause_poll();
	}
}

static int remove_at(int pfd, const char *name, const char *dir, bool use_kill_file, int64_t deadline,
		     struct err **err);

static int remove_children(int fd, const char *dir, int64_t deadline, struct err **err)
{
	_cleanup_closedir_ DIR *d = NULL;
	struct dirent *de;
	int dfd, r;

	dfd = fcntl(fd, F_DUPFD_CLOEXEC, 3);
	if (dfd < 0)
		return err_set(err, errno, "cgroup '%s': dup", dir);
	d = fdopendir(dfd);
	if (!d) {
		r = errno;
		(void)close(dfd); /* fdopendir did not take it */
		return err_set(err, r, "cgroup '%s': opendir", dir);
	}
	while ((errno = 0, de = readdir(d))) {
		_cleanup_free_ char *child = NULL;
		struct stat st;

		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
			continue;
		if (de->d_type != DT_DIR) {
			if (de->d_type != DT_UNKNOWN ||
			    fstatat(dirfd(d), de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0 ||
			    !S_ISDIR(st.st_mode))
				continue;
		}
		if (asprintf(&child, "%s/%s", dir, de->d_name) < 0)
			return err_set(err, ENOMEM, "cgroup '%s'", dir);
		r = remove_at(dirfd(d), de->d_name, child, false, deadline, err);
		if (r < 0)
			return r;
	}
	if (errno != 0)
		return err_set(err, errno, "cgroup '%s': readdir", dir);
	return 0;
}

static int remove_at(int pfd, const char *name, const char *dir, bool use_kill_file, int64_t deadline,
		     struct err **err)
{
	_cleanup_close_ int fd = -1;
	int r;

	fd = openat(pfd, name, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0) {
		if (errno == ENOENT)
			return 0;
		return err_set(err, errno, "open cgroup '%s'", dir);
	}
	if (use_kill_file) {
		_cleanup_err_ struct err *e = NULL;

		/* v2: kills the whole subtree at once, frozen or not. Older kernels lack the file;
		 * any failure falls back to the SIGKILL loop below, so the result is ignored. */
		(void)fs_write_knob(fd, "cgroup.kill", "1", &e);
	}
	r = kill_members(fd, dir, err);
	if (r < 0)
		return r;
	r = remove_children(fd, dir, deadline, err);
	if (r < 0)
		return r;
	r = drain(fd, dir, deadline, err);
	if (r < 0)
		return r;
	return rmdir_retry(pfd, name, dir, deadline, err);
}

int cg_tree_remove(const char *dir, bool use_kill_file, int64_t deadline_ns, struct err **err)
{
	return remove_at(AT_FDCWD, dir, dir, use_kill_file, deadline_ns, err);
}

int cg_set_limit_knob(const char *dir, const char *knob, int64_t value, struct err **err)
{
	_cleanup_close_ int fd = -1;
	char val[24];

	if (value <= 0)
		return 0;
	fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0 && errno == ENOENT)
		return 0;
	if (fd < 0)
		return err_set(err, errno, "open cgroup '%s'", dir);
	if (faccessat(fd, knob, F_OK, 0) < 0 && errno == ENOENT)
		return 0;
	snprintf(val, sizeof(val), "%lld", (long long)value);
	return cg_set_knob(fd, dir, knob, val, err);
}
