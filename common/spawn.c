/* A vfork-style clone + execve, the exec failure reported in shared memory (see spawn.h).
 *
 * Why not fork: fork copies the caller's page tables, 2-3 ms for droverd on a small VM, and it is on
 * every start's path twice (droverd -> drover-shim -> runc). clone(CLONE_VM | CLONE_VFORK) shares
 * the memory instead, as glibc's posix_spawn does; posix_spawn itself cannot set PR_SET_PDEATHSIG
 * or move fds above the ones it lays out, so this is its technique with our child.
 *
 * The rules for the child, which runs in the caller's memory on a stack of its own while the
 * calling thread waits (CLONE_VFORK) until it has exec'd or exited:
 * - it writes no memory of the caller but struct child_args.err (and this thread's errno, which
 *   libc's syscall wrappers set: the caller reads errno only where clone failed);
 * - it runs no handler of the caller: the caller blocks every signal around the clone, the child
 *   starts with that mask, sets every disposition to SIG_DFL and only then unblocks. Without
 *   CLONE_SIGHAND its dispositions are a copy, so the caller's handlers stay installed;
 * - it makes only async-signal-safe calls, and none of them allocates;
 * - under the address sanitizer it must not write shadow memory either (shared too, and never
 *   cleaned up since its frames never return): its functions are not instrumented. */
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "spawn.h"

/* Where the child moves every fd it needs before it lays out 0-3: above anything dup2 will write. */
#define SPAWN_FD_FLOOR 10
/* Without close_range (Linux < 5.9) the child closes one by one up to this. */
#define SPAWN_FD_SLOW_MAX 65536
/* The child's stack: its frames are small (no buffers, no stdio) but the sanitizers' interceptors
 * run there too. Untouched pages cost nothing; a guard page below turns an overflow into a fault of
 * the child rather than a write into the caller's memory. */
#define SPAWN_STACK_SIZE (64 * 1024)
/* The kernel's sigset (rt_sigprocmask wants its size, not glibc's 128-byte sigset_t) */
#define KERNEL_SIGSET_SIZE (_NSIG / 8)

#if defined(__SANITIZE_ADDRESS__)
#define CHILD_FN __attribute__((no_sanitize_address, noinline))
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define CHILD_FN __attribute__((no_sanitize_address, noinline))
#endif
#endif
#ifndef CHILD_FN
#define CHILD_FN
#endif

/* The child's whole view of the call: read-only but for err. */
struct child_args {
	const char *path;
	char *const *argv;
	char *const *envp;
	const struct spawn_opts *o;
	pid_t parent;
	int err; /* errno of the step that failed; 0 while none did (written by the child only) */
};

/* Async-signal-safe: a copy of fd at SPAWN_FD_FLOOR or above, close-on-exec; -1 stays -1. */
CHILD_FN static int lift(int fd)
{
	return fd < 0 ? -1 : fcntl(fd, F_DUPFD_CLOEXEC, SPAWN_FD_FLOOR);
}

CHILD_FN static void close_from(unsigned first)
{
	if (syscall(SYS_close_range, first, ~0U, 0) == 0)
		return;
	for (unsigned fd = first; fd < SPAWN_FD_SLOW_MAX; fd++)
		(void)close((int)fd); /* EBADF for most */
}

/* Dispositions first, mask last: a signal unblocked here finds SIG_DFL, never a handler of the
 * caller (that would run on the caller's memory). */
CHILD_FN static void reset_signals(void)
{
	struct sigaction sa = {.sa_handler = SIG_DFL};
	sigset_t none;

	for (int sig = 1; sig < NSIG; sig++)
		(void)sigaction(sig, &sa, NULL); /* EINVAL for SIGKILL, SIGSTOP and glibc's 32, 33 is fine */
	sigemptyset(&none);
	(void)sigprocmask(SIG_SETMASK, &none, NULL);
}

/* fds 0-3 as opts says, every other fd closed; -errno on failure. */
CHILD_FN static int lay_out_fds(const struct spawn_opts *o)
{
	int devnull = -1, fds[4];

	if (o->stdin_fd < 0 || o->stdout_fd < 0 || o->stderr_fd < 0)
		devnull = open("/dev/null", O_RDWR | O_CLOEXEC);
	fds[0] = lift(o->stdin_fd >= 0 ? o->stdin_fd : devnull);
	fds[1] = lift(o->stdout_fd >= 0 ? o->stdout_fd : devnull);
	fds[2] = lift(o->stderr_fd >= 0 ? o->stderr_fd : devnull);
	fds[3] = lift(o->keep_fd);
	if (fds[0] < 0 || fds[1] < 0 || fds[2] < 0 || (o->keep_fd >= 0 && fds[3] < 0))
		return -errno;
	/* dup2 clears close-on-exec on the target, so 0-3 survive execve and the lifted copies do not */
	for (int i = 0; i < 4; i++)
		if (fds[i] >= 0 && dup2(fds[i], i) < 0)
			return -errno;
	close_from(o->keep_fd >= 0 ? 4 : 3);
	return 0;
}

/* Runs in the child, in the caller's memory, between clone and execve (see the top of the file). */
CHILD_FN static int child(void *arg)
{
	static char *const default_env[] = {SPAWN_DEFAULT_ENV_PATH, NULL};
	struct child_args *c = arg;
	const struct spawn_opts *o = c->o;
	int r;

	reset_signals();
	if (o->die_with_parent) {
		if (prctl(PR_SET_PDEATHSIG, SIGKILL) < 0) {
			c->err = errno;
			_exit(127);
		}
		if (getppid() != c->parent) {
			c->err = ESRCH; /* the caller died before the death signal was armed */
			_exit(127);
		}
	}
	if (o->new_session && setsid() < 0) {
		c->err = errno;
		_exit(127);
	}
	r = lay_out_fds(o);
	if (r < 0) {
		c->err = -r;
		_exit(127);
	}
	execve(c->path, c->argv, c->envp ? c->envp : default_env);
	c->err = errno;
	_exit(127);
}

/* Every signal blocked, glibc's own two included (pthread_sigmask would leave them): the child
 * starts with this mask. */
static int block_all(sigset_t *ret_old)
{
	sigset_t all;

	memset(&all, 0xff, sizeof(all));
	return syscall(SYS_rt_sigprocmask, SIG_SETMASK, &all, ret_old, KERNEL_SIGSET_SIZE) < 0 ? -errno : 0;
}

static void restore_mask(const sigset_t *old)
{
	/* cannot fail: a valid how, our own set */
	(void)syscall(SYS_rt_sigprocmask, SIG_SETMASK, old, NULL, KERNEL_SIGSET_SIZE);
}

/* clone(CLONE_VM | CLONE_VFORK) of child on a fresh stack; returns the pid (the child has exec'd or
 * exited by then) or -errno. */
static pid_t clone_child(struct child_args *c)
{
	size_t page = (size_t)sysconf(_SC_PAGESIZE);
	size_t len = SPAWN_STACK_SIZE + page;
	sigset_t old;
	char *stack;
	pid_t pid;
	int r, e;

	stack = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_STACK, -1, 0);
	if (stack == MAP_FAILED)
		return -errno;
	if (mprotect(stack, page, PROT_NONE) < 0) {
		e = errno;
		(void)munmap(stack, len); /* our own mapping */
		return -e;
	}
	r = block_all(&old);
	if (r < 0) {
		(void)munmap(stack, len);
		return r;
	}
	/* the stack grows down: the child starts at the top of the mapping */
	pid = clone(child, stack + len, CLONE_VM | CLONE_VFORK | SIGCHLD, c);
	e = errno;
	restore_mask(&old);
	(void)munmap(stack, len); /* the child has exec'd (its own memory now) or exited */
	return pid < 0 ? -e : pid;
}

int spawn_exec(const char *path, char *const argv[], const struct spawn_opts *opts, pid_t *ret_pid,
	       struct err **err)
{
	static const struct spawn_opts none = {-1, -1, -1, -1, false, false, NULL, NULL};
	struct child_args c = {.path = path, .argv = argv, .o = opts ? opts : &none, .parent = getpid()};
	pid_t pid;

	c.envp = c.o->envp;
	pid = clone_child(&c);
	if (pid < 0)
		return err_set(err, -pid, "fork for '%s'", path);
	if (c.err != 0) {
		while (waitpid(pid, NULL, 0) < 0 && errno == EINTR)
			; /* it has exited 127 already: this only reaps it */
		if (c.o->name)
			return err_set(err, c.err, "cannot exec %s at %s", c.o->name, path);
		return err_set(err, c.err, "cannot exec '%s'", path);
	}
	*ret_pid = pid;
	return 0;
}
