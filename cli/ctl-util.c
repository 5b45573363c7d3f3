/* droverctl helpers shared by the commands: option checks, agent calls, raw output. */
#include <errno.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/ctl-fmt.h"
#include "cli/ctl.h"
#include "common/cleanup.h"

int ctl_usage(struct err **err, const char *fmt, ...)
{
	_cleanup_free_ char *msg = NULL;
	va_list ap;
	int r;

	va_start(ap, fmt);
	r = vasprintf(&msg, fmt, ap);
	va_end(ap);
	if (r < 0) {
		msg = NULL; /* undefined after a failed vasprintf */
		return err_set(err, ENOMEM, "usage");
	}
	return err_set(err, CTL_EUSAGE, "%s", msg);
}

int ctl_parse_output(const char *s, enum ctl_output *ret, struct err **err)
{
	if (strcmp(s, "json") == 0)
		*ret = CTL_OUT_JSON;
	else if (strcmp(s, "table") == 0)
		*ret = CTL_OUT_TABLE;
	else
		return ctl_usage(err, "unknown output format '%s' (want 'json' or 'table')", s);
	return 0;
}

int ctl_common_opt(struct ctl_ctx *ctx, int c, char **argv, struct err **err)
{
	const char *cmd = ctx->cmd ? ctx->cmd->name : "droverctl";

	switch (c) {
	case 'h':
		ctl_print_cmd_usage(ctx->cmd);
		return 1;
	case 'o':
		return ctl_parse_output(optarg, &ctx->output, err);
	case ':':
		return ctl_usage(err, "option '%s' of '%s' needs a value", argv[optind - 1], cmd);
	case '?':
		if (optopt)
			return ctl_usage(err, "unknown option '-%c' for '%s'", optopt, cmd);
		return ctl_usage(err, "unknown option '%s' for '%s'", argv[optind - 1], cmd);
	default:
		return ctl_usage(err, "unhandled option for '%s'", cmd);
	}
}

int ctl_want_args(const struct ctl_ctx *ctx, int argc, int min, int max, struct err **err)
{
	const char *cmd = ctx->cmd ? ctx->cmd->name : "droverctl";
	int n = argc - optind;

	if (n < min)
		return ctl_usage(err, "'%s' needs %s (see droverctl %s --help)", cmd,
				 min == 1 ? "an argument" : "more arguments", cmd);
	if (n > max)
		return ctl_usage(err, "'%s' takes %d argument%s, got %d", cmd, max, max == 1 ? "" : "s", n);
	return 0;
}

int ctl_parse_uint(const char *opt, const char *s, long long max, long long *ret, struct err **err)
{
	char *end = NULL;
	long long v;

	errno = 0;
	v = strtoll(s, &end, 10);
	if (errno || end == s || *end || v < 0 || v > max || s[0] == '+' || s[0] == ' ')
		return ctl_usage(err, "option '%s' wants a number from 0 to %lld, got '%s'", opt, max, s);
	*ret = v;
	return 0;
}

int ctl_call(struct ctl_ctx *ctx, const char *method, const char *path, const char *body,
	     struct ctl_reply *ret, struct err **err)
{
	int r;

	r = ctl_http_do(&ctx->client, method, path, body, ret, err);
	if (r < 0)
		return r;
	if (ret->status >= 200 && ret->status < 300)
		return 0;
	return ctl_reply_error(ret, err);
}

int ctl_reply_error(struct ctl_reply *rep, struct err **err)
{
	_cleanup_free_ char *msg = ctl_agent_error(rep->status, rep->body, rep->len);

	ctl_reply_done(rep);
	return err_set(err, CTL_EAGENT, "%s", msg ? msg : "agent error");
}

void ctl_print_raw(const struct ctl_reply *r)
{
	fwrite(r->body, 1, r->len, stdout);
	if (r->len == 0 || r->body[r->len - 1] != '\n')
		fputc('\n', stdout);
}

int ctl_path(const char *prefix, const char *name, const char *suffix, char **ret, struct err **err)
{
	_cleanup_free_ char *esc = NULL;

	if (!*name || strcmp(name, ".") == 0 || strcmp(name, "..") == 0)
		return ctl_usage(err, "invalid name '%s'", name);
	esc = ctl_url_escape(name);
	*ret = esc ? ctl_strdupf("/v1/%s/%s%s", prefix, esc, suffix ? suffix : "") : NULL;
	if (!*ret)
		return err_set(err, ENOMEM, "request path");
	return 0;
}

int ctl_parse_plain(struct ctl_ctx *ctx, int argc, char **argv, int min, int max, struct err **err)
{
	static const struct option opts[] = {
	    {"output", required_argument, NULL, 'o'},
	    {"help", no_argument, NULL, 'h'},
	    {0},
	};
	int c, r;

	optind = 0;
	while ((c = getopt_long(argc, argv, ":o:h", opts, NULL)) != -1) {
		r = ctl_common_opt(ctx, c, argv, err);
		if (r != 0)
			return r;
	}
	return ctl_want_args(ctx, argc, min, max, err);
}

int ctl_parse_json(const struct ctl_reply *rep, json_t **ret, struct err **err)
{
	json_error_t jerr;

	*ret = json_loadb(rep->body, rep->len, 0, &jerr);
	if (!*ret)
		return err_set(err, EPROTO, "the agent sent invalid JSON: %d:%d: %s", jerr.line, jerr.column,
			       jerr.text);
	return 0;
}
