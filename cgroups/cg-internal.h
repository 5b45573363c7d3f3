#pragma once
/* cgroups module internals: the context, the backend ops table and helpers shared by
 * cg-v1.c and cg-v2.c. Nothing outside cgroups/ includes this. */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "cg.h"
#include "common/err.h"

/* How long cg_instance_remove waits in total for a cgroup to empty after SIGKILL. */
#define CG_REMOVE_TIMEOUT_NS (1000LL * 1000 * 1000)
/* cgroup.procs / cgroup.controllers are read whole; this caps the read (about 130k pids). */
#define CG_LIST_MAX (1024 * 1024)

struct cg_ops {
	/* Optional: discovers what the backend needs (v1: the mounted hierarchies). */
	int (*init)(struct cg_ctx *c, struct err **err);
	/* Creates root and the two tiers and sets the tiers' CPU weights. */
	int (*create_parents)(const struct cg_ctx *c, struct err **err);
	/* path is already validated: absolute, strictly below c->root. */
	int (*instance_remove)(const struct cg_ctx *c, const char *path, struct err **err);
	char *(*oom_file)(const struct cg_ctx *c, const char *path);
	char *(*knob_path)(const struct cg_ctx *c, const char *path, const char *controller,
			   const char *knob);
	int (*remove_root)(const struct cg_ctx *c, struct err **err);
	/* Memory and pids caps on a tier (its cgroup path); values > 0 only. */
	int (*tier_limits)(const struct cg_ctx *c, const char *tier, int64_t memory_bytes, int64_t pids,
			   struct err **err);
	/* Fills what the backend can read for one cgroup (path as in the context); fields left at -1
	 * are unknown. */
	void (*usage)(const struct cg_ctx *c, const char *path, struct cg_usage *u);
};

struct cg_ctx {
	enum cg_version version;
	const struct cg_ops *ops;
	char *mount; /* no trailing '/'; "" for the filesystem root */
	char *root;  /* "/drover": starts with '/', no trailing '/' */
	/* The tiers' cgroups, indexed by enum cg_qos, paths like root's: "<root>/online" and
	 * "<root>/batch", or a batch tier of its own beside the root (batch_outside). */
	char *tier[2];
	bool batch_outside;
	char **hier; /* v1 only: NULL-terminated hierarchy dir names under mount, one per hierarchy */
	/* v1 only: the hybrid layout's cgroup2 hierarchy (an entry of hier), NULL without one. It has no
	 * controllers but keeps PSI for every cgroup, and the OCI runtime puts instances there too. */
	const char *unified;
};

extern const struct cg_ops cg_v1_ops;
extern const struct cg_ops cg_v2_ops;

/* cg-util.c */
/* Kills every process in the cgroup dir (and its child cgroups), waits until it is empty and
 * rmdirs it depth-first. use_kill_file: try v2 cgroup.kill first. A missing dir is success. */
int cg_tree_remove(const char *dir, bool use_kill_file, int64_t deadline_ns, struct err **err);
/* rmdir of the tiers' dirs and the root's under base (a hierarchy or the v2 mount); missing is
 * fine, busy is an error. A batch tier of its own loses only its last component. */
int cg_remove_root_dirs(const char *base, const struct cg_ctx *c, struct err **err);
/* Reads a knob and writes value only when the current one (trailing whitespace dropped) differs. */
int cg_set_knob(int dirfd, const char *dir, const char *name, const char *value, struct err **err);
/* The batch tier's CPU: the lowest weight (weight_knob = weight) plus cpu.idle 1 where the kernel
 * has it (5.15+, in v1's cpu hierarchy too). An idle group is SCHED_IDLE to its siblings: a waking
 * online task preempts it at once, and a CPU running only idle work counts as idle when the
 * scheduler places a woken or forked task. An idle group refuses weight writes (EINVAL), so one
 * that is already idle is left as it is. */
int cg_set_idle_tier(int dirfd, const char *dir, const char *weight_knob, const char *weight,
		     struct err **err);
/* The other class: leaves cpu.idle (writes 0 where it is 1; an idle group refuses weight writes),
 * then sets weight_knob = weight. */
int cg_set_weight_tier(int dirfd, const char *dir, const char *weight_knob, const char *weight,
		       struct err **err);
/* The CPU weight knob of a version, its lowest value (the batch tier's) and its default. */
struct cg_weight {
	const char *knob, *lowest, *normal;
};
const struct cg_weight *cg_weight_of(enum cg_version v);
/* mkdir of the root's and the tiers' dirs under base, with parents. */
int cg_mkdir_tiers(const char *base, const struct cg_ctx *c, struct err **err);
/* Whether list (whitespace-separated words) contains word. */
bool cg_list_has(const char *list, const char *word);
/* Deadline (monotonic ns) for one cg_instance_remove call. */
int64_t cg_remove_deadline(void);
/* Folds a step's result q (error in *e) into the running result r: the first failure is kept
 * in *err, later ones are dropped. Returns the new running result. */
int cg_first_err(int r, int q, struct err **e, struct err **err);
/* Writes value (> 0) to dir/knob unless it is already set; a missing dir or knob (the controller
 * is not there) is skipped. */
int cg_set_limit_knob(const char *dir, const char *knob, int64_t value, struct err **err);
/* Name of a tier dir below the root: "online" / "batch". */
const char *cg_qos_dir(enum cg_qos qos);

/* cg-usage.c */
/* Reads the integer in the knob at absolute path; -1 if absent or junk. */
int64_t cg_read_int(const char *path);
/* The value of "key N" in a stat-style file at path; -1 if absent. */
int64_t cg_read_stat(const char *path, const char *key);
/* The value of "key N" in text (lines of "key value"); -1 if absent. */
int64_t cg_stat_value(const char *text, const char *key);
