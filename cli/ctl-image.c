/* droverctl image commands: pull, ls, rm, import, prune (POST/GET/DELETE under /v1/images). */
#include <errno.h>
#include <limits.h>
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

/* POSTs {"KEY": value} to path and prints "VALUE VERB", with the image's digest when the agent sends one. */
static int post_named(struct ctl_ctx *ctx, const char *path, const char *key, const char *value,
		      const char *verb, struct err **err)
{
	_cleanup_reply_ struct ctl_reply rep = {0};
	_cleanup_json_ json_t *req = NULL, *doc = NULL;
	_cleanup_free_ char *body = NULL, *shown = ctl_sanitize(value);
	const char *digest;
	int r;

	req = json_pack("{s:s}", key, value);
	body = req ? json_dumps(req, JSON_COMPACT) : NULL;
	if (!body || !shown)
		return err_set(err, ENOMEM, "encode request");
	r = ctl_call(ctx, "POST", path, body, &rep, err);
	if (r < 0)
		return r;
	if (ctx->output == CTL_OUT_JSON) {
		ctl_print_raw(&rep);
		return 0;
	}
	doc = json_loadb(rep.body, rep.len, 0, NULL);
	digest = json_string_value(json_object_get(doc, "digest"));
	if (digest) {
		_cleanup_free_ char *d = ctl_sanitize(digest);

		printf("%s %s (%s)\n", shown, verb, d ? d : "");
	} else {
		printf("%s %s\n", shown, verb);
	}
	return 0;
}

static int image_pull(struct ctl_ctx *ctx, int argc, char **argv, struct err **err)
{
	int r = ctl_parse_plain(ctx, argc, argv, 1, 1, err);

	if (r != 0)
		return r < 0 ? r : 0;
	return ctl_image_pull_stream(ctx, argv[optind], err);
}

static int image_import(struct ctl_ctx *ctx, int argc, char **argv, struct err **err)
{
	_cleanup_free_ char *abs = NULL;
	int r = ctl_parse_plain(ctx, argc, argv, 1, 1, err);

	if (r != 0)
		return r < 0 ? r : 0;
	/* The agent resolves paths against its own cwd, so send an absolute one. */
	abs = realpath(argv[optind], NULL);
	if (!abs)
		return err_set(err, errno, "import '%s': %s", argv[optind], strerror(errno));
	return post_named(ctx, "/v1/images/import", "path", abs, "imported", err);
}

static int image_rm(struct ctl_ctx *ctx, int argc, char **argv, struct err **err)
{
	_cleanup_reply_ struct ctl_reply rep = {0};
	_cleanup_free_ char *path = NULL, *shown = NULL;
	int r = ctl_parse_plain(ctx, argc, argv, 1, 1, err);

	if (r != 0)
		return r < 0 ? r : 0;
	r = ctl_path("images", argv[optind], NULL, &path, err);
	if (r < 0)
		return r;
	r = ctl_call(ctx, "DELETE", path, NULL, &rep, err);
	if (r < 0)
		return r;
	shown = ctl_sanitize(argv[optind]);
	printf("%s removed\n", shown ? shown : "image");
	return 0;
}

static int image_prune(struct ctl_ctx *ctx, int argc, char **argv, struct err **err)
{
	_cleanup_reply_ struct ctl_reply rep = {0};
	_cleanup_json_ json_t *doc = NULL;
	int r = ctl_parse_plain(ctx, argc, argv, 0, 0, err);

	if (r != 0)
		return r < 0 ? r : 0;
	r = ctl_call(ctx, "POST", "/v1/images/prune", NULL, &rep, err);
	if (r < 0)
		return r;
	if (ctx->output == CTL_OUT_JSON) {
		ctl_print_raw(&rep);
		return 0;
	}
	doc = json_loadb(rep.body, rep.len, 0, NULL);
	if (json_is_object(doc) && json_object_size(doc) > 0)
		ctl_print_flat(stdout, NULL, doc);
	else
		puts("pruned");
	return 0;
}

static int image_ls(struct ctl_ctx *ctx, int argc, char **argv, struct err **err)
{
	return ctl_list_cmd(ctx, argc, argv, "/v1/images", "images", ctl_print_images, err);
}

static const struct ctl_cmd image_cmds[] = {
    {"image pull", image_pull, "image pull REF", "fetch an image into the node's store", NULL},
    {"image ls", image_ls, "image ls [-o json]", "list stored images", NULL},
    {"image rm", image_rm, "image rm REF", "remove an image", NULL},
    {"image import", image_import, "image import PATH", "import a local OCI image layout", NULL},
    {"image prune", image_prune, "image prune", "remove images no instance uses", NULL},
};

static void image_usage(void)
{
	printf("Usage: droverctl image SUBCOMMAND\n\nSubcommands:\n");
	for (size_t i = 0; i < ELEMENTSOF(image_cmds); i++)
		printf("  %-20s %s\n", image_cmds[i].usage, image_cmds[i].help);
}

int ctl_cmd_image(struct ctl_ctx *ctx, int argc, char **argv, struct err **err)
{
	if (argc < 2)
		return ctl_usage(err, "'image' needs a subcommand (see droverctl image --help)");
	if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "help") == 0) {
		image_usage();
		return 0;
	}
	for (size_t i = 0; i < ELEMENTSOF(image_cmds); i++) {
		if (strcmp(argv[1], image_cmds[i].name + strlen("image ")) != 0)
			continue;
		ctx->cmd = &image_cmds[i];
		return image_cmds[i].fn(ctx, argc - 1, argv + 1, err);
	}
	return ctl_usage(err, "unknown image subcommand '%s' (see droverctl image --help)", argv[1]);
}
