/* droverctl apply: one spec or an array of specs, each PUT to /v1/instances/{id}. */
#include <errno.h>
#include <getopt.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "cli/ctl-fmt.h"
#include "cli/ctl-table.h"
#include "cli/ctl.h"
#include "common/cleanup.h"

#define CTL_SPEC_MAX (1u << 20)

/* Reads FILE or stdin ("-"), refusing more than CTL_SPEC_MAX bytes. */
static int read_spec(const char *path, char **ret_buf, size_t *ret_len, struct err **err)
{
	_cleanup_fclose_ FILE *owned = NULL;
	_cleanup_free_ char *buf = NULL;
	FILE *f = stdin;
	size_t len = 0, n;

	if (strcmp(path, "-") != 0) {
		owned = fopen(path, "re");
		if (!owned)
			return err_set(err, errno, "open '%s': %s", path, strerror(errno));
		f = owned;
	}
	buf = malloc(CTL_SPEC_MAX + 1);
	if (!buf)
		return err_set(err, ENOMEM, "read '%s'", path);
	while ((n = fread(buf + len, 1, CTL_SPEC_MAX + 1 - len, f)) > 0 && len + n <= CTL_SPEC_MAX)
		len += n;
	if (ferror(f))
		return err_set(err, EIO, "read '%s'", path);
	if (n > 0)
		return err_set(err, EFBIG, "'%s' is larger than the %u bytes allowed", path, CTL_SPEC_MAX);
	buf[len] = '\0';
	*ret_buf = TAKE_PTR(buf);
	*ret_len = len;
	return 0;
}

static int load_specs(const char *path, json_t **ret, struct err **err)
{
	_cleanup_free_ char *buf = NULL;
	json_error_t jerr;
	size_t len = 0;
	int r;

	r = read_spec(path, &buf, &len, err);
	if (r < 0)
		return r;
	*ret = json_loadb(buf, len, JSON_REJECT_DUPLICATES, &jerr);
	if (!*ret)
		return err_set(err, EBADMSG, "parse '%s' %d:%d: %s", path, jerr.line, jerr.column, jerr.text);
	if (!json_is_object(*ret) && !json_is_array(*ret))
		return err_set(err, EBADMSG, "'%s' holds neither a spec object nor an array of specs", path);
	return 0;
}

static int check_spec(const json_t *spec, size_t idx, struct err **err)
{
	const char *id = json_string_value(json_object_get(spec, "id"));

	if (!json_is_object(spec))
		return err_set(err, EBADMSG, "spec #%zu is not a JSON object", idx);
	if (!id || !*id)
		return err_set(err, EBADMSG, "spec #%zu has no \"id\" string", idx);
	return 0;
}

static void print_applied(const char *id, const struct ctl_reply *rep)
{
	_cleanup_json_ json_t *doc = NULL;
	const char *result = NULL;

	if (rep->status == 201) {
		printf("%s created\n", id);
		return;
	}
	doc = json_loadb(rep->body, rep->len, 0, NULL);
	result = json_string_value(json_object_get(doc, "result"));
	printf("%s %s\n", id, result && *result ? result : "applied");
}

/* many: a failure names the spec it was about, since the batch stops there. */
static int apply_one(struct ctl_ctx *ctx, const json_t *spec, bool many, struct err **err)
{
	_cleanup_reply_ struct ctl_reply rep = {0};
	_cleanup_free_ char *path = NULL, *body = NULL, *id = NULL;
	int r;

	id = ctl_sanitize(json_string_value(json_object_get(spec, "id")));
	body = json_dumps(spec, JSON_COMPACT);
	if (!id || !body)
		return err_set(err, ENOMEM, "encode spec");
	r = ctl_path("instances", json_string_value(json_object_get(spec, "id")), NULL, &path, err);
	if (r < 0)
		return r;
	r = ctl_call(ctx, "PUT", path, body, &rep, err);
	if (r < 0)
		return many ? err_wrap(err, "apply '%s'", id) : r;
	print_applied(id, &rep);
	return 0;
}

static int apply_all(struct ctl_ctx *ctx, json_t *specs, struct err **err)
{
	size_t i;
	json_t *spec;
	int r;

	if (json_is_object(specs)) {
		r = check_spec(specs, 0, err);
		return r < 0 ? r : apply_one(ctx, specs, false, err);
	}
	json_array_foreach (specs, i, spec) {
		r = check_spec(spec, i, err);
		if (r < 0)
			return r;
	}
	json_array_foreach (specs, i, spec) {
		r = apply_one(ctx, spec, true, err);
		if (r < 0)
			return r;
		fflush(stdout);
	}
	return 0;
}

int ctl_cmd_apply(struct ctl_ctx *ctx, int argc, char **argv, struct err **err)
{
	static const struct option opts[] = {
	    {"filename", required_argument, NULL, 'f'},
	    {"output", required_argument, NULL, 'o'},
	    {"help", no_argument, NULL, 'h'},
	    {0},
	};
	_cleanup_json_ json_t *specs = NULL;
	const char *file = NULL;
	int c, r;

	optind = 0;
	while ((c = getopt_long(argc, argv, ":f:o:h", opts, NULL)) != -1) {
		if (c == 'f') {
			file = optarg;
			continue;
		}
		r = ctl_common_opt(ctx, c, argv, err);
		if (r != 0)
			return r < 0 ? r : 0;
	}
	r = ctl_want_args(ctx, argc, 0, 0, err);
	if (r < 0)
		return r;
	if (!file)
		return ctl_usage(err, "'apply' needs -f FILE (or -f - for stdin)");
	r = load_specs(file, &specs, err);
	if (r < 0)
		return r;
	return apply_all(ctx, specs, err);
}
