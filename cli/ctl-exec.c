/* droverctl exec ID -- CMD...: runs CMD in a running instance through the OCI runtime's exec, on
 * this host (the agent's socket is local, so its runtime and runtime root are too). droverctl
 * becomes the runtime (execve), so the command's stdio and exit code are droverctl's; with a
 * terminal on stdin the runtime allocates one for the command. */
#include <errno.h>
#include <getopt.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

#include "cli/ctl-fmt.h"
#include "cli/ctl.h"
#include "common/cleanup.h"

extern char **environ;

static int get_json(struct ctl_ctx *ctx, const char *path, json_t **ret, struct err **err)
{
	_cleanup_reply_ struct ctl_reply rep = {0};
	int r;

	r = ctl_call(ctx, "GET", path, NULL, &rep, err);
	if (r < 0)
		return r;
	return ctl_parse_json(&rep, ret, err);
}

/* The runtime's path and root from GET /v1/node, checked to be absolute. */
static int runtime_of(struct ctl_ctx *ctx, char **ret_path, char **ret_root, struct err **err)
{
	_cleanup_json_ json_t *node = NULL;
	const char *path, *root;
	int r;

	r = get_json(ctx, "/v1/node", &node, err);
	if (r < 0)
		return r;
	path = json_string_value(json_object_get(json_object_get(node, "runtime"), "path"));
	root = json_string_value(json_object_get(json_object_get(node, "runtime"), "root"));
	if (!path || !root || path[0] != '/' || root[0] != '/')
		return err_set(err, EPROTO,
			       "the agent does not say which runtime it uses (an older droverd?)");
	*ret_path = strdup(path);
	*ret_root = strdup(root);
	return *ret_path && *ret_root ? 0 : err_set(err, ENOMEM, "out of memory");
}

static int check_running(struct ctl_ctx *ctx, const char *id, struct err **err)
{
	_cleanup_json_ json_t *st = NULL;
	_cleanup_free_ char *path = NULL;
	const char *phase;
	int r;

	r = ctl_path("instances", id, NULL, &path, err);
	if (r >= 0)
		r = get_json(ctx, path, &st, err);
	if (r < 0)
		return r;
	phase = json_string_value(json_object_get(st, "phase"));
	if (!phase || strcmp(phase, "running") != 0)
		return err_set(err, EINVAL, "instance '%s' is not running (phase %s)", id,
			       phase ? phase : "unknown");
	return 0;
}

static int parse_args(struct ctl_ctx *ctx, int argc, char **argv, bool *ret_tty, struct err **err)
{
	static const struct option opts[] = {{"tty", no_argument, NULL, 't'},
					     {"no-tty", no_argument, NULL, 'T'},
					     {"help", no_argument, NULL, 'h'},
					     {0}};
	int c, r;

	*ret_tty = isatty(STDIN_FILENO) && isatty(STDOUT_FILENO);
	optind = 1;
	opterr = 0;
	while ((c = getopt_long(argc, argv, "+:tTh", opts, NULL)) != -1) {
		if (c == 't' || c == 'T') {
			*ret_tty = c == 't';
			continue;
		}
		r = ctl_common_opt(ctx, c, argv, err);
		if (r != 0)
			return r;
	}
	if (optind >= argc)
		return ctl_usage(
		    err, "exec needs an instance id and a command: droverctl exec ID -- CMD [ARGS...]");
	if (optind + 1 < argc && strcmp(argv[optind + 1], "--") == 0)
		memmove(&argv[optind + 1], &argv[optind + 2], sizeof(char *) * (size_t)(argc - optind - 1));
	if (!argv[optind + 1])
		return ctl_usage(err,
				 "exec needs a command after the id: droverctl exec ID -- CMD [ARGS...]");
	return 0;
}

int ctl_cmd_exec(struct ctl_ctx *ctx, int argc, char **argv, struct err **err)
{
	_cleanup_free_ char *runtime = NULL, *root = NULL;
	_cleanup_free_ char **args = NULL;
	bool tty;
	size_t n = 0;
	int r, first;

	r = parse_args(ctx, argc, argv, &tty, err);
	if (r != 0)
		return r < 0 ? r : 0;
	if (!ctx->client.socket_path)
		return ctl_usage(err,
				 "exec runs the command through this host's runtime: use the local socket");
	first = optind;
	if ((r = check_running(ctx, argv[first], err)) < 0 || (r = runtime_of(ctx, &runtime, &root, err)) < 0)
		return r;
	args = calloc((size_t)(argc - first) + 7, sizeof(char *));
	if (!args)
		return err_set(err, ENOMEM, "out of memory");
	args[n++] = runtime;
	args[n++] = "--root";
	args[n++] = root;
	args[n++] = "exec";
	if (tty)
		args[n++] = "--tty";
	for (int k = first; k < argc && argv[k]; k++)
		args[n++] = argv[k]; /* ID, then the command as given: never through a shell */
	fflush(stdout);
	execve(runtime, args, environ);
	return err_set(err, errno, "exec '%s': %s", runtime, strerror(errno));
}
