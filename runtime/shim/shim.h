#pragma once
/* drover-shim internals: one process per container, parent of runc create, owner of the container's stdio,
 * the capped log and the exit record. See runtime/shim/README.md for the protocol. Links libc only. */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "common/err.h"

#define SHIM_LINE_MAX 16384		       /* longer lines are cut into P records */
#define SHIM_LOG_MAX_DEFAULT (10ULL << 20)     /* --log-max default: 10 MiB */
#define SHIM_DRAIN_MS 2000		       /* how long output is drained after init exits */
#define SHIM_RUNTIME_TIMEOUT_DEFAULT_MS 120000 /* --runtime-timeout default: 2 min per runtime exec */
#define SHIM_ENV_PATH "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

/* shim-args.c */
struct shim_args {
	const char *id;
	char *bundle; /* all paths are absolute (made so at parse time) */
	char *runtime;
	char *runtime_root;
	char *log_path;
	char *oom_file; /* NULL: no OOM accounting */
	char *runc_log; /* BUNDLE/runc.log */
	char *pid_file; /* BUNDLE/container.pid */
	uint64_t log_max;
	uint64_t runtime_timeout_ms; /* deadline of each runtime exec; then it is killed */
	bool foreground;	     /* debugging and tests: do not fork away from the caller */
	bool notify;		     /* relay sd_notify readiness (BUNDLE/notify/notify.sock) */
};

int shim_args_parse(int argc, char *const *argv, struct shim_args *ret, struct err **err);
void shim_args_done(struct shim_args *a);

/* shim-spawn.c: spawn_exec with the shim's PATH; the child gets fds 0-2 and nothing else, dies with
 * the shim, and a program that cannot be exec'd is an error here ("cannot exec 'PATH'"). */
int shim_spawn(const char *path, char *const *argv, int fd_in, int fd_out, int fd_err, pid_t *ret_pid,
	       struct err **err);
/* Blocks until pid exits; returns its wait status. */
int shim_wait(pid_t pid, int *ret_status);
/* The same with a deadline: a child still running after timeout_ms is killed (SIGKILL), reaped, and
 * the result is -ETIMEDOUT. */
int shim_wait_deadline(pid_t pid, uint64_t timeout_ms, int *ret_status);
/* "exit status 3" / "killed by signal 9"; buf needs 32 bytes. */
void shim_status_str(int status, char *buf, size_t size);

/* shim-runc.c */
/* `runc run --detach` with the container's stdout/stderr on out_fd/err_fd. */
int shim_runc_run(const struct shim_args *a, int out_fd, int err_fd, struct err **err);
/* Best effort: runc delete --force ID (stdio on /dev/null). */
void shim_runc_delete_force(const struct shim_args *a);
/* Copies the "msg" of the last JSON line in buf (preferring error level lines) into out as one line.
 * Returns its length, or -ENOENT when no line carries a msg. */
int shim_runc_last_msg(const char *buf, size_t len, char *out, size_t size);
int shim_parse_pid(const char *s, pid_t *ret);
int shim_read_container_pid(int bundle_fd, pid_t *ret, struct err **err);

/* shim-log.c: framing of container output and the capped log file. */
struct shim_record {
	const char *stream; /* "stdout" / "stderr" */
	char tag;	    /* 'F' full line, 'P' partial */
	const char *text;   /* without the newline */
	size_t len;
};

struct shim_linebuf {
	const char *stream;
	size_t len;
	char buf[SHIM_LINE_MAX + 1]; /* one byte more than a record, to see whether a newline follows */
};

struct shim_logfile {
	int fd;
	char *path;
	char *path_old; /* path + ".1" */
	uint64_t size;
	uint64_t max;
	bool warned; /* a write error was logged once */
};

/* Reads what fd has into lb. Returns bytes read, 0 on EOF, -EAGAIN when empty, -errno on error. */
ssize_t shim_linebuf_read(struct shim_linebuf *lb, int fd);
/* Emits every complete line of lb as F, a full buffer without newline as P, and at eof the rest as P.
 * Keeps any incomplete tail. Returns the number of records emitted or the first emit error. */
int shim_frame(struct shim_linebuf *lb, bool eof, int (*emit)(void *ctx, const struct shim_record *rec),
	       void *ctx);
/* "RFC3339NANO STREAM T " into buf; returns its length. buf needs 64 bytes. */
size_t shim_record_header(int64_t ns, const struct shim_record *rec, char *buf, size_t size);

int shim_logfile_open(struct shim_logfile *lf, const char *path, uint64_t max, struct err **err);
/* One record, one write(2); rotates to path.1 first when the record would pass max. */
int shim_logfile_write(struct shim_logfile *lf, int64_t ns, const struct shim_record *rec);
/* shim_frame emit callback for a struct shim_logfile; never fails (errors are logged once). */
int shim_logfile_emit(void *ctx, const struct shim_record *rec);
void shim_logfile_close(struct shim_logfile *lf);

/* shim-exit.c */
struct shim_exit {
	int exit_code; /* 128+signal when killed */
	int signal;
	bool oom_killed;
	int64_t started_at; /* ns since the epoch */
	int64_t finished_at;
};

void shim_exit_from_status(int status, struct shim_exit *e);
/* The exit.json text, newline-terminated; returns its length (< size) or -ENOBUFS. */
int shim_exit_format(const struct shim_exit *e, char *buf, size_t size);
int shim_exit_write(int bundle_fd, const struct shim_exit *e, struct err **err);
/* Finds the "oom_kill N" line of v1 memory.oom_control or v2 memory.events. */
int shim_parse_oom_kill(const char *text, uint64_t *ret);
int shim_read_oom_kill(const char *path, uint64_t *ret);
int shim_parse_u64(const char *s, const char **ret_end, uint64_t *ret);

/* shim-notify.c: the container's NOTIFY_SOCKET (sd_notify datagrams). Only READY=1 and STOPPING=1
 * count; the readiness they give is kept in BUNDLE/notify.state for droverd. */
#define SHIM_NOTIFY_DIR "notify"	      /* in the bundle; bind-mounted read-only into the container */
#define SHIM_NOTIFY_SOCK "notify/notify.sock" /* the socket, relative to the bundle */
#define SHIM_NOTIFY_STATE "notify.state"      /* "ready\n" or "stopping\n", written atomically */
#define SHIM_NOTIFY_DGRAM_MAX 4096	      /* a longer datagram is junk and ignored */
#define SHIM_NOTIFY_RATE 64		      /* datagrams read per second at most; then the socket rests */

enum { SHIM_NOTIFY_READY = 1 << 0, SHIM_NOTIFY_STOPPING = 1 << 1 };
enum shim_notify_state { SHIM_NOTIFY_NONE, SHIM_NOTIFY_IS_READY, SHIM_NOTIFY_IS_STOPPING };

struct shim_notify {
	int fd;	       /* -1: not relaying (no --notify, or done after STOPPING=1) */
	int bundle_fd; /* where the state file goes */
	enum shim_notify_state state;
	int64_t window_start; /* monotonic ns of the current one-second rate window */
	unsigned in_window;   /* datagrams read in it */
};

/* The flags of one datagram: newline-separated VAR=VALUE assignments, of which only the exact lines
 * READY=1 and STOPPING=1 mean something. A datagram holding a NUL byte is junk (0). */
unsigned shim_notify_parse(const char *buf, size_t len);
/* The next state after a datagram's flags: none -> ready -> stopping, and stopping is final. */
enum shim_notify_state shim_notify_next(enum shim_notify_state s, unsigned flags);
/* Makes BUNDLE/notify/ (0755) with a fresh datagram socket in it that any user can send to, and
 * removes a notify.state an earlier run left. */
int shim_notify_open(struct shim_notify *n, int bundle_fd, struct err **err);
/* Reads what the socket holds, within the rate budget; never blocks. */
void shim_notify_pump(struct shim_notify *n);
/* The fd to poll (-1 while resting or done) and how long the rest still lasts (-1: no rest). */
int shim_notify_poll_fd(const struct shim_notify *n, int64_t now_mono, int *ret_timeout_ms);
void shim_notify_close(struct shim_notify *n);

/* shim-loop.c */
struct shim_loop {
	int sigfd;		    /* signalfd for SIGCHLD */
	struct shim_notify *notify; /* NULL: no notify socket */
	int fds[2];
	struct shim_linebuf *lb[2];
	struct shim_logfile *lf;
	pid_t init_pid;
	int status; /* wait status of init, valid when exited */
	bool exited;
	int64_t finished_at;
};

/* Copies output to the log until init exits, then drains the pipes (EOF or SHIM_DRAIN_MS). */
int shim_loop_run(struct shim_loop *l, struct err **err);
/* Reaps every exited child; records init's status in l. */
void shim_loop_reap(struct shim_loop *l);
