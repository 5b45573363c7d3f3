#pragma once
/* The instance spec (DESIGN.md "The instance spec"): parsed and validated
 * once, with errors that name the offending field. */
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include <jansson.h>

#include "common/err.h"

#define SPEC_MAX_BYTES (1024 * 1024)
/* The smallest cpu a spec may ask for: a 1 ms CFS quota in a 100 ms period. */
#define SPEC_CPU_MIN_MILLIS 10

enum spec_qos { SPEC_QOS_ONLINE, SPEC_QOS_BATCH };
enum spec_net { SPEC_NET_BRIDGE, SPEC_NET_HOST, SPEC_NET_NONE };
enum spec_restart { SPEC_RESTART_ALWAYS, SPEC_RESTART_ON_FAILURE, SPEC_RESTART_NEVER };

/* restart_backoff (an extension): the first restart delay, doubled per restart up to max_ms,
 * back to initial_ms after reset_after_ms of running. Absent fields get these defaults. */
#define SPEC_BACKOFF_INITIAL_MS 1000
#define SPEC_BACKOFF_MAX_MS (300 * 1000)
#define SPEC_BACKOFF_RESET_AFTER_MS (600 * 1000)
#define SPEC_BACKOFF_MIN_MS 100			      /* no field below: a crash loop is not a busy loop */
#define SPEC_BACKOFF_CEIL_MS (3600 * 1000)	      /* initial_ms and max_ms: at most an hour */
#define SPEC_BACKOFF_RESET_CEIL_MS (24 * 3600 * 1000) /* reset_after_ms: at most a day */

struct spec_backoff {
	int64_t initial_ms;
	int64_t max_ms;
	int64_t reset_after_ms;
};

struct spec_file {
	char *path;
	char *content;
	size_t len;
	mode_t mode;
};

struct spec_port {
	uint16_t container;
	uint16_t host; /* 0: not published */
	bool udp;
};

/* Health probes (DESIGN.md "health"; startup and notify are extensions). */
enum spec_probe_role { SPEC_PROBE_READINESS, SPEC_PROBE_LIVENESS, SPEC_PROBE_STARTUP, _SPEC_PROBE_ROLE_MAX };
enum spec_probe_kind { SPEC_PROBE_NONE, SPEC_PROBE_HTTP, SPEC_PROBE_TCP, SPEC_PROBE_EXEC, SPEC_PROBE_NOTIFY };
#define SPEC_PROBE_MIN_INTERVAL_MS 100
#define SPEC_PROBE_MAX_MS (24LL * 3600 * 1000)

struct spec_probe {
	enum spec_probe_kind kind; /* SPEC_PROBE_NONE: not configured */
	uint16_t port;		   /* http, tcp */
	char *path;		   /* http: starts with '/' */
	char **command;		   /* exec: argv, run in the container */
	int64_t interval_ms;	   /* default 10000, at least 100 */
	int64_t timeout_ms;	   /* default 1000 (never more than interval_ms) */
	int64_t initial_delay_ms;  /* default 0 */
	int failure_threshold;	   /* default 3 */
	int success_threshold;	   /* default 1; liveness and startup: 1 */
};

struct spec {
	char *id;
	char *app;
	int64_t revision;
	char *image;
	char **command; /* NULL: the image's Entrypoint+Cmd */
	char **env;	/* "K=V", NULL-terminated (may be empty) */
	char *workdir;
	char *user;
	struct spec_file *files;
	size_t n_files;
	int64_t cpu_millis; /* -1: unset */
	int64_t memory;	    /* bytes, -1: unset */
	int64_t pids;	    /* -1: unset */
	enum spec_qos qos;
	enum spec_net net;
	struct spec_port *ports;
	size_t n_ports;
	bool has_health;
	struct spec_probe probes[_SPEC_PROBE_ROLE_MAX];
	enum spec_restart restart;
	struct spec_backoff backoff;
	int64_t stop_grace_ms;
	json_t *raw; /* the document as given, kept for state files and inspect */
};

/* Parses and validates; on failure err->field names the field ("resources.memory"). */
int spec_parse(json_t *doc, struct spec **ret, struct err **err);
int spec_parse_text(const char *text, size_t len, struct spec **ret, struct err **err);
/* A reason for a JSON syntax error that quotes none of the input (jansson's text does). */
const char *spec_json_reason(const json_error_t *jerr);
struct spec *spec_free(struct spec *s);
bool spec_id_valid(const char *id);
/* Refuses what later issues will add (registry images, bridge networking, probes). */
int spec_check_supported(const struct spec *s, struct err **err);

/* Kubernetes-style quantities. cpu: "500m", "0.5", 2 -> millicores. bytes: "128Mi", "1G", 1e3. */
int quantity_parse_cpu(const char *s, int64_t *ret_millis);
int quantity_parse_bytes(const char *s, int64_t *ret_bytes);

void spec_backoff_defaults(struct spec_backoff *b);
/* The delay of the restart due now, given the current one (0: none yet, or reset): initial_ms, or
 * cur_ms cut to max_ms (it may come from an earlier revision with a larger cap). */
int64_t spec_backoff_delay(const struct spec_backoff *b, int64_t cur_ms);
/* The delay after cur_ms once a restart was tried: doubled, at most max_ms (b NULL: defaults). */
int64_t spec_backoff_grow(const struct spec_backoff *b, int64_t cur_ms);

const char *spec_qos_name(enum spec_qos q);
const char *spec_restart_name(enum spec_restart r);
const char *spec_net_name(enum spec_net n);
const char *spec_probe_role_name(enum spec_probe_role r);
const char *spec_probe_kind_name(enum spec_probe_kind k);
/* An http probe's path: '/' then visible ASCII, no space, at most 2048 bytes. */
bool spec_probe_path_valid(const char *path);
