#pragma once
/* Spawning children without a shell: spawn_exec (a vfork-style clone + execve) with an argv array. */
#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "err.h"

struct proc_opts {
	int stdin_fd;  /* -1: /dev/null */
	int stdout_fd; /* -1: /dev/null */
	int stderr_fd; /* -1: /dev/null */
	int keep_fd;   /* an extra fd passed as fd 3, or -1 */
	bool new_session;
	bool die_with_parent; /* PR_SET_PDEATHSIG(SIGKILL) */
	char *const *envp;    /* NULL: an empty environment plus PATH */
};

/* spawn_exec (common/spawn.h) with these options: the child resets signals and closes every other fd;
 * a program that cannot be exec'd is an error here ("cannot exec 'PATH'", errno of execve). */
int proc_spawn(const char *path, char *const argv[], const struct proc_opts *opts, pid_t *ret_pid,
	       struct err **err);
/* Spawns and waits; ret_status gets the waitpid status. Stderr (capped) goes to ret_stderr if set. */
int proc_run(const char *path, char *const argv[], int *ret_status, char **ret_stderr, struct err **err);
/* Like proc_run, with a deadline (timeout_ms > 0; 0: none) and stdout kept too (ret_stdout, capped at
 * 64 KiB; stderr at 8 KiB). A child still running at the deadline is killed with SIGKILL and
 * reaped, and the result is -ETIMEDOUT. */
int proc_run_deadline(const char *path, char *const argv[], int timeout_ms, int *ret_status,
		      char **ret_stdout, char **ret_stderr, struct err **err);
/* Resolves a program name through PATH once, at start-up; caller frees. */
int proc_find_exe(const char *name, char **ret_path);
/* "exit 3", "killed by signal 9" */
void proc_describe_status(int status, char *buf, size_t size);
int proc_pidfd_open(pid_t pid);
/* Forks a child that runs fn(arg) and _exits (0 on fn >= 0, else 1): signals reset, every fd above
 * stderr closed, lowest CPU and I/O priority, killed with the parent. For slow filesystem work that
 * must not run on the agent's loop. The caller watches ret_pidfd and reaps.
 * hold: fds whose last close is costly (a lazily unmounted filesystem is torn down then); they pass to
 * the child, which closes them only after the parent has closed its copies. Always consumed. */
int proc_fork_background(int (*fn)(void *arg), void *arg, int *hold, size_t n_hold, pid_t *ret_pid,
			 int *ret_pidfd, struct err **err);
bool proc_alive(pid_t pid);
/* The parent pid of pid (PPid in /proc/PID/status). */
int proc_parent(pid_t pid, pid_t *ret);
/* Start time of pid in clock ticks since boot (field 22 of /proc/PID/stat), to tell a pid from its reuse. */
int proc_start_time(pid_t pid, unsigned long long *ret);
