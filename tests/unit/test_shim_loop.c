/* drover-shim event loop: a forked child stands in for the container init. The shim is not in
 * libdrover.a, so its sources are compiled in. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <sys/wait.h>
#include <unistd.h>

#include "runtime/shim/shim-log.c"
#include "runtime/shim/shim-loop.c"
#include "runtime/shim/shim-notify.c"

static struct shim_linebuf out_lb = {.stream = "stdout"};
static struct shim_linebuf err_lb = {.stream = "stderr"};

struct fixture {
	char dir[64];
	char log[96];
	int sigfd;
	int out[2];
	int err[2];
	sigset_t old;
	struct shim_logfile lf;
};

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	struct err *e = NULL;
	sigset_t chld;

	assert_non_null(f);
	snprintf(f->dir, sizeof(f->dir), "/tmp/test_shim_loop-XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	snprintf(f->log, sizeof(f->log), "%s/ctr.log", f->dir);
	assert_int_equal(shim_logfile_open(&f->lf, f->log, 1 << 20, &e), 0);
	sigemptyset(&chld);
	sigaddset(&chld, SIGCHLD);
	assert_int_equal(sigprocmask(SIG_BLOCK, &chld, &f->old), 0);
	f->sigfd = signalfd(-1, &chld, SFD_CLOEXEC | SFD_NONBLOCK);
	assert_true(f->sigfd >= 0);
	assert_int_equal(pipe2(f->out, O_CLOEXEC), 0);
	assert_int_equal(pipe2(f->err, O_CLOEXEC), 0);
	assert_int_equal(fcntl(f->out[0], F_SETFL, O_NONBLOCK), 0);
	assert_int_equal(fcntl(f->err[0], F_SETFL, O_NONBLOCK), 0);
	out_lb.len = err_lb.len = 0;
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	shim_logfile_close(&f->lf);
	unlink(f->log);
	rmdir(f->dir);
	close(f->sigfd);
	sigprocmask(SIG_SETMASK, &f->old, NULL);
	free(f);
	return 0;
}

/* Forks a process that only holds the pipes' write ends open, like a leftover daemon would. */
static pid_t fork_holder(void)
{
	pid_t pid = fork();

	assert_true(pid >= 0);
	if (pid == 0) {
		pause();
		_exit(0);
	}
	return pid;
}

/* Forks a child that writes both streams and exits with code. */
static pid_t fork_init(struct fixture *f, int code)
{
	pid_t pid = fork();

	assert_true(pid >= 0);
	if (pid == 0) {
		dup2(f->out[1], 1);
		dup2(f->err[1], 2);
		if (write(1, "hello\nno newline", 16) != 16 || write(2, "oops\n", 5) != 5)
			_exit(100);
		_exit(code);
	}
	return pid;
}

static void read_log(const char *path, char *buf, size_t size)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	ssize_t n;

	assert_true(fd >= 0);
	n = read(fd, buf, size - 1);
	assert_true(n >= 0);
	buf[n] = '\0';
	close(fd);
}

static void test_loop_exit_and_output(void **state)
{
	struct fixture *f = *state;
	struct shim_loop l = {.sigfd = f->sigfd, .lb = {&out_lb, &err_lb}, .lf = &f->lf};
	struct err *e = NULL;
	char buf[1024];

	l.fds[0] = f->out[0];
	l.fds[1] = f->err[0];
	l.init_pid = fork_init(f, 4);
	close(f->out[1]);
	close(f->err[1]);
	assert_int_equal(shim_loop_run(&l, &e), 0);
	assert_true(l.exited);
	assert_true(WIFEXITED(l.status));
	assert_int_equal(WEXITSTATUS(l.status), 4);
	assert_true(l.finished_at > 0);
	assert_int_equal(l.fds[0], -1); /* both pipes reached EOF */
	assert_int_equal(l.fds[1], -1);
	read_log(f->log, buf, sizeof(buf));
	assert_non_null(strstr(buf, "Z stdout F hello\n"));
	assert_non_null(strstr(buf, "Z stdout P no newline\n"));
	assert_non_null(strstr(buf, "Z stderr F oops\n"));
}

/* A leftover process keeps stdout open: the loop gives up after the drain time and cuts the rest. */
static void test_loop_drain_deadline(void **state)
{
	struct fixture *f = *state;
	struct shim_loop l = {.sigfd = f->sigfd, .lb = {&out_lb, &err_lb}, .lf = &f->lf};
	struct err *e = NULL;
	int64_t t0 = time_mono_ns();
	pid_t holder = fork_holder();
	char buf[1024];
	int status;

	l.fds[0] = f->out[0];
	l.fds[1] = f->err[0];
	l.init_pid = fork_init(f, 0);
	close(f->out[1]);
	close(f->err[1]);
	assert_int_equal(shim_loop_run(&l, &e), 0);
	assert_true(l.exited);
	assert_true(time_mono_ns() - t0 >= (int64_t)SHIM_DRAIN_MS * 1000000 - 50000000);
	assert_true(l.fds[0] >= 0); /* still held by the holder */
	read_log(f->log, buf, sizeof(buf));
	assert_non_null(strstr(buf, "Z stdout P no newline\n"));
	close(l.fds[0]);
	close(l.fds[1]);
	assert_int_equal(kill(holder, SIGKILL), 0);
	assert_int_equal(waitpid(holder, &status, 0), holder);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_loop_exit_and_output, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_loop_drain_deadline, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
