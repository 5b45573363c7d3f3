#pragma once
/* One instance: its spec, its status and the handles that watch it. */
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include <jansson.h>

#include "agent/agent.h"
#include "agent/probe-logic.h"
#include "spec/spec.h"

struct loop_timer;
struct start_wait;

enum inst_phase {
	PH_PENDING,
	PH_PULLING,
	PH_CREATING,
	PH_RUNNING,
	PH_STOPPING,
	PH_EXITED,
	PH_FAILED,
};

struct instance {
	struct agent *a;
	char *id;
	struct spec *spec; /* NULL for a spec file that did not parse */
	/* phase, reason, message, next_spec, removing, force_stop, backoff_ms and next_try_at are
	 * written by the lifecycle only (agent/lifecycle.c) */
	struct spec *next_spec; /* a higher revision waiting for the old one to stop */
	enum inst_source source;
	char *source_ref; /* the assignments file, for SRC_DIR */
	bool removing;
	bool force_stop; /* removal with ?force=1: no grace period */

	enum inst_phase phase;
	char reason[32];
	char *message;
	pid_t pid;
	pid_t shim_pid;
	unsigned long long shim_start; /* /proc start time: tells the shim from a reused pid */
	int restarts;
	bool has_exit;
	int exit_code;
	bool oom_killed;
	char *image_digest;
	char *ip;	    /* bridge mode: the instance address, kept across restarts */
	char *netns_path;   /* bridge mode: the agent-owned namespace runc joins */
	int64_t started_at; /* ns since the epoch; 0: null */
	int64_t finished_at;
	int64_t backoff_ms;	 /* the delay of the last restart tried (or due); doubles as one is tried */
	int64_t running_since;	 /* monotonic ns, for the back-off reset */
	int64_t start_begun;	 /* monotonic ns when the last start began, for the start-latency log */
	int64_t next_try_at;	 /* ns since the epoch of the scheduled restart; 0: none */
	bool killed_after_grace; /* the grace period ran out and SIGKILL was sent */
	char *spec_error;	 /* a broken edit of the file of a running instance; NULL: none */
	char *evict_msg; /* evicted (agent/coloc.c): ends failed/Evicted with this message, no restart */

	int sync_fd;
	char sync_buf[1024];
	size_t sync_len;
	int shim_pidfd;
	int ctr_pidfd;
	struct loop_timer *restart_timer;
	struct loop_timer *kill_timer;
	char *bundle_dir;
	struct start_wait *start_wait; /* adopting a start the last agent began (adopt-start.c) */
	char *save_error;	       /* the last state-record write failed (e.g. ENOSPC); NULL: saved */
	uint64_t saved_hash;	       /* of the record on disk, as read or last written; 0: unknown */
	bool unreadable_record;	       /* a placeholder for a state record that could not be read */
	char *last_event;	       /* the status in the last event published, as text: none repeats it */
	json_t *history;	       /* the specs it ran, newest first (agent/history.c) */
	struct probe_state probes[_SPEC_PROBE_ROLE_MAX]; /* agent/probe.c */
	struct instance *next;
};

struct instance *inst_new(struct agent *a, const char *id, enum inst_source src, const char *ref);
struct instance *inst_free(struct instance *i);
/* Called by inst_free() before it lets go (the agent sets probe_stop). */
void inst_set_free_hook(void (*fn)(struct instance *i));

/* The mechanics of a start and a stop (instance-run.c); the decisions are the lifecycle's
 * (agent/lifecycle.h: lc_event() and friends). */
void inst_start(struct instance *i); /* LC_ACT_START: asks for the image, reports what it got */
int64_t inst_stop_grace_ms(const struct instance *i);
void inst_cleanup(struct instance *i);	       /* runc delete, unmount, bundle and cgroup removed */
bool inst_is_active(const struct instance *i); /* a shim or container may be alive */
/* Watches the shim's pidfd; -ESRCH when it cannot, after handling that as an exit (i may be gone). */
int inst_watch_shim(struct instance *i);
/* The shim reported (or was found to have) a running container: bookkeeping, watch, phase running. */
void inst_started(struct instance *i, pid_t shim_pid, pid_t ctr_pid);
/* Adoption of an instance the last agent left in phase creating (adopt-start.c). */
void inst_adopt_creating(struct instance *i);
void inst_start_wait_done(struct instance *i);
/* The shim died without an exit record: if the container still runs, watch it through its pidfd
 * (shim_pid becomes 0) and return true. */
bool inst_watch_orphan(struct instance *i);
/* Reaps a shim that is gone (exit record, runtime leftovers), then LC_EV_EXITED. May free i. */
void inst_handle_exit(struct instance *i);
/* Shows (msg) or clears (NULL) a broken edit of the instance's spec file; publishes on a change. */
void inst_set_spec_error(struct instance *i, const char *msg);

/* Status JSON (instance-status.c). */
const char *inst_phase_name(enum inst_phase p);
json_t *inst_status_json(const struct instance *i);
/* The persisted record (instance-state.c). */
/* On failure the instance shows state_error and the write is retried every few seconds. */
int inst_save(struct instance *i);
/* flags: FS_NOSYNC writes the record whole but not durable (what it adds dies with the host, or
 * inst_sync_record() follows). */
int inst_save_flags(struct instance *i, int flags);
/* Makes durable the record inst_save_flags(i, FS_NOSYNC) wrote. */
int inst_sync_record(struct instance *i);
/* The API's set could not be saved: it is saved again with the records that could not be. */
void inst_save_retry_api_set(struct agent *a);
int inst_delete_record(struct instance *i);
int inst_load(struct agent *a, const char *name, struct instance **ret, struct err **err);
