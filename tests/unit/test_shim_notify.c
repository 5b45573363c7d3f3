/* drover-shim's notify relay: the datagram parser, the readiness states, and the socket with its
 * state file and rate budget. The shim is not in libdrover.a: its source is compiled in. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "runtime/shim/shim-notify.c"

#define P(s) shim_notify_parse(s, sizeof(s) - 1)

static void test_parse(void **state)
{
	(void)state;
	assert_int_equal(P("READY=1"), SHIM_NOTIFY_READY);
	assert_int_equal(P("READY=1\n"), SHIM_NOTIFY_READY);
	assert_int_equal(P("STATUS=warming up\nREADY=1\nMAINPID=7"), SHIM_NOTIFY_READY);
	assert_int_equal(P("STOPPING=1"), SHIM_NOTIFY_STOPPING);
	assert_int_equal(P("READY=1\nSTOPPING=1"), SHIM_NOTIFY_READY | SHIM_NOTIFY_STOPPING);
	/* exact lines only */
	assert_int_equal(P("READY=0"), 0);
	assert_int_equal(P("READY=10"), 0);
	assert_int_equal(P(" READY=1"), 0);
	assert_int_equal(P("READY=1 "), 0);
	assert_int_equal(P("ready=1"), 0);
	assert_int_equal(P("XREADY=1"), 0);
	assert_int_equal(P(""), 0);
	assert_int_equal(P("\n\n"), 0);
	/* a NUL anywhere makes the whole datagram junk */
	assert_int_equal(P("READY=1\n\0"), 0);
	assert_int_equal(P("READY=1\0STOPPING=1"), 0);
	/* the length is what counts, not a terminator */
	assert_int_equal(shim_notify_parse("READY=1", 5), 0);
}

static void test_next(void **state)
{
	(void)state;
	assert_int_equal(shim_notify_next(SHIM_NOTIFY_NONE, 0), SHIM_NOTIFY_NONE);
	assert_int_equal(shim_notify_next(SHIM_NOTIFY_NONE, SHIM_NOTIFY_READY), SHIM_NOTIFY_IS_READY);
	assert_int_equal(shim_notify_next(SHIM_NOTIFY_IS_READY, SHIM_NOTIFY_READY), SHIM_NOTIFY_IS_READY);
	assert_int_equal(shim_notify_next(SHIM_NOTIFY_IS_READY, SHIM_NOTIFY_STOPPING),
			 SHIM_NOTIFY_IS_STOPPING);
	assert_int_equal(shim_notify_next(SHIM_NOTIFY_NONE, SHIM_NOTIFY_STOPPING), SHIM_NOTIFY_IS_STOPPING);
	/* stopping is final */
	assert_int_equal(shim_notify_next(SHIM_NOTIFY_IS_STOPPING, SHIM_NOTIFY_READY),
			 SHIM_NOTIFY_IS_STOPPING);
}

struct fixture {
	char dir[64];
	int dfd;
	int tx; /* the sending side */
	struct sockaddr_un to;
};

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));

	assert_non_null(f);
	snprintf(f->dir, sizeof(f->dir), "/tmp/test_shim_notify-XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	f->dfd = open(f->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	assert_true(f->dfd >= 0);
	f->tx = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	assert_true(f->tx >= 0);
	f->to.sun_family = AF_UNIX;
	snprintf(f->to.sun_path, sizeof(f->to.sun_path), "%s/%s", f->dir, SHIM_NOTIFY_SOCK);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	unlinkat(f->dfd, SHIM_NOTIFY_STATE, 0);
	unlinkat(f->dfd, SHIM_NOTIFY_SOCK, 0);
	unlinkat(f->dfd, SHIM_NOTIFY_DIR, AT_REMOVEDIR);
	close(f->dfd);
	close(f->tx);
	rmdir(f->dir);
	free(f);
	return 0;
}

static void send_str(struct fixture *f, const char *s, size_t n)
{
	assert_int_equal(sendto(f->tx, s, n, 0, (struct sockaddr *)&f->to, sizeof(f->to)), (ssize_t)n);
}

static void state_is(struct fixture *f, const char *want)
{
	char buf[32] = "";
	int fd = openat(f->dfd, SHIM_NOTIFY_STATE, O_RDONLY | O_CLOEXEC);

	if (!want) {
		assert_true(fd < 0);
		return;
	}
	assert_true(fd >= 0);
	assert_true(read(fd, buf, sizeof(buf) - 1) >= 0);
	close(fd);
	assert_string_equal(buf, want);
}

static void test_socket_states(void **state)
{
	struct fixture *f = *state;
	struct shim_notify n;
	struct err *e = NULL;
	struct stat st;
	char big[SHIM_NOTIFY_DGRAM_MAX + 100];
	int timeout;

	/* a state file from an earlier run goes */
	assert_int_equal(fs_write_atomic(f->dfd, SHIM_NOTIFY_STATE, "ready\n", 6, 0644, FS_NOSYNC, &e), 0);
	assert_int_equal(shim_notify_open(&n, f->dfd, &e), 0);
	state_is(f, NULL);
	assert_int_equal(fstatat(f->dfd, SHIM_NOTIFY_SOCK, &st, 0), 0);
	assert_true(S_ISSOCK(st.st_mode));
	assert_int_equal(st.st_mode & 0777, 0666); /* any container user may send */
	assert_int_equal(fstatat(f->dfd, SHIM_NOTIFY_DIR, &st, 0), 0);
	assert_int_equal(st.st_mode & 0777, 0755);
	assert_int_equal(shim_notify_poll_fd(&n, time_mono_ns(), &timeout), n.fd);
	assert_int_equal(timeout, -1);

	/* junk and oversized datagrams change nothing; an empty socket returns at once */
	shim_notify_pump(&n);
	send_str(f, "STATUS=starting", 15);
	memset(big, 'x', sizeof(big));
	memcpy(big, "READY=1\n", 8);
	send_str(f, big, sizeof(big));
	send_str(f, "READY=1\0", 8);
	shim_notify_pump(&n);
	state_is(f, NULL);
	assert_int_equal(n.state, SHIM_NOTIFY_NONE);

	send_str(f, "STATUS=up\nREADY=1", 17);
	shim_notify_pump(&n);
	state_is(f, "ready\n");
	send_str(f, "STOPPING=1\n", 11);
	shim_notify_pump(&n);
	state_is(f, "stopping\n");
	assert_int_equal(n.fd, -1); /* final: the socket is closed */
	assert_int_equal(shim_notify_poll_fd(&n, time_mono_ns(), &timeout), -1);
	shim_notify_close(&n);
}

/* A flood is read SHIM_NOTIFY_RATE datagrams a second at most; then the socket rests. */
static void test_rate_budget(void **state)
{
	struct fixture *f = *state;
	struct shim_notify n;
	struct err *e = NULL;
	int timeout, sent = 0;

	assert_int_equal(shim_notify_open(&n, f->dfd, &e), 0);
	assert_int_equal(fcntl(f->tx, F_SETFL, O_NONBLOCK), 0);
	while (sent < SHIM_NOTIFY_RATE + 5 &&
	       sendto(f->tx, "X=1", 3, 0, (struct sockaddr *)&f->to, sizeof(f->to)) == 3)
		sent++;
	shim_notify_pump(&n);
	if (sent > SHIM_NOTIFY_RATE) {
		assert_int_equal(n.in_window, SHIM_NOTIFY_RATE);
		assert_int_equal(shim_notify_poll_fd(&n, time_mono_ns(), &timeout), -1);
		assert_true(timeout > 0 && timeout <= 1000);
		/* after the window the socket is polled again */
		assert_int_equal(shim_notify_poll_fd(&n, time_mono_ns() + 1000000000LL, &timeout), n.fd);
	} else {
		/* the kernel's queue was shorter than the budget: all read */
		assert_int_equal(n.in_window, (unsigned)sent);
	}
	shim_notify_close(&n);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_parse),
	    cmocka_unit_test(test_next),
	    cmocka_unit_test_setup_teardown(test_socket_states, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_rate_budget, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
