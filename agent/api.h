#pragma once
/* The agent API (DESIGN.md "The agent API") on the unix socket. */
#include <jansson.h>

#include "common/err.h"

struct agent;
struct api;

int api_start(struct agent *a, const char *socket_path, struct api **ret, struct err **err);
struct api *api_free(struct api *api);
/* The node status of GET /v1/node (also the "node" of a status report to the control plane). */
json_t *api_node_json(struct agent *a);
/* Wakes log followers and event long-polls (called on status changes and log writes). */
void api_wake(struct api *api);
