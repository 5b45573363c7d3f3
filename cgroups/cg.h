#pragma once
/* cgroups: v1 (per-controller hierarchies) and v2 (unified) behind one ops table,
 * chosen once at start. Containers' cgroups are created by the OCI runtime from
 * linux.cgroupsPath; this module prepares the parents and cleans up after. */
#include <stdbool.h>
#include <stdint.h>

#include "common/err.h"

enum cg_version {
	CG_V1,
	CG_V2,
	_CG_VERSION_MAX,
	_CG_VERSION_INVALID = -22,
};

enum cg_qos {
	CG_QOS_ONLINE,
	CG_QOS_BATCH,
};

struct cg_ctx;

/* mount: the cgroupfs mount point ("/sys/fs/cgroup" or a test tree).
 * cgroup2 -> CG_V2; a tmpfs holding v1 controller hierarchies (v1 or hybrid) -> CG_V1;
 * anything else -> -ENOMEDIUM. */
int cg_detect(const char *mount, enum cg_version *ret, struct err **err);
/* "v1" or "v2". */
const char *cg_version_name(enum cg_version v);
/* The path of the hierarchy that matters for ver in a /proc/PID/cgroup text: v2's "0::" line, v1's
 * memory hierarchy (a line may list several controllers). Modifies text; caller frees *ret.
 * -ENOENT when no line matches. */
int cg_self_path(char *text, enum cg_version ver, char **ret);
/* The root for cg_ctx_new: explicit_root if set; when delegated (the calling process runs as a
 * systemd unit with Delegate=yes), the process's own cgroup unless that is "/" (on v2 the process
 * then moves into a leaf "agent" below it: a v2 cgroup whose children have controllers may hold no
 * process); otherwise "/drover". Caller frees *ret. */
int cg_root_choose(const char *mount, enum cg_version ver, const char *explicit_root, bool delegated,
		   char **ret, struct err **err);
/* Creates root ("/drover" style, relative to the mount) and root/online, root/batch in every
 * hierarchy used (v1: cpu, cpuacct, memory, pids, ...; v2: enables +cpu +memory +pids in
 * subtree_control down to root/online and root/batch). Sets batch to the lowest CPU weight.
 * No filesystem check is made here: ver is trusted, so tests can pass a plain temp dir. */
int cg_ctx_new(const char *mount, enum cg_version ver, const char *root, struct cg_ctx **ret,
	       struct err **err);
/* cg_ctx_new with the batch tier at batch instead of root/batch (NULL: there): a cgroup beside the
 * root, e.g. "/drover-batch", so batch work is one idle entity at its own level instead of a part
 * of the root's (the root stays busy while batch runs). It must not be the root, below it or
 * above it (-EINVAL). Parents it needs are created; only its own dir is removed. Instances'
 * cgroup paths follow it: change it only with no batch instance on the node. */
int cg_ctx_new_tiers(const char *mount, enum cg_version ver, const char *root, const char *batch,
		     struct cg_ctx **ret, struct err **err);
struct cg_ctx *cg_ctx_free(struct cg_ctx *c);
enum cg_version cg_ctx_version(const struct cg_ctx *c);
/* The path-returning functions below give NULL with errno EINVAL for a bad id/path/name
 * (not absolute, '.', '..', '//', a '/' in a name) and NULL with ENOMEM on OOM. */
/* linux.cgroupsPath for an instance: "<root>/online/<id>", "<batch tier>/<id>"; caller frees. */
char *cg_instance_path(const struct cg_ctx *c, enum cg_qos qos, const char *id);
/* Absolute path of the file whose "oom_kill N" line counts OOM kills in that cgroup
 * (v1: memory/<path>/memory.oom_control, v2: <path>/memory.events); caller frees. */
char *cg_oom_events_file(const struct cg_ctx *c, const char *path);
/* Absolute path of a knob: v1 "memory.limit_in_bytes" in the memory hierarchy, v2 "memory.max"...
 * controller names the v1 hierarchy dir ("memory", "cpu", "pids"); v2 ignores it (may be NULL). */
char *cg_knob_path(const struct cg_ctx *c, const char *path, const char *controller, const char *knob);
/* Kills what is left in the cgroup and removes it in every hierarchy; missing is fine.
 * path must lie strictly below the context's root or its batch tier (-EINVAL otherwise). Waits at most about
 * one second for killed processes to leave (-EBUSY after that). */
int cg_instance_remove(const struct cg_ctx *c, const char *path, struct err **err);
/* Caps a tier (online or batch) so that its instances together stay inside the node:
 * v1 memory.limit_in_bytes and pids.max in the memory and pids hierarchies, v2 memory.max and
 * pids.max. A value <= 0 leaves that knob alone; a controller the host lacks is skipped. */
int cg_set_tier_limits(const struct cg_ctx *c, enum cg_qos qos, int64_t memory_bytes, int64_t pids,
		       struct err **err);
/* What the processes below the root use right now; -1 where the kernel does not say. */
struct cg_usage {
	int64_t cpu_ns;		    /* CPU time consumed, cumulative */
	int64_t memory_bytes;	    /* memory charged, page cache included */
	int64_t memory_working_set; /* memory_bytes minus inactive file pages (kubelet's working set) */
	int64_t pids;		    /* tasks */
};
/* Reads the usage of all instances: the context's root cgroup, plus a batch tier of its own. */
int cg_root_usage(const struct cg_ctx *c, struct cg_usage *ret, struct err **err);
/* Colocation (cg-coloc.c). The batch tier's CPU quota in millicores (< 0: no cap): v1
 * cpu.cfs_quota_us over a 100 ms period, v2 cpu.max. Its memory: v1 memory.limit_in_bytes,
 * v2 memory.high (throttle and reclaim, no kill). */
int cg_set_batch_cpu(const struct cg_ctx *c, int64_t quota_millis, struct err **err);
int cg_set_batch_memory(const struct cg_ctx *c, int64_t bytes, struct err **err);
/* The batch tier's CPU class: idle (cpu.idle 1 where the kernel has it, the lowest weight
 * otherwise; what cg_ctx_new sets) or, idle false, only the lowest weight (v1 cpu.shares 2, v2
 * cpu.weight 1, cpu.idle 0): kubelet's BestEffort. See docs/colocation-latency.md for the
 * trade-off. A tier without the cpu controller is left alone. */
int cg_set_batch_cpu_class(const struct cg_ctx *c, bool idle, struct err **err);
/* A tier's cgroup path, as in linux.cgroupsPath ("<root>/online", the batch tier's); NULL for an
 * unknown qos. */
const char *cg_tier(const struct cg_ctx *c, enum cg_qos qos);
/* The batch quota as the kernel has it, millicores; -1: none. */
int64_t cg_batch_cpu_quota(const struct cg_ctx *c);
/* Cumulative counters of a tier; -1 where unknown. wait: also how long its tasks waited for a CPU
 * (v2, and v1 in the hybrid layout through its cgroup2 hierarchy: PSI cpu.pressure "some" total;
 * plain v1: the run-queue delay in the schedstats of its tasks). */
struct cg_tier_sample {
	int64_t cpu_ns, memory_bytes, throttled_ns, wait_ns;
	bool wait_is_psi; /* wait_ns is time some task waited (PSI), not a sum over tasks */
};
void cg_tier_sample(const struct cg_ctx *c, enum cg_qos qos, bool wait, struct cg_tier_sample *ret);
/* An instance cgroup's working set (usage minus inactive file pages); -1 unknown. */
int64_t cg_instance_memory(const struct cg_ctx *c, const char *path);
/* With a batch tier of its own: removes the default one (<root>/batch) left from before, where
 * it is empty; true when it still holds cgroups (batch instances started before the switch). */
bool cg_nested_batch_left(const struct cg_ctx *c);
/* Removes the tiers and root when empty (tests, uninstall). */
int cg_ctx_remove_root(const struct cg_ctx *c, struct err **err);

static inline void cg_ctx_freep(struct cg_ctx **c)
{
	if (*c)
		(void)cg_ctx_free(*c); /* always NULL */
}
#define _cleanup_cg_ctx_ __attribute__((cleanup(cg_ctx_freep)))
