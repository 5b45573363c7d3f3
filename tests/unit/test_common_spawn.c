/* common/spawn.c: an exec failure is the call's error (with errno of execve), the child gets exactly
 * the fds and environment it is given, signals reset, a new session when asked. */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "common/cleanup.h"
#include "common/err.h"
#include "common/fs.h"
#include "common/spawn.h"

static int memfd(void)
{
	int fd = memfd_create("test-spawn", MFD_CLOEXEC);

	assert_true(fd >= 0);
	return fd;
}

static char *slurp(int fd)
{
	static char buf[4096];
	ssize_t n;

	assert_int_equal(lseek(fd, 0, SEEK_SET), 0);
	n = read(fd, buf, sizeof(buf) - 1);
	assert_true(n >= 0);
	buf[n] = '\0';
	return buf;
}

static int run(const char *path, char *const argv[], const struct spawn_opts *o)
{
	_cleanup_err_ struct err *e = NULL;
	pid_t pid = 0;
	int status = -1;

	if (spawn_exec(path, argv, o, &pid, &e) < 0)
		fail_msg("spawn_exec: %s", err_msg(e));
	assert_true(pid > 0);
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	return WEXITSTATUS(status);
}

static void no_child_left(void)
{
	assert_int_equal(waitpid(-1, NULL, WNOHANG), -1);
	assert_int_equal(errno, ECHILD);
}

static void test_exit_status(void **state)
{
	char *argv[] = {"/bin/sh", "-c", "exit 7", NULL};

	(void)state;
	assert_int_equal(run("/bin/sh", argv, NULL), 7);
}

static void test_missing_program(void **state)
{
	char *argv[] = {"/nonexistent/prog", NULL};
	struct spawn_opts o = {-1, -1, -1, -1, false, false, NULL, "drover-shim"};
	_cleanup_err_ struct err *e = NULL;
	pid_t pid = 0;

	(void)state;
	assert_int_equal(spawn_exec("/nonexistent/prog", argv, NULL, &pid, &e), -ENOENT);
	assert_string_equal(err_msg(e), "cannot exec '/nonexistent/prog'");
	assert_int_equal(e->errnum, ENOENT);
	assert_int_equal(pid, 0);
	no_child_left(); /* the failed child is reaped by the call */
	assert_int_equal(spawn_exec("/nonexistent/prog", argv, &o, &pid, &e), -ENOENT);
	assert_string_equal(err_msg(e), "cannot exec drover-shim at /nonexistent/prog");
	no_child_left();
}

/* A file without an execute bit (EACCES, also for root) and one that is no program (ENOEXEC). */
static void test_not_a_program(void **state)
{
	char dir[] = "/tmp/test-spawn-XXXXXX", *argv[] = {"x", NULL};
	_cleanup_free_ char *plain = NULL, *junk = NULL;
	_cleanup_err_ struct err *e = NULL;
	pid_t pid = 0;

	(void)state;
	assert_non_null(mkdtemp(dir));
	plain = fs_path_join(dir, "plain");
	junk = fs_path_join(dir, "junk");
	assert_int_equal(fs_write_atomic(AT_FDCWD, plain, "#!/bin/sh\n", 10, 0644, 0, NULL), 0);
	assert_int_equal(
	    fs_write_atomic(AT_FDCWD, junk, "\x01\x02\x03\x04 not a program\n", 20, 0755, 0, NULL), 0);
	assert_int_equal(spawn_exec(plain, argv, NULL, &pid, &e), -EACCES);
	assert_int_equal(spawn_exec(junk, argv, NULL, &pid, &e), -ENOEXEC);
	no_child_left();
	assert_int_equal(unlink(plain), 0);
	assert_int_equal(unlink(junk), 0);
	assert_int_equal(rmdir(dir), 0);
}

/* fds 0-2 and 3 as given, nothing else: an fd the parent left inheritable does not reach the child. */
static void test_fds(void **state)
{
	char *argv[] = {"/bin/sh", "-c", "echo out; echo err >&2; echo kept >&3; ls /proc/$$/fd", NULL};
	_cleanup_close_ int out = memfd(), errfd = memfd(), keep = memfd(), leak = -1;
	struct spawn_opts o = {-1, out, errfd, keep, false, false, NULL, NULL};

	(void)state;
	leak = open("/dev/null", O_RDONLY); /* no O_CLOEXEC on purpose */
	assert_true(leak > 3);
	assert_int_equal(run("/bin/sh", argv, &o), 0);
	assert_string_equal(slurp(out), "out\n0\n1\n2\n3\n");
	assert_string_equal(slurp(errfd), "err\n");
	assert_string_equal(slurp(keep), "kept\n");
	/* without keep_fd, fd 3 is closed too; one fd may serve as stdout and stderr */
	char *argv2[] = {"/bin/sh", "-c", "echo err >&2; ls /proc/$$/fd", NULL};
	_cleanup_close_ int both = memfd();
	struct spawn_opts o2 = {-1, both, both, -1, false, false, NULL, NULL};
	assert_int_equal(run("/bin/sh", argv2, &o2), 0);
	assert_string_equal(slurp(both), "err\n0\n1\n2\n");
}

static void test_env(void **state)
{
	char *argv[] = {"/usr/bin/env", NULL};
	char *envp[] = {"A=1", "B=two", NULL};
	_cleanup_close_ int out = memfd(), out2 = memfd();
	struct spawn_opts o = {-1, out, -1, -1, false, false, NULL, NULL};
	struct spawn_opts o2 = {-1, out2, -1, -1, false, false, envp, NULL};

	(void)state;
	assert_int_equal(setenv("TEST_SPAWN_SECRET", "x", 1), 0);
	assert_int_equal(run("/usr/bin/env", argv, &o), 0);
	assert_string_equal(slurp(out), SPAWN_DEFAULT_ENV_PATH "\n");
	assert_int_equal(run("/usr/bin/env", argv, &o2), 0);
	assert_string_equal(slurp(out2), "A=1\nB=two\n");
	assert_int_equal(unsetenv("TEST_SPAWN_SECRET"), 0);
}

/* Blocked and ignored signals of the parent do not reach the child. */
#define GLIBC_RESERVED ((1ULL << (32 - 1)) | (1ULL << (33 - 1)))
static void test_signals_reset(void **state)
{
	char *argv[] = {"/bin/sh", "-c", "exec grep -E '^Sig(Blk|Ign)' /proc/self/status", NULL};
	_cleanup_close_ int out = memfd();
	struct spawn_opts o = {-1, out, -1, -1, false, false, NULL, NULL};
	struct sigaction ign = {.sa_handler = SIG_IGN}, old_pipe, old_hup;
	unsigned long long blocked = 1, ignored = 1;
	sigset_t set, old;

	(void)state;
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	assert_int_equal(sigprocmask(SIG_BLOCK, &set, &old), 0);
	assert_int_equal(sigaction(SIGPIPE, &ign, &old_pipe), 0);
	assert_int_equal(sigaction(SIGHUP, &ign, &old_hup), 0);
	assert_int_equal(run("/bin/sh", argv, &o), 0);
	assert_int_equal(sigprocmask(SIG_SETMASK, &old, NULL), 0);
	assert_int_equal(sigaction(SIGPIPE, &old_pipe, NULL), 0);
	assert_int_equal(sigaction(SIGHUP, &old_hup, NULL), 0);
	assert_int_equal(sscanf(slurp(out), "SigBlk:\t%llx\nSigIgn:\t%llx\n", &blocked, &ignored), 2);
	assert_int_equal(blocked, 0);
	/* 32 and 33 are glibc's own (sigaction refuses them): they stay as this process got them */
	assert_int_equal(ignored & ~GLIBC_RESERVED, 0);
}

/* new_session: the child leads a session of its own (field 6 of /proc/PID/stat is its pid). */
static void test_new_session(void **state)
{
	char *argv[] = {"/bin/sh", "-c", "exec cat /proc/self/stat", NULL};
	_cleanup_close_ int out = memfd();
	struct spawn_opts o = {-1, out, -1, -1, true, true, NULL, NULL};
	_cleanup_err_ struct err *e = NULL;
	int pid_field = 0, sid = 0, status = -1;
	pid_t pid = 0;
	char *p;

	(void)state;
	assert_int_equal(spawn_exec("/bin/sh", argv, &o, &pid, &e), 0);
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_int_equal(status, 0);
	p = slurp(out);
	pid_field = atoi(p);
	p = strrchr(p, ')');
	assert_non_null(p);
	assert_int_equal(sscanf(p + 1, " %*c %*d %*d %d", &sid), 1);
	assert_int_equal(pid_field, pid);
	assert_int_equal(sid, pid);
	assert_int_not_equal(sid, getsid(0));
}

static volatile sig_atomic_t got_usr1;

static void on_usr1(int sig)
{
	(void)sig;
	got_usr1 = 1;
}

/* The child shares our memory until it execs and resets every disposition: ours stay as they were
 * (handler installed and called), and so does our mask, which the call blocks around the clone. */
static void test_parent_signals_kept(void **state)
{
	char *argv[] = {"/bin/true", NULL};
	struct sigaction sa = {.sa_handler = on_usr1}, old_usr1, now;
	sigset_t set, old, mask;

	(void)state;
	assert_int_equal(sigaction(SIGUSR1, &sa, &old_usr1), 0);
	sigemptyset(&set);
	sigaddset(&set, SIGUSR2);
	assert_int_equal(sigprocmask(SIG_BLOCK, &set, &old), 0);
	for (int k = 0; k < 3; k++)
		assert_int_equal(run("/bin/true", argv, NULL), 0);
	assert_int_equal(sigaction(SIGUSR1, NULL, &now), 0);
	assert_ptr_equal(now.sa_handler, on_usr1);
	assert_int_equal(sigprocmask(SIG_SETMASK, NULL, &mask), 0);
	assert_true(sigismember(&mask, SIGUSR2));
	assert_false(sigismember(&mask, SIGUSR1));
	assert_false(sigismember(&mask, SIGCHLD));
	got_usr1 = 0;
	assert_int_equal(raise(SIGUSR1), 0);
	assert_int_equal(got_usr1, 1);
	assert_int_equal(sigprocmask(SIG_SETMASK, &old, NULL), 0);
	assert_int_equal(sigaction(SIGUSR1, &old_usr1, NULL), 0);
}

/* A caller with a large, touched heap (droverd's case): the spawns work, every exec error is still
 * the call's, and the child wrote nothing of that memory (it shares it until it execs). */
#define BIG_HEAP (256UL << 20)
static void test_large_heap(void **state)
{
	char *argv[] = {"/bin/sh", "-c", "exit 3", NULL}, *missing[] = {"/nonexistent/prog", NULL};
	_cleanup_err_ struct err *e = NULL;
	unsigned char *heap;
	pid_t pid = 0;

	(void)state;
	heap = malloc(BIG_HEAP);
	assert_non_null(heap);
	for (size_t k = 0; k < BIG_HEAP; k += 4096)
		heap[k] = (unsigned char)(k >> 12);
	for (int k = 0; k < 5; k++)
		assert_int_equal(run("/bin/sh", argv, NULL), 3);
	assert_int_equal(spawn_exec("/nonexistent/prog", missing, NULL, &pid, &e), -ENOENT);
	assert_int_equal(pid, 0);
	no_child_left();
	for (size_t k = 0; k < BIG_HEAP; k += 4096)
		if (heap[k] != (unsigned char)(k >> 12))
			fail_msg("heap changed at %zu", k);
	free(heap);
}

/* The fds given may be 0-3 themselves, swapped: every one is moved out of the way first. */
static void test_fds_swapped(void **state)
{
	char *argv[] = {"/bin/sh", "-c", "echo one; echo two >&2", NULL};
	_cleanup_close_ int a = memfd(), b = memfd();
	int save1 = dup(1), save2 = dup(2);
	struct spawn_opts o = {-1, 2, 1, -1, false, false, NULL, NULL};
	int status = -1;

	(void)state;
	assert_true(save1 >= 0 && save2 >= 0);
	/* our 1 is a, our 2 is b; the child gets them the other way round */
	assert_int_equal(dup2(a, 1), 1);
	assert_int_equal(dup2(b, 2), 2);
	status = run("/bin/sh", argv, &o);
	assert_int_equal(dup2(save1, 1), 1);
	assert_int_equal(dup2(save2, 2), 2);
	(void)close(save1);
	(void)close(save2);
	assert_int_equal(status, 0);
	assert_string_equal(slurp(b), "one\n");
	assert_string_equal(slurp(a), "two\n");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_exit_status),	  cmocka_unit_test(test_missing_program),
	    cmocka_unit_test(test_not_a_program), cmocka_unit_test(test_fds),
	    cmocka_unit_test(test_env),		  cmocka_unit_test(test_signals_reset),
	    cmocka_unit_test(test_new_session),	  cmocka_unit_test(test_parent_signals_kept),
	    cmocka_unit_test(test_large_heap),	  cmocka_unit_test(test_fds_swapped),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
