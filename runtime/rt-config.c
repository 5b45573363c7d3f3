#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include <jansson.h>

#include "common/cleanup.h"
#include "common/fs.h"
#include "runtime/rt-internal.h"
#include "runtime/rt.h"

#define OCI_VERSION "1.0.2"
#define NOFILE_MAX 1048576
#define HOSTNAME_MAX 64

static int validate_spec(const struct rt_bundle_spec *s, struct err **err)
{
	if (!s->id || !*s->id)
		return err_field(err, "id", EINVAL, "container id is empty");
	if (!s->rootfs || s->rootfs[0] != '/')
		return err_field(err, "rootfs", EINVAL, "rootfs '%s' is not an absolute path",
				 s->rootfs ? s->rootfs : "");
	if (!s->args || !s->args[0] || !*s->args[0])
		return err_field(err, "args", EINVAL, "process args are empty");
	if (s->hostname && strlen(s->hostname) > HOSTNAME_MAX)
		return err_field(err, "hostname", EINVAL, "hostname is longer than %d bytes", HOSTNAME_MAX);
	if (s->net != RT_NET_HOST && s->net != RT_NET_NONE && s->net != RT_NET_PATH)
		return err_field(err, "net", EINVAL, "unknown network mode %d", (int)s->net);
	if (s->net == RT_NET_PATH && (!s->netns_path || s->netns_path[0] != '/'))
		return err_field(err, "netns_path", EINVAL, "network namespace path '%s' is not absolute",
				 s->netns_path ? s->netns_path : "");
	if (s->n_extra_gids > 0 && !s->extra_gids)
		return err_field(err, "extra_gids", EINVAL, "additional gids missing");
	return 0;
}

static int user_json(const struct rt_bundle_spec *s, json_t **ret)
{
	_cleanup_json_ json_t *u = json_object();
	json_t *gids = NULL;

	if (!u)
		return -ENOMEM;
	gids = json_array();
	if (rt_json_set(u, "additionalGids", gids) < 0)
		return -ENOMEM;
	if (rt_json_set(u, "uid", json_integer(s->uid)) < 0 ||
	    rt_json_set(u, "gid", json_integer(s->gid)) < 0)
		return -ENOMEM;
	for (size_t i = 0; i < s->n_extra_gids; i++)
		if (rt_json_append(gids, json_integer(s->extra_gids[i])) < 0)
			return -ENOMEM;
	*ret = TAKE_PTR(u);
	return 0;
}

static int caps_json(json_t **ret, struct err **err)
{
	_cleanup_json_ json_t *c = json_object();
	json_t *set = NULL;
	int r;

	if (!c)
		return err_set(err, ENOMEM, "capabilities");
	r = rt_caps_default(&set, err);
	if (r < 0)
		return r;
	if (rt_json_set(c, "bounding", set) < 0 || rt_json_set(c, "effective", json_deep_copy(set)) < 0 ||
	    rt_json_set(c, "permitted", json_deep_copy(set)) < 0 ||
	    rt_json_set(c, "inheritable", json_array()) < 0 || rt_json_set(c, "ambient", json_array()) < 0)
		return err_set(err, ENOMEM, "capabilities");
	*ret = TAKE_PTR(c);
	return 0;
}

/* RLIMIT_NOFILE soft = hard = min(NOFILE_MAX, our own hard limit): without CAP_SYS_RESOURCE runc
 * cannot raise a hard limit above the one it inherits from us. */
static int rlimits_json(json_t **ret)
{
	_cleanup_json_ json_t *arr = json_array();
	_cleanup_json_ json_t *nofile = json_object();
	struct rlimit rl;
	uint64_t n = NOFILE_MAX;

	if (!arr || !nofile)
		return -ENOMEM;
	if (getrlimit(RLIMIT_NOFILE, &rl) < 0)
		return -errno;
	if (rl.rlim_max != RLIM_INFINITY && rl.rlim_max < n)
		n = rl.rlim_max;
	if (rt_json_set(nofile, "type", json_string("RLIMIT_NOFILE")) < 0 ||
	    rt_json_set(nofile, "hard", json_integer((json_int_t)n)) < 0 ||
	    rt_json_set(nofile, "soft", json_integer((json_int_t)n)) < 0 ||
	    rt_json_append(arr, TAKE_PTR(nofile)) < 0)
		return -ENOMEM;
	*ret = TAKE_PTR(arr);
	return 0;
}

/* Sets the string arrays args and env; bad UTF-8 names the field. */
static int strv_field(json_t *obj, const char *key, char *const *v, struct err **err)
{
	json_t *arr = NULL;
	size_t bad = 0;
	int r;

	r = rt_json_strv(v, &arr, &bad);
	if (r == -EINVAL)
		return err_field(err, key, EINVAL, "%s[%zu] is not valid UTF-8", key, bad);
	if (r < 0 || rt_json_set(obj, key, arr) < 0)
		return err_set(err, ENOMEM, "process.%s", key);
	return 0;
}

/* env with NOTIFY_SOCKET pointing at the mounted socket (one the image or spec set is replaced). */
static int env_with_notify(json_t *p, char *const *env, struct err **err)
{
	_cleanup_free_ char **v = NULL;
	size_t n = 0, m = 0;

	while (env && env[n])
		n++;
	v = calloc(n + 2, sizeof(*v));
	if (!v)
		return err_set(err, ENOMEM, "process.env");
	for (size_t k = 0; k < n; k++)
		if (strncmp(env[k], "NOTIFY_SOCKET=", 14) != 0)
			v[m++] = env[k];
	v[m++] = (char *)"NOTIFY_SOCKET=" RT_NOTIFY_SOCKET;
	return strv_field(p, "env", v, err);
}

static int process_fields(const struct rt_bundle_spec *s, json_t *p, struct err **err)
{
	_cleanup_free_ char *cwd = NULL;
	json_t *part = NULL;
	int r;

	if (rt_json_set(p, "terminal", json_false()) < 0)
		return err_set(err, ENOMEM, "process");
	if (user_json(s, &part) < 0 || rt_json_set(p, "user", part) < 0)
		return err_set(err, ENOMEM, "process.user");
	r = strv_field(p, "args", s->args, err);
	if (r < 0)
		return r;
	r = s->notify_dir ? env_with_notify(p, s->env, err) : strv_field(p, "env", s->env, err);
	if (r < 0)
		return r;
	r = rt_cwd_normalize(s->cwd ? s->cwd : "/", &cwd);
	if (r < 0)
		return err_field(err, "cwd", -r, "working directory '%s' %s", s->cwd, rt_cwd_problem(r));
	if (rt_json_set(p, "cwd", json_string(cwd)) < 0)
		return err_field(err, "cwd", EINVAL, "cwd is not valid UTF-8");
	part = NULL;
	r = caps_json(&part, err);
	if (r < 0)
		return r;
	if (rt_json_set(p, "capabilities", part) < 0)
		return err_set(err, ENOMEM, "process.capabilities");
	part = NULL;
	r = rlimits_json(&part);
	if (r < 0 || rt_json_set(p, "rlimits", part) < 0)
		return err_set(err, r < 0 ? -r : ENOMEM, "process.rlimits");
	if (rt_json_set(p, "noNewPrivileges", json_true()) < 0 ||
	    rt_json_set(p, "oomScoreAdj", json_integer(s->oom_score_adj)) < 0)
		return err_set(err, ENOMEM, "process");
	return 0;
}

static int root_json(const struct rt_bundle_spec *s, json_t *cfg, struct err **err)
{
	_cleanup_json_ json_t *root = json_object();
	char host[HOSTNAME_MAX + 1];

	/* without an explicit hostname the container id is used, cut to what sethostname accepts */
	snprintf(host, sizeof(host), "%s", s->hostname ? s->hostname : s->id);
	if (!root || rt_json_set(root, "readonly", json_false()) < 0)
		return err_set(err, ENOMEM, "root");
	if (rt_json_set(root, "path", json_string(s->rootfs)) < 0)
		return err_field(err, "rootfs", EINVAL, "rootfs is not valid UTF-8");
	if (rt_json_set(cfg, "root", TAKE_PTR(root)) < 0)
		return err_set(err, ENOMEM, "root");
	if (rt_json_set(cfg, "hostname", json_string(host)) < 0)
		return err_field(err, "hostname", EINVAL, "hostname is not valid UTF-8");
	return 0;
}

static int config_fields(const struct rt_bundle_spec *s, json_t *cfg, struct err **err)
{
	_cleanup_json_ json_t *proc = json_object();
	json_t *part = NULL;
	int r;

	if (!proc || rt_json_set(cfg, "ociVersion", json_string(OCI_VERSION)) < 0)
		return err_set(err, ENOMEM, "config");
	r = process_fields(s, proc, err);
	if (r < 0)
		return r;
	if (rt_json_set(cfg, "process", TAKE_PTR(proc)) < 0)
		return err_set(err, ENOMEM, "process");
	r = root_json(s, cfg, err);
	if (r < 0)
		return r;
	r = rt_config_mounts(s, &part, err);
	if (r < 0)
		return r;
	if (rt_json_set(cfg, "mounts", part) < 0)
		return err_set(err, ENOMEM, "mounts");
	part = NULL;
	r = rt_config_linux(s, &part, err);
	if (r < 0)
		return err_wrap(err, "linux");
	if (rt_json_set(cfg, "linux", part) < 0)
		return err_set(err, ENOMEM, "linux");
	return 0;
}

int rt_config_build(const struct rt_bundle_spec *s, json_t **ret, struct err **err)
{
	_cleanup_json_ json_t *cfg = NULL;
	int r;

	r = validate_spec(s, err);
	if (r < 0)
		return err_wrap(err, "config for '%s'", s->id ? s->id : "");
	cfg = json_object();
	if (!cfg)
		return err_set(err, ENOMEM, "config for '%s'", s->id);
	r = config_fields(s, cfg, err);
	if (r < 0)
		return err_wrap(err, "config for '%s'", s->id);
	*ret = TAKE_PTR(cfg);
	return 0;
}

int rt_bundle_write(const char *bundle_dir, const struct rt_bundle_spec *s, struct err **err)
{
	_cleanup_json_ json_t *cfg = NULL;
	_cleanup_free_ char *text = NULL;
	_cleanup_close_ int dfd = -1;
	int r;

	r = rt_config_build(s, &cfg, err);
	if (r < 0)
		return r;
	text = json_dumps(cfg, JSON_INDENT(2));
	if (!text)
		return err_set(err, ENOMEM, "serialise config for '%s'", s->id);
	dfd = open(bundle_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0)
		return err_set(err, errno, "open bundle '%s'", bundle_dir);
	/* 0600: env may carry secrets. Atomic (runc never reads half a file) but not synced: the file is
	 * rebuilt from the instance record at every start, and the only reader that outlives the page
	 * cache would be a container that outlived a power cut, which none does. Two fsyncs here were a
	 * fifth of a start's time. */
	r = fs_write_atomic(dfd, "config.json", text, strlen(text), 0600, FS_NOSYNC, err);
	if (r < 0)
		return err_wrap(err, "bundle '%s'", bundle_dir);
	return 0;
}
