/* drover-image: the image work droverd hands to a short-lived process, so the
 * agent never maps the digest, archive and HTTP libraries and its loop never
 * waits on a pull or an unpack in its own address space.
 *
 *   drover-image resolve [--auth FILE] [--ca FILE] [--insecure-registry HOST:PORT]...
 *                        [--parallel N] [--progress-fd N] STORE REF
 *   drover-image ls STORE
 *   drover-image rm STORE REF|sha256:DIGEST
 *   drover-image prune [--keep sha256:DIGEST]... [--until-below PCT] STORE
 *       without --until-below every image not kept goes; with it, the least recently used go
 *       one by one until the store's filesystem is at most PCT percent full
 *   drover-image import STORE PATH          (OCI layout dir or `docker save` tar)
 *
 * resolve and import also take the limits: --image-max-size, --image-max-layer-size (declared
 * compressed bytes), --image-max-unpacked (bytes written, sparse files at their declared size),
 * --image-max-entries (per layer), --image-min-free (bytes the store's filesystem keeps),
 * --low-speed-limit/--low-speed-time (curl aborts slower transfers), and --image-layout-root DIR
 * (repeatable): oci: layouts must then be directories beneath one, reached without symlinks.
 * droverd puts "--" before the positional arguments.
 *
 * REF is oci:/path/to/layout[:tag] or a registry reference host[:port]/path[:tag][@sha256:...]
 * (Docker Hub short forms as docker reads them). Exit 0 with JSON on stdout, or 1 with one line
 * of error on stderr (2 for a usage error). */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>
#include <jansson.h>

#include "common/cleanup.h"
#include "common/log.h"
#include "image/img-reg-internal.h"

#define USAGE                                                                                                \
	"usage: drover-image resolve [--auth FILE] [--ca FILE] [--insecure-registry HOST:PORT]...\n"         \
	"                            [--parallel N] [--progress-fd N] [LIMITS] [--] STORE REF\n"             \
	"       drover-image ls STORE\n"                                                                     \
	"       drover-image rm STORE REF|sha256:DIGEST\n"                                                   \
	"       drover-image prune [--keep sha256:DIGEST]... [--until-below PCT] STORE\n"                    \
	"       drover-image import [LIMITS] [--] STORE PATH\n"                                              \
	"LIMITS: [--image-layout-root DIR]... [--image-max-size B] [--image-max-layer-size B]\n"             \
	"        [--image-max-unpacked B] [--image-max-entries N] [--image-min-free B]\n"                    \
	"        [--low-speed-limit BYTES_PER_S] [--low-speed-time S]\n"

#define INSECURE_MAX 64
#define KEEP_MAX 4096

#define ROOTS_MAX 16

enum {
	OPT_AUTH = 256,
	OPT_CA,
	OPT_INSECURE,
	OPT_PARALLEL,
	OPT_PROGRESS,
	OPT_KEEP,
	OPT_UNTIL,
	OPT_ROOT,
	OPT_MAX_SIZE,
	OPT_MAX_LAYER,
	OPT_MAX_UNPACKED,
	OPT_MAX_ENTRIES,
	OPT_MIN_FREE,
	OPT_LOW_SPEED,
	OPT_LOW_SPEED_TIME,
};

struct args {
	struct img_reg_opts reg;
	char *insecure[INSECURE_MAX + 1];
	size_t n_insecure;
	char **keep;
	size_t n_keep;
	int until_below; /* prune: stop once the store's filesystem is at most this full (percent); -1 */
	char **pos;	 /* positional arguments after the command */
	int n_pos;
	struct img_limits limits;
	char *roots[ROOTS_MAX + 1]; /* --image-layout-root */
	size_t n_roots;
};

static void store_freep(struct img_store **s)
{
	img_store_free(*s);
}

static void image_freep(struct img_image **img)
{
	img_image_free(*img);
}

static int parse_uint(const char *s, unsigned long min, unsigned long max, unsigned long *ret)
{
	char *end = NULL;
	unsigned long v;

	if (!s || !*s || *s == '-' || *s == '+')
		return -EINVAL;
	errno = 0;
	v = strtoul(s, &end, 10);
	if (errno || !end || *end || v < min || v > max)
		return -EINVAL;
	*ret = v;
	return 0;
}

/* The limits and the layout roots. */
static int take_policy(struct args *a, int c, const char *val)
{
	/* in the order of the enum, from OPT_MAX_SIZE on */
	uint64_t *slot[] = {&a->limits.max_size,    &a->limits.max_layer_size, &a->limits.max_unpacked,
			    &a->limits.max_entries, &a->limits.min_free,       &a->reg.low_speed_limit,
			    &a->reg.low_speed_time};
	unsigned long v = 0;

	if (c == OPT_ROOT) {
		if (a->n_roots >= ROOTS_MAX || val[0] != '/')
			return -EINVAL;
		a->roots[a->n_roots++] = (char *)val;
		return 0;
	}
	if (c < OPT_MAX_SIZE || c > OPT_LOW_SPEED_TIME || parse_uint(val, 0, ULONG_MAX, &v) < 0)
		return -EINVAL;
	*slot[c - OPT_MAX_SIZE] = v;
	return 0;
}

static int take_option(struct args *a, int c, const char *val)
{
	unsigned long v = 0;

	if (c >= OPT_ROOT)
		return take_policy(a, c, val);
	switch (c) {
	case OPT_AUTH:
		a->reg.auth_file = val;
		return 0;
	case OPT_CA:
		a->reg.ca_file = val;
		return 0;
	case OPT_INSECURE:
		if (a->n_insecure >= INSECURE_MAX)
			return -E2BIG;
		a->insecure[a->n_insecure++] = (char *)val;
		return 0;
	case OPT_PARALLEL:
		if (parse_uint(val, 1, IMG_PARALLEL_MAX, &v) < 0)
			return -EINVAL;
		a->reg.parallel = (unsigned)v;
		return 0;
	case OPT_PROGRESS:
		if (parse_uint(val, 0, 65535, &v) < 0 || fcntl((int)v, F_GETFD) < 0)
			return -EBADF;
		a->reg.progress_fd = (int)v;
		return 0;
	case OPT_KEEP:
		if (a->n_keep >= KEEP_MAX)
			return -E2BIG;
		a->keep[a->n_keep++] = (char *)val;
		return 0;
	case OPT_UNTIL:
		if (parse_uint(val, 0, 100, &v) < 0)
			return -EINVAL;
		a->until_below = (int)v;
		return 0;
	default:
		return -EINVAL;
	}
}

static int parse_args(int argc, char **argv, struct args *a)
{
	static const struct option opts[] = {
	    {"auth", required_argument, NULL, OPT_AUTH},
	    {"ca", required_argument, NULL, OPT_CA},
	    {"insecure-registry", required_argument, NULL, OPT_INSECURE},
	    {"parallel", required_argument, NULL, OPT_PARALLEL},
	    {"progress-fd", required_argument, NULL, OPT_PROGRESS},
	    {"keep", required_argument, NULL, OPT_KEEP},
	    {"until-below", required_argument, NULL, OPT_UNTIL},
	    {"image-layout-root", required_argument, NULL, OPT_ROOT},
	    {"image-max-size", required_argument, NULL, OPT_MAX_SIZE},
	    {"image-max-layer-size", required_argument, NULL, OPT_MAX_LAYER},
	    {"image-max-unpacked", required_argument, NULL, OPT_MAX_UNPACKED},
	    {"image-max-entries", required_argument, NULL, OPT_MAX_ENTRIES},
	    {"image-min-free", required_argument, NULL, OPT_MIN_FREE},
	    {"low-speed-limit", required_argument, NULL, OPT_LOW_SPEED},
	    {"low-speed-time", required_argument, NULL, OPT_LOW_SPEED_TIME},
	    {NULL, 0, NULL, 0},
	};
	int c;

	a->reg.parallel = 3;
	a->limits = (struct img_limits)IMG_LIMITS_DEFAULT;
	a->until_below = -1;
	a->reg.progress_fd = -1;
	a->reg.insecure = a->insecure;
	a->keep = calloc(KEEP_MAX + 1, sizeof(char *));
	if (!a->keep)
		return -ENOMEM;
	optind = 1;
	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		int r = c == '?' ? -EINVAL : take_option(a, c, optarg);
		if (r < 0) {
			if (c != '?')
				fprintf(stderr, "drover-image: bad value '%s' for --%s\n",
					optarg ? optarg : "", opts[c - OPT_AUTH].name);
			return r;
		}
	}
	a->pos = argv + optind;
	a->n_pos = argc - optind;
	return 0;
}

static json_t *image_json(const struct img_image *img)
{
	json_t *layers = json_array();

	for (size_t i = 0; layers && i < img->n_layers; i++)
		json_array_append_new(layers, json_string(img->layer_dirs[i]));
	json_t *doc =
	    json_pack("{s:s, s:s, s:o, s:o}", "manifest_digest", img->manifest_digest, "config_digest",
		      img->config_digest, "layer_dirs", layers, "config", img_config_to_json(&img->config));

	if (doc && img->auth && json_object_set_new(doc, "auth", json_string(img->auth)) < 0) {
		json_decref(doc);
		return NULL;
	}
	return doc;
}

static int print_json(json_t *doc, struct err **err)
{
	if (!doc || json_dumpf(doc, stdout, JSON_COMPACT) < 0 || fputc('\n', stdout) == EOF ||
	    fflush(stdout) != 0)
		return err_set(err, EIO, "write the result");
	return 0;
}

static int resolve_layout(struct img_store *s, const char *ref, struct img_image **ret, struct err **err)
{
	_cleanup_free_ char *canon = NULL;
	int r;

	r = img_ref_canonical(ref, &canon, err);
	if (r >= 0)
		r = img_from_oci_layout(s, ref, ret, err);
	if (r >= 0)
		r = img_store_commit(s, *ret, canon, err);
	return r;
}

static int cmd_resolve(struct img_store *s, const struct args *a, struct err **err)
{
	_cleanup_(image_freep) struct img_image *img = NULL;
	_cleanup_close_ int lockfd = -1;
	_cleanup_json_ json_t *doc = NULL;
	const char *ref = a->pos[1];
	int r;

	r = img_store_lock(s, false, &lockfd, err);
	if (r < 0)
		return r;
	if (img_ref_is_layout(ref))
		r = resolve_layout(s, ref, &img, err);
	else
		r = img_from_registry(s, ref, &a->reg, &img, err);
	if (r < 0)
		return r;
	doc = image_json(img);
	return print_json(doc, err);
}

static int cmd_import(struct img_store *s, const struct args *a, struct err **err)
{
	_cleanup_(image_freep) struct img_image *img = NULL;
	_cleanup_close_ int lockfd = -1;
	_cleanup_json_ json_t *doc = NULL;
	_cleanup_strv_ char **refs = NULL;
	int r;

	r = img_store_lock(s, false, &lockfd, err);
	if (r >= 0)
		r = img_import(s, a->pos[1], &img, &refs, err);
	for (char **i = refs; r >= 0 && i && *i; i++)
		r = img_store_commit(s, img, *i, err);
	if (r < 0)
		return r;
	doc = image_json(img);
	if (doc)
		json_object_set_new(doc, "refs", img_store_refs_of(s, img->manifest_digest));
	return print_json(doc, err);
}

static int cmd_rest(struct img_store *s, const char *cmd, const struct args *a, struct err **err)
{
	_cleanup_close_ int lockfd = -1;
	_cleanup_json_ json_t *doc = NULL;
	int r;

	if (strcmp(cmd, "ls") == 0)
		r = img_store_list(s, &doc, err);
	else if (strcmp(cmd, "prune") == 0)
		r = img_store_prune(s, a->keep, a->until_below, &doc, err);
	else {
		r = img_store_lock(s, false, &lockfd, err);
		if (r >= 0)
			r = img_store_remove_ref(s, a->pos[1], err);
		if (r >= 0)
			doc = json_pack("{s:s}", "removed", a->pos[1]);
	}
	if (r < 0)
		return r;
	return print_json(doc, err);
}

static int want_args(const char *cmd, int n)
{
	static const struct {
		const char *name;
		int n;
	} cmds[] = {{"resolve", 2}, {"ls", 1}, {"rm", 2}, {"prune", 1}, {"import", 2}};

	for (size_t i = 0; i < ELEMENTSOF(cmds); i++)
		if (strcmp(cmd, cmds[i].name) == 0)
			return n == cmds[i].n ? 0 : -EINVAL;
	return -EINVAL;
}

static int run(const char *cmd, const struct args *a)
{
	_cleanup_err_ struct err *e = NULL;
	_cleanup_(store_freep) struct img_store *s = NULL;
	int r;

	r = img_store_open(a->pos[0], &s, &e);
	if (r >= 0) {
		s->limits = a->limits;
		s->layout_roots = a->n_roots ? (char **)a->roots : NULL;
	}
	if (r >= 0 && strcmp(cmd, "resolve") == 0)
		r = cmd_resolve(s, a, &e);
	else if (r >= 0 && strcmp(cmd, "import") == 0)
		r = cmd_import(s, a, &e);
	else if (r >= 0)
		r = cmd_rest(s, cmd, a, &e);
	if (r < 0) {
		fprintf(stderr, "%s\n", err_msg(e));
		return 1;
	}
	return 0;
}

int main(int argc, char **argv)
{
	struct args a = {0};
	int rc;

	log_init("drover-image");
	(void)signal(SIGPIPE, SIG_IGN); /* a closed --progress-fd reader must not kill the pull */
	if (argc < 2 || parse_args(argc - 1, argv + 1, &a) < 0 || want_args(argv[1], a.n_pos) < 0) {
		free(a.keep);
		fputs(USAGE, stderr);
		return 2;
	}
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
		free(a.keep);
		fprintf(stderr, "drover-image: libcurl failed to initialise\n");
		return 1;
	}
	rc = run(argv[1], &a);
	curl_global_cleanup();
	free(a.keep);
	return rc;
}
