#include <stdlib.h>

#include "agent/agent.h"
#include "agent/events.h"
#include "common/timeutil.h"

#define RING 1024

static struct {
	uint64_t seq;
	json_t *doc;
} ring[RING];
static uint64_t last_seq;
static void (*listener)(void *);
static void *listener_data;

void events_set_listener(void (*fn)(void *data), void *data)
{
	listener = fn;
	listener_data = data;
}

static void push(json_t *doc)
{
	char ts[40];
	size_t slot;

	if (!doc)
		return;
	last_seq++;
	time_fmt_rfc3339_nano(time_now_ns(), ts, sizeof(ts));
	json_object_set_new(doc, "seq", json_integer((json_int_t)last_seq));
	json_object_set_new(doc, "time", json_string(ts));
	slot = last_seq % RING;
	json_decref(ring[slot].doc);
	ring[slot].seq = last_seq;
	ring[slot].doc = doc;
	if (listener)
		listener(listener_data);
}

void events_publish(struct agent *a, struct instance *i)
{
	(void)a;
	push(json_pack("{s:s, s:s, s:s, s:o}", "id", i->id, "phase", inst_phase_name(i->phase), "reason", i->reason,
		       "status", inst_status_json(i)));
}

void events_publish_removed(struct agent *a, struct instance *i)
{
	(void)a;
	push(json_pack("{s:s, s:s, s:s, s:b}", "id", i->id, "phase", "removed", "reason", "", "removed", 1));
}

json_t *events_since(uint64_t after, size_t max, uint64_t *ret_last)
{
	json_t *arr = json_array();
	uint64_t first = last_seq >= RING ? last_seq - RING + 1 : 1;

	if (after + 1 > first)
		first = after + 1;
	for (uint64_t s = first; arr && s <= last_seq && json_array_size(arr) < max; s++)
		if (ring[s % RING].seq == s)
			json_array_append(arr, ring[s % RING].doc);
	*ret_last = last_seq;
	return arr;
}

uint64_t events_last_seq(void)
{
	return last_seq;
}

void events_reset(void)
{
	for (size_t k = 0; k < RING; k++) {
		json_decref(ring[k].doc);
		ring[k].doc = NULL;
		ring[k].seq = 0;
	}
}
