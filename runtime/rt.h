#pragma once
/* Runtime: OCI bundle (config.json) generation and the runc driver.
 * runc is exec'd, never linked; the per-container drover-shim is its parent. */
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include <jansson.h>

#include "common/err.h"

enum rt_net_mode {
	RT_NET_HOST, /* share the host's network namespace */
	RT_NET_NONE, /* a new, empty network namespace (only lo) */
	RT_NET_PATH, /* join the namespace bind-mounted at netns_path */
};

struct rt_file {
	const char *path;    /* absolute path inside the container */
	const char *content; /* written into the rootfs by rt_files_write */
	size_t len;
	mode_t mode;
};

struct rt_bundle_spec {
	const char *id;
	const char *hostname;
	const char *rootfs; /* absolute path of the mounted rootfs */
	char *const *args;  /* process.args, NULL-terminated, passed unchanged */
	char *const *env;   /* "K=V", NULL-terminated */
	const char *cwd;    /* "/" when NULL */
	uid_t uid;
	gid_t gid;
	const gid_t *extra_gids;
	size_t n_extra_gids;
	const char *cgroups_path; /* linux.cgroupsPath */
	int64_t cpu_quota_us;	  /* -1: no quota */
	uint64_t cpu_period_us;	  /* 100000 when 0 */
	uint64_t cpu_shares;	  /* v1 shares (runc maps to v2 weight); 0: unset */
	int64_t memory_limit;	  /* bytes, -1: none */
	int64_t pids_limit;	  /* -1: none */
	int oom_score_adj;
	enum rt_net_mode net;
	const char *netns_path; /* RT_NET_PATH only */
	/* sd_notify readiness: the host dir holding the shim's notify socket (BUNDLE/notify), mounted
	 * read-only at RT_NOTIFY_DIR with NOTIFY_SOCKET set in env; NULL: none */
	const char *notify_dir;
};

#define RT_NOTIFY_DIR "/run/drover"
#define RT_NOTIFY_SOCKET RT_NOTIFY_DIR "/notify.sock"

/* Normalises a working directory ("//a/./b/" -> "/a/b"; caller frees *ret). -EINVAL for a relative
 * path or one with a ".." component, -EPERM for /proc, /sys, /dev and anything under them.
 * rt_cwd_problem() words the refusal ("must not be under /proc, /sys or /dev"). */
int rt_cwd_normalize(const char *in, char **ret);
const char *rt_cwd_problem(int r);

/* Builds config.json as a jansson object (for tests) / writes it atomically to bundle_dir/config.json. */
int rt_config_build(const struct rt_bundle_spec *s, json_t **ret, struct err **err);
int rt_bundle_write(const char *bundle_dir, const struct rt_bundle_spec *s, struct err **err);
/* The default seccomp profile (OCI linux.seccomp), syscalls resolved for this arch with libseccomp.
 * clone is allowed only when (flags & RT_SECCOMP_CLONE_NS_MASK) == 0, socket only for families other
 * than RT_SECCOMP_AF_VSOCK; clone3 fails with ENOSYS; unshare, setns, mount, bpf, keyctl, kexec and
 * module loading fail with EPERM. */
/* CLONE_NEWNS|NEWCGROUP|NEWUTS|NEWIPC|NEWUSER|NEWPID|NEWNET */
#define RT_SECCOMP_CLONE_NS_MASK 0x7E020000ULL
#define RT_SECCOMP_AF_VSOCK 40
int rt_seccomp_default(json_t **ret, struct err **err);
/* The default capability list, each name checked with libcap. */
int rt_caps_default(json_t **ret, struct err **err);

/* Writes the spec's files into rootfs (created with parents; never through a symlink leaving it),
 * owned by root. The setuid, setgid and sticky bits of a mode are dropped unless flags has
 * RT_FILES_KEEP_SPECIAL. rt_files_chown then gives the written files to the container's user (a
 * second pass, because the user is looked up in an /etc/passwd the files may have written). */
enum {
	RT_FILES_KEEP_SPECIAL = 1 << 0,
};
int rt_files_write(int rootfs_dirfd, const struct rt_file *files, size_t n, int flags, struct err **err);
int rt_files_chown(int rootfs_dirfd, const struct rt_file *files, size_t n, uid_t uid, gid_t gid, int flags,
		   struct err **err);

/* "uid[:gid]" numbers, or names looked up in ROOTFS/etc/passwd and ROOTFS/etc/group (never the
 * host's; every path step stays inside the rootfs). */
int rt_user_resolve(const char *rootfs, const char *user, uid_t *ret_uid, gid_t *ret_gid, gid_t **ret_gids,
		    size_t *ret_n_gids, struct err **err);

/* runc driver: each call execs `runtime --root runtime_root --log-format json ...` and chains runc's
 * message on failure ("runc kill 'web-0': exit 1: container not running"). The error's errnum is
 * ENOENT when the runtime does not know the container, ESRCH when it is not running, else EIO. */
struct rt_runc {
	const char *runtime;	  /* absolute path of runc (or crun) */
	const char *runtime_root; /* --root */
};
int rt_runc_kill(const struct rt_runc *rc, const char *id, int sig, bool all, struct err **err);
/* `delete --force`; a container that does not exist is success. */
int rt_runc_delete(const struct rt_runc *rc, const char *id, struct err **err);
/* ret_status: "created", "running", "stopped", or "" when runc does not know the container. */
int rt_runc_state(const struct rt_runc *rc, const char *id, char *ret_status, size_t size, pid_t *ret_pid,
		  struct err **err);

/* The runtime's version, from `RUNTIME --version` (runc and crun print "NAME version X.Y.Z"; runc's
 * "commit:" line carries a distribution's package version, e.g. "1.1.5+ds1-1+deb12u1"). */
struct rt_runtime_version {
	char name[8]; /* "runc" or "crun" */
	char version[64];
	char commit[128]; /* "" when not printed */
	unsigned major, minor, patch;
	bool prerelease; /* "-rc.1", "~rc93" */
};
enum rt_version_verdict {
	RT_VERSION_OK,
	RT_VERSION_WARN,   /* usable, with known problems said in msg */
	RT_VERSION_REFUSE, /* a known container escape, or too old to work */
};
int rt_version_parse(const char *out, struct rt_runtime_version *ret);
/* runc older than 1.1.12 (CVE-2024-21626) is refused unless it is a distribution build known to
 * carry the fix (Debian's 1.1.5+ds1-1+deb12uN); runc older than 1.2.8 (or 1.3.0-1.3.2) is a warning
 * (CVE-2025-31133, -52565, -52881); crun older than 1.14 is refused. msg says why. */
enum rt_version_verdict rt_version_judge(const struct rt_runtime_version *v, char *msg, size_t size);
/* Runs `runtime --version` (argv, no shell) with a deadline and parses it. */
int rt_version_probe(const char *runtime, int timeout_ms, struct rt_runtime_version *ret, struct err **err);

/* drover-shim protocol (runtime/shim): see runtime/shim/README.md. */
#define RT_EXIT_FILE "exit.json"
#define RT_SHIM_PID_FILE "shim.pid"
#define RT_SHIM_LOCK_FILE "shim.lock" /* flock'ed for the shim's whole life (its stdin) */
#define RT_CONTAINER_PID_FILE "container.pid"
#define RT_NOTIFY_DIR_NAME "notify"	    /* BUNDLE/notify/notify.sock, made by `drover-shim --notify` */
#define RT_NOTIFY_STATE_FILE "notify.state" /* "ready\n" or "stopping\n", written by the shim */
