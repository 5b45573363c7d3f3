/* Colocation policy against recorded traces (250 ms ticks on a 2-CPU node): batch CPU is cut under
 * online pressure, given back once it is gone, and does not oscillate; eviction order and cool-down;
 * the flag parsers. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "agent/coloc-policy.h"

#define MI (1024LL * 1024)
#define TICK_MS 250

static const struct coloc_config cfg2 = {.cpu_allocatable_millis = 2000,
					 .memory_allocatable = 4096 * MI,
					 .batch_cpu_target_pct = 100,
					 .batch_cpu_min_millis = 100,
					 .evict_available_bytes = 500 * MI,
					 .batch_memory_pct = 80};

/* One recorded tick: online pressure percent, online and batch CPU (millis). */
struct tick {
	double pressure;
	int64_t online, batch;
};

struct run {
	int64_t quota[128]; /* after each tick */
	int changes;
	struct coloc_state st;
};

static void play(const struct coloc_config *c, const struct tick *t, size_t n, struct run *r)
{
	coloc_state_init(&r->st);
	r->changes = 0;
	for (size_t k = 0; k < n; k++) {
		struct coloc_sample s = {.at_ms = (int64_t)k * TICK_MS,
					 .online_cpu_millis = t[k].online,
					 .batch_cpu_millis = t[k].batch,
					 .node_cpu_millis = t[k].online + t[k].batch,
					 .online_cpu_pressure = t[k].pressure,
					 .online_memory = 100 * MI,
					 .batch_memory = 100 * MI,
					 .mem_available = 3000 * MI,
					 .mem_full_pct = 0};
		struct coloc_decision d;

		coloc_step(c, &r->st, &s, &d);
		r->quota[k] = d.batch_cpu_quota;
		r->changes += d.quota_changed;
		if (d.quota_changed)
			assert_true(strlen(d.reason) > 0);
	}
}

static void test_idle(void **state)
{
	struct tick t[40];
	struct run r;

	(void)state;
	for (size_t k = 0; k < 40; k++)
		t[k] = (struct tick){0.5, 50, 1900}; /* batch has the node, online barely runs */
	play(&cfg2, t, 40, &r);
	assert_int_equal(r.changes, 0);
	assert_int_equal(r.quota[39], COLOC_UNLIMITED);
}

/* Busy loops in batch start to delay online at tick 4; the cuts bring online's pressure into the
 * band, where the cut is held; at tick 20 the load is gone and batch gets its CPU back. */
static void test_spike_cut_and_given_back(void **state)
{
	struct tick t[40];
	struct run r;
	int first_cut = -1, back = -1;

	(void)state;
	for (int k = 0; k < 40; k++)
		t[k] = k >= 4 && k < 6	  ? (struct tick){60, 1500, 500}
		       : k >= 6 && k < 20 ? (struct tick){8, 1500, 100}
					  : (struct tick){0.5, 50, 1900};
	play(&cfg2, t, 40, &r);
	for (int k = 0; k < 40; k++) {
		if (first_cut < 0 && r.quota[k] != COLOC_UNLIMITED)
			first_cut = k;
		if (k >= 20 && back < 0 && r.quota[k] == COLOC_UNLIMITED)
			back = k;
	}
	assert_int_equal(first_cut, 4);	   /* the first pressured tick cuts */
	assert_int_equal(r.quota[4], 250); /* half of what batch used */
	assert_int_equal(r.quota[5], 125);
	for (int k = 6; k < 20; k++) /* the cut helped: kept while online is in the band */
		assert_int_equal(r.quota[k], 125);
	assert_false(r.st.probing);
	assert_true(back > 20 && (back - 20 + 1) * TICK_MS <= 2000); /* given back within 2 s */
	for (int k = back; k < 40; k++)
		assert_int_equal(r.quota[k], COLOC_UNLIMITED);
}

/* Online's own pressure (its tasks queue behind each other): the cuts do not lower it, so batch
 * gets its CPU back after COLOC_RELIEF_TICKS, and the next try waits a back-off that doubles. */
static void test_cut_without_relief_given_back(void **state)
{
	struct tick t[128];
	struct run r;
	int gave_back[8], n = 0;

	(void)state;
	for (int k = 0; k < 128; k++)
		t[k] = k < 4 ? (struct tick){0.5, 50, 1900} : (struct tick){15, 1800, 900};
	play(&cfg2, t, 128, &r);
	assert_int_equal(r.quota[4], 450); /* cut at once, as for any pressure */
	for (int k = 4; k < 4 + COLOC_RELIEF_TICKS; k++)
		assert_true(r.quota[k] != COLOC_UNLIMITED);
	for (int k = 5; k < 128; k++)
		if (r.quota[k] == COLOC_UNLIMITED && r.quota[k - 1] != COLOC_UNLIMITED && n < 8)
			gave_back[n++] = k;
	assert_true(n >= 2);
	assert_int_equal(gave_back[0], 4 + COLOC_RELIEF_TICKS); /* 2 s after the first cut */
	/* no cut during the back-off, and the second one is twice as long */
	for (int k = gave_back[0]; k < gave_back[0] + COLOC_HOLD_TICKS; k++)
		assert_int_equal(r.quota[k], COLOC_UNLIMITED);
	assert_int_equal(gave_back[1] - gave_back[0], COLOC_HOLD_TICKS + COLOC_RELIEF_TICKS);
	assert_int_equal(gave_back[2] - gave_back[1], 2 * COLOC_HOLD_TICKS + COLOC_RELIEF_TICKS);
	assert_int_equal(n, 3);
	assert_int_equal(r.st.hold_len, 8 * COLOC_HOLD_TICKS);
	/* 31 s of pressure: three runs of cuts (450, 225, 112, 100m) and three give-backs */
	assert_int_equal(r.changes, 15);
}

/* online load ramps up slowly: nothing moves while pressure stays in the band */
/* Online pressure with no batch instance on the node (forking online services, say) cuts nothing,
 * and a quota cut while batch ran is lifted on the first tick after the last batch instance left. */
static void test_no_batch_no_quota(void **state)
{
	struct coloc_state st;
	struct coloc_decision d;
	struct coloc_sample s = {.online_cpu_millis = 1500,
				 .batch_cpu_millis = 0,
				 .node_cpu_millis = 1500,
				 .online_cpu_pressure = 60,
				 .online_memory = 100 * MI,
				 .mem_available = 3000 * MI,
				 .no_batch = true};

	(void)state;
	coloc_state_init(&st);
	for (int k = 0; k < 8; k++) {
		s.at_ms = k * TICK_MS;
		coloc_step(&cfg2, &st, &s, &d);
		assert_false(d.quota_changed);
		assert_int_equal(d.batch_cpu_quota, COLOC_UNLIMITED);
	}
	s.no_batch = false; /* a batch instance arrives under the same pressure: cut at once */
	s.batch_cpu_millis = 500;
	coloc_step(&cfg2, &st, &s, &d);
	assert_true(d.quota_changed);
	assert_true(d.batch_cpu_quota != COLOC_UNLIMITED && d.batch_cpu_quota <= 1000);
	s.no_batch = true; /* and it leaves: lifted on the next tick, pressure or not */
	s.batch_cpu_millis = 0;
	coloc_step(&cfg2, &st, &s, &d);
	assert_true(d.quota_changed);
	assert_int_equal(d.batch_cpu_quota, COLOC_UNLIMITED);
	assert_non_null(strstr(d.reason, "no batch instance"));
}

static void test_ramp(void **state)
{
	struct tick t[40];
	struct run r;

	(void)state;
	for (int k = 0; k < 40; k++)
		t[k] = (struct tick){k < 30 ? k * 0.3 : 20, 40 * k, 1900 - 40 * k};
	play(&cfg2, t, 40, &r);
	for (int k = 0; k < 30; k++)
		if (t[k].pressure < COLOC_PRESSURE_HI)
			assert_int_equal(r.quota[k], COLOC_UNLIMITED);
	assert_true(r.quota[30] != COLOC_UNLIMITED);
	assert_true(r.quota[36] >= 100 && r.quota[36] < 2000);
	/* the recorded pressure does not answer the cuts: batch gets its CPU back */
	assert_int_equal(r.quota[39], COLOC_UNLIMITED);
}

/* pressure that comes and goes every second: the calm time needed grows, so changes stay few */
static void test_oscillating(void **state)
{
	struct tick t[120];
	struct run r;
	int raises = 0;

	(void)state;
	for (int k = 0; k < 120; k++)
		t[k] = (k / 4) % 2 ? (struct tick){40, 1200, 800} : (struct tick){1, 100, 1900};
	play(&cfg2, t, 120, &r);
	for (int k = 1; k < 120; k++)
		raises += r.quota[k] != COLOC_UNLIMITED && r.quota[k - 1] != COLOC_UNLIMITED &&
			  r.quota[k] > r.quota[k - 1];
	/* 15 bursts in 30 s; with a fixed 3-tick calm the quota would climb back after every one */
	assert_true(raises <= 4);
	assert_true(r.changes <= 14);
	assert_true(r.st.calm_needed > COLOC_CALM_TICKS);
	/* a pressured tick never leaves the quota uncapped */
	for (int k = 0; k < 120; k++)
		if (t[k].pressure >= COLOC_PRESSURE_HI)
			assert_true(r.quota[k] != COLOC_UNLIMITED);
}

/* the band between LO and HI holds whatever was set */
static void test_band_holds(void **state)
{
	struct tick t[30];
	struct run r;

	(void)state;
	for (int k = 0; k < 30; k++)
		t[k] = k < 3 ? (struct tick){50, 1500, 500} : (struct tick){5, 1200, 300};
	play(&cfg2, t, 30, &r);
	for (int k = 3; k < 30; k++)
		assert_int_equal(r.quota[k], r.quota[2]);
}

static void test_target_cap(void **state)
{
	struct coloc_config c = cfg2;
	struct tick t[6];
	struct run r;

	(void)state;
	c.batch_cpu_target_pct = 60; /* 1200m - online 500 - system 0 = 700m */
	for (int k = 0; k < 6; k++)
		t[k] = (struct tick){0, 500, 600};
	play(&c, t, 6, &r);
	assert_int_equal(r.quota[0], 700);
	assert_int_equal(r.changes, 1);
	c.batch_cpu_target_pct = 20; /* 400 - 500 < 0: never below the minimum */
	play(&c, t, 6, &r);
	assert_int_equal(r.quota[5], 100);
}

static void test_reclaimable(void **state)
{
	struct coloc_sample s = {.online_cpu_millis = 600,
				 .batch_cpu_millis = 300,
				 .node_cpu_millis = 1100,
				 .online_memory = 1000 * MI,
				 .online_memory_requests = 2096 * MI};
	struct coloc_config c = cfg2;

	(void)state;
	assert_int_equal(coloc_reclaimable_cpu(&c, &s), 2000 - 600 - 200);
	assert_int_equal(coloc_reclaimable_memory(&c, &s),
			 2000 * MI / 100 * 80); /* requests win over usage */
	s.online_memory = 3096 * MI;
	assert_int_equal(coloc_reclaimable_memory(&c, &s), 1000 * MI / 100 * 80);
	c.batch_memory_bytes = 512 * MI;
	assert_int_equal(coloc_reclaimable_memory(&c, &s), 512 * MI);
}

static void test_memory_limit_hysteresis(void **state)
{
	struct coloc_state st;
	struct coloc_decision d;
	struct coloc_sample s = {.online_memory = 1000 * MI, .mem_available = 3000 * MI, .mem_full_pct = -1};

	(void)state;
	coloc_state_init(&st);
	coloc_step(&cfg2, &st, &s, &d);
	assert_true(d.memory_changed);
	assert_int_equal(d.batch_memory_limit, 3096 * MI / 100 * 80 / 4096 * 4096); /* page-aligned */
	s.online_memory += 10 * MI; /* small moves leave the knob alone */
	coloc_step(&cfg2, &st, &s, &d);
	assert_false(d.memory_changed);
	s.online_memory += 200 * MI;
	coloc_step(&cfg2, &st, &s, &d);
	assert_true(d.memory_changed);
}

static const struct coloc_inst fleet[] = {
    {"on-big", false, 900 * MI, 1000 * MI}, /* within its request */
    {"on-over", false, 700 * MI, 200 * MI}, {"b-small", true, 300 * MI, 0},
    {"b-big", true, 800 * MI, 256 * MI}, /* 544 over */
    {"b-most", true, 600 * MI, 0},	 /* 600 over: first */
};

static void test_evict_order_and_cooldown(void **state)
{
	struct coloc_inst left[5];
	struct coloc_sample s = {.mem_available = 400 * MI, .mem_full_pct = -1, .inst = left};
	struct coloc_state st;
	struct coloc_decision d;
	const char *order[4] = {"b-most", "b-big", "b-small", "on-over"};

	(void)state;
	memcpy(left, fleet, sizeof(fleet));
	s.n_inst = 5;
	coloc_state_init(&st);
	for (int n = 0; n < 4; n++) {
		coloc_step(&cfg2, &st, &s, &d);
		assert_non_null(d.evict);
		assert_string_equal(d.evict->id, order[n]);
		assert_non_null(strstr(d.evict_message, "419430400 bytes")); /* available, in the message */
		/* still running: no second eviction, whatever the pressure */
		s.at_ms += 5000;
		coloc_step(&cfg2, &st, &s, &d);
		assert_null(d.evict);
		/* gone, but within the cool-down: none either */
		for (size_t k = 0; k < s.n_inst; k++)
			if (strcmp(left[k].id, order[n]) == 0)
				left[k] = left[--s.n_inst];
		s.at_ms = st.evicted_at_ms + COLOC_EVICT_COOLDOWN_MS - 1;
		coloc_step(&cfg2, &st, &s, &d);
		assert_null(d.evict);
		s.at_ms += 1;
	}
	/* only on-big is left, within its request: never evicted */
	coloc_step(&cfg2, &st, &s, &d);
	assert_null(d.evict);
	assert_int_equal(st.evictions, 4);
}

static void test_no_eviction_above_threshold(void **state)
{
	struct coloc_sample s = {.mem_available = 600 * MI, .mem_full_pct = 2, .inst = fleet, .n_inst = 5};
	struct coloc_state st;
	struct coloc_decision d;
	struct coloc_config off = cfg2;

	(void)state;
	coloc_state_init(&st);
	coloc_step(&cfg2, &st, &s, &d);
	assert_null(d.evict);
	s.mem_full_pct = 25; /* memory PSI alone triggers */
	coloc_step(&cfg2, &st, &s, &d);
	assert_non_null(d.evict);
	off.evict_available_bytes = 0; /* "none": never */
	coloc_state_init(&st);
	s.mem_available = 1;
	coloc_step(&off, &st, &s, &d);
	assert_null(d.evict);
}

static void test_parse(void **state)
{
	int64_t b = 7;
	int pct = 0;
	struct err *e = NULL;

	(void)state;
	assert_int_equal(coloc_parse_eviction_hard("memory.available<500Mi", 0, &b, NULL), 0);
	assert_int_equal(b, 500 * MI);
	assert_int_equal(coloc_parse_eviction_hard("memory.available<10%", 1000 * MI, &b, NULL), 0);
	assert_int_equal(b, 100 * MI);
	assert_int_equal(coloc_parse_eviction_hard("none", 0, &b, NULL), 0);
	assert_int_equal(b, 0);
	assert_int_equal(coloc_parse_eviction_hard("memory.free<1Gi", 0, &b, &e), -EINVAL);
	assert_non_null(strstr(err_msg(e), "memory.available<SIZE"));
	err_free(&e);
	assert_int_equal(coloc_parse_eviction_hard("memory.available<101%", 0, &b, NULL), -EINVAL);
	assert_int_equal(coloc_parse_eviction_hard("memory.available<lots", 0, &b, NULL), -EINVAL);
	assert_int_equal(coloc_parse_batch_memory("80%", &pct, &b, NULL), 0);
	assert_int_equal(pct, 80);
	assert_int_equal(coloc_parse_batch_memory("2Gi", &pct, &b, NULL), 0);
	assert_int_equal(pct, 0);
	assert_int_equal(b, 2048 * MI);
	assert_int_equal(coloc_parse_batch_memory("0%", &pct, &b, NULL), -EINVAL);
	assert_int_equal(coloc_parse_batch_memory("", &pct, &b, NULL), -EINVAL);
	assert_int_equal(coloc_parse_batch_memory("80%%", &pct, &b, NULL), -EINVAL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_idle),
	    cmocka_unit_test(test_spike_cut_and_given_back),
	    cmocka_unit_test(test_cut_without_relief_given_back),
	    cmocka_unit_test(test_no_batch_no_quota),
	    cmocka_unit_test(test_ramp),
	    cmocka_unit_test(test_oscillating),
	    cmocka_unit_test(test_band_holds),
	    cmocka_unit_test(test_target_cap),
	    cmocka_unit_test(test_reclaimable),
	    cmocka_unit_test(test_memory_limit_hysteresis),
	    cmocka_unit_test(test_evict_order_and_cooldown),
	    cmocka_unit_test(test_no_eviction_above_threshold),
	    cmocka_unit_test(test_parse),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
