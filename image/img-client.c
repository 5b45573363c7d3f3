/* droverd's side of image resolution: drover-image does the work in its own
 * process; the result is kept per reference and reused while the layout's
 * index.json and every layer directory are unchanged, so a start of a known
 * image costs a few stat() calls and no exec. */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <jansson.h>

#include "common/cleanup.h"
#include "common/fs.h"
#include "common/proc.h"
#include "common/timeutil.h"
#include "image/img-internal.h"

#define RESULT_MAX (1024 * 1024)

static bool is_layout_ref(const char *ref)
{
	return strncmp(ref, "oci:", 4) == 0 || ref[0] == '/';
}

struct cached {
	char *ref;
	struct stat index_st;
	struct img_image *img;
	int64_t expires_ns; /* monotonic; 0: never */
	struct cached *next;
};

static struct cached *cache;
static int64_t cache_ttl_ms = 5 * 60 * 1000;

void img_resolve_cache_ttl(int64_t ms)
{
	cache_ttl_ms = ms;
}

/* A tag can be re-pointed and credentials revoked: such a resolution is asked again after the
 * TTL. An anonymous digest reference and a layout (checked through its index.json) are not. */
static int64_t expiry_for(const char *ref, const struct img_image *img)
{
	bool digest_only = strchr(ref, '@') != NULL;

	if (is_layout_ref(ref) || (digest_only && !img->auth))
		return 0;
	return time_mono_ns() + cache_ttl_ms * 1000000LL;
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
	img->auth = src->auth ? strdup(src->auth) : NULL;
	if (!img->manifest_digest || !img->config_digest || !img->layer_dirs || (src->auth && !img->auth))
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
		if (c->expires_ns && time_mono_ns() >= c->expires_ns)
			return NULL; /* a tag or a private image: ask the registry again */
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
	c->expires_ns = expiry_for(ref, img);
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
	if (r >= 0 && json_is_string(json_object_get(doc, "auth")) &&
	    !(img->auth = strdup(json_string_value(json_object_get(doc, "auth")))))
		r = err_set(err, ENOMEM, "out of memory");
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
	char *ref;	      /* the reference (or path) the job is about: the coalescing key */
	bool resolve;	      /* resolve/import: the output is an image, cached by ref */
	struct stat index_st; /* a layout's index.json as it was when the job began: the cache key */
	int out, errfd;	      /* memfds: no pipe can fill up and block the tool */
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

/* argv for one drover-image run: TOOL CMD [options] -- STORE [ARGS...]. Strings are borrowed
 * except the numbers and the split lists, which live in the struct. */
struct job_argv {
	char **v;
	size_t n, cap;
	char nums[10][24];
	size_t n_nums;
	char *insecure, *roots; /* split copies */
};

static void job_argv_done(struct job_argv *a)
{
	free(a->v);
	free(a->insecure);
	free(a->roots);
}

static void add(struct job_argv *a, const char *s)
{
	if (a->n + 1 < a->cap)
		a->v[a->n++] = (char *)s;
}

static void add_num(struct job_argv *a, const char *opt, uint64_t v)
{
	if (a->n_nums >= ELEMENTSOF(a->nums))
		return;
	snprintf(a->nums[a->n_nums], sizeof(a->nums[0]), "%" PRIu64, v);
	add(a, opt);
	add(a, a->nums[a->n_nums++]);
}

/* "--opt" once per item of a comma-separated list (the copy stays in *keep). */
static void add_list(struct job_argv *a, const char *opt, const char *list, char **keep)
{
	char *save = NULL;

	if (!list || !(*keep = strdup(list)))
		return;
	for (char *h = strtok_r(*keep, ",", &save); h; h = strtok_r(NULL, ",", &save)) {
		add(a, opt);
		add(a, h);
	}
}

static void add_resolve_opts(struct job_argv *a, const struct img_job_opts *o)
{
	if (o->auth_file && access(o->auth_file, F_OK) == 0) {
		add(a, "--auth");
		add(a, o->auth_file);
	}
	if (o->ca_file) {
		add(a, "--ca");
		add(a, o->ca_file);
	}
	add_list(a, "--insecure-registry", o->insecure, &a->insecure);
	add_list(a, "--image-layout-root", o->layout_roots, &a->roots);
	if (o->parallel > 0)
		add_num(a, "--parallel", (uint64_t)o->parallel);
	if (o->progress_fd >= 0)
		add_num(a, "--progress-fd", 3); /* proc_spawn hands progress_fd over as fd 3 */
	if (o->low_speed_limit)
		add_num(a, "--low-speed-limit", o->low_speed_limit);
	if (o->low_speed_time_s)
		add_num(a, "--low-speed-time", o->low_speed_time_s);
}

static int build_argv(struct job_argv *a, const char *tool, const char *cmd, const char *store,
		      char *const *args, const struct img_job_opts *o)
{
	bool resolve = strcmp(cmd, "resolve") == 0, import = strcmp(cmd, "import") == 0;
	bool prune = strcmp(cmd, "prune") == 0;

	a->cap = 48;
	for (char *const *i = args; i && *i; i++)
		a->cap++;
	if (o && o->insecure)
		a->cap += 2 * (strlen(o->insecure) / 2 + 1);
	if (o && o->layout_roots)
		a->cap += 2 * (strlen(o->layout_roots) / 2 + 1);
	a->v = calloc(a->cap, sizeof(char *));
	if (!a->v)
		return -ENOMEM;
	add(a, tool);
	add(a, cmd);
	if (o && resolve)
		add_resolve_opts(a, o);
	if (o && o->limits && (resolve || import)) {
		add_num(a, "--image-max-size", o->max_size);
		add_num(a, "--image-max-layer-size", o->max_layer_size);
		add_num(a, "--image-max-unpacked", o->max_unpacked);
		add_num(a, "--image-max-entries", o->max_entries);
		add_num(a, "--image-min-free", o->min_free);
	}
	/* prune's args are droverd's own --keep/--until-below options; every other command's are
	 * references and paths from the API, never taken for options */
	for (char *const *i = args; prune && i && *i; i++)
		add(a, *i);
	add(a, "--");
	add(a, store);
	for (char *const *i = args; !prune && i && *i; i++)
		add(a, *i);
	return 0;
}

int img_job_start(const char *tool, const char *store_root, const char *cmd, char *const *args,
		  const struct img_job_opts *o, struct img_job **ret, struct err **err)
{
	_cleanup_(job_argv_done) struct job_argv argv = {0};
	struct img_job *j = calloc(1, sizeof(*j));
	struct proc_opts po = {.stdin_fd = -1, .keep_fd = o ? o->progress_fd : -1};
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
	r = build_argv(&argv, tool, cmd, store_root, args, o);
	j->out = memfd_create("drover-image-out", MFD_CLOEXEC);
	j->errfd = memfd_create("drover-image-err", MFD_CLOEXEC);
	if (r < 0 || j->out < 0 || j->errfd < 0) {
		r = err_set(err, r < 0 ? ENOMEM : errno, "start drover-image");
		img_job_free(j);
		return r;
	}
	po.stdout_fd = j->out;
	po.stderr_fd = j->errfd;
	r = proc_spawn(tool, argv.v, &po, &j->pid, err);
	if (r >= 0 && (j->pidfd = proc_pidfd_open(j->pid)) < 0)
		r = err_set(err, errno, "pidfd for drover-image");
	if (r < 0) {
		img_job_free(j);
		return r;
	}
	*ret = j;
	return 0;
}

void img_job_kill(struct img_job *j)
{
	/* by pidfd: the pid may be reaped and reused, the pidfd still names the tool */
	if (j->pidfd >= 0)
		(void)syscall(SYS_pidfd_send_signal, j->pidfd, SIGKILL, NULL,
			      0); /* fails only once it is gone */
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
		if (lseek(j->errfd, 0, SEEK_SET) == 0 && fs_read_fd(j->errfd, 4096, &msg, NULL, NULL) == 0 &&
		    *msg) {
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
