#pragma once
/* --control-plane URL: the agent long-polls GET URL/v1/nodes/{node}/assignments?after=REV&wait=30
 * for its whole desired set, converges through the one reconcile path (agent/source.h), keeps the
 * last set it received in STATE_DIR/sources/control-plane.json, and reports with
 * POST URL/v1/nodes/{node}/status: every instance's status plus the unacknowledged events (the
 * outbox, agent/events.h), within 100 ms of a change and every --status-interval. */
#include "common/err.h"

struct agent;
struct agent_config;
struct cp_source;

/* Checks the control-plane flags before anything starts (token file mode 0600, cert with key). */
int cp_config_check(const struct agent_config *c, struct err **err);
int cp_source_start(struct agent *a, struct cp_source **ret);
struct cp_source *cp_source_free(struct cp_source *cp);
