#pragma once
/* Admission: does a spec fit the node? Today: the memory the specs ask for (resources.memory, like
 * a Kubernetes request; a spec without it asks for nothing, as a BestEffort pod) must fit the node's
 * allocatable memory (capacity minus --system-reserved), and the instance count --max-instances.
 * A refusal is -ENOSPC with a message naming the resource and the numbers; the API answers 422,
 * the assignments dir shows phase failed, reason InsufficientResources. */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "spec/spec.h"
#include "common/err.h"

struct agent;

#define ADMISSION_REASON "InsufficientResources"

/* Online requests are checked against allocatable; batch requests against what is reclaimable
 * from online (agent/coloc-policy.h), when the colocation controller has measured it (batch_known),
 * else against allocatable minus every request, as for online. */
struct admission_node {
	int64_t memory_allocatable; /* bytes */
	int64_t max_instances;	    /* 0: no cap */
	int64_t cpu_allocatable;    /* millicores; 0: CPU requests are not checked */
	bool batch_known;
	int64_t batch_memory; /* reclaimable bytes for batch */
	int64_t batch_cpu;    /* reclaimable millicores for batch */
};

struct admission_usage {
	int64_t memory;			 /* bytes asked for by the online instances already admitted */
	size_t instances;		 /* instances holding resources */
	int64_t cpu;			 /* millicores asked for by online instances */
	int64_t batch_memory, batch_cpu; /* the same for batch instances */
};

/* Capacity minus the reservation, never below 0. */
int64_t admission_allocatable(int64_t capacity, int64_t reserved);
/* Pure check of one spec against what is in use. new_instance: the spec adds an instance (not a
 * new revision of one already counted). */
int admission_check(const struct admission_node *n, const struct admission_usage *used, const struct spec *s,
		    bool new_instance, struct err **err);
/* What every instance but except_id holds (NULL: all). */
void agent_admission_usage(const struct agent *a, const char *except_id, struct admission_usage *ret);
/* The node's check for spec, whose id may already exist (a replacement frees its old revision). */
int agent_admit(const struct agent *a, const struct spec *s, struct err **err);
