#pragma once
/* The agent: one process, one event loop, a table of instances. */
#include <stdbool.h>
#include <stdint.h>

#include "agent/config.h"
#include "agent/loop.h"
#include "cgroups/cg.h"
#include "image/img.h"
#include "runtime/rt.h"

/* Who created an instance (agent/source.h has names; etcd adds one here). Here, not in instance.h,
 * so that agent.h includes no unit that includes it back (tests/include-cycles.py). */
enum inst_source { SRC_DIR, SRC_API, SRC_CP, SRC_ETCD };
/* "dir", "api", "control-plane", ...; source_desc: "the assignments dir", ... for messages (source.c).
 * source_parse: -EINVAL for an unknown name. */
const char *source_name(enum inst_source s);
const char *source_desc(enum inst_source s);
int source_parse(const char *name, enum inst_source *ret);

struct api;
struct instance;
struct spec;
struct image_pending;
struct source_set;
struct cp_source;
struct etcd_source;
struct coloc;

struct agent {
	struct agent_config *cfg;
	struct loop *loop;
	struct cg_ctx *cg;
	struct rt_runc runc;
	char *runtime_path;
	char *shim_path;
	char *image_tool; /* drover-image, next to droverd */
	char *images_dir; /* STATE_DIR/images: the layer store */
	char *node_name;
	char *instances_dir; /* STATE_DIR/instances: one record per instance */
	char *bundles_dir;   /* STATE_DIR/bundles: bundle, rootfs, logs, exit record */
	char *runc_root;     /* RUN_DIR/runc */
	int oom_adj_online;
	int64_t memory_allocatable; /* bytes: capacity minus --system-reserved (admission, tier limits) */
	int64_t pids_allocatable;   /* the tiers' pids.max: 90% of the kernel's pid and thread limits */
	struct trash *trash;	    /* old writable layers and bundles, deleted by a child process */
	struct instance *instances;
	struct api *api;
	struct dir_source *dir;
	struct source_set *api_set;	  /* the API's instances: the pushed set plus per-instance PUTs */
	bool api_set_unsaved;		  /* its last save failed (e.g. ENOSPC): retried with the records */
	struct cp_source *cp;		  /* --control-plane: pull and status reporting */
	struct etcd_source *etcd;	  /* --etcd: watched assignments, statuses under a lease */
	struct image_pending *image_jobs; /* drover-image runs in flight, one per reference */
	struct coloc *coloc;		  /* colocation controller (agent/coloc.h) */
	struct net_ctx *net;		  /* bridge networking, set up at first use */
	char *net_dir;			  /* STATE_DIR/net: leases and published ports */
	uint64_t event_seq;
	int64_t started_mono;
	int lock_fds[3]; /* state dir, run dir, nftables table (locks.c) */
};

/* Where the per-table lock files live: one host-wide directory, whatever each agent's run dir. */
#define AGENT_NFT_LOCK_DIR "/run/drover-nft"
/* Takes dir/name with flock and writes our PID in it; returns the fd, or -EBUSY naming the holder. */
int agent_lock_file(const char *dir, const char *name, const char *what, const char *value, struct err **err);
/* droverd --cleanup (teardown.c): refuses while instances exist, else removes the bridge, the
 * nftables table, the namespace mounts and the cgroup tree. */
int agent_cleanup(struct agent *a);
/* The state dir, the run dir and the nftables table: one agent each. */
int agent_lock_all(struct agent *a, const char *nft_lock_dir, struct err **err);

struct instance *agent_find(struct agent *a, const char *id);
void agent_link(struct agent *a, struct instance *i);
void agent_unlink(struct agent *a, struct instance *i);

enum apply_result { APPLY_CREATED, APPLY_REPLACED, APPLY_UNCHANGED };

/* Desired-state changes from any source. spec ownership passes to the agent on success and failure. */
int agent_apply(struct agent *a, struct spec *spec, enum inst_source src, const char *ref,
		enum apply_result *ret, struct err **err);
/* Stops (grace period) and removes; -ENOENT if unknown, -EPERM if another source owns it. */
int agent_remove(struct agent *a, const char *id, enum inst_source src, struct err **err);
/* As agent_remove; force: SIGKILL at once instead of SIGTERM and the grace period. */
int agent_remove_opt(struct agent *a, const char *id, enum inst_source src, bool force, struct err **err);
/* Reloads persisted instance records and adopts running shims; called once at start. */
int agent_adopt(struct agent *a);

/* The bridge network, created at first use (or at start when earlier state exists). */
struct net_ctx *agent_net(struct agent *a, struct err **err);
/* After adoption: leases, veths, netns files and rules of unknown instances are freed. */
void agent_net_reclaim(struct agent *a);

/* -EADDRINUSE when another instance publishes one of spec's host ports, or one is reserved
 * (--reserved-host-ports) or held by a process on the node. */
int agent_check_ports(struct agent *a, const struct spec *spec, struct err **err);

/* STATE_DIR/trash and its sweep (agent/trash.h); then agent_trash_path moves a directory there, or
 * deletes it in place when it cannot be moved. */
int agent_trash_setup(struct agent *a);
int agent_trash_path(struct agent *a, const char *path, const char *id);
/* Unmounts BUNDLE/rootfs with its teardown left to the trash child (trash_detach_mount). */
int agent_trash_rootfs(struct agent *a, const char *bundle_dir, const char *id, struct err **err);

/* Status change hook: persist + notify waiters. */
void agent_status_changed(struct agent *a, struct instance *i);
/* save_flags: for inst_save_flags(), FS_NOSYNC where the record need not be durable yet. */
void agent_status_changed_flags(struct agent *a, struct instance *i, int save_flags);
/* Wakes log followers and event long-polls (api.c; declared here so the agent's parts below the API
 * can call it without including it). NULL-safe. */
void api_wake(struct api *api);
