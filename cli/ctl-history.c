/* droverctl history ID: the specs an instance ran, newest first. */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/ctl-fmt.h"
#include "cli/ctl-table.h"
#include "cli/ctl.h"
#include "common/cleanup.h"

/* "exited Completed (0)", "failed StartFailed", "replaced", "current". */
static char *how_ended(const json_t *h)
{
	const char *end = json_string_value(json_object_get(h, "end"));
	const char *reason = json_string_value(json_object_get(h, "reason"));
	const json_t *code = json_object_get(h, "exit_code");
	char num[32] = "";

	if (json_is_integer(code))
		snprintf(num, sizeof(num), " (%lld)", (long long)json_integer_value(code));
	return ctl_strdupf("%s%s%s%s", end ? end : "-", reason && *reason ? " " : "", reason ? reason : "",
			   num);
}

static int add_row(struct ctl_table *t, const json_t *h)
{
	_cleanup_free_ char *rev = ctl_json_text(json_object_get(h, "revision"));
	_cleanup_free_ char *src = ctl_json_text(json_object_get(h, "source"));
	_cleanup_free_ char *applied = ctl_json_text(json_object_get(h, "applied_at"));
	_cleanup_free_ char *ended = ctl_json_text(json_object_get(h, "ended_at"));
	_cleanup_free_ char *restarts = ctl_json_text(json_object_get(h, "restarts"));
	_cleanup_free_ char *how = how_ended(h);
	const char *cells[] = {rev, src, applied, ended, restarts, how};

	if (!rev || !src || !applied || !ended || !restarts || !how)
		return -ENOMEM;
	return ctl_table_add_row(t, cells);
}

int ctl_cmd_history(struct ctl_ctx *ctx, int argc, char **argv, struct err **err)
{
	static const char *const hdr[] = {"REVISION", "SOURCE", "APPLIED", "ENDED", "RESTARTS", "HOW"};
	_cleanup_reply_ struct ctl_reply rep = {0};
	_cleanup_json_ json_t *doc = NULL;
	_cleanup_table_ struct ctl_table *t = NULL;
	_cleanup_free_ char *path = NULL;
	size_t k;
	json_t *h;
	int r;

	r = ctl_parse_plain(ctx, argc, argv, 1, 1, err);
	if (r != 0)
		return r < 0 ? r : 0;
	r = ctl_path("instances", argv[optind], "/history", &path, err);
	if (r >= 0)
		r = ctl_call(ctx, "GET", path, NULL, &rep, err);
	if (r < 0)
		return r;
	if (ctx->output == CTL_OUT_JSON) {
		ctl_print_raw(&rep);
		return 0;
	}
	r = ctl_parse_json(&rep, &doc, err);
	if (r < 0)
		return r;
	if (!json_is_array(doc))
		return err_set(err, EPROTO, "the agent's history is not a JSON array");
	t = ctl_table_new(hdr, ELEMENTSOF(hdr));
	if (!t)
		return err_set(err, ENOMEM, "out of memory");
	json_array_foreach (doc, k, h) {
		if (add_row(t, h) < 0)
			return err_set(err, ENOMEM, "out of memory");
	}
	ctl_table_print(t, stdout);
	return 0;
}
