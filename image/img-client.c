/* droverd's side of image resolution: drover-image does the work in its own
 * process; the result is kept per reference and reused while the layout's
 * index.json and every layer directory are unchanged, so a start of a known
 * image costs a few stat() calls and no exec. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>

#include "common/cleanup.h"
#include "common/fs.h"
#include "common/proc.h"
#include "image/img-internal.h"

#define RESULT_MAX (1024 * 1024)

struct cached {
	char *ref;
	struct stat index_st;
	struct img_image *img;
	struct cached *next;
};

static struct cached *cache;

static bool is_layout_ref(const char *ref)
{
	return strncmp(ref, "oci:", 4) == 0 || ref[0] == '/';
}

/* "oci:/a/b:tag" -> "/a/b/index.json" */
static char *index_path(const char *ref)
{
	const char *p = strncmp(ref, "oci:", 4) == 0 ? ref + 4 : ref;
	const char *slash = strrchr(p, '/'), *colon = strrchr(p, ':');
	size_t n = colon && (!slash || colon > slash) ? (size_t)(colon - p) : strlen(p);
	char *out = NULL;

	if (asprintf(&out, "%.*s/index.json", (int)n, p) < 0)
		return NULL;
	return out;
}

static bool same_file(const struct stat *a, const struct stat *b)
{
	return a->st_dev == b->st_dev && a->st_ino == b->st_ino && a->st_size == b->st_size &&
	       a->st_mtim.tv_sec == b->st_mtim.tv_sec && a->st_mtim.tv_nsec == b->st_mtim.tv_nsec;
}

static struct img_image *image_dup(const struct img_image *src)
{
	struct img_image *img = calloc(1, sizeof(*img));
	json_t *cfg = img_config_to_json(&src->config);

	if (!img || !cfg)
		goto out_fail;
	img->manifest_digest = strdup(src->manifest_digest);
	img->config_digest = strdup(src->config_digest);
	img->layer_dirs = calloc(src->n_layers + 1, sizeof(char *));
	if (!img->manifest_digest || !img->config_digest || !img->layer_dirs)
		goto out_fail;
	for (; img->n_layers < src->n_layers; img->n_layers++)
		if (!(img->layer_dirs[img->n_layers] = strdup(src->layer_dirs[img->n_layers])))
			goto out_fail;
	if (img_config_parse(cfg, &img->config, NULL) < 0)
		goto out_fail;
	json_decref(cfg);
	return img;
out_fail:
	json_decref(cfg);
	return img_image_free(img);
}

static struct cached *lookup(const char *ref, const struct stat *st)
{
	for (struct cached *c = cache; c; c = c->next) {
		if (strcmp(c->ref, ref) != 0 || (st && !same_file(&c->index_st, st)))
			continue;
		for (size_t i = 0; i < c->img->n_layers; i++)
			if (access(c->img->layer_dirs[i], F_OK) < 0)
				return NULL; /* a layer was removed: resolve (and unpack) again */
		return c;
	}
	return NULL;
}

static void remember(const char *ref, const struct stat *st, struct img_image *img)
{
	struct cached *c = calloc(1, sizeof(*c));
	struct img_image *copy = image_dup(img);

	if (!c || !copy || !(c->ref = strdup(ref))) {
		free(c);
		img_image_free(copy);
		return; /* the cache is an optimisation: without it the next start resolves again */
	}
	c->index_st = *st;
	c->img = copy;
	for (struct cached **pp = &cache; *pp; pp = &(*pp)->next)
		if (strcmp((*pp)->ref, ref) == 0) { /* replace the stale entry */
			struct cached *old = *pp;
			*pp = old->next;
			free(old->ref);
			img_image_free(old->img);
			free(old);
			break;
		}
	c->next = cache;
	cache = c;
}

static int parse_result(const char *text, struct img_image **ret, struct err **err)
{
	json_error_t jerr;
	json_t *doc = json_loads(text, JSON_REJECT_DUPLICATES, &jerr), *dirs, *v;
	struct img_image *img = calloc(1, sizeof(*img));
	const char *md, *cd;
	size_t i;
	int r = 0;

	md = json_string_value(json_object_get(doc, "manifest_digest"));
	cd = json_string_value(json_object_get(doc, "config_digest"));
	dirs = json_object_get(doc, "layer_dirs");
	if (!img || !md || !cd || !json_is_array(dirs)) {
		r = err_set(err, EPROTO, "drover-image gave a malformed result");
		goto out;
	}
	img->manifest_digest = strdup(md);
	img->config_digest = strdup(cd);
	img->layer_dirs = calloc(json_array_size(dirs) + 1, sizeof(char *));
	if (!img->manifest_digest || !img->config_digest || !img->layer_dirs) {
		r = err_set(err, ENOMEM, "out of memory");
		goto out;
	}
	json_array_foreach (dirs, i, v) {
		if (!json_is_string(v) || !(img->layer_dirs[i] = strdup(json_string_value(v)))) {
			r = err_set(err, EPROTO, "drover-image gave a malformed layer list");
			goto out;
		}
		img->n_layers = i + 1;
	}
	r = img_config_parse(json_object_get(doc, "config"), &img->config, err);
out:
	json_decref(doc);
	if (r < 0) {
		img_image_free(img);
		return r;
	}
	*ret = img;
	return 0;
}

struct img_job {
	char *ref;            /* the reference (or path) the job is about: the coalescing key */
	bool resolve;         /* resolve/import: the output is an image, cached by ref */
	struct stat index_st; /* a layout's index.json as it was when the job began: the cache key */
	int out, errfd;       /* memfds: no pipe can fill up and block the tool */
	int pidfd;
	pid_t pid;
};

struct img_job *img_job_free(struct img_job *j)
{
	if (!j)
		return NULL;
	if (j->pidfd >= 0)
		close(j->pidfd);
	if (j->out >= 0)
		close(j->out);
	if (j->errfd >= 0)
		close(j->errfd);
	free(j->ref);
	free(j);
	return NULL;
}

int img_resolve_cached(const char *ref, struct img_image **ret)
{
	_cleanup_free_ char *index = NULL;
	struct stat st;
	struct cached *c;

	if (is_layout_ref(ref)) {
		index = index_path(ref);
		if (!index || stat(index, &st) < 0 || !(c = lookup(ref, &st)))
			return 0;
	} else if (!(c = lookup(ref, NULL))) {
		return 0;
	}
	*ret = image_dup(c->img);
	return *ret ? 1 : 0;
}

/* argv for one drover-image run: TOOL CMD [options] STORE [ARGS...]; the strings are borrowed
 * except the numbers, which live in bufs. */
static char **build_argv(const char *tool, const char *cmd, const char *store, char *const *args,
			 const struct img_job_opts *o, char bufs[2][16], char **ret_insecure)
{
	size_t n = 0, cap = 16;
	char **argv;

	for (char *const *a = args; a && *a; a++)
		cap++;
	if (o && o->insecure)
		cap += 2 * (strlen(o->insecure) / 2 + 1);
	argv = calloc(cap, sizeof(char *));
	if (!argv)
		return NULL;
	argv[n++] = (char *)tool;
	argv[n++] = (char *)cmd;
	if (o && strcmp(cmd, "resolve") == 0) {
		if (o->auth_file && access(o->auth_file, F_OK) == 0) {
			argv[n++] = (char *)"--auth";
			argv[n++] = (char *)o->auth_file;
		}
		if (o->ca_file) {
			argv[n++] = (char *)"--ca";
			argv[n++] = (char *)o->ca_file;
		}
		if (o->insecure && (*ret_insecure = strdup(o->insecure))) {
			char *save = NULL;
			for (char *h = strtok_r(*ret_insecure, ",", &save); h; h = strtok_r(NULL, ",", &save)) {
				argv[n++] = (char *)"--insecure-registry";
				argv[n++] = h;
			}
		}
		if (o->parallel > 0) {
			snprintf(bufs[0], 16, "%d", o->parallel);
			argv[n++] = (char *)"--parallel";
			argv[n++] = bufs[0];
		}
		if (o->progress_fd >= 0) {
			snprintf(bufs[1], 16, "%d", 3); /* proc_spawn hands progress_fd over as fd 3 */
			argv[n++] = (char *)"--progress-fd";
			argv[n++] = bufs[1];
		}
	}
	argv[n++] = (char *)store;
	for (char *const *a = args; a && *a; a++)
		argv[n++] = *a;
	return argv;
}

int img_job_start(const char *tool, const char *store_root, const char *cmd, char *const *args,
		  const struct img_job_opts *o, struct img_job **ret, struct err **err)
{
	_cleanup_free_ char *insecure = NULL;
	_cleanup_free_ char **argv = NULL;
	struct img_job *j = calloc(1, sizeof(*j));
	struct proc_opts po = {.stdin_fd = -1, .keep_fd = o ? o->progress_fd : -1};
	char bufs[2][16];
	int r;

	if (!j || !(j->ref = strdup(args && args[0] ? args[0] : cmd))) {
		free(j);
		return err_set(err, ENOMEM, "out of memory");
	}
	j->pidfd = j->out = j->errfd = -1;
	j->resolve = strcmp(cmd, "resolve") == 0 || strcmp(cmd, "import") == 0;
	if (j->resolve && is_layout_ref(j->ref)) {
		_cleanup_free_ char *index = index_path(j->ref);
		if (!index || stat(index, &j->index_st) < 0)
			j->index_st.st_ino = 0; /* the tool reports a missing layout */
	}
	argv = build_argv(tool, cmd, store_root, args, o, bufs, &insecure);
	j->out = memfd_create("drover-image-out", MFD_CLOEXEC);
	j->errfd = memfd_create("drover-image-err", MFD_CLOEXEC);
	if (!argv || j->out < 0 || j->errfd < 0) {
		r = err_set(err, argv ? errno : ENOMEM, "start drover-image");
		img_job_free(j);
		return r;
	}
	po.stdout_fd = j->out;
	po.stderr_fd = j->errfd;
	r = proc_spawn(tool, argv, &po, &j->pid, err);
	if (r >= 0 && (j->pidfd = proc_pidfd_open(j->pid)) < 0)
		r = err_set(err, errno, "pidfd for drover-image");
	if (r < 0) {
		img_job_free(j);
		return r;
	}
	*ret = j;
	return 0;
}

int img_job_fd(const struct img_job *j)
{
	return j->pidfd;
}

const char *img_job_ref(const struct img_job *j)
{
	return j->ref;
}

/* The tool's verdict is in what it wrote (its exit status may already be reaped by the caller's
 * SIGCHLD handling): output on stdout means success, otherwise stderr holds the one-line error. */
int img_job_output(struct img_job *j, char **ret_out, struct err **err)
{
	_cleanup_free_ char *out = NULL, *msg = NULL;

	if (lseek(j->out, 0, SEEK_SET) < 0 || fs_read_fd(j->out, RESULT_MAX, &out, NULL, err) < 0)
		return err_set(err, EIO, "read drover-image's result");
	if (*out == '\0') {
		if (lseek(j->errfd, 0, SEEK_SET) == 0 && fs_read_fd(j->errfd, 4096, &msg, NULL, NULL) == 0 && *msg) {
			msg[strcspn(msg, "\n")] = '\0';
			return err_set(err, EIO, "%s", msg);
		}
		return err_set(err, EIO, "drover-image ended without a result");
	}
	*ret_out = TAKE_PTR(out);
	return 0;
}

int img_job_finish(struct img_job *j, struct img_image **ret, struct err **err)
{
	_cleanup_free_ char *out = NULL;
	int r;

	r = img_job_output(j, &out, err);
	if (r < 0)
		return r;
	r = parse_result(out, ret, err);
	if (r < 0)
		return r;
	/* a layout is re-checked through its index.json; a registry reference that resolved once is
	 * used while its layers are there (pull if not present), as a node agent should not ask the
	 * registry on every restart of an instance */
	if (!is_layout_ref(j->ref) || j->index_st.st_ino)
		remember(j->ref, &j->index_st, *ret);
	return 0;
}

void img_resolve_cache_clear(void)
{
	while (cache) {
		struct cached *c = cache;
		cache = c->next;
		free(c->ref);
		img_image_free(c->img);
		free(c);
	}
}
