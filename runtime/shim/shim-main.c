/* drover-shim: per-container parent of runc create. Daemonizes, starts the container, reports on the
 * sync fd, copies output to the capped log and writes the exit record. Protocol: runtime/shim/README.md. */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include "common/cleanup.h"
#include "common/fs.h"
#include "common/log.h"
#include "common/timeutil.h"
#include "common/version.h"
#include "runtime/shim/shim.h"

#define SYNC_FD 3

/* Per-stream line buffers: zeroed statics (.bss), so untouched pages never become resident. */
static struct shim_linebuf out_buf;
static struct shim_linebuf err_buf;

struct shim_run {
	const struct shim_args *a;
	int bundle_fd;
	int sync_fd; /* -1 once used, or when fd 3 was not given */
	int out[2];  /* pipes: [0] read end kept by the shim, [1] for runc create */
	int err[2];
	struct shim_notify notify; /* fd -1 without --notify */
	pid_t init_pid;
	bool oom_base_ok;
	uint64_t oom_base;
	int64_t started_at;
};

/* A shim started with 0-2 closed would hand its pipes out as stdio by accident. */
static void ensure_std_fds(void)
{
	for (int fd = 0; fd <= 2; fd++) {
		if (fcntl(fd, F_GETFD) >= 0)
			continue;
		if (open("/dev/null", O_RDWR) != fd)
			_exit(1);
	}
}

static int sync_fd_get(void)
{
	/* Not open in manual use: then there is nobody to tell. Never inherited by runc either way. */
	if (fcntl(SYNC_FD, F_SETFD, FD_CLOEXEC) < 0)
		return -1;
	return SYNC_FD;
}

/* Writes one line to the sync fd and closes it; newlines inside would break the protocol. */
static void sync_line(int *fd, char *line, int n, size_t size)
{
	if (n < 0)
		n = 0;
	if ((size_t)n >= size - 1)
		n = (int)size - 2; /* truncated: keep room for the newline */
	for (int i = 0; i < n; i++)
		if (line[i] == '\n' || line[i] == '\r')
			line[i] = ' ';
	line[n++] = '\n';
	if (fs_write_all(*fd, line, (size_t)n) < 0)
		log_warn("write sync line to fd %d failed, ignoring", *fd);
	(void)close(*fd); /* a pipe: EOF is the point */
	*fd = -1;
}

static void sync_ok(int *fd, pid_t shim, pid_t init)
{
	char line[64];

	if (*fd >= 0)
		sync_line(fd, line, snprintf(line, sizeof(line), "ok %d %d", (int)shim, (int)init),
			  sizeof(line));
}

static void sync_error(int *fd, const char *msg)
{
	char line[1100];

	if (*fd >= 0)
		sync_line(fd, line, snprintf(line, sizeof(line), "error %s", msg), sizeof(line));
}

/* The error chain plus the errno text, except where the message already is the whole story: runc's own
 * message (EPROTO) and argument errors (EINVAL). */
static void error_text(const struct err *e, char *buf, size_t size)
{
	if (e && e->errnum != EPROTO && e->errnum != EINVAL)
		snprintf(buf, size, "%s: %s", err_msg(e), strerror(e->errnum));
	else
		snprintf(buf, size, "%s", err_msg(e));
}

static int daemonize(bool foreground)
{
	pid_t pid;

	if (foreground)
		return 0;
	pid = fork();
	if (pid < 0)
		return -errno;
	if (pid > 0)
		_exit(0); /* droverd reaps this one; the shim lives on in the child */
	if (setsid() < 0)
		return -errno;
	return 0;
}

static int setup_process(const struct shim_args *a, int *ret_sigfd, struct err **err)
{
	static const int ignored[] = {SIGPIPE, SIGHUP, SIGINT, SIGTERM};
	struct sigaction ign = {.sa_handler = SIG_IGN};
	sigset_t chld;
	int r;

	r = daemonize(a->foreground);
	if (r < 0)
		return err_set(err, -r, "daemonize");
	if (chdir("/") < 0)
		return err_set(err, errno, "chdir /");
	/* runc create's child (the container init) is re-parented to us when runc exits */
	if (prctl(PR_SET_CHILD_SUBREAPER, 1) < 0)
		return err_set(err, errno, "become child subreaper");
	/* droverd stops containers through runc, never by signalling the shim */
	for (size_t i = 0; i < ELEMENTSOF(ignored); i++)
		(void)sigaction(ignored[i], &ign, NULL); /* cannot fail for these signals */
	sigemptyset(&chld);
	sigaddset(&chld, SIGCHLD);
	if (sigprocmask(SIG_BLOCK, &chld, NULL) < 0)
		return err_set(err, errno, "block SIGCHLD");
	*ret_sigfd = signalfd(-1, &chld, SFD_CLOEXEC | SFD_NONBLOCK);
	if (*ret_sigfd < 0)
		return err_set(err, errno, "signalfd");
	return 0;
}

static int write_pid_file(int bundle_fd, struct err **err)
{
	char buf[16];
	int n = snprintf(buf, sizeof(buf), "%d\n", (int)getpid());

	return fs_write_atomic(bundle_fd, "shim.pid", buf, (size_t)n, 0644, FS_NOSYNC, err);
}

static void close_fd(int *fd)
{
	if (*fd >= 0)
		(void)close(*fd); /* pipe ends: nothing to flush */
	*fd = -1;
}

static int make_pipes(struct shim_run *s, struct err **err)
{
	if (pipe2(s->out, O_CLOEXEC) < 0 || pipe2(s->err, O_CLOEXEC) < 0)
		return err_set(err, errno, "create output pipes");
	if (fcntl(s->out[0], F_SETFL, O_NONBLOCK) < 0 || fcntl(s->err[0], F_SETFL, O_NONBLOCK) < 0)
		return err_set(err, errno, "make output pipes non-blocking");
	return 0;
}

static void read_oom(const struct shim_args *a, bool before_start, bool *ok, uint64_t *v)
{
	int r;

	*ok = false;
	if (!a->oom_file)
		return;
	r = shim_read_oom_kill(a->oom_file, v);
	if (r == -ENOENT && before_start) {
		/* the runtime has not made the cgroup yet: it starts from zero */
		*v = 0;
		*ok = true;
		return;
	}
	if (r < 0)
		log_warn_errno(r, "read oom_kill counter from '%s' id='%s', ignoring", a->oom_file, a->id);
	else
		*ok = true;
}

/* `runc run --detach`: create and start in one runtime exec (one exec less on every start than
 * create + start). On success the container runs and s->init_pid is its init. The OOM baseline
 * is read first, so an OOM kill in the container's first microseconds still counts. */
static int start_container(struct shim_run *s, struct err **err)
{
	int r;

	r = make_pipes(s, err);
	if (r < 0)
		return r;
	/* before the runtime runs: its config bind-mounts the socket's dir, which must exist */
	if (s->a->notify && (r = shim_notify_open(&s->notify, s->bundle_fd, err)) < 0)
		return r;
	read_oom(s->a, true, &s->oom_base_ok, &s->oom_base);
	r = shim_runc_run(s->a, s->out[1], s->err[1], err);
	close_fd(&s->out[1]); /* only the container holds the write ends now: its exit means EOF */
	close_fd(&s->err[1]);
	if (r < 0)
		return r;
	s->started_at = time_now_ns();
	return shim_read_container_pid(s->bundle_fd, &s->init_pid, err);
}

static int watch_container(struct shim_run *s, int sigfd, struct shim_logfile *lf, struct err **err)
{
	struct shim_loop l = {
	    .sigfd = sigfd,
	    .notify = s->notify.fd >= 0 ? &s->notify : NULL,
	    .fds = {s->out[0], s->err[0]},
	    .lb = {&out_buf, &err_buf},
	    .lf = lf,
	    .init_pid = s->init_pid,
	};
	struct shim_exit e = {.started_at = s->started_at};
	uint64_t oom_now = 0;
	bool oom_ok;
	int r;

	out_buf.stream = "stdout";
	err_buf.stream = "stderr";
	r = shim_loop_run(&l, err);
	shim_notify_close(&s->notify); /* readiness ends with init */
	s->out[0] = l.fds[0];	       /* the loop closes pipes at EOF */
	s->err[0] = l.fds[1];
	if (r < 0)
		return r;
	shim_exit_from_status(l.status, &e);
	e.finished_at = l.finished_at;
	read_oom(s->a, false, &oom_ok, &oom_now);
	e.oom_killed = s->oom_base_ok && oom_ok && oom_now > s->oom_base;
	log_info("container exited id='%s' pid=%d exit_code=%d signal=%d oom_killed=%s", s->a->id,
		 (int)s->init_pid, e.exit_code, e.signal, e.oom_killed ? "true" : "false");
	return shim_exit_write(s->bundle_fd, &e, err);
}

static int run(struct shim_run *s, int sigfd, struct err **err)
{
	struct shim_logfile lf = {.fd = -1};
	int r;

	r = shim_logfile_open(&lf, s->a->log_path, s->a->log_max, err);
	if (r < 0)
		return r;
	r = start_container(s, err);
	if (r < 0) {
		shim_runc_delete_force(s->a); /* leave nothing behind, created or half-created */
		shim_logfile_close(&lf);
		return r;
	}
	sync_ok(&s->sync_fd, getpid(), s->init_pid);
	/* debug only: stdio on an unbuffered stderr puts an 8 KiB buffer on the stack for good */
	log_debug("container started id='%s' pid=%d", s->a->id, (int)s->init_pid);
	r = watch_container(s, sigfd, &lf, err);
	shim_logfile_close(&lf);
	/* the exit record is on disk: now the runtime's state and the container's cgroup can go, here
	 * rather than in droverd, whose loop would otherwise wait on a runtime exec per exit */
	if (r >= 0)
		shim_runc_delete_force(s->a);
	return r;
}

static int shim_main(int argc, char **argv)
{
	_cleanup_err_ struct err *e = NULL;
	struct shim_args a = {0};
	struct shim_run s = {.a = &a,
			     .bundle_fd = -1,
			     .out = {-1, -1},
			     .err = {-1, -1},
			     .notify = {.fd = -1, .bundle_fd = -1}};
	int sigfd = -1, r;

	ensure_std_fds();
	s.sync_fd = sync_fd_get();
	r = shim_args_parse(argc, argv, &a, &e);
	if (r >= 0)
		r = setup_process(&a, &sigfd, &e);
	if (r >= 0) {
		s.bundle_fd = open(a.bundle, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (s.bundle_fd < 0)
			r = err_set(&e, errno, "open bundle '%s'", a.bundle);
	}
	if (r >= 0)
		r = write_pid_file(s.bundle_fd, &e);
	if (r >= 0)
		r = run(&s, sigfd, &e);
	if (r < 0) {
		char msg[1024];

		error_text(e, msg, sizeof(msg));
		log_err("id='%s': %s", a.id ? a.id : "", msg);
		sync_error(&s.sync_fd, msg); /* a no-op once "ok" was sent */
	}
	close_fd(&s.out[0]);
	close_fd(&s.out[1]);
	close_fd(&s.err[0]);
	close_fd(&s.err[1]);
	shim_notify_close(&s.notify);
	close_fd(&s.bundle_fd);
	close_fd(&sigfd);
	shim_args_done(&a);
	return r < 0 ? 1 : 0;
}

static void usage(void)
{
	printf("Usage: drover-shim --id ID --bundle DIR --runtime PATH --runtime-root DIR --log FILE\n"
	       "                   [--log-max BYTES] [--oom-file FILE] [--runtime-timeout MS] [--notify]\n"
	       "                   [--foreground]\n\n"
	       "One per container, started by droverd: runs the OCI runtime's create and start for\n"
	       "the bundle, stays the container's parent, copies its output into the capped log\n"
	       "(one rotated file is kept), and writes the exit record into the bundle.\n"
	       "It is not meant to be run by hand.\n\n"
	       "  --id ID              container id given to the runtime\n"
	       "  --bundle DIR         the OCI bundle (config.json, rootfs)\n"
	       "  --runtime PATH       the OCI runtime binary (runc)\n"
	       "  --runtime-root DIR   the runtime's state root (--root)\n"
	       "  --log FILE           where the container's output goes\n"
	       "  --log-max BYTES      size before rotation (default %llu)\n"
	       "  --oom-file FILE      the cgroup file whose oom_kill count tells an OOM kill\n"
	       "  --runtime-timeout MS deadline of each runtime exec, then it is killed (default %llu)\n"
	       "  --notify             relay sd_notify readiness: BUNDLE/notify/notify.sock in,\n"
	       "                       BUNDLE/notify.state out\n"
	       "  --foreground         stay attached to the caller (no daemonising)\n"
	       "  --help, --version\n",
	       (unsigned long long)SHIM_LOG_MAX_DEFAULT, (unsigned long long)SHIM_RUNTIME_TIMEOUT_DEFAULT_MS);
}

int main(int argc, char **argv)
{
	log_init("drover-shim");
	if (argc == 2 && (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0)) {
		usage();
		return 0;
	}
	if (argc == 2 && strcmp(argv[1], "--version") == 0) {
		printf("drover-shim %s\n", DROVER_VERSION);
		return 0;
	}
	return shim_main(argc, argv);
}
