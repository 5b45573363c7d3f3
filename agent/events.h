#pragma once
/* Status changes with a sequence number (DESIGN.md "Events").
 *
 * Every event is appended as one JSON line to STATE_DIR/events/journal, so a restarted agent still
 * knows the events it kept (GET /v1/events?after= keeps working across a restart) and the ones the
 * control plane has not acknowledged yet (the outbox). The append is not fsync'd: a killed agent
 * loses nothing (the page cache survives it), and seq is never reused after a host crash either,
 * because blocks of sequence numbers are reserved in STATE_DIR/events/reserved (written atomically,
 * one fsync per EVENTS_RESERVE_BLOCK events) with the boot id: an agent starting in another boot
 * than the one that reserved continues above the reservation, not above the journal's last line. */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "common/err.h"

struct agent;
struct instance;

#define EVENTS_KEPT 1024	  /* events GET /v1/events can serve; older get 410 */
#define EVENTS_RESERVE_BLOCK 1024 /* sequence numbers reserved per fsync */
#define EVENTS_OUTBOX_MAX 20000	  /* unacknowledged events kept at most (then the oldest go) */

/* Loads the journal, the reservation and the acknowledged mark from dir (created if needed). */
int events_open(const char *dir, struct err **err);
void events_close(void);

/* Publishes a status change of i (nothing if its status is the same as in its last event). */
void events_publish(struct agent *a, struct instance *i);
void events_publish_removed(struct agent *a, struct instance *i);
/* Assigns seq and time to doc (stolen), journals and keeps it, tells the listeners; returns seq. */
uint64_t events_push(json_t *doc);

/* Events with seq > after (oldest first, at most max); ret_last is the newest seq. */
json_t *events_since(uint64_t after, size_t max, uint64_t *ret_last);
/* The oldest seq still kept (events_last_seq() + 1 when none is): after < this - 1 is 410 Gone. */
uint64_t events_first_kept(void);
uint64_t events_last_seq(void);

/* The outbox (pull mode): unacknowledged events survive restarts until events_ack(). */
void events_outbox_enable(bool on);
uint64_t events_acked(void);
/* Up to max events with seq > events_acked(), oldest first. */
int events_outbox(size_t max, json_t **ret, struct err **err);
/* Everything up to seq is acknowledged (persisted atomically). */
int events_ack(uint64_t seq, struct err **err);

/* Called on every publish (the API resumes its long-polls, the reporter posts). */
int events_add_listener(void (*fn)(void *data), void *data);
void events_remove_listener(void (*fn)(void *data), void *data);

/* Pure helpers (tests/unit/test_events.c). */
/* The last seq handed out before a start: the journal's newest when the same boot wrote it,
 * else above the reservation. */
uint64_t events_seq_resume(uint64_t journal_max, uint64_t reserved, bool same_boot);
/* Events with seq <= the result may be dropped from the journal. */
uint64_t events_keep_after(uint64_t last, uint64_t acked, bool outbox);
