#pragma once
/* Status changes with a sequence number, kept in a ring for GET /v1/events. */
#include <stdint.h>

#include <jansson.h>

struct agent;
struct instance;

void events_publish(struct agent *a, struct instance *i);
void events_publish_removed(struct agent *a, struct instance *i);
/* Events with seq > after (oldest first, at most max); ret_last is the newest seq known. */
json_t *events_since(uint64_t after, size_t max, uint64_t *ret_last);
void events_reset(void);
/* The newest sequence number handed out (events published since the agent started). */
uint64_t events_last_seq(void);
/* Called on every publish (the API resumes its long-polls). */
void events_set_listener(void (*fn)(void *data), void *data);
