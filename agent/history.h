#pragma once
/* Every spec an instance has run, newest first (DESIGN.md "History"): revision, source, when it was
 * applied and how its run ended. Kept in STATE_DIR/history/ID.json (written atomically), the last
 * --history-limit entries. */
#include <jansson.h>

struct agent;
struct instance;

/* i->spec has just become the spec i runs (a new instance, or a replacement). */
void history_applied(struct instance *i);
/* i's status changed: the newest entry follows how its run is going or ended. */
void history_update(struct instance *i);
/* The newest entry was replaced by a higher revision (call before history_applied). */
void history_replaced(struct instance *i);
/* Reads the file of an adopted instance (or starts one from its current spec). */
void history_load(struct instance *i);
/* The instance is gone: so is its file. */
void history_forget(struct instance *i);
/* Writes the files that are behind memory (the loop does it after each iteration; call at exit). */
void history_flush(struct agent *a);
/* A new reference to the entries, newest first. */
json_t *history_json(const struct instance *i);
