/* Test helper, run inside a container (built static): tries what a hostile workload would to get
 * new namespaces or a host socket, and prints one line per attempt: "NAME ok" or "NAME EPERM".
 *
 *   clone-ns ATTEMPT...   ATTEMPT: none, user, net, user+net, pid, mnt, uts, ipc, cgroup, vsock
 *
 * clone is called through syscall(2) with the flags in the first argument (the raw x86/arm order;
 * s390 passes them second), so libc cannot pick clone3 instead. Exit 0 when every attempt was
 * made, 2 on a usage error. */
#include <errno.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#ifndef AF_VSOCK
#define AF_VSOCK 40
#endif

static const struct {
	const char *name;
	unsigned long flags;
} attempts[] = {
    {"none", 0},
    {"user", CLONE_NEWUSER},
    {"net", CLONE_NEWNET},
    {"user+net", CLONE_NEWUSER | CLONE_NEWNET},
    {"pid", CLONE_NEWPID},
    {"mnt", CLONE_NEWNS},
    {"uts", CLONE_NEWUTS},
    {"ipc", CLONE_NEWIPC},
    {"cgroup", CLONE_NEWCGROUP},
};

static void report(const char *name, long r, int err)
{
	if (r >= 0)
		printf("%s ok\n", name);
	else
		printf("%s %s\n", name, err == EPERM ? "EPERM" : strerror(err));
}

static void try_clone(const char *name, unsigned long flags)
{
	long pid;

#if defined(__s390__) || defined(__s390x__)
	pid = syscall(SYS_clone, 0, flags | SIGCHLD, 0, 0, 0);
#else
	pid = syscall(SYS_clone, flags | SIGCHLD, 0, 0, 0, 0);
#endif
	if (pid == 0)
		_exit(0);
	report(name, pid, errno);
	if (pid > 0)
		(void)waitpid((pid_t)pid, NULL, 0);
}

int main(int argc, char **argv)
{
	setvbuf(stdout, NULL, _IOLBF, 0);
	for (int i = 1; i < argc; i++) {
		size_t k;

		if (strcmp(argv[i], "vsock") == 0) {
			int fd = socket(AF_VSOCK, SOCK_STREAM | SOCK_CLOEXEC, 0);

			report("vsock", fd, errno);
			if (fd >= 0)
				close(fd);
			continue;
		}
		for (k = 0; k < sizeof(attempts) / sizeof(attempts[0]); k++)
			if (strcmp(argv[i], attempts[k].name) == 0)
				break;
		if (k == sizeof(attempts) / sizeof(attempts[0])) {
			fprintf(stderr, "clone-ns: unknown attempt '%s'\n", argv[i]);
			return 2;
		}
		try_clone(attempts[k].name, attempts[k].flags);
	}
	return 0;
}
