#pragma once
/* Where desired state comes from. Every source (the assignments dir, the API and its pushed set,
 * the control plane by pull; etcd goes here too) only changes what it desires and hands it to one
 * reconcile path: agent_apply/agent_remove for one instance, agent_set_sync for a whole set. Each
 * source owns the ids it created; the same id from a second source is refused, naming the owner. */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "agent/agent.h"
#include "common/err.h"

struct agent;

/* source_name(), source_desc() and source_parse() are declared in agent/agent.h. */

/* ---- the set diff (pure; tests/unit/test_source.c) ---- */
enum set_op {
	SET_CREATE,    /* no instance of this id: create */
	SET_REPLACE,   /* a higher revision (or a removal to undo): replace */
	SET_UNCHANGED, /* same revision: nothing to do */
	SET_STALE,     /* lower revision than the instance runs: refused */
	SET_FOREIGN,   /* the id belongs to another source: refused */
	SET_DUPLICATE, /* the id appears earlier in the same set: refused */
	SET_INVALID,   /* the spec did not parse: refused (an instance of this id, if any, is kept) */
	SET_REMOVE,    /* an instance of this source that the set no longer names */
};

struct set_have {
	const char *id;
	enum inst_source src;
	int64_t revision; /* of the spec the instance converges to; ignored if !has_spec */
	bool has_spec;
	bool removing;
};

struct set_want {
	const char *id; /* may be NULL for an invalid item whose id cannot be read */
	int64_t revision;
	bool valid; /* false: the spec did not parse (SET_INVALID); its id, if readable, is kept */
};

struct set_step {
	enum set_op op;
	size_t index; /* into want; into have for SET_REMOVE */
};

/* One step per wanted item (in order), then one SET_REMOVE per instance of src that no valid or
 * invalid item names. *ret is malloc'd (n_want + n_have entries at most). */
int source_plan(enum inst_source src, const struct set_have *have, size_t n_have, const struct set_want *want,
		size_t n_want, struct set_step **ret, size_t *ret_n);

/* ---- a source's whole desired set, held and persisted (STATE_DIR/sources/NAME.json) ---- */
struct source_set {
	enum inst_source src;
	int64_t revision;
	json_t *instances; /* the specs as received (a pulled set may hold invalid ones) */
	json_t *refused;   /* status documents for what the last sync refused (failed, InvalidSpec) */
	char *dir;
};

/* 1: loaded from its file; 0: none yet (an empty set at revision 0). */
int source_set_open(struct agent *a, enum inst_source src, struct source_set **ret, struct err **err);
struct source_set *source_set_free(struct source_set *s);
/* Atomic write of {"revision", "instances"}. */
int source_set_save(const struct source_set *s, struct err **err);
/* {"revision": N, "instances": [...]}, a new reference. */
json_t *source_set_json(const struct source_set *s);
/* One instance of the set added or replaced (by id), or dropped; the set's revision stays. */
int source_set_put(struct source_set *s, json_t *spec_raw, struct err **err);
int source_set_drop(struct source_set *s, const char *id, struct err **err);

/* ---- checking and applying a set ---- */
struct set_item {
	struct spec *spec; /* NULL when refused */
	enum set_op op;
	char *field; /* "instances[N].FIELD" of a refusal */
	char *error; /* why it was refused */
	int errnum;
};

struct set_check {
	struct set_item *items;
	size_t n;
	size_t n_refused;
	size_t first_refused;
	char **remove; /* ids of src's instances the set no longer names, NULL-terminated */
};

/* Parses and plans every item against the instances the agent has. Fails only on a set that is
 * not an array (or on OOM); per-item problems are refusals in ret. */
int agent_set_check(struct agent *a, enum inst_source src, json_t *instances, struct set_check *ret,
		    struct err **err);
void set_check_done(struct set_check *c);
/* Applies a checked set: creates, replaces, removes. The refusals become s->refused (and a log
 * line each); s->instances must be the array c was checked from. Returns a summary {"created": [...],
 * "replaced": [...], "unchanged": [...], "removed": [...], "refused": [...]}. Consumes the specs of c. */
json_t *agent_set_sync(struct agent *a, struct source_set *s, struct set_check *c);
/* Checks and applies s->instances as they are (a set loaded at start). */
int agent_set_converge(struct agent *a, struct source_set *s, struct err **err);
/* Loads the held sets and converges to them (after adoption); the API's set is made from the API's
 * instances when there is no file yet. */
int agent_sources_start(struct agent *a);
