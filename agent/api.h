#pragma once
/* The agent API (DESIGN.md "The agent API") on the unix socket. */
#include <jansson.h>

#include "common/err.h"

struct agent;
struct agent_config;
struct api;

/* --listen and its TLS and authentication flags: refuses what would serve in clear or to anyone,
 * and reads the files they name (a token file must be a regular file of mode 0600). */
int api_tcp_check(const struct agent_config *c, struct err **err);
/* Serves the unix socket, and TCP too with --listen. */
int api_start(struct agent *a, const char *socket_path, struct api **ret, struct err **err);
struct api *api_free(struct api *api);
/* The node status of GET /v1/node (also the "node" of a status report to the control plane). */
json_t *api_node_json(struct agent *a);
/* api_wake() is declared in agent/agent.h. */
