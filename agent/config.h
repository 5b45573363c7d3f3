#pragma once
/* droverd's settings: long flags, or the same keys as "key = value" lines in
 * the config file; flags win. */
#include <stdbool.h>
#include <stdint.h>

#include "common/err.h"

struct agent_config {
	char *config;
	char *assignments_dir;
	char *state_dir;
	char *run_dir;
	char *cgroup_root; /* NULL: derived at start (systemd delegation or "/drover") */
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
	char *registry_auth;
	char *registry_ca;
	char *insecure_registry; /* comma-separated HOST:PORT list */
	int64_t pull_parallel;
	int64_t image_gc_high;
	int64_t image_gc_low;
	int64_t log_max_bytes;
	int64_t stop_grace_cap_ms;
	bool no_assignments_dir;
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
