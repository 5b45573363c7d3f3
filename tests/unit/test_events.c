/* Events: sequence numbers that are never reused across restarts, the kept window, the outbox. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <unistd.h>

#include <cmocka.h>

#include "agent/events.h"
#include "common/fs.h"

static char dir[64];

static int make_dir(void **state)
{
	(void)state;
	snprintf(dir, sizeof(dir), "/tmp/drover-test-events.XXXXXX");
	return mkdtemp(dir) ? 0 : -1;
}

static int remove_dir(void **state)
{
	(void)state;
	events_close();
	return fs_rm_rf(AT_FDCWD, dir) < 0 ? -1 : 0;
}

static void open_ok(void)
{
	struct err *e = NULL;

	if (events_open(dir, &e) < 0)
		fail_msg("events_open: %s", err_msg(e));
}

static uint64_t push(const char *id)
{
	return events_push(json_pack("{s:s, s:s}", "id", id, "phase", "running"));
}

static void test_seq_resume(void **state)
{
	(void)state;
	/* the same boot: the journal's newest line is the truth, no gap */
	assert_int_equal(events_seq_resume(41, 1024, true), 41);
	/* another boot (the page cache may have lost lines): above the reservation */
	assert_int_equal(events_seq_resume(41, 1024, false), 1024);
	/* an empty journal with a reservation: nothing to trust but the reservation */
	assert_int_equal(events_seq_resume(0, 2048, true), 2048);
	assert_int_equal(events_seq_resume(0, 0, false), 0);
}

static void test_keep_after(void **state)
{
	(void)state;
	assert_int_equal(events_keep_after(100, 0, false), 0);
	assert_int_equal(events_keep_after(5000, 0, false), 5000 - EVENTS_KEPT);
	/* the outbox holds what is not acknowledged, up to its cap */
	assert_int_equal(events_keep_after(5000, 3000, true), 3000);
	assert_int_equal(events_keep_after(5000, 4900, true), 5000 - EVENTS_KEPT);
	assert_int_equal(events_keep_after(EVENTS_OUTBOX_MAX + 7000, 10, true), 7000);
}

static void test_seq_survives_reopen(void **state)
{
	uint64_t last, s;
	json_t *evs;

	(void)state;
	open_ok();
	assert_int_equal(push("a"), 1);
	assert_int_equal(push("b"), 2);
	events_close();
	open_ok();
	assert_int_equal(events_last_seq(), 2);
	evs = events_since(0, 10, &last);
	assert_int_equal(json_array_size(evs), 2); /* kept across the restart */
	assert_string_equal(json_string_value(json_object_get(json_array_get(evs, 1), "id")), "b");
	json_decref(evs);
	assert_int_equal(push("c"), 3);
	events_close();
	/* as after a host crash: the reservation says more may have been handed out */
	char path[128];
	FILE *f;
	snprintf(path, sizeof(path), "%s/reserved", dir);
	f = fopen(path, "w");
	assert_non_null(f);
	fprintf(f, "5000 some-other-boot\n");
	fclose(f);
	open_ok();
	s = push("d");
	assert_int_equal(s, 5001);
	assert_int_equal(events_first_kept(), 1);
}

static void test_outbox_and_ack(void **state)
{
	struct err *e = NULL;
	json_t *out = NULL;

	(void)state;
	open_ok();
	events_outbox_enable(true);
	for (int k = 0; k < 5; k++)
		push("x");
	assert_int_equal(events_outbox(3, &out, &e), 0);
	assert_int_equal(json_array_size(out), 3);
	json_decref(out);
	assert_int_equal(events_ack(3, &e), 0);
	events_close();
	/* a restart: only the unacknowledged are pending, none acknowledged comes back */
	open_ok();
	events_outbox_enable(true);
	assert_int_equal(events_acked(), 3);
	assert_int_equal(events_outbox(100, &out, &e), 0);
	assert_int_equal(json_array_size(out), 2);
	assert_int_equal(json_integer_value(json_object_get(json_array_get(out, 0), "seq")), 4);
	json_decref(out);
}

static void test_outbox_beyond_the_window(void **state)
{
	struct err *e = NULL;
	json_t *out = NULL;
	uint64_t last = 0;
	json_t *evs;

	(void)state;
	open_ok();
	events_outbox_enable(true);
	for (int k = 0; k < 3 * EVENTS_KEPT; k++)
		push("y");
	/* the API keeps a window; older is 410 for it, but the outbox still has every event */
	assert_true(events_first_kept() > 1);
	evs = events_since(0, 10, &last);
	assert_int_equal(json_integer_value(json_object_get(json_array_get(evs, 0), "seq")),
			 events_first_kept());
	json_decref(evs);
	assert_int_equal(events_outbox(10, &out, &e), 0);
	assert_int_equal(json_array_size(out), 10);
	assert_int_equal(json_integer_value(json_object_get(json_array_get(out, 0), "seq")), 1);
	json_decref(out);
	assert_int_equal(events_ack(2 * EVENTS_KEPT, &e), 0);
	assert_int_equal(events_outbox(10, &out, &e), 0);
	assert_int_equal(json_integer_value(json_object_get(json_array_get(out, 0), "seq")),
			 2 * EVENTS_KEPT + 1);
	json_decref(out);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_seq_resume),
	    cmocka_unit_test(test_keep_after),
	    cmocka_unit_test_setup_teardown(test_seq_survives_reopen, make_dir, remove_dir),
	    cmocka_unit_test_setup_teardown(test_outbox_and_ack, make_dir, remove_dir),
	    cmocka_unit_test_setup_teardown(test_outbox_beyond_the_window, make_dir, remove_dir),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
