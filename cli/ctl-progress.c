/* `droverctl image pull`: the agent streams "progress DONE TOTAL" lines and then the result as
 * one JSON line. On a terminal the progress is a bar redrawn in place; otherwise a plain line
 * now and then, so logs of scripted pulls stay readable. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli/ctl-fmt.h"
#include "cli/ctl-table.h"
#include "cli/ctl.h"
#include "common/cleanup.h"

#define BAR_WIDTH 30

struct pull_view {
	bool tty;
	bool drew;
	time_t last_plain;
	char line[4096];
	size_t len;
	char *result; /* the final JSON line */
};

static void draw(struct pull_view *v, long long done, long long total)
{
	double mb = 1024.0 * 1024.0;
	int fill = total > 0 ? (int)(BAR_WIDTH * (double)done / (double)total) : 0;
	char bar[BAR_WIDTH + 1];

	if (fill > BAR_WIDTH)
		fill = BAR_WIDTH;
	memset(bar, '#', (size_t)fill);
	memset(bar + fill, '.', (size_t)(BAR_WIDTH - fill));
	bar[BAR_WIDTH] = '\0';
	if (v->tty) {
		fprintf(stderr, "\rpulling [%s] %.1f/%.1f MB", bar, (double)done / mb, (double)total / mb);
		v->drew = true;
	} else if (time(NULL) != v->last_plain || done == total) {
		v->last_plain = time(NULL);
		fprintf(stderr, "pulling: %.1f of %.1f MB\n", (double)done / mb, (double)total / mb);
	}
}

static void on_line(struct pull_view *v, const char *line)
{
	long long done, total;

	if (sscanf(line, "progress %lld %lld", &done, &total) == 2) { // NOLINT(cert-err34-c): display only
		draw(v, done, total);
		return;
	}
	free(v->result);
	v->result = strdup(line);
}

static ssize_t view_write(void *cookie, const char *buf, size_t size)
{
	struct pull_view *v = cookie;

	for (size_t k = 0; k < size; k++) {
		if (buf[k] == '\n' || v->len == sizeof(v->line) - 1) {
			v->line[v->len] = '\0';
			on_line(v, v->line);
			v->len = 0;
			continue;
		}
		v->line[v->len++] = buf[k];
	}
	return (ssize_t)size;
}

int ctl_image_pull_stream(struct ctl_ctx *ctx, const char *ref, struct err **err)
{
	cookie_io_functions_t io = {.write = view_write};
	_cleanup_reply_ struct ctl_reply rep = {0};
	_cleanup_json_ json_t *req = NULL, *doc = NULL;
	_cleanup_free_ char *body = NULL, *shown = ctl_sanitize(ref);
	struct pull_view v = {.tty = isatty(STDERR_FILENO) == 1};
	const char *digest, *msg;
	FILE *out;
	int r;

	req = json_pack("{s:s}", "ref", ref);
	body = req ? json_dumps(req, JSON_COMPACT) : NULL;
	out = fopencookie(&v, "w", io);
	if (!body || !shown || !out) {
		if (out)
			fclose(out);
		return err_set(err, ENOMEM, "encode request");
	}
	setvbuf(out, NULL, _IONBF, 0);
	r = ctl_http_stream_body(&ctx->client, "POST", "/v1/images/pull?progress=1", body, out, &rep, err);
	fclose(out);
	if (v.drew)
		fputc('\n', stderr);
	if (r >= 0 && (rep.status < 200 || rep.status > 299))
		r = ctl_reply_error(&rep, err);
	if (r < 0) {
		free(v.result);
		return r;
	}
	doc = v.result ? json_loads(v.result, 0, NULL) : NULL;
	if (ctx->output == CTL_OUT_JSON && v.result)
		puts(v.result);
	free(v.result);
	msg = json_string_value(json_object_get(doc, "error"));
	if (msg)
		return err_set(err, CTL_EAGENT, "%s", msg);
	if (!doc)
		return err_set(err, EPROTO, "the agent ended the pull without a result");
	digest = json_string_value(json_object_get(doc, "digest"));
	if (ctx->output != CTL_OUT_JSON) {
		_cleanup_free_ char *d = digest ? ctl_sanitize(digest) : NULL;
		printf("%s pulled%s%s%s\n", shown, d ? " (" : "", d ? d : "", d ? ")" : "");
	}
	return 0;
}
