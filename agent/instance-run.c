/* Instance lifecycle: start through the shim, learn of the exit by an event
 * (the shim's pidfd), apply the restart policy, stop with a grace period. */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "agent/agent.h"
#include "agent/image-jobs.h"
#include "agent/instance-internal.h"
#include "common/cleanup.h"
#include "common/fs.h"
#include "common/log.h"
#include "common/proc.h"
#include "common/timeutil.h"

#define BACKOFF_START_MS 1000
#define BACKOFF_MAX_MS (300 * 1000)
#define BACKOFF_RESET_NS (600LL * 1000000000LL)

static void set_phase_v(struct instance *i, enum inst_phase p, const char *reason, const char *fmt, va_list ap)
{
	i->phase = p;
	snprintf(i->reason, sizeof(i->reason), "%s", reason ? reason : "");
	free(i->message);
	i->message = NULL;
	if (fmt && vasprintf(&i->message, fmt, ap) < 0)
		i->message = NULL;
}

void inst_set_phase(struct instance *i, enum inst_phase p, const char *reason, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	set_phase_v(i, p, reason, fmt, ap);
	va_end(ap);
	agent_status_changed(i->a, i);
}

void inst_set_phase_quiet(struct instance *i, enum inst_phase p, const char *reason, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	set_phase_v(i, p, reason, fmt, ap);
	va_end(ap);
	i->unpublished = true;
}

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
}

static void restart_fired(struct loop *l, void *data);

/* Whether the policy restarts i, and after how long. */
static bool policy_delay(struct instance *i, int64_t *ret_delay)
{
	bool failed = !i->has_exit || i->exit_code != 0 || i->oom_killed;
	int64_t delay;

	if (i->removing || i->next_spec || !i->spec || i->evict_msg)
		return false; /* an evicted instance stays down: its place is the node's */
	if (i->spec->restart == SPEC_RESTART_NEVER || (i->spec->restart == SPEC_RESTART_ON_FAILURE && !failed))
		return false;
	if (i->running_since && time_mono_ns() - i->running_since >= BACKOFF_RESET_NS)
		i->backoff_ms = 0;
	delay = i->backoff_ms ? i->backoff_ms : BACKOFF_START_MS;
	i->backoff_ms = delay * 2 > BACKOFF_MAX_MS ? BACKOFF_MAX_MS : delay * 2;
	*ret_delay = delay;
	return true;
}

/* After an exit or a failed start: what the restart policy says, with back-off. The outcome is
 * published once: the exit (with next_try_at when a restart is due), or, for a start that never
 * got a container running, phase pending with the failure's reason and a back-off message. */
void inst_apply_policy(struct instance *i)
{
	int64_t delay;

	i->next_try_at = 0;
	if (!policy_delay(i, &delay)) {
		if (i->unpublished)
			agent_status_changed(i->a, i);
		return;
	}
	log_info("restarting in %lld ms (policy %s) id=%s", (long long)delay, spec_restart_name(i->spec->restart),
		 i->id);
	if (i->restart_timer)
		loop_timer_cancel(i->a->loop, i->restart_timer);
	i->restart_timer = loop_timer_add(i->a->loop, delay, restart_fired, i);
	i->next_try_at = time_now_ns() + delay * 1000000LL;
	if (i->phase == PH_FAILED &&
	    (strcmp(i->reason, "StartFailed") == 0 || strcmp(i->reason, "ImagePullFailed") == 0)) {
		_cleanup_free_ char *why = TAKE_PTR(i->message);
		char reason[sizeof(i->reason)];

		snprintf(reason, sizeof(reason), "%s", i->reason);
		inst_set_phase_quiet(i, PH_PENDING, reason, "backoff: next try in %lld ms: %s", (long long)delay,
				     why ? why : "start failed");
	}
	agent_status_changed(i->a, i);
}

static void restart_fired(struct loop *l, void *data)
{
	struct instance *i = data;

	(void)l;
	i->restart_timer = NULL;
	i->next_try_at = 0;
	inst_start(i);
}

static void start_failed(struct instance *i, const char *reason, const char *msg)
{
	log_err("start failed: %s id=%s", msg, i->id);
	close_watch(i);
	i->has_exit = false;
	i->pid = 0;
	i->shim_pid = 0;
	inst_set_phase_quiet(i, PH_FAILED, reason, "%s", msg);
	agent_after_exit(i->a, i);
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
		log_debug("pid %d is not the shim's child, signals go through the runtime id=%s", (int)i->pid, i->id);
		close(i->ctr_pidfd);
		i->ctr_pidfd = -1;
	}
}

void inst_watch_shim(struct instance *i)
{
	i->shim_pidfd = proc_pidfd_open(i->shim_pid);
	if (i->shim_pidfd < 0 || loop_add_fd(i->a->loop, i->shim_pidfd, EPOLLIN, on_shim_exit, i) < 0) {
		log_warn("cannot watch shim pid %d, treating it as gone id=%s", (int)i->shim_pid, i->id);
		if (i->shim_pidfd >= 0)
			close(i->shim_pidfd);
		i->shim_pidfd = -1;
		inst_handle_exit(i);
		return;
	}
	if (i->pid > 0)
		watch_container(i);
}

static void sync_ok(struct instance *i, const char *line)
{
	char *end = NULL;
	long shim_pid, ctr_pid;

	errno = 0;
	shim_pid = strtol(line + 3, &end, 10);
	ctr_pid = end && *end == ' ' ? strtol(end + 1, &end, 10) : 0;
	if (errno || !end || *end || shim_pid <= 0 || ctr_pid <= 0 || shim_pid > INT32_MAX || ctr_pid > INT32_MAX) {
		start_failed(i, "StartFailed", "the shim sent a malformed start report");
		return;
	}
	loop_del_fd(i->a->loop, i->sync_fd);
	close(i->sync_fd);
	i->sync_fd = -1;
	i->shim_pid = (pid_t)shim_pid;
	i->pid = (pid_t)ctr_pid;
	if (i->started_at)
		i->restarts++; /* only runs that happened count: not retries of a start that failed */
	i->killed_after_grace = false;
	if (proc_start_time(i->shim_pid, &i->shim_start) < 0)
		i->shim_start = 0;
	i->started_at = time_now_ns();
	i->finished_at = 0;
	i->has_exit = false;
	i->running_since = time_mono_ns();
	inst_watch_shim(i);
	if (i->shim_pidfd < 0)
		return;
	log_info("running pid=%ld revision=%lld start_ms=%.1f id=%s", ctr_pid, (long long)i->spec->revision,
		 (double)(i->running_since - i->start_begun) / 1e6, i->id);
	inst_set_phase(i, PH_RUNNING, "", NULL);
	if (i->removing || i->next_spec)
		inst_stop(i);
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
			start_failed(i, "StartFailed",
				     strncmp(i->sync_buf, "error ", 6) == 0 ? i->sync_buf + 6 : i->sync_buf);
		return;
	}
	if (n <= 0 || i->sync_len == sizeof(i->sync_buf) - 1)
		start_failed(i, "StartFailed", "the shim exited before reporting a start; see runc.log in the bundle");
}

static int spawn_shim(struct instance *i, struct err **err)
{
	struct agent *a = i->a;
	_cleanup_free_ char *log = fs_path_join(i->bundle_dir, "container.log");
	_cleanup_free_ char *cgpath = cg_instance_path(a->cg, i->spec->qos == SPEC_QOS_BATCH ? CG_QOS_BATCH : CG_QOS_ONLINE, i->id);
	_cleanup_free_ char *oom = NULL;
	char logmax[32];
	int p[2];
	pid_t pid;
	int r;

	if (!log || !cgpath || !(oom = cg_oom_events_file(a->cg, cgpath)))
		return err_set(err, ENOMEM, "out of memory");
	snprintf(logmax, sizeof(logmax), "%lld", (long long)a->cfg->log_max_bytes);
	char *argv[] = {a->shim_path, "--id", i->id, "--bundle", i->bundle_dir, "--runtime", a->runtime_path,
			"--runtime-root", a->runc_root, "--log", log, "--log-max", logmax, "--oom-file", oom, NULL};
	if (pipe2(p, O_CLOEXEC) < 0)
		return err_set(err, errno, "pipe");
	struct proc_opts o = {.stdin_fd = -1, .stdout_fd = -1, .stderr_fd = STDERR_FILENO, .keep_fd = p[1],
			      .new_session = true};
	r = proc_spawn(a->shim_path, argv, &o, &pid, err);
	close(p[1]);
	if (r < 0) {
		close(p[0]);
		return r;
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

/* Second half of a start, once the image is resolved. */
static void create(struct instance *i, const struct img_image *img)
{
	_cleanup_err_ struct err *e = NULL;
	int r;

	if (i->phase != PH_CREATING)
		inst_set_phase(i, PH_CREATING, "", NULL);
	/* a leftover container of this id (a crash between start and record) must go first */
	if (runc_state_exists(i))
		(void)rt_runc_delete(&i->a->runc, i->id, NULL);
	r = inst_net_attach(i, &e);
	if (r >= 0 && i->ip)
		agent_status_changed(i->a, i); /* the address is known as soon as the netns is wired */
	if (r >= 0)
		r = inst_prepare(i, img, &e);
	log_debug("prepared in %.1f ms id=%s", (double)(time_mono_ns() - i->start_begun) / 1e6, i->id);
	if (r >= 0)
		r = spawn_shim(i, &e);
	if (r < 0)
		start_failed(i, "StartFailed", err_msg(e));
}

void inst_image_ready(struct instance *i, const struct img_image *img, const struct err *e)
{
	if (i->removing || i->next_spec) {
		/* removed or replaced while its image was being resolved: nothing was started */
		i->phase = PH_EXITED;
		agent_after_exit(i->a, i);
		return;
	}
	if (!img) {
		start_failed(i, "ImagePullFailed", err_msg(e));
		return;
	}
	create(i, img);
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
		start_failed(i, "ImagePullFailed", err_msg(e));
		return;
	}
	if (r == 0) {
		inst_set_phase(i, PH_PULLING, "", NULL); /* inst_image_ready() carries on */
		return;
	}
	create(i, img);
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

	close_watch(i);
	inst_read_exit_record(i);
	if (!i->has_exit) {
		/* the shim died without a record: make sure nothing of the container is left */
		(void)rt_runc_kill(&i->a->runc, i->id, SIGKILL, true, NULL);
	}
	/* the shim deletes the container after writing its record; what a dead shim left, goes here */
	if (runc_state_exists(i) && rt_runc_delete(&i->a->runc, i->id, &e) < 0)
		log_warn("runc delete: %s, ignoring id=%s", err_msg(e), i->id);
	i->pid = 0;
	i->shim_pid = 0;
	if (!i->has_exit)
		inst_set_phase_quiet(i, PH_FAILED, "Error", "the shim exited without an exit record");
	else if (i->oom_killed)
		inst_set_phase_quiet(i, PH_EXITED, "OOMKilled", "exit code %d", i->exit_code);
	else if (i->exit_code == 0)
		inst_set_phase_quiet(i, PH_EXITED, "Completed", NULL);
	else if (i->killed_after_grace && i->exit_code == 128 + SIGKILL)
		inst_set_phase_quiet(i, PH_EXITED, "Error", "Killed after grace period (exit code %d)", i->exit_code);
	else
		inst_set_phase_quiet(i, PH_EXITED, "Error", "exit code %d", i->exit_code);
	if (i->evict_msg)
		inst_set_phase_quiet(i, PH_FAILED, "Evicted", "%s", i->evict_msg);
	log_info("exited code=%d oom=%d id=%s", i->has_exit ? i->exit_code : -1, i->oom_killed, i->id);
	agent_after_exit(i->a, i);
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
	log_notice("grace period over, sending SIGKILL id=%s", i->id);
	i->killed_after_grace = true;
	send_signal(i, SIGKILL);
}

void inst_stop(struct instance *i)
{
	if (i->restart_timer) {
		loop_timer_cancel(i->a->loop, i->restart_timer);
		i->restart_timer = NULL;
	}
	if (i->phase == PH_PULLING) {
		/* nothing runs yet: stop waiting for the image now (the pull is killed if nobody else
		 * waits for it), so a removal or a replacement takes effect at once */
		if (i->next_spec && i->spec && strcmp(i->next_spec->image, i->spec->image) == 0)
			agent_image_forget(i->a, i); /* the new revision joins the same pull */
		else
			agent_image_cancel(i->a, i);
		i->phase = PH_EXITED;
		agent_after_exit(i->a, i);
		return;
	}
	if (i->phase == PH_CREATING)
		return; /* sync_ok sees removing/next_spec and acts then */
	if (i->phase != PH_RUNNING && i->phase != PH_STOPPING) {
		agent_after_exit(i->a, i);
		return;
	}
	if (i->phase == PH_STOPPING) {
		if (i->force_stop && i->kill_timer) { /* a forced removal cuts a grace period short */
			loop_timer_cancel(i->a->loop, i->kill_timer);
			i->kill_timer = NULL;
			send_signal(i, SIGKILL);
		}
		return;
	}
	inst_set_phase(i, PH_STOPPING, "", NULL);
	if (i->force_stop) {
		log_notice("forced stop, sending SIGKILL id=%s", i->id);
		send_signal(i, SIGKILL);
		return;
	}
	send_signal(i, SIGTERM);
	i->kill_timer = loop_timer_add(i->a->loop, inst_stop_grace_ms(i), kill_fired, i);
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
		cgpath = cg_instance_path(i->a->cg, i->spec->qos == SPEC_QOS_BATCH ? CG_QOS_BATCH : CG_QOS_ONLINE, i->id);
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
