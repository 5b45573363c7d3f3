/* cgroups context: validates input, picks the v1 or v2 backend once, and forwards. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cg-internal.h"
#include "common/cleanup.h"
#include "common/timeutil.h"

/* Absolute, at least one component, no empty, "." or ".." components, no trailing '/'. */
static bool path_ok(const char *p)
{
	if (!p || p[0] != '/' || p[1] == '\0')
		return false;
	for (const char *s = p; *s;) {
		size_t n;

		s++; /* past the '/' */
		n = strcspn(s, "/");
		if (n == 0 || (n == 1 && s[0] == '.') || (n == 2 && s[0] == '.' && s[1] == '.'))
			return false;
		s += n;
	}
	return true;
}

static bool name_ok(const char *n)
{
	return n && n[0] && !strchr(n, '/') && strcmp(n, ".") != 0 && strcmp(n, "..") != 0;
}

struct cg_ctx *cg_ctx_free(struct cg_ctx *c)
{
	if (!c)
		return NULL;
	free(c->mount);
	free(c->root);
	free(c->tier[CG_QOS_ONLINE]);
	free(c->tier[CG_QOS_BATCH]);
	if (c->hier) {
		for (char **h = c->hier; *h; h++)
			free(*h);
		free(c->hier);
	}
	free(c);
	return NULL;
}

static char *strip_slashes(const char *s)
{
	char *d = strdup(s);
	size_t n;

	if (!d)
		return NULL;
	n = strlen(d);
	while (n > 0 && d[n - 1] == '/')
		d[--n] = '\0';
	return d;
}

/* Whether path is below (not at) dir; both valid paths. */
static bool path_below(const char *path, const char *dir)
{
	size_t n = strlen(dir);

	return strncmp(path, dir, n) == 0 && path[n] == '/';
}

/* The backend is chosen here, once; NULL on OOM. */
static struct cg_ctx *ctx_alloc(const char *mount, enum cg_version ver, const char *root, const char *batch)
{
	struct cg_ctx *c = calloc(1, sizeof(*c));

	if (!c)
		return NULL;
	c->version = ver;
	c->ops = ver == CG_V1 ? &cg_v1_ops : &cg_v2_ops;
	c->mount = strip_slashes(mount);
	c->root = strdup(root);
	if (asprintf(&c->tier[CG_QOS_ONLINE], "%s/online", root) < 0)
		c->tier[CG_QOS_ONLINE] = NULL;
	if (batch)
		c->tier[CG_QOS_BATCH] = strdup(batch);
	else if (asprintf(&c->tier[CG_QOS_BATCH], "%s/batch", root) < 0)
		c->tier[CG_QOS_BATCH] = NULL;
	if (!c->mount || !c->root || !c->tier[CG_QOS_ONLINE] || !c->tier[CG_QOS_BATCH])
		return cg_ctx_free(c);
	c->batch_outside = !path_below(c->tier[CG_QOS_BATCH], root);
	return c;
}

/* The default spelt out: "<root>/batch". */
static bool is_default_batch(const char *root, const char *batch)
{
	size_t n = strlen(root);

	return strncmp(batch, root, n) == 0 && strcmp(batch + n, "/batch") == 0;
}

/* Instance cgroups are <batch>/<id>, and an id may look like a unit name: below a systemd slice
 * (or unit) an instance could land in, and on removal kill, one of systemd's cgroups. */
static bool systemd_unit_parent(const char *path)
{
	static const char *const suffixes[] = {".slice", ".scope", ".service"};
	const char *last = strrchr(path, '/') + 1;
	size_t n = strlen(last);

	for (size_t i = 0; i < ELEMENTSOF(suffixes); i++) {
		size_t k = strlen(suffixes[i]);

		if (n >= k && strcmp(last + n - k, suffixes[i]) == 0)
			return true;
	}
	return false;
}

/* A batch tier of its own must not overlap the root: below it the tiers would nest, above it
 * removing the tier would take the root (and the online instances) along. */
static int check_batch_tier(const char *root, const char *batch, struct err **err)
{
	if (!path_ok(batch))
		return err_set(err, EINVAL,
			       "batch cgroup '%s' must be an absolute path without '.', '..' or '//'", batch);
	if (strcmp(batch, root) == 0 || path_below(batch, root) || path_below(root, batch))
		return err_set(err, EINVAL,
			       "batch cgroup '%s' must lie beside the cgroup root '%s', neither in it nor "
			       "above it",
			       batch, root);
	if (systemd_unit_parent(batch))
		return err_set(err, EINVAL,
			       "batch cgroup '%s' is a systemd slice or unit: instances there would share "
			       "cgroups with its units (an instance id may be 'sshd.service'); name a cgroup "
			       "of drover's own such as /drover-batch",
			       batch);
	return 0;
}

int cg_ctx_new(const char *mount, enum cg_version ver, const char *root, struct cg_ctx **ret,
	       struct err **err)
{
	return cg_ctx_new_tiers(mount, ver, root, NULL, ret, err);
}

int cg_ctx_new_tiers(const char *mount, enum cg_version ver, const char *root, const char *batch,
		     struct cg_ctx **ret, struct err **err)
{
	_cleanup_cg_ctx_ struct cg_ctx *c = NULL;
	int r;

	if (!mount || !mount[0])
		return err_set(err, EINVAL, "cgroup mount not set");
	if (ver != CG_V1 && ver != CG_V2)
		return err_set(err, EINVAL, "unknown cgroup version %d", (int)ver);
	if (!path_ok(root))
		return err_set(err, EINVAL,
			       "cgroup root '%s' must be an absolute path without '.', '..' or '//'",
			       root ? root : "");
	if (batch && is_default_batch(root, batch))
		batch = NULL;
	if (batch && (r = check_batch_tier(root, batch, err)) < 0)
		return r;
	c = ctx_alloc(mount, ver, root, batch);
	if (!c)
		return err_set(err, ENOMEM, "cgroup context");
	if (c->ops->init) {
		r = c->ops->init(c, err);
		if (r < 0)
			return r;
	}
	r = c->ops->create_parents(c, err);
	if (r < 0)
		return err_wrap(err, "prepare cgroup root '%s'", root);
	*ret = TAKE_PTR(c);
	return 0;
}

enum cg_version cg_ctx_version(const struct cg_ctx *c)
{
	return c->version;
}

const char *cg_tier(const struct cg_ctx *c, enum cg_qos qos)
{
	return cg_qos_dir(qos) ? c->tier[qos] : NULL;
}

char *cg_instance_path(const struct cg_ctx *c, enum cg_qos qos, const char *id)
{
	const char *tier = cg_tier(c, qos);
	char *p = NULL;

	if (!tier || !name_ok(id)) {
		errno = EINVAL;
		return NULL;
	}
	if (asprintf(&p, "%s/%s", tier, id) < 0)
		return NULL;
	return p;
}

char *cg_oom_events_file(const struct cg_ctx *c, const char *path)
{
	if (!path_ok(path)) {
		errno = EINVAL;
		return NULL;
	}
	return c->ops->oom_file(c, path);
}

char *cg_knob_path(const struct cg_ctx *c, const char *path, const char *controller, const char *knob)
{
	if (!path_ok(path) || !name_ok(knob) || (controller && !name_ok(controller))) {
		errno = EINVAL;
		return NULL;
	}
	return c->ops->knob_path(c, path, controller, knob);
}

/* Only cgroups below our root (or a batch tier of its own) may be killed and removed: a bad path
 * must never reach "/". */
static bool below_root(const struct cg_ctx *c, const char *path)
{
	return path_ok(path) &&
	       (path_below(path, c->root) || (c->batch_outside && path_below(path, c->tier[CG_QOS_BATCH])));
}

int cg_instance_remove(const struct cg_ctx *c, const char *path, struct err **err)
{
	if (!below_root(c, path))
		return err_set(err, EINVAL, "cgroup path '%s' is not below '%s'%s%s", path ? path : "",
			       c->root, c->batch_outside ? " or " : "",
			       c->batch_outside ? c->tier[CG_QOS_BATCH] : "");
	return c->ops->instance_remove(c, path, err);
}

int cg_set_tier_limits(const struct cg_ctx *c, enum cg_qos qos, int64_t memory_bytes, int64_t pids,
		       struct err **err)
{
	const char *tier = cg_tier(c, qos);

	if (!tier)
		return err_set(err, EINVAL, "unknown qos tier %d", (int)qos);
	return c->ops->tier_limits(c, tier, memory_bytes, pids, err);
}

/* rmdir of <base><root>/batch: 1 when it is still there (it holds cgroups), else 0. */
static int drop_nested_batch(const char *base, const struct cg_ctx *c)
{
	_cleanup_free_ char *p = NULL;

	if (asprintf(&p, "%s%s/batch", base, c->root) < 0)
		return 0;
	return rmdir(p) < 0 && (errno == EBUSY || errno == ENOTEMPTY) ? 1 : 0;
}

bool cg_nested_batch_left(const struct cg_ctx *c)
{
	int left = 0;

	if (!c->batch_outside)
		return false;
	if (c->version == CG_V2)
		return drop_nested_batch(c->mount, c) > 0;
	for (char **h = c->hier; h && *h; h++) {
		_cleanup_free_ char *base = NULL;

		if (asprintf(&base, "%s/%s", c->mount, *h) >= 0)
			left += drop_nested_batch(base, c);
	}
	return left > 0;
}

int cg_ctx_remove_root(const struct cg_ctx *c, struct err **err)
{
	return c->ops->remove_root(c, err);
}

int64_t cg_remove_deadline(void)
{
	return time_mono_ns() + CG_REMOVE_TIMEOUT_NS;
}
