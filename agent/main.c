/* droverd: the drover node agent. */
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <malloc.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/capability.h>
#include <sys/epoll.h>
#include <sys/file.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <systemd/sd-daemon.h>

#include "agent/agent.h"
#include "agent/api.h"
#include "agent/cgroot.h"
#include "agent/coloc.h"
#include "agent/events.h"
#include "agent/fd-limit.h"
#include "agent/history.h"
#include "agent/image-jobs.h"
#include "agent/instance.h"
#include "agent/node-resources.h"
#include "agent/lifecycle.h"
#include "agent/probe.h"
#include "agent/runtime-check.h"
#include "agent/source-dir.h"
#include "agent/source-etcd.h"
#include "agent/source-pull.h"
#include "agent/source.h"
#include "agent/trash.h"
#include "common/cleanup.h"
#include "common/fs.h"
#include "common/log.h"
#include "common/proc.h"
#include "common/timeutil.h"
#include "net/net.h"
#include "common/version.h"

static void on_signal(struct loop *l, int fd, uint32_t events, void *data)
{
	struct signalfd_siginfo si;

	(void)events;
	(void)data;
	while (read(fd, &si, sizeof(si)) == (ssize_t)sizeof(si)) {
		if (si.ssi_signo == SIGCHLD) {
			/* the shims (spawned --foreground, watched through their pidfds), exec probes and the
			 * trash child */
			int status;
			pid_t pid;
			while ((pid = waitpid(-1, &status, WNOHANG)) > 0)
				(void)probe_reaped(pid, status); /* exec probes take their exit status */
			continue;
		}
		log_notice("signal %d: stopping; containers keep running and will be adopted",
			   (int)si.ssi_signo);
		loop_quit(l, 0);
	}
}

static int setup_signals(struct loop *l)
{
	sigset_t mask;
	int fd;

	signal(SIGPIPE, SIG_IGN);
	sigemptyset(&mask);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGINT);
	sigaddset(&mask, SIGHUP);
	sigaddset(&mask, SIGCHLD);
	if (sigprocmask(SIG_BLOCK, &mask, NULL) < 0)
		return -errno;
	fd = signalfd(-1, &mask, SFD_CLOEXEC | SFD_NONBLOCK);
	if (fd < 0)
		return -errno;
	return loop_add_fd(l, fd, EPOLLIN, on_signal, NULL);
}

static void watchdog_ping(struct loop *l, void *data)
{
	uint64_t usec = *(uint64_t *)data;

	(void)sd_notify(0, "WATCHDOG=1"); /* no systemd: nothing listens, nothing to do */
	(void)loop_timer_add(l, (int64_t)(usec / 2000), watchdog_ping, data);
}

static int set_paths(struct agent *a)
{
	struct agent_config *c = a->cfg;

	a->instances_dir = fs_path_join(c->state_dir, "instances");
	a->bundles_dir = fs_path_join(c->state_dir, "bundles");
	a->runc_root = fs_path_join(c->run_dir, "runc");
	a->images_dir = fs_path_join(c->state_dir, "images");
	a->net_dir = fs_path_join(c->state_dir, "net");
	if (!a->instances_dir || !a->bundles_dir || !a->runc_root || !a->images_dir || !a->net_dir)
		return -ENOMEM;
	return 0;
}

static int make_dirs(struct agent *a)
{
	struct agent_config *c = a->cfg;
	int r;

	if ((r = fs_mkdir_p(AT_FDCWD, c->state_dir, 0700)) < 0 ||
	    (r = fs_mkdir_p(AT_FDCWD, a->instances_dir, 0700)) < 0 ||
	    (r = fs_mkdir_p(AT_FDCWD, a->bundles_dir, 0700)) < 0 ||
	    (r = fs_mkdir_p(AT_FDCWD, c->run_dir, 0700)) < 0 ||
	    (r = fs_mkdir_p(AT_FDCWD, a->runc_root, 0700)) < 0)
		return log_err_errno(r, "create the state and run directories");
	return 0;
}

/* A program installed next to droverd (drover-shim, drover-image). */
static char *sibling(const char *name)
{
	char self[PATH_MAX];
	ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);
	char *path;

	if (n < 0)
		return NULL;
	self[n] = '\0';
	path = fs_path_join(dirname(self), name);
	if (path && access(path, X_OK) < 0) {
		free(path);
		return NULL;
	}
	return path;
}

static int resolve_programs(struct agent *a, struct err **err)
{
	struct stat st;
	int r;

	r = proc_find_exe(a->cfg->runtime, &a->runtime_path);
	if (r >= 0 && (stat(a->runtime_path, &st) < 0 || !S_ISREG(st.st_mode)))
		r = -EACCES;
	if (r < 0)
		return err_field(err, "runtime", -r,
				 "--runtime '%s' is not an executable program (nor found on PATH): %s",
				 a->cfg->runtime, strerror(-r));
	a->image_tool = sibling("drover-image");
	if (!a->image_tool)
		return err_set(err, ENOENT, "drover-image not found next to droverd");
	if (!a->cfg->shim) {
		a->shim_path = sibling("drover-shim");
		if (!a->shim_path)
			return err_set(err, ENOENT, "drover-shim not found next to droverd (use --shim)");
		return 0;
	}
	r = proc_find_exe(a->cfg->shim, &a->shim_path);
	if (r < 0)
		return err_field(err, "shim", -r, "--shim '%s' is not an executable program: %s",
				 a->cfg->shim, strerror(-r));
	return 0;
}

static bool has_sys_resource(void)
{
	cap_t caps = cap_get_proc();
	cap_flag_value_t v = CAP_CLEAR;

	if (caps) {
		(void)cap_get_flag(caps, CAP_SYS_RESOURCE, CAP_EFFECTIVE, &v);
		cap_free(caps);
	}
	return v == CAP_SET;
}

static int setup(struct agent *a)
{
	_cleanup_err_ struct err *e = NULL;
	int r;

	a->started_mono = time_mono_ns();
	fd_limit_raise(a->cfg->max_instances); /* two pidfds per instance: 500 need more than 1024 */
	probe_set_failed_handler(lc_liveness_failed);
	inst_set_free_hook(probe_stop);
	/* without CAP_SYS_RESOURCE no process may lower an oom_score_adj below 0 */
	a->oom_adj_online = has_sys_resource() ? -500 : 0;
	if ((r = agent_lock_all(a, AGENT_NFT_LOCK_DIR, &e)) < 0)
		return log_err_errno(r, "%s", err_msg(e));
	if ((r = make_dirs(a)) < 0)
		return r;
	a->runc.runtime = a->runtime_path;
	a->runc.runtime_root = a->runc_root;
	cgroot_node_allocatable(a);
	r = cgroot_setup(a, &e);
	if (r < 0)
		return log_err_errno(r, "cgroups: %s", err_msg(e));
	r = loop_new(&a->loop);
	if (r < 0)
		return r;
	if ((r = coloc_setup(a, &e)) < 0)
		return log_err_errno(r, "colocation: %s", err_msg(e));
	return agent_trash_setup(a);
}

static int events_open_state(struct agent *a)
{
	_cleanup_err_ struct err *e = NULL;
	_cleanup_free_ char *dir = fs_path_join(a->cfg->state_dir, "events");

	if (!dir || events_open(dir, &e) < 0)
		return log_err_errno(-EIO, "events: %s", err_msg(e));
	return 0;
}

/* Everything the flags name is checked before anything is created: exit 2 on a bad one. */
static int check_start(struct agent *a, struct err **err)
{
	struct node_res reserved;
	char host[256];
	int r;

	if ((r = config_check(a->cfg, err)) < 0)
		return r;
	if (a->cfg->log_level && log_set_level_str(a->cfg->log_level) < 0)
		return err_field(err, "log-level", EINVAL,
				 "--log-level must be err, warning, notice, info or debug, got '%s'",
				 a->cfg->log_level);
	if (a->cfg->default_memory > 0 && a->cfg->default_memory < 4 * 1024 * 1024)
		return err_field(err, "default-memory", EINVAL,
				 "--default-memory must be 0 (none) or at least 4Mi");
	if ((r = node_res_parse(a->cfg->system_reserved, &reserved, err)) < 0 ||
	    (r = api_tcp_check(a->cfg, err)) < 0 || (r = cp_config_check(a->cfg, err)) < 0 ||
	    (r = etcd_config_check(a->cfg, err)) < 0 || (r = coloc_config_check(a->cfg, err)) < 0)
		return r;
	if ((r = resolve_programs(a, err)) < 0 || (r = set_paths(a)) < 0)
		return r;
	if ((r = agent_runtime_check(a->runtime_path, a->cfg->runtime_version_check)) < 0)
		return err_field(err, "runtime", -r, "--runtime '%s' refused (see the line above)",
				 a->runtime_path);
	if (gethostname(host, sizeof(host)) < 0)
		snprintf(host, sizeof(host), "localhost");
	a->node_name = strdup(a->cfg->node_name ? a->cfg->node_name : host);
	return a->node_name ? 0 : err_set(err, ENOMEM, "out of memory");
}

static int serve(struct agent *a)
{
	_cleanup_err_ struct err *e = NULL;
	_cleanup_free_ char *sock = fs_path_join(a->cfg->run_dir, "droverd.sock");
	static uint64_t wd_usec;
	int r;

	if ((r = setup_signals(a->loop)) < 0)
		return log_err_errno(r, "signals");
	if ((r = events_open_state(a)) < 0 || (r = agent_adopt(a)) < 0)
		return r;
	if (!a->cfg->no_assignments_dir && (r = dir_source_start(a, a->cfg->assignments_dir, &a->dir)) < 0)
		return r;
	if ((r = agent_sources_start(a)) < 0 ||
	    (a->cfg->control_plane && (r = cp_source_start(a, &a->cp)) < 0))
		return r;
	if (a->cfg->etcd && (r = etcd_source_start(a, &a->etcd)) < 0)
		return r;
	agent_net_reclaim(a); /* after adoption and the dir: only what no instance owns goes */
	if (!sock || (r = api_start(a, sock, &a->api, &e)) < 0) {
		log_err("API: %s", err_msg(e));
		return r < 0 ? r : -ENOMEM;
	}
	log_info("serving on '%s' node=%s runtime=%s cgroup=%s", sock, a->node_name, a->runtime_path,
		 cg_version_name(cg_ctx_version(a->cg)));
	(void)sd_notify(0, "READY=1\nSTATUS=serving"); /* only now: the API answers */
	if (sd_watchdog_enabled(0, &wd_usec) > 0 && wd_usec > 0)
		(void)loop_timer_add(a->loop, (int64_t)(wd_usec / 2000), watchdog_ping, &wd_usec);
	r = loop_run(a->loop);
	(void)sd_notify(0, "STOPPING=1");
	return r;
}

int main(int argc, char **argv)
{
	_cleanup_err_ struct err *e = NULL;
	struct agent_config cfg;
	struct agent a = {0};
	int r, status;

	log_init("droverd");
	/* one long-lived single-threaded process: big buffers go to mmap (returned when freed) and
	 * free heap is given back sooner, so bursts of API traffic do not stay resident */
	(void)mallopt(M_MMAP_THRESHOLD, 64 * 1024);
	(void)mallopt(M_TRIM_THRESHOLD, 128 * 1024);
	(void)mallopt(M_ARENA_MAX, 1);
	r = config_load(argc, argv, &cfg, &e);
	if (r == 1 || r == 2 || r == 3) {
		if (r == 1)
			config_usage();
		else if (r == 2)
			printf("droverd %s\n", DROVER_VERSION);
		else
			config_print_example();
		config_done(&cfg);
		return 0;
	}
	a.cfg = &cfg;
	if (r < 0 || check_start(&a, &e) < 0) {
		if (e)
			log_err("%s", err_msg(e));
		status = 2; /* a bad flag: nothing was created */
	} else if (cfg.cleanup) {
		status = agent_cleanup(&a) < 0 ? 1 : 0;
	} else {
		r = setup(&a);
		if (r >= 0)
			r = serve(&a);
		status = r < 0 ? 1 : 0;
	}
	dir_source_free(a.dir);
	trash_free(a.trash);
	cp_source_free(a.cp);
	etcd_source_free(a.etcd);
	source_set_free(a.api_set);
	agent_image_jobs_free(&a);
	api_free(a.api);
	history_flush(&a);
	while (a.instances) {
		struct instance *i = a.instances;
		a.instances = i->next;
		inst_free(i); /* memory only: the containers stay */
	}
	events_close();
	coloc_free(a.coloc);
	loop_free(a.loop);
	img_resolve_cache_clear();
	free(a.image_tool);
	free(a.images_dir);
	net_ctx_free(a.net); /* memory only: the bridge, namespaces and rules stay for the next agent */
	free(a.net_dir);
	cg_ctx_free(a.cg);
	free(a.runtime_path);
	free(a.shim_path);
	free(a.node_name);
	free(a.instances_dir);
	free(a.bundles_dir);
	free(a.runc_root);
	config_done(&cfg);
	return status;
}
