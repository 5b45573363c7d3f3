#pragma once
/* droverctl internals shared by ctl-main.c and the command files. */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include <jansson.h>

#include "cli/ctl-http.h"
#include "common/err.h"

/* errno for a bad command line (droverctl exits 2 on it); the CLI sets it only from argument checks. */
#define CTL_EUSAGE EDOM

enum ctl_exit {
	CTL_EXIT_OK = 0,
	CTL_EXIT_FAIL = 1,
	CTL_EXIT_USAGE = 2,
	CTL_EXIT_UNREACH = 3,
};

enum ctl_output {
	CTL_OUT_TABLE,
	CTL_OUT_JSON,
};

struct ctl_cmd;

struct ctl_ctx {
	struct ctl_client client;
	enum ctl_output output;
	const struct ctl_cmd *cmd; /* the command being run, for its usage text */
};

struct ctl_cmd {
	const char *name;
	int (*fn)(struct ctl_ctx *ctx, int argc, char **argv, struct err **err);
	const char *usage; /* "NAME ARGS" line(s) after "droverctl " */
	const char *help;  /* one line for the command list */
	const char *opts;  /* the command's own options, one per line; NULL if none */
};

/* Sets a usage error (exit 2). */
int ctl_usage(struct err **err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Prints ctx->cmd's usage to stdout. */
void ctl_print_cmd_usage(const struct ctl_cmd *cmd);

/* Option handling every command shares: -o/--output, -h/--help, getopt's '?' and ':'.
 * Returns 1 when help was printed (the command returns 0), 0 when handled, <0 on a usage error. */
int ctl_common_opt(struct ctl_ctx *ctx, int c, char **argv, struct err **err);
/* Parses -o's value. */
int ctl_parse_output(const char *s, enum ctl_output *ret, struct err **err);
/* Checks the number of positional arguments left after getopt. */
int ctl_want_args(const struct ctl_ctx *ctx, int argc, int min, int max, struct err **err);
/* Parses a non-negative decimal integer option value. */
int ctl_parse_uint(const char *opt, const char *s, long long max, long long *ret, struct err **err);

/* For commands whose only options are -o and -h, taking min..max positional arguments.
 * Returns 1 when help was printed (the command returns 0). */
int ctl_parse_plain(struct ctl_ctx *ctx, int argc, char **argv, int min, int max, struct err **err);
/* Parses an agent reply body as JSON. */
int ctl_parse_json(const struct ctl_reply *rep, json_t **ret, struct err **err);

static inline void ctl_reply_donep(struct ctl_reply *r)
{
	ctl_reply_done(r);
}
#define _cleanup_reply_ __attribute__((cleanup(ctl_reply_donep)))

/* Sends the request; a non-2xx status becomes a -CTL_EAGENT error with the agent's message. */
int ctl_call(struct ctl_ctx *ctx, const char *method, const char *path, const char *body,
	     struct ctl_reply *ret, struct err **err);
/* Turns a non-2xx reply into a -CTL_EAGENT error and frees it. */
int ctl_reply_error(struct ctl_reply *rep, struct err **err);
/* Writes a raw agent body to stdout, ending it with a newline. */
void ctl_print_raw(const struct ctl_reply *r);
/* Makes "/v1/PREFIX/ESCAPED(name)SUFFIX"; caller frees. */
int ctl_path(const char *prefix, const char *name, const char *suffix, char **ret, struct err **err);

int ctl_cmd_apply(struct ctl_ctx *ctx, int argc, char **argv, struct err **err);
int ctl_cmd_ps(struct ctl_ctx *ctx, int argc, char **argv, struct err **err);
int ctl_cmd_inspect(struct ctl_ctx *ctx, int argc, char **argv, struct err **err);
int ctl_cmd_rm(struct ctl_ctx *ctx, int argc, char **argv, struct err **err);
int ctl_cmd_node(struct ctl_ctx *ctx, int argc, char **argv, struct err **err);
int ctl_cmd_logs(struct ctl_ctx *ctx, int argc, char **argv, struct err **err);
int ctl_cmd_events(struct ctl_ctx *ctx, int argc, char **argv, struct err **err);
int ctl_cmd_history(struct ctl_ctx *ctx, int argc, char **argv, struct err **err);
int ctl_cmd_image(struct ctl_ctx *ctx, int argc, char **argv, struct err **err);
int ctl_cmd_exec(struct ctl_ctx *ctx, int argc, char **argv, struct err **err);

/* GET path, then the raw JSON (-o json) or a table of the array (or of obj[key]) by print. */
int ctl_list_cmd(struct ctl_ctx *ctx, int argc, char **argv, const char *path, const char *key,
		 int (*print)(const json_t *list, int64_t now, FILE *out), struct err **err);

/* POST /v1/images/pull?progress=1, showing the agent's progress lines (a bar on a terminal). */
int ctl_image_pull_stream(struct ctl_ctx *ctx, const char *ref, struct err **err);
