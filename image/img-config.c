/* The image config's "config" object (Entrypoint, Cmd, Env, WorkingDir, User): parsed with strict
 * types, and written back in the same shape into drover's image records. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "common/cleanup.h"
#include "image/img-internal.h"

#define STRV_MAX 4096	 /* entries in Entrypoint, Cmd or Env */
#define STRING_MAX 65536 /* bytes in one of their strings */

static void strv_free(char **v)
{
	if (!v)
		return;
	for (char **s = v; *s; s++)
		free(*s);
	free(v);
}

static int strv_from_json(json_t *arr, const char *key, char ***ret, struct err **err)
{
	_cleanup_strv_ char **v = NULL;
	size_t i, n;
	json_t *it;

	*ret = NULL;
	if (!arr || json_is_null(arr))
		return 0;
	if (!json_is_array(arr))
		return err_set(err, EINVAL, "image config: '%s' is not an array of strings", key);
	n = json_array_size(arr);
	if (n > STRV_MAX)
		return err_set(err, E2BIG, "image config: '%s' has %zu entries, more than %d", key, n,
			       STRV_MAX);
	v = calloc(n + 1, sizeof(*v));
	if (!v)
		return err_set(err, ENOMEM, "image config: '%s'", key);
	json_array_foreach (arr, i, it) {
		if (!json_is_string(it))
			return err_set(err, EINVAL, "image config: '%s'[%zu] is not a string", key, i);
		if (json_string_length(it) > STRING_MAX)
			return err_set(err, E2BIG, "image config: '%s'[%zu] is too long", key, i);
		v[i] = strdup(json_string_value(it));
		if (!v[i])
			return err_set(err, ENOMEM, "image config: '%s'", key);
	}
	*ret = TAKE_PTR(v);
	return 0;
}

static int string_from_json(json_t *s, const char *key, char **ret, struct err **err)
{
	*ret = NULL;
	if (!s || json_is_null(s))
		return 0;
	if (!json_is_string(s))
		return err_set(err, EINVAL, "image config: '%s' is not a string", key);
	if (json_string_length(s) > STRING_MAX)
		return err_set(err, E2BIG, "image config: '%s' is too long", key);
	if (json_string_length(s) == 0)
		return 0; /* "" means unset, as in the OCI spec */
	*ret = strdup(json_string_value(s));
	return *ret ? 0 : err_set(err, ENOMEM, "image config: '%s'", key);
}

void img_config_done(struct img_config *c)
{
	strv_free(c->entrypoint);
	strv_free(c->cmd);
	strv_free(c->env);
	free(c->workdir);
	free(c->user);
	memset(c, 0, sizeof(*c));
}

int img_config_parse(json_t *obj, struct img_config *ret, struct err **err)
{
	struct img_config c = {0};
	int r;

	if (obj && !json_is_null(obj) && !json_is_object(obj))
		return err_set(err, EINVAL, "image config: 'config' is not an object");
	r = strv_from_json(json_object_get(obj, "Entrypoint"), "Entrypoint", &c.entrypoint, err);
	if (r >= 0)
		r = strv_from_json(json_object_get(obj, "Cmd"), "Cmd", &c.cmd, err);
	if (r >= 0)
		r = strv_from_json(json_object_get(obj, "Env"), "Env", &c.env, err);
	if (r >= 0)
		r = string_from_json(json_object_get(obj, "WorkingDir"), "WorkingDir", &c.workdir, err);
	if (r >= 0)
		r = string_from_json(json_object_get(obj, "User"), "User", &c.user, err);
	if (r < 0) {
		img_config_done(&c);
		return r;
	}
	*ret = c;
	return 0;
}

static int set_strv(json_t *obj, const char *key, char **v)
{
	json_t *arr;

	if (!v)
		return 0;
	arr = json_array();
	if (!arr || json_object_set_new(obj, key, arr) < 0)
		return -ENOMEM;
	for (char **s = v; *s; s++)
		if (json_array_append_new(arr, json_string(*s)) < 0)
			return -ENOMEM;
	return 0;
}

json_t *img_config_to_json(const struct img_config *c)
{
	_cleanup_json_ json_t *obj = json_object();

	if (!obj)
		return NULL;
	if (set_strv(obj, "Entrypoint", c->entrypoint) < 0 || set_strv(obj, "Cmd", c->cmd) < 0 ||
	    set_strv(obj, "Env", c->env) < 0)
		return NULL;
	if (c->workdir && json_object_set_new(obj, "WorkingDir", json_string(c->workdir)) < 0)
		return NULL;
	if (c->user && json_object_set_new(obj, "User", json_string(c->user)) < 0)
		return NULL;
	return TAKE_PTR(obj);
}

struct img_image *img_image_free(struct img_image *img)
{
	if (!img)
		return NULL;
	free(img->manifest_digest);
	free(img->config_digest);
	free(img->auth);
	for (size_t i = 0; img->layer_dirs && i < img->n_layers; i++)
		free(img->layer_dirs[i]);
	free(img->layer_dirs);
	img_config_done(&img->config);
	free(img);
	return NULL;
}
