#pragma once
/* The one spawn + execve of drover (droverd, drover-shim): an argv array, never a shell. The child is
 * a vfork-style clone (CLONE_VM | CLONE_VFORK: no copy of the caller's page tables, the call returns
 * once the child has exec'd or exited). It resets every signal, keeps only the fds it is given and,
 * if execve fails, leaves errno in the caller's memory, so a program that cannot be run is an error
 * of the call (ENOENT, EACCES, ENOEXEC...) rather than an exit status 127 seen later. The caller's
 * errno may change even on success. */
#include <stdbool.h>
#include <sys/types.h>

#include "err.h"

#define SPAWN_DEFAULT_ENV_PATH "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

struct spawn_opts {
	int stdin_fd;  /* -1: /dev/null */
	int stdout_fd; /* -1: /dev/null */
	int stderr_fd; /* -1: /dev/null */
	int keep_fd;   /* an extra fd the child gets as fd 3, or -1 */
	bool new_session;
	bool die_with_parent; /* PR_SET_PDEATHSIG(SIGKILL) */
	char *const *envp;    /* NULL: SPAWN_DEFAULT_ENV_PATH only */
	const char *name;     /* what the program is, for messages ("drover-shim"); NULL: its path only */
};

/* Starts path with argv. On an exec failure the child is reaped and the result is -errno of execve
 * with the message "cannot exec NAME at PATH" ("cannot exec 'PATH'" without a name; the errno text is
 * left to the caller, as everywhere in the chain). The fds in opts may be any open fds, also 0-3 or
 * the same fd twice. */
int spawn_exec(const char *path, char *const argv[], const struct spawn_opts *opts, pid_t *ret_pid,
	       struct err **err);
