/* exec probes: the command runs in the container through the runtime (`runc exec`), a child the
 * loop never waits on: its exit comes through the SIGCHLD handler (probe_reaped), its output
 * through a pipe drained by the loop (the first line is kept for the message), and the timeout
 * kills the exec'd process and the runtime. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/wait.h>
#include <unistd.h>

#include "agent/agent.h"
#include "agent/instance.h"
#include "agent/probe.h"
#include "common/cleanup.h"
#include "common/fs.h"
#include "common/proc.h"

#define OUTPUT_KEEP 120

static struct probe_state *execs; /* in flight, by the runtime's pid */

static char *pid_file(const struct probe_state *ps)
{
	char *p = NULL;

	if (asprintf(&p, "%s/%s/probe-%s.pid", ps->i->a->bundles_dir, ps->i->id,
		     spec_probe_role_name(ps->role)) < 0)
		return NULL;
	return p;
}

static void forget(struct probe_state *ps)
{
	for (struct probe_state **pp = &execs; *pp; pp = &(*pp)->next_exec)
		if (*pp == ps) {
			*pp = ps->next_exec;
			break;
		}
	ps->next_exec = NULL;
	ps->pid = 0;
}

static void drain(struct probe_state *ps)
{
	static char scratch[4096]; /* discarded output; the loop is single-threaded */
	ssize_t n;

	while (ps->fd >= 0) {
		size_t room = ps->got < OUTPUT_KEEP ? OUTPUT_KEEP - ps->got : 0;
		n = read(ps->fd, room ? ps->buf + ps->got : scratch, room ? room : sizeof(scratch));
		if (n <= 0)
			return; /* EAGAIN, or the write end closed: the exit says the rest */
		if (room)
			ps->got += (size_t)n;
	}
}

static void on_output(struct loop *l, int fd, uint32_t events, void *data)
{
	struct probe_state *ps = data;

	(void)l;
	(void)fd;
	drain(ps);
	if (events & (EPOLLHUP | EPOLLERR))
		loop_del_fd(ps->i->a->loop, ps->fd); /* the exit (SIGCHLD) closes it */
}

static void close_output(struct probe_state *ps)
{
	if (ps->fd < 0)
		return;
	loop_del_fd(ps->i->a->loop, ps->fd);
	close(ps->fd);
	ps->fd = -1;
}

/* The first line of what the command printed, or "". */
static const char *first_line(struct probe_state *ps)
{
	char *nl;

	ps->buf[ps->got < OUTPUT_KEEP ? ps->got : OUTPUT_KEEP] = '\0';
	nl = strchr(ps->buf, '\n');
	if (nl)
		*nl = '\0';
	for (char *c = ps->buf; *c; c++)
		if ((unsigned char)*c < ' ' || *c == 0x7f)
			*c = ' ';
	return ps->buf;
}

bool probe_reaped(pid_t pid, int status)
{
	struct probe_state *ps;
	char desc[48];
	const char *out;

	for (ps = execs; ps && ps->pid != pid; ps = ps->next_exec)
		;
	if (!ps)
		return false;
	forget(ps);
	drain(ps);
	close_output(ps);
	out = first_line(ps);
	if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
		probe_done(ps, true, "exit 0");
	else {
		proc_describe_status(status, desc, sizeof(desc));
		probe_done(ps, false, "%s%s%s", desc, *out ? ": " : "", out);
	}
	return true;
}

static pid_t read_pid(const char *path)
{
	char buf[24] = "";
	_cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	ssize_t n = fd >= 0 ? read(fd, buf, sizeof(buf) - 1) : -1;

	if (n <= 0)
		return 0;
	buf[n] = '\0';
	return (pid_t)strtol(buf, NULL, 10);
}

/* SIGKILL to every child of pid (from /proc/PID/task/TID/children: the runtime is multi-threaded).
 * The runtime is our unreaped child, so its children are still its own while it lives. */
static void kill_children(pid_t pid)
{
	_cleanup_closedir_ DIR *d = NULL;
	struct dirent *de;
	char path[64];

	snprintf(path, sizeof(path), "/proc/%d/task", (int)pid);
	d = opendir(path);
	while (d && (de = readdir(d))) {
		_cleanup_fclose_ FILE *f = NULL;
		long child;

		if (de->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "/proc/%d/task/%.16s/children", (int)pid, de->d_name);
		f = fopen(path, "re");
		while (f && fscanf(f, "%ld", &child) == 1) // NOLINT(cert-err34-c): pids the kernel printed
			if (child > 1)
				(void)kill((pid_t)child, SIGKILL);
	}
}

void probe_exec_cancel(struct probe_state *ps)
{
	_cleanup_free_ char *pf = NULL;
	pid_t inner, parent = 0;

	if (ps->pid <= 0) {
		close_output(ps);
		return;
	}
	/* the exec'd process is the runtime's child until the runtime dies: kill it first */
	pf = pid_file(ps);
	inner = pf ? read_pid(pf) : 0;
	if (inner > 0 && proc_parent(inner, &parent) == 0 && parent == ps->pid)
		(void)kill(inner, SIGKILL);
	kill_children(ps->pid);	      /* a command whose pid file is not written yet */
	(void)kill(ps->pid, SIGKILL); /* our unreaped child: the pid cannot be reused yet */
	forget(ps);		      /* the SIGCHLD handler reaps it */
	close_output(ps);
}

int probe_exec_begin(struct probe_state *ps)
{
	const struct spec_probe *p = &ps->i->spec->probes[ps->role];
	struct agent *a = ps->i->a;
	_cleanup_err_ struct err *e = NULL;
	_cleanup_free_ char *pf = pid_file(ps);
	_cleanup_free_ char **argv = NULL;
	size_t n = 0, k = 0;
	int out[2];
	pid_t pid;

	while (p->command[n])
		n++;
	argv = calloc(n + 8, sizeof(*argv));
	if (!pf || !argv || pipe2(out, O_CLOEXEC) < 0) {
		probe_done(ps, false, "cannot run the probe: %s", strerror(errno ? errno : ENOMEM));
		return -ENOMEM;
	}
	(void)unlink(pf); /* a stale one would name another process */
	argv[k++] = a->runtime_path;
	argv[k++] = "--root";
	argv[k++] = a->runc_root;
	argv[k++] = "exec";
	argv[k++] = "--pid-file";
	argv[k++] = pf;
	argv[k++] = ps->i->id;
	memcpy(argv + k, p->command, n * sizeof(*argv));
	struct proc_opts o = {
	    .stdin_fd = -1, .stdout_fd = out[1], .stderr_fd = out[1], .keep_fd = -1, .die_with_parent = true};
	if (proc_spawn(a->runtime_path, argv, &o, &pid, &e) < 0) {
		close(out[0]);
		close(out[1]);
		probe_done(ps, false, "%s", err_msg(e));
		return -EIO;
	}
	close(out[1]);
	(void)fcntl(out[0], F_SETFL, O_NONBLOCK);
	ps->fd = out[0];
	ps->got = 0;
	if (loop_add_fd(a->loop, ps->fd, EPOLLIN, on_output, ps) < 0)
		close_output(ps); /* the output is lost, the exit status is not */
	ps->pid = pid;
	ps->next_exec = execs;
	execs = ps;
	return 0;
}
