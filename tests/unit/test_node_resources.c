/* Node status arithmetic: --system-reserved parsing, allocatable, allocated by requests, PSI
 * parsing and the pressure conditions' thresholds. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "agent/node-resources.h"
#include "spec/spec.h"

#define MI (1024LL * 1024)

static struct node_res parse_ok(const char *s)
{
	struct node_res r;
	struct err *e = NULL;

	if (node_res_parse(s, &r, &e) < 0)
		fail_msg("'%s' refused: %s", s, err_msg(e));
	return r;
}

static void parse_bad(const char *s, const char *needle)
{
	struct node_res r = {1, 2, 3, 4};
	struct err *e = NULL;

	assert_true(node_res_parse(s, &r, &e) < 0);
	assert_non_null(e);
	if (!strstr(err_msg(e), needle))
		fail_msg("'%s': message '%s' lacks '%s'", s, err_msg(e), needle);
	assert_int_equal(r.cpu_millis, 1); /* untouched on failure */
	err_free(&e);
}

static void test_parse(void **state)
{
	struct node_res r;

	(void)state;
	r = parse_ok("cpu=500m,memory=512Mi");
	assert_int_equal(r.cpu_millis, 500);
	assert_int_equal(r.memory_bytes, 512 * MI);
	assert_int_equal(r.pids, 0);
	assert_int_equal(r.storage_bytes, 0);
	r = parse_ok("memory=1Gi,pids=1000,ephemeral-storage=10Gi,cpu=1.5");
	assert_int_equal(r.cpu_millis, 1500);
	assert_int_equal(r.memory_bytes, 1024 * MI);
	assert_int_equal(r.pids, 1000);
	assert_int_equal(r.storage_bytes, 10 * 1024 * MI);
	r = parse_ok("pid=5");
	assert_int_equal(r.pids, 5);
	r = parse_ok("512Mi"); /* a bare size reserves memory */
	assert_int_equal(r.memory_bytes, 512 * MI);
	assert_int_equal(r.cpu_millis, 0);
	r = parse_ok("");
	assert_int_equal(r.memory_bytes, 0);
	r = parse_ok(NULL);
	assert_int_equal(r.cpu_millis, 0);
}

static void test_parse_errors(void **state)
{
	(void)state;
	parse_bad("cpu=lots", "cpu 'lots'");
	parse_bad("memory=12X", "memory '12X'");
	parse_bad("gpu=1", "unknown resource 'gpu'");
	parse_bad("cpu=", "'cpu=' is not KEY=VALUE");
	parse_bad("=1", "is not KEY=VALUE");
	parse_bad("pids=-3", "pids '-3'");
	parse_bad("pids=1e3", "pids '1e3'");
	parse_bad("half", "expected cpu=500m");
}

static void test_sub(void **state)
{
	struct node_res cap = {2000, 8192 * MI, 32768, 100 * 1024 * MI}, res = {500, 512 * MI, 1000, 0}, out;
	struct node_res big = {4000, 16384 * MI, 99999, 1LL << 50};

	(void)state;
	node_res_sub(&cap, &res, &out);
	assert_int_equal(out.cpu_millis, 1500);
	assert_int_equal(out.memory_bytes, 7680 * MI);
	assert_int_equal(out.pids, 31768);
	assert_int_equal(out.storage_bytes, 100 * 1024 * MI);
	node_res_sub(&cap, &big, &out); /* reserving more than there is leaves 0, never negative */
	assert_int_equal(out.cpu_millis, 0);
	assert_int_equal(out.memory_bytes, 0);
	assert_int_equal(out.pids, 0);
	assert_int_equal(out.storage_bytes, 0);
}

static void test_add_spec(void **state)
{
	const char *a = "{\"id\":\"a\",\"image\":\"oci:/"
			"x\",\"resources\":{\"cpu\":\"250m\",\"memory\":\"64Mi\",\"pids\":100}}";
	const char *b = "{\"id\":\"b\",\"image\":\"oci:/x\",\"resources\":{\"cpu\":0.1}}";
	const char *c = "{\"id\":\"c\",\"image\":\"oci:/x\"}";
	struct spec *sa = NULL, *sb = NULL, *sc = NULL;
	struct node_res sum = {0};

	(void)state;
	assert_int_equal(spec_parse_text(a, strlen(a), &sa, NULL), 0);
	assert_int_equal(spec_parse_text(b, strlen(b), &sb, NULL), 0);
	assert_int_equal(spec_parse_text(c, strlen(c), &sc, NULL), 0);
	node_res_add_spec(&sum, sa);
	node_res_add_spec(&sum, sb);
	node_res_add_spec(&sum, sc); /* no requests: counts nothing */
	assert_int_equal(sum.cpu_millis, 350);
	assert_int_equal(sum.memory_bytes, 64 * MI);
	assert_int_equal(sum.pids, 100);
	spec_free(sa);
	spec_free(sb);
	spec_free(sc);
}

static void test_psi(void **state)
{
	double some, full;

	(void)state;
	assert_int_equal(node_psi_parse("some avg10=1.50 avg60=0.00 avg300=0.00 total=12\n"
					"full avg10=12.25 avg60=0.00 avg300=0.00 total=3\n",
					&some, &full),
			 0);
	assert_true(some > 1.49 && some < 1.51);
	assert_true(full > 12.24 && full < 12.26);
	/* /proc/pressure/cpu on older kernels has no "full" line */
	assert_int_equal(node_psi_parse("some avg10=0.00 avg60=0.00 avg300=0.00 total=0\n", &some, &full), 0);
	assert_true(some == 0.0);
	assert_true(full < 0);
	assert_true(node_psi_parse("junk\n", &some, &full) < 0);
	assert_true(node_psi_parse("some avg60=1.00\nfull total=1 avg10=2.0\n", &some, &full) == 0);
	assert_true(some < 0); /* avg10 is looked for on its own line only */
	assert_true(full > 1.99);
}

static struct node_signals healthy(void)
{
	return (struct node_signals){.mem_total = 8192 * MI,
				     .mem_available = 4096 * MI,
				     .mem_full_avg10 = 0,
				     .disk_total = 1000 * MI,
				     .disk_avail = 500 * MI,
				     .inodes_total = 1000,
				     .inodes_free = 900,
				     .pids_used = 300,
				     .pids_max = 32768};
}

static void expect(const struct node_signals *s, int which, enum node_cond_status st, const char *reason)
{
	struct node_cond c[_NODE_COND_MAX];

	node_conditions(s, c);
	assert_int_equal(c[which].status, st);
	assert_string_equal(c[which].reason, reason);
	assert_true(c[which].message[0] != '\0');
}

static void test_conditions(void **state)
{
	struct node_signals s = healthy();
	struct node_cond c[_NODE_COND_MAX];

	(void)state;
	node_conditions(&s, c);
	assert_string_equal(c[NODE_COND_MEMORY].type, "MemoryPressure");
	assert_string_equal(c[NODE_COND_DISK].type, "DiskPressure");
	assert_string_equal(c[NODE_COND_PID].type, "PIDPressure");
	for (int k = 0; k < _NODE_COND_MAX; k++)
		assert_string_equal(node_cond_status_name(c[k].status), "False");
	s.mem_available = NODE_MEM_AVAILABLE_MIN - 1;
	expect(&s, NODE_COND_MEMORY, NODE_COND_TRUE, "MemoryAvailableLow");
	s.mem_available = NODE_MEM_AVAILABLE_MIN;
	expect(&s, NODE_COND_MEMORY, NODE_COND_FALSE, "SufficientMemory");
	s.mem_full_avg10 = NODE_MEM_FULL_AVG10_MAX;
	expect(&s, NODE_COND_MEMORY, NODE_COND_TRUE, "MemoryStalled");
	s.mem_full_avg10 = -1; /* no PSI: only the threshold */
	expect(&s, NODE_COND_MEMORY, NODE_COND_FALSE, "SufficientMemory");
	s.mem_available = -1;
	expect(&s, NODE_COND_MEMORY, NODE_COND_UNKNOWN, "NoData");
	s = healthy();
	s.disk_avail = 100 * MI; /* exactly 10%: fine */
	expect(&s, NODE_COND_DISK, NODE_COND_FALSE, "SufficientDisk");
	s.disk_avail = 100 * MI - 1;
	expect(&s, NODE_COND_DISK, NODE_COND_TRUE, "DiskSpaceLow");
	s = healthy();
	s.inodes_free = 49;
	expect(&s, NODE_COND_DISK, NODE_COND_TRUE, "InodesLow");
	s.disk_total = -1;
	expect(&s, NODE_COND_DISK, NODE_COND_UNKNOWN, "NoData");
	s = healthy();
	s.pids_used = 32768 - 3276; /* 3276 free: just under 10% */
	expect(&s, NODE_COND_PID, NODE_COND_TRUE, "PIDsLow");
	s.pids_used = 32768 - 3277;
	expect(&s, NODE_COND_PID, NODE_COND_FALSE, "SufficientPIDs");
	s.pids_max = 0;
	expect(&s, NODE_COND_PID, NODE_COND_UNKNOWN, "NoData");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_parse), cmocka_unit_test(test_parse_errors),
	    cmocka_unit_test(test_sub),	  cmocka_unit_test(test_add_spec),
	    cmocka_unit_test(test_psi),	  cmocka_unit_test(test_conditions),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
