/* droverctl instance and node commands: ps, inspect, rm, node. */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "cli/ctl-fmt.h"
#include "cli/ctl-list.h"
#include "cli/ctl-table.h"
#include "cli/ctl.h"
#include "common/cleanup.h"
#include "common/timeutil.h"

/* GET path: with -o json the agent's body is printed as it is (returns 1); otherwise the parsed
 * document is handed back (returns 0). */
static int get_doc(struct ctl_ctx *ctx, const char *path, json_t **ret_doc, struct err **err)
{
	_cleanup_reply_ struct ctl_reply rep = {0};
	int r;

	r = ctl_call(ctx, "GET", path, NULL, &rep, err);
	if (r < 0)
		return r;
	if (ctx->output == CTL_OUT_JSON) {
		ctl_print_raw(&rep);
		return 1;
	}
	return ctl_parse_json(&rep, ret_doc, err);
}

/* GET path, then the raw JSON (-o json) or a table of the array (or of obj[key]) by print. */
int ctl_list_cmd(struct ctl_ctx *ctx, int argc, char **argv, const char *path, const char *key,
		 int (*print)(const json_t *list, int64_t now, FILE *out), struct err **err)
{
	_cleanup_json_ json_t *doc = NULL;
	const json_t *list;
	int r;

	r = ctl_parse_plain(ctx, argc, argv, 0, 0, err);
	if (r != 0)
		return r < 0 ? r : 0;
	r = get_doc(ctx, path, &doc, err);
	if (r != 0)
		return r < 0 ? r : 0;
	list = json_is_object(doc) ? json_object_get(doc, key) : doc;
	if (!json_is_array(list))
		return err_set(err, EPROTO, "the agent's %s list is not a JSON array", key);
	r = print(list, time_now_ns() / 1000000000LL, stdout);
	if (r < 0)
		return err_set(err, -r, "print %s", key);
	return 0;
}

int ctl_cmd_ps(struct ctl_ctx *ctx, int argc, char **argv, struct err **err)
{
	return ctl_list_cmd(ctx, argc, argv, "/v1/instances", "instances", ctl_print_statuses, err);
}

int ctl_cmd_inspect(struct ctl_ctx *ctx, int argc, char **argv, struct err **err)
{
	_cleanup_json_ json_t *doc = NULL;
	_cleanup_free_ char *path = NULL, *pretty = NULL;
	int r;

	r = ctl_parse_plain(ctx, argc, argv, 1, 1, err);
	if (r != 0)
		return r < 0 ? r : 0;
	r = ctl_path("instances", argv[optind], NULL, &path, err);
	if (r < 0)
		return r;
	r = get_doc(ctx, path, &doc, err);
	if (r != 0)
		return r < 0 ? r : 0;
	pretty = json_dumps(doc, JSON_INDENT(2) | JSON_ENCODE_ANY);
	if (!pretty)
		return err_set(err, ENOMEM, "format status");
	puts(pretty);
	return 0;
}

int ctl_cmd_rm(struct ctl_ctx *ctx, int argc, char **argv, struct err **err)
{
	_cleanup_reply_ struct ctl_reply rep = {0};
	_cleanup_free_ char *path = NULL, *id = NULL;
	int r;

	static const struct option opts[] = {
	    {"force", no_argument, NULL, 'f'},
	    {"output", required_argument, NULL, 'o'},
	    {"help", no_argument, NULL, 'h'},
	    {0},
	};
	bool force = false;
	int c;

	optind = 0;
	while ((c = getopt_long(argc, argv, ":fo:h", opts, NULL)) != -1) {
		if (c == 'f') {
			force = true;
			continue;
		}
		r = ctl_common_opt(ctx, c, argv, err);
		if (r != 0)
			return r < 0 ? r : 0;
	}
	r = ctl_want_args(ctx, argc, 1, 1, err);
	if (r != 0)
		return r < 0 ? r : 0;
	r = ctl_path("instances", argv[optind], force ? "?force=1" : NULL, &path, err);
	if (r < 0)
		return r;
	id = ctl_sanitize(argv[optind]);
	r = ctl_call(ctx, "DELETE", path, NULL, &rep, err);
	if (r < 0)
		return r;
	printf("%s removing\n", id ? id : argv[optind]);
	return 0;
}

int ctl_cmd_node(struct ctl_ctx *ctx, int argc, char **argv, struct err **err)
{
	_cleanup_json_ json_t *doc = NULL;
	int r;

	r = ctl_parse_plain(ctx, argc, argv, 0, 0, err);
	if (r != 0)
		return r < 0 ? r : 0;
	r = get_doc(ctx, "/v1/node", &doc, err);
	if (r != 0)
		return r < 0 ? r : 0;
	ctl_print_flat(stdout, NULL, doc);
	return 0;
}
