#pragma once
/* droverd's settings: long flags, or the same keys as "key = value" lines in
 * the config file; flags win. */
#include <stdbool.h>
#include <stdint.h>

#include "common/err.h"
#include "net/net.h"

struct agent_config {
	char *config;
	char *assignments_dir;
	char *state_dir;
	char *run_dir;
	char *cgroup_root;  /* NULL: derived at start (systemd delegation or "/drover") */
	char *batch_cgroup; /* NULL: <cgroup_root>/batch */
	char *cgroup_mount;
	char *bridge;
	char *subnet;
	char *nft_table;
	char *node_name;
	char *runtime;
	char *shim;
	char *log_level;
	char *listen;
	char *tls_cert;
	char *tls_key;
	char *tls_client_ca;
	char *token_file;
	char *system_reserved; /* "cpu=500m,memory=512Mi,...": capacity minus this is allocatable */
	char *registry_auth;
	char *registry_ca;
	char *insecure_registry; /* comma-separated HOST:PORT list */
	/* pull from a control plane (agent/source-pull.c) */
	char *control_plane;
	char *control_plane_ca;
	char *control_plane_cert;
	char *control_plane_key;
	char *control_plane_token_file;
	int64_t status_interval_ms;
	char *etcd;
	char *etcd_prefix;
	char *etcd_ca;
	char *etcd_cert;
	char *etcd_key;
	int64_t etcd_lease_ttl_ms;
	int64_t history_limit;
	int64_t pull_parallel;
	int64_t image_gc_high;
	int64_t image_gc_low;
	/* images: limits, deadlines and where oci: layouts may live */
	char *image_layout_root; /* comma-separated directories */
	int64_t image_pull_timeout_ms;
	int64_t image_pull_low_speed;
	int64_t image_pull_low_speed_time_ms;
	int64_t image_max_size;
	int64_t image_max_layer_size;
	int64_t image_max_unpacked;
	int64_t image_max_entries;
	int64_t image_min_free;
	int64_t image_tag_ttl_ms;
	int64_t log_max_bytes;
	/* node limits (H4, L9): defaults for specs that set none, admission, caps */
	int64_t default_pids;
	int64_t default_memory;
	int64_t max_instances;
	int64_t stop_grace_cap_ms;
	int64_t runtime_timeout_ms; /* the shim's deadline on `runc run` (issue 10) */
	int64_t api_idle_timeout;   /* seconds a TCP API connection may sit idle */
	bool no_assignments_dir;
	/* container security (issue 7) */
	char *runtime_version_check; /* "refuse", "warn" or "off" */
	bool allow_setuid_files;
	bool allow_host_access;			/* instances may reach the node and 169.254.0.0/16 */
	struct net_portset reserved_host_ports; /* host ports no instance may publish */
	/* colocation (issue 12, agent/coloc.h) */
	int64_t batch_cpu_target;
	char *batch_cpu_min;
	char *batch_cpu_class; /* "idle" or "weight" */
	char *eviction_hard;
	char *eviction_batch_memory;
	bool cleanup; /* --cleanup: tear down what the agent made on the host, then exit */
};

/* Parses argv (and the config file it names or the default); exits are the caller's.
 * Returns 1 for --help, 2 for --version, 3 for --print-config. */
int config_load(int argc, char **argv, struct agent_config *ret, struct err **err);
void config_done(struct agent_config *c);
void config_usage(void);
/* The example config file: every key, its help and default, commented out. */
void config_print_example(void);
/* Checks paths, names, the subnet and numbers before anything is created (config-check.c). */
int config_check(const struct agent_config *c, struct err **err);
