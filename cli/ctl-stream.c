/* droverctl commands that follow the agent: logs (streamed body) and events (long-poll loop). */
#include <errno.h>
#include <getopt.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

#include "cli/ctl-fmt.h"
#include "cli/ctl.h"
#include "common/cleanup.h"

#define CTL_TAIL_MAX 100000000LL
#define CTL_WAIT_MAX 3600LL
#define CTL_WAIT_DEFAULT 30LL

struct logs_args {
	bool follow, timestamps;
	long long tail; /* -1: all */
};

static int parse_logs(struct ctl_ctx *ctx, int argc, char **argv, struct logs_args *a, struct err **err)
{
	static const struct option opts[] = {
	    {"follow", no_argument, NULL, 'f'},	    {"tail", required_argument, NULL, 'n'},
	    {"timestamps", no_argument, NULL, 't'}, {"output", required_argument, NULL, 'o'},
	    {"help", no_argument, NULL, 'h'},	    {0},
	};
	int c, r;

	optind = 0;
	while ((c = getopt_long(argc, argv, ":fn:to:h", opts, NULL)) != -1) {
		r = 0;
		switch (c) {
		case 'f':
			a->follow = true;
			break;
		case 't':
			a->timestamps = true;
			break;
		case 'n':
			r = ctl_parse_uint("--tail", optarg, CTL_TAIL_MAX, &a->tail, err);
			break;
		default:
			r = ctl_common_opt(ctx, c, argv, err);
		}
		if (r != 0)
			return r;
	}
	return ctl_want_args(ctx, argc, 1, 1, err);
}

/* "?" for the first query parameter, "&" after. */
static const char *query_sep(bool *first)
{
	const char *sep = *first ? "?" : "&";

	*first = false;
	return sep;
}

static int logs_path(const char *id, const struct logs_args *a, char **ret, struct err **err)
{
	_cleanup_free_ char *base = NULL;
	char tail[32] = "", follow[16] = "", stamps[16] = "";
	bool first = true;
	int r;

	r = ctl_path("instances", id, "/logs", &base, err);
	if (r < 0)
		return r;
	/* The buffers fit: --tail is capped at 9 digits. */
	if (a->tail >= 0)
		(void)snprintf(tail, sizeof(tail), "%stail=%lld", query_sep(&first), a->tail);
	if (a->follow)
		(void)snprintf(follow, sizeof(follow), "%sfollow=1", query_sep(&first));
	if (a->timestamps)
		(void)snprintf(stamps, sizeof(stamps), "%stimestamps=1", query_sep(&first));
	*ret = ctl_strdupf("%s%s%s%s", base, tail, follow, stamps);
	if (!*ret)
		return err_set(err, ENOMEM, "request path");
	return 0;
}

int ctl_cmd_logs(struct ctl_ctx *ctx, int argc, char **argv, struct err **err)
{
	struct logs_args a = {.tail = -1};
	_cleanup_reply_ struct ctl_reply rep = {0};
	_cleanup_free_ char *path = NULL;
	int r;

	r = parse_logs(ctx, argc, argv, &a, err);
	if (r != 0)
		return r < 0 ? r : 0;
	r = logs_path(argv[optind], &a, &path, err);
	if (r < 0)
		return r;
	r = ctl_http_stream(&ctx->client, path, stdout, &rep, err);
	if (r < 0)
		return r;
	if (rep.status < 200 || rep.status >= 300)
		return ctl_reply_error(&rep, err);
	return 0;
}

struct events_args {
	long long after, wait;
	bool once, follow;
};

static int parse_events(struct ctl_ctx *ctx, int argc, char **argv, struct events_args *a, struct err **err)
{
	static const struct option opts[] = {
	    {"after", required_argument, NULL, 'a'},
	    {"wait", required_argument, NULL, 'w'},
	    {"once", no_argument, NULL, '1'},
	    {"follow", no_argument, NULL, 'f'},
	    {"output", required_argument, NULL, 'o'},
	    {"help", no_argument, NULL, 'h'},
	    {0},
	};
	int c, r;

	optind = 0;
	while ((c = getopt_long(argc, argv, ":fo:h", opts, NULL)) != -1) {
		r = 0;
		switch (c) {
		case 'f':
			a->follow = true;
			break;
		case 'a':
			r = ctl_parse_uint("--after", optarg, INT64_MAX, &a->after, err);
			break;
		case 'w':
			r = ctl_parse_uint("--wait", optarg, CTL_WAIT_MAX, &a->wait, err);
			break;
		case '1':
			a->once = true;
			break;
		default:
			r = ctl_common_opt(ctx, c, argv, err);
		}
		if (r != 0)
			return r;
	}
	return ctl_want_args(ctx, argc, 0, 0, err);
}

/* Prints one batch; returns the sequence number to continue after. */
static long long print_events(const struct ctl_ctx *ctx, const json_t *doc, long long after)
{
	const json_t *last = json_object_get(doc, "last");
	size_t i;
	json_t *ev;

	json_array_foreach (json_object_get(doc, "events"), i, ev) {
		json_int_t seq = json_integer_value(json_object_get(ev, "seq"));
		_cleanup_free_ char *line = NULL;

		if (ctx->output == CTL_OUT_JSON && (line = json_dumps(ev, JSON_COMPACT)))
			puts(line);
		else if (ctx->output != CTL_OUT_JSON)
			ctl_print_event(stdout, ev);
		if (seq > after)
			after = seq;
	}
	fflush(stdout);
	if (json_is_integer(last) && json_integer_value(last) > after)
		after = json_integer_value(last);
	return after;
}

/* 410: the events after *after are no longer kept; go on from the oldest the agent has. */
static int events_gone(const struct ctl_reply *rep, long long *after, struct err **err)
{
	_cleanup_json_ json_t *doc = NULL;
	json_int_t first;
	int r;

	r = ctl_parse_json(rep, &doc, err);
	if (r < 0)
		return r;
	first = json_integer_value(json_object_get(doc, "first"));
	if (first <= 0 || first - 1 <= *after)
		return err_set(err, EPROTO, "the agent answered 410 without a usable 'first'");
	fprintf(stderr, "droverctl: events %lld to %lld are no longer kept; continuing from %lld\n",
		*after + 1, (long long)first - 1, (long long)first);
	*after = first - 1;
	return 0;
}

/* One long-poll; 304 means nothing new. Sets *ret_after to continue from. */
static int poll_events(struct ctl_ctx *ctx, const struct events_args *a, long long *ret_after,
		       struct err **err)
{
	_cleanup_reply_ struct ctl_reply rep = {0};
	_cleanup_json_ json_t *doc = NULL;
	char path[96];
	int r;

	snprintf(path, sizeof(path), "/v1/events?after=%lld&wait=%lld", *ret_after,
		 a->follow || a->once ? a->wait : 0LL);
	r = ctl_http_do(&ctx->client, "GET", path, NULL, &rep, err);
	if (r < 0)
		return r;
	if (rep.status == 304)
		return 0;
	if (rep.status == 410)
		return events_gone(&rep, ret_after, err);
	if (rep.status < 200 || rep.status >= 300)
		return ctl_reply_error(&rep, err);
	if (a->once && ctx->output == CTL_OUT_JSON) {
		ctl_print_raw(&rep);
		return 0;
	}
	r = ctl_parse_json(&rep, &doc, err);
	if (r < 0)
		return r;
	if (!json_is_object(doc))
		return err_set(err, EPROTO, "the agent's event batch is not a JSON object");
	*ret_after = print_events(ctx, doc, *ret_after);
	return 0;
}

int ctl_cmd_events(struct ctl_ctx *ctx, int argc, char **argv, struct err **err)
{
	struct events_args a = {.wait = CTL_WAIT_DEFAULT};
	long long prev;
	int r;

	r = parse_events(ctx, argc, argv, &a, err);
	if (r != 0)
		return r < 0 ? r : 0;
	for (;;) {
		prev = a.after;
		r = poll_events(ctx, &a, &a.after, err);
		if (r < 0 || a.once)
			return r;
		if (!a.follow && a.after == prev)
			return 0; /* without -f: what the agent keeps, then exit */
		if (a.after == prev && a.wait == 0)
			sleep(1); /* --wait 0 with -f: do not spin on an idle agent */
	}
}
