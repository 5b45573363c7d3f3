#pragma once
#include "common/err.h"

struct agent;

/* Detects the cgroup version and prepares the cgroup root with its online/ and batch/ tiers. */
int cgroot_setup(struct agent *a, struct err **err);
/* Fills a->memory_allocatable and a->pids_allocatable from the host and the config. */
void cgroot_node_allocatable(struct agent *a);
