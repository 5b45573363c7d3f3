#pragma once
/* --etcd URL: desired instances at PREFIX/nodes/{node}/instances/{id} (listed, then watched from
 * the revision last applied), statuses written to PREFIX/status/{node}/{id} and the node's own
 * to PREFIX/status/{node}, all under a lease the agent keeps alive, so a dead agent's keys
 * vanish by themselves. Through etcd's v3 JSON gateway over the loop's HTTP client. */
#include "common/err.h"

struct agent;
struct agent_config;
struct etcd_source;

/* Checks the etcd flags before anything starts. */
int etcd_config_check(const struct agent_config *c, struct err **err);
int etcd_source_start(struct agent *a, struct etcd_source **ret);
struct etcd_source *etcd_source_free(struct etcd_source *es);
