/* Instance lifecycle: start through the shim, learn of the exit by an event
 * (the shim's pidfd), apply the restart policy, stop with a grace period. */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/file.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "agent/agent.h"
#include "agent/image-jobs.h"
#include "agent/instance-internal.h"
#include "agent/lifecycle.h"
#include "agent/probe.h"
#include "common/cleanup.h"
#include "common/crash.h"
#include "common/fs.h"
#include "common/log.h"
#include "common/proc.h"
#include "common/spawn.h"
#include "common/timeutil.h"

void inst_set_spec_error(struct instance *i, const char *msg)
{
	if (!msg && !i->spec_error)
		return;
	if (msg && i->spec_error && strcmp(msg, i->spec_error) == 0)
		return;
	free(i->spec_error);
	i->spec_error = msg ? strdup(msg) : NULL;
	agent_status_changed(i->a, i);
}

bool inst_is_active(const struct instance *i)
{
	return i->phase == PH_PULLING || i->phase == PH_CREATING || i->phase == PH_RUNNING ||
	       i->phase == PH_STOPPING;
}

/* Does the runtime still keep state for this container? A stat instead of a runtime exec (about
 * 20 ms) on every start, exit and removal. */
static bool runc_state_exists(const struct instance *i)
{
	_cleanup_free_ char *state = fs_path_join(i->a->runc_root, i->id);

	return !state || access(state, F_OK) == 0;
}

static void close_watch(struct instance *i)
{
	probe_stop(i); /* probes run only while the container does */
	if (i->sync_fd >= 0) {
		loop_del_fd(i->a->loop, i->sync_fd);
		close(i->sync_fd);
		i->sync_fd = -1;
	}
	if (i->shim_pidfd >= 0) {
		loop_del_fd(i->a->loop, i->shim_pidfd);
		close(i->shim_pidfd);
		i->shim_pidfd = -1;
	}
	if (i->ctr_pidfd >= 0) {
		close(i->ctr_pidfd);
		i->ctr_pidfd = -1;
	}
	if (i->kill_timer) {
		loop_timer_cancel(i->a->loop, i->kill_timer);
		i->kill_timer = NULL;
	}
	inst_start_wait_done(i);
}

/* ev: LC_EV_START_FAILED or LC_EV_IMAGE_FAILED. May free i. */
static void start_failed(struct instance *i, enum lc_event ev, const char *msg)
{
	log_err("start failed: %s id=%s", msg, i->id);
	close_watch(i);
	i->has_exit = false;
	i->pid = 0;
	i->shim_pid = 0;
	lc_event_msg(i, ev, msg);
}

static void on_shim_exit(struct loop *l, int fd, uint32_t events, void *data);

/* A pidfd for the container's process, kept only when that process is the shim's child (the shim is
 * its subreaper): a pid read back after an agent restart may name a reused, unrelated process. */
static void watch_container(struct instance *i)
{
	pid_t parent = 0;

	i->ctr_pidfd = proc_pidfd_open(i->pid);
	if (i->ctr_pidfd < 0)
		return;
	if (proc_parent(i->pid, &parent) < 0 || parent != i->shim_pid) {
		log_debug("pid %d is not the shim's child, signals go through the runtime id=%s", (int)i->pid,
			  i->id);
		close(i->ctr_pidfd);
		i->ctr_pidfd = -1;
	}
}

int inst_watch_shim(struct instance *i)
{
	i->shim_pidfd = proc_pidfd_open(i->shim_pid);
	if (i->shim_pidfd < 0 || loop_add_fd(i->a->loop, i->shim_pidfd, EPOLLIN, on_shim_exit, i) < 0) {
		log_warn("cannot watch shim pid %d, treating it as gone id=%s", (int)i->shim_pid, i->id);
		if (i->shim_pidfd >= 0)
			close(i->shim_pidfd);
		i->shim_pidfd = -1;
		inst_handle_exit(i);
		return -ESRCH;
	}
	if (i->pid > 0)
		watch_container(i);
	return 0;
}

static void sync_ok(struct instance *i, const char *line)
{
	char *end = NULL;
	long shim_pid, ctr_pid;

	errno = 0;
	shim_pid = strtol(line + 3, &end, 10);
	ctr_pid = end && *end == ' ' ? strtol(end + 1, &end, 10) : 0;
	if (errno || !end || *end || shim_pid <= 0 || ctr_pid <= 0 || shim_pid > INT32_MAX ||
	    ctr_pid > INT32_MAX) {
		start_failed(i, LC_EV_START_FAILED, "the shim sent a malformed start report");
		return;
	}
	loop_del_fd(i->a->loop, i->sync_fd);
	close(i->sync_fd);
	i->sync_fd = -1;
	inst_started(i, (pid_t)shim_pid, (pid_t)ctr_pid);
}

void inst_started(struct instance *i, pid_t shim_pid, pid_t ctr_pid)
{
	i->shim_pid = shim_pid;
	i->pid = ctr_pid;
	if (i->started_at)
		i->restarts++; /* only runs that happened count: not retries of a start that failed */
	probe_reset(i);	       /* a new run: probes start from unknown */
	if (proc_start_time(i->shim_pid, &i->shim_start) < 0)
		i->shim_start = 0;
	i->started_at = time_now_ns();
	i->finished_at = 0;
	i->has_exit = false;
	i->running_since = time_mono_ns();
	if (inst_watch_shim(i) < 0)
		return; /* handled as an exit; i may be gone */
	log_info("running pid=%d revision=%lld start_ms=%.1f id=%s", (int)ctr_pid,
		 (long long)i->spec->revision, (double)(i->running_since - i->start_begun) / 1e6, i->id);
	lc_event(i, LC_EV_START_OK); /* a removal or replacement asked for meanwhile stops it next */
	if (i->phase == PH_RUNNING && !lc_has_intent(i))
		probe_start(i, false);
}

static void on_sync(struct loop *l, int fd, uint32_t events, void *data)
{
	struct instance *i = data;
	char *nl;
	ssize_t n;

	(void)l;
	(void)events;
	n = read(fd, i->sync_buf + i->sync_len, sizeof(i->sync_buf) - 1 - i->sync_len);
	if (n < 0 && (errno == EINTR || errno == EAGAIN))
		return;
	if (n > 0)
		i->sync_len += (size_t)n;
	i->sync_buf[i->sync_len] = '\0';
	nl = strchr(i->sync_buf, '\n');
	if (nl) {
		*nl = '\0';
		if (strncmp(i->sync_buf, "ok ", 3) == 0)
			sync_ok(i, i->sync_buf);
		else
			start_failed(i, LC_EV_START_FAILED,
				     strncmp(i->sync_buf, "error ", 6) == 0 ? i->sync_buf + 6 : i->sync_buf);
		return;
	}
	if (n <= 0 || i->sync_len == sizeof(i->sync_buf) - 1)
		start_failed(i, LC_EV_START_FAILED,
			     "the shim exited before reporting a start (its errors are in the agent's log)");
}

/* BUNDLE/shim.lock, locked: the shim gets it as its stdin and keeps it open for its whole life, so a
 * restarted agent that finds the lock held knows a shim lives, even before shim.pid is written. */
static int shim_lock(struct instance *i, struct err **err)
{
	_cleanup_free_ char *path = fs_path_join(i->bundle_dir, RT_SHIM_LOCK_FILE);
	_cleanup_close_ int fd = -1;

	if (!path)
		return err_set(err, ENOMEM, "out of memory");
	fd = open(path, O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (fd < 0)
		return err_set(err, errno, "open '%s'", path);
	if (flock(fd, LOCK_EX | LOCK_NB) < 0)
		return err_set(err, errno, "lock '%s' (is a shim of this id still running?)", path);
	return TAKE_FD(fd);
}

static int spawn_shim(struct instance *i, struct err **err)
{
	struct agent *a = i->a;
	_cleanup_close_ int lock = -1;
	_cleanup_free_ char *log = fs_path_join(i->bundle_dir, "container.log");
	_cleanup_free_ char *cgpath =
	    cg_instance_path(a->cg, i->spec->qos == SPEC_QOS_BATCH ? CG_QOS_BATCH : CG_QOS_ONLINE, i->id);
	_cleanup_free_ char *oom = NULL;
	char logmax[32], timeout[32];
	int p[2];
	pid_t pid;
	int r;

	if (!log || !cgpath || !(oom = cg_oom_events_file(a->cg, cgpath)))
		return err_set(err, ENOMEM, "out of memory");
	snprintf(logmax, sizeof(logmax), "%lld", (long long)a->cfg->log_max_bytes);
	snprintf(timeout, sizeof(timeout), "%lld",
		 (long long)(a->cfg->runtime_timeout_ms > 0 ? a->cfg->runtime_timeout_ms : 120000));
	/* --foreground: spawn_exec makes the shim's session already; the shim's own fork would be one
	 * more process on every start's path. It stays our child (the SIGCHLD handler reaps it) and,
	 * like any orphan, outlives us. */
	char *argv[] = {a->shim_path,
			"--id",
			i->id,
			"--bundle",
			i->bundle_dir,
			"--runtime",
			a->runtime_path,
			"--runtime-root",
			a->runc_root,
			"--log",
			log,
			"--log-max",
			logmax,
			"--oom-file",
			oom,
			"--runtime-timeout",
			timeout,
			"--foreground",
			NULL, /* "--notify" goes here, see below */
			NULL};
	/* the readiness comes over NOTIFY_SOCKET: the shim makes and reads the socket */
	if (i->spec->probes[SPEC_PROBE_READINESS].kind == SPEC_PROBE_NOTIFY)
		argv[ELEMENTSOF(argv) - 2] = "--notify";
	lock = shim_lock(i, err);
	if (lock < 0)
		return lock;
	if (pipe2(p, O_CLOEXEC) < 0)
		return err_set(err, errno, "pipe");
	struct spawn_opts o = {.stdin_fd = lock,
			       .stdout_fd = -1,
			       .stderr_fd = STDERR_FILENO,
			       .keep_fd = p[1],
			       .new_session = true,
			       .name = "drover-shim"};
	r = spawn_exec(a->shim_path, argv, &o, &pid, err);
	close(p[1]);
	crash_point("spawn"); /* test hook: the agent dies before the shim has reported */
	if (r < 0) {
		/* the instance's message is the chain alone: name the errno here ("...: No such file...") */
		_cleanup_free_ char *msg = strdup(err_msg(*err));

		close(p[0]);
		return err_set(err, -r, "%s: %s", msg ? msg : "spawn drover-shim", strerror(-r));
	}
	i->sync_fd = p[0];
	i->sync_len = 0;
	if (loop_add_fd(a->loop, i->sync_fd, EPOLLIN, on_sync, i) < 0) {
		close(i->sync_fd);
		i->sync_fd = -1;
		return err_set(err, EIO, "watch the shim's sync pipe");
	}
	return 0;
}

/* The last run's shim.pid, container.pid and exit.json go before phase creating is saved (the
 * IMAGE_READY row publishes it before LC_ACT_CREATE): a restarted agent must not take them for this
 * start's (adopt-start.c). */
static void remove_last_run_files(struct instance *i)
{
	static const char *const names[] = {RT_EXIT_FILE, RT_SHIM_PID_FILE, RT_CONTAINER_PID_FILE};
	_cleanup_free_ char *dir = fs_path_join(i->a->bundles_dir, i->id);
	_cleanup_close_ int fd = dir ? open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC) : -1;

	if (fd < 0)
		return; /* no bundle yet: nothing to remove */
	for (size_t k = 0; k < ELEMENTSOF(names); k++)
		(void)unlinkat(fd, names[k], 0); /* absent is the normal case */
}

/* Second half of a start, once the image is resolved (LC_ACT_CREATE, in phase creating). */
void inst_create(struct instance *i, const struct img_image *img)
{
	_cleanup_err_ struct err *e = NULL;
	int64_t t_create = time_mono_ns(), t_prepared, t_spawned;
	int r;

	/* a leftover container of this id (a crash between start and record) must go first */
	if (runc_state_exists(i))
		(void)rt_runc_delete(&i->a->runc, i->id, NULL);
	r = inst_net_attach(i, &e);
	if (r >= 0 && i->ip)
		agent_status_changed(i->a, i); /* the address is known as soon as the netns is wired */
	if (r >= 0)
		r = inst_prepare(i, img, &e);
	t_prepared = time_mono_ns();
	if (r >= 0)
		r = spawn_shim(i, &e);
	if (r < 0) {
		start_failed(i, LC_EV_START_FAILED, err_msg(e)); /* its save is synced */
		return;
	}
	t_spawned = time_mono_ns();
	/* the creating record, renamed unsynced before the spawn (lifecycle-run.c), is made durable while
	 * the shim and the runtime work */
	(void)inst_sync_record(i); /* logged inside; retried as a whole save */
	/* the start's split for bench/run.sh (a3): wall_us is when the shim had been exec'd */
	log_debug("start split: to create %.2f ms, prepare %.2f ms, shim spawn %.2f ms, record sync %.2f ms "
		  "wall_us=%lld id=%s",
		  (double)(t_create - i->start_begun) / 1e6, (double)(t_prepared - t_create) / 1e6,
		  (double)(t_spawned - t_prepared) / 1e6, (double)(time_mono_ns() - t_spawned) / 1e6,
		  (long long)((time_now_ns() - (time_mono_ns() - t_spawned)) / 1000), i->id);
}

/* A removal or a replacement while the image is resolved stops the wait (LC_ACT_CANCEL_PULL), so
 * only an instance still waiting hears of its image. */
void inst_image_ready(struct instance *i, const struct img_image *img, const struct err *e)
{
	struct lc_input in = {.ev = LC_EV_IMAGE_READY, .img = img};

	if (!img) {
		start_failed(i, LC_EV_IMAGE_FAILED, err_msg(e));
		return;
	}
	remove_last_run_files(i);
	lc_run(i, &in);
}

void inst_start(struct instance *i)
{
	_cleanup_err_ struct err *e = NULL;
	struct img_image *img = NULL;
	int r;

	if (!i->spec)
		return;
	free(i->evict_msg); /* a start after an eviction (a new revision) is a fresh run */
	i->evict_msg = NULL;
	i->start_begun = time_mono_ns();
	r = agent_image_request(i->a, i, &img, &e);
	if (r < 0) {
		start_failed(i, LC_EV_IMAGE_FAILED, err_msg(e));
		return;
	}
	if (r == 0) {
		lc_event(i, LC_EV_PULL_BEGUN); /* inst_image_ready() carries on */
		return;
	}
	inst_image_ready(i, img, NULL);
	img_image_free(img);
}

void inst_read_exit_record(struct instance *i)
{
	_cleanup_free_ char *path = fs_path_join(i->bundle_dir, RT_EXIT_FILE);
	json_error_t jerr;
	json_t *doc;

	i->has_exit = false;
	i->finished_at = time_now_ns();
	doc = path ? json_load_file(path, JSON_REJECT_DUPLICATES, &jerr) : NULL;
	if (!doc)
		return;
	json_t *c = json_object_get(doc, "exit_code"), *o = json_object_get(doc, "oom_killed");
	json_t *f = json_object_get(doc, "finished_at");
	if (json_is_integer(c)) {
		i->has_exit = true;
		i->exit_code = (int)json_integer_value(c);
		i->oom_killed = json_is_true(o);
		if (json_is_integer(f) && json_integer_value(f) > 0)
			i->finished_at = json_integer_value(f);
	}
	json_decref(doc);
}

void inst_handle_exit(struct instance *i)
{
	_cleanup_err_ struct err *e = NULL;

	bool orphan = i->shim_pid == 0 && i->pid > 0;

	close_watch(i);
	inst_read_exit_record(i);
	if (!i->has_exit && i->pid > 0 && inst_watch_orphan(i))
		return; /* the shim died, its container runs on: watched through its pidfd from now on */
	if (!i->has_exit) {
		/* the shim died without a record: make sure nothing of the container is left */
		(void)rt_runc_kill(&i->a->runc, i->id, SIGKILL, true, NULL);
	}
	/* the shim deletes the container after writing its record; what a dead shim left, goes here */
	if (runc_state_exists(i) && rt_runc_delete(&i->a->runc, i->id, &e) < 0)
		log_warn("runc delete: %s, ignoring id=%s", err_msg(e), i->id);
	i->pid = 0;
	i->shim_pid = 0;
	log_info("exited code=%d oom=%d id=%s", i->has_exit ? i->exit_code : -1, i->oom_killed, i->id);
	/* the reason, then removal, replacement or the restart policy; an orphan's code is unknown */
	lc_event_msg(i, LC_EV_EXITED,
		     !i->has_exit && orphan
			 ? "the container exited after its shim was killed: exit code unknown"
			 : NULL);
}

static void on_shim_exit(struct loop *l, int fd, uint32_t events, void *data)
{
	(void)l;
	(void)fd;
	(void)events;
	inst_handle_exit(data);
}

/* Through the container's pidfd, else through the runtime (which checks the process is still the
 * container's, and runs under a deadline). Never kill(pid): after an adoption the pid may be reused. */
static void send_signal(struct instance *i, int sig)
{
	_cleanup_err_ struct err *e = NULL;

	if (i->ctr_pidfd >= 0 && syscall(SYS_pidfd_send_signal, i->ctr_pidfd, sig, NULL, 0) == 0)
		return;
	if (i->ctr_pidfd >= 0 && errno == ESRCH)
		return; /* the container's process is gone: its exit is on its way */
	if (rt_runc_kill(&i->a->runc, i->id, sig, false, &e) < 0 && e && e->errnum != ENOENT &&
	    e->errnum != ESRCH)
		log_warn("%s, ignoring id=%s", err_msg(e), i->id);
}

static void kill_fired(struct loop *l, void *data)
{
	struct instance *i = data;

	(void)l;
	i->kill_timer = NULL;
	lc_event(i, LC_EV_GRACE_EXPIRED);
}

void inst_signal_stop(struct instance *i)
{
	send_signal(i, SIGTERM);
	i->kill_timer = loop_timer_add(i->a->loop, inst_stop_grace_ms(i), kill_fired, i);
	crash_point("stop"); /* test hook: the agent dies during a stop */
}

void inst_signal_kill(struct instance *i)
{
	if (i->kill_timer) {
		loop_timer_cancel(i->a->loop, i->kill_timer);
		i->kill_timer = NULL;
	}
	send_signal(i, SIGKILL);
}

void inst_cut_grace(struct instance *i)
{
	if (i->kill_timer) /* none: SIGKILL was sent already */
		inst_signal_kill(i);
}

/* The spec's grace period, cut to the operator's --max-stop-grace. */
int64_t inst_stop_grace_ms(const struct instance *i)
{
	int64_t grace = i->spec ? i->spec->stop_grace_ms : 0;
	int64_t cap = i->a->cfg->stop_grace_cap_ms;

	return cap > 0 && grace > cap ? cap : grace;
}

void inst_cleanup(struct instance *i)
{
	_cleanup_err_ struct err *e = NULL;
	_cleanup_free_ char *cgpath = NULL;

	close_watch(i);
	if (i->restart_timer) {
		loop_timer_cancel(i->a->loop, i->restart_timer);
		i->restart_timer = NULL;
	}
	if (runc_state_exists(i) && rt_runc_delete(&i->a->runc, i->id, &e) < 0) {
		log_warn("%s, ignoring id=%s", err_msg(e), i->id);
		err_free(&e);
	}
	if (i->spec) {
		cgpath = cg_instance_path(
		    i->a->cg, i->spec->qos == SPEC_QOS_BATCH ? CG_QOS_BATCH : CG_QOS_ONLINE, i->id);
		if (cgpath && cg_instance_remove(i->a->cg, cgpath, &e) < 0) {
			log_warn("%s, ignoring id=%s", err_msg(e), i->id);
			err_free(&e);
		}
	}
	inst_net_detach(i);
	if (!i->bundle_dir)
		i->bundle_dir = fs_path_join(i->a->bundles_dir, i->id);
	if (i->bundle_dir) {
		if (agent_trash_rootfs(i->a, i->bundle_dir, i->id, &e) < 0)
			log_warn("%s, ignoring id=%s", err_msg(e), i->id);
		else
			(void)agent_trash_path(i->a, i->bundle_dir, i->id); /* logged inside */
	}
}
