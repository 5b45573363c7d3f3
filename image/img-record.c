/* Image records: images/<manifest-hex>.json keeps what a full resolution found (digests, layer
 * list, run config), so resolving the same manifest again needs no config read or layer check
 * beyond "layers/<hex> is there". */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "common/cleanup.h"
#include "common/fs.h"
#include "image/img-internal.h"

#define RECORD_MAX (1024 * 1024)

static void image_freep(struct img_image **img)
{
	img_image_free(*img);
}

static const char *layer_hex(const char *dir)
{
	const char *slash = strrchr(dir, '/');

	return slash ? slash + 1 : dir;
}

static json_t *record_to_json(const struct img_image *img)
{
	_cleanup_json_ json_t *obj = json_object();
	json_t *layers = json_array();

	/* json_object_set_new() takes its value even when it fails, and fails on a NULL value */
	if (!obj) {
		json_decref(layers);
		return NULL;
	}
	if (json_object_set_new(obj, "layers", layers) < 0 ||
	    json_object_set_new(obj, "config", img_config_to_json(&img->config)) < 0 ||
	    json_object_set_new(obj, "manifest_digest", json_string(img->manifest_digest)) < 0 ||
	    json_object_set_new(obj, "config_digest", json_string(img->config_digest)) < 0)
		return NULL;
	for (size_t i = 0; i < img->n_layers; i++)
		if (json_array_append_new(layers, json_string(layer_hex(img->layer_dirs[i]))) < 0)
			return NULL;
	/* an image that needed credentials says which: a later reference is checked against the
	 * registry with its own credentials before the copy is handed out (img-registry.c) */
	if (img->auth && json_object_set_new(obj, "pulled_with", json_pack("{s:s}", "auth", img->auth)) < 0)
		return NULL;
	return TAKE_PTR(obj);
}

int img_store_save_image(struct img_store *s, const struct img_image *img, struct err **err)
{
	_cleanup_json_ json_t *obj = record_to_json(img);
	_cleanup_free_ char *text = NULL;
	char hex[IMG_HEX_LEN + 1], name[IMG_HEX_LEN + sizeof(".json")];
	int r;

	r = img_digest_parse(img->manifest_digest, hex, err);
	if (r < 0)
		return err_wrap(err, "image record");
	if (!obj || !(text = json_dumps(obj, JSON_COMPACT | JSON_SORT_KEYS)))
		return err_set(err, ENOMEM, "image record %s", img->manifest_digest);
	snprintf(name, sizeof(name), "%s.json", hex);
	r = fs_write_atomic(s->imagesfd, name, text, strlen(text), 0600, 0, err);
	if (r < 0)
		return err_wrap(err, "image record %s", img->manifest_digest);
	return 0;
}

static int dup_digest(json_t *obj, const char *key, char **ret)
{
	const char *v = json_string_value(json_object_get(obj, key));
	char hex[IMG_HEX_LEN + 1];

	if (!v || img_digest_parse(v, hex, NULL) < 0)
		return -EBADMSG;
	*ret = strdup(v);
	return *ret ? 0 : -ENOMEM;
}

/* Layer hexes from the record, NULL-terminated; -ENOENT if one is no longer in the store. */
static int record_layers(const struct img_store *s, json_t *arr, char ***ret, size_t *ret_n)
{
	_cleanup_strv_ char **hexes = NULL;
	size_t i, n = json_array_size(arr);
	json_t *it;

	if (!json_is_array(arr) || n > IMG_LAYERS_MAX)
		return -EBADMSG;
	hexes = calloc(n + 1, sizeof(*hexes));
	if (!hexes)
		return -ENOMEM;
	json_array_foreach (arr, i, it) {
		const char *h = json_string_value(it);
		if (!h || strlen(h) != IMG_HEX_LEN || strspn(h, "0123456789abcdef") != IMG_HEX_LEN)
			return -EBADMSG;
		if (!img_store_has_layer(s, h))
			return -ENOENT;
		hexes[i] = strdup(h);
		if (!hexes[i])
			return -ENOMEM;
	}
	*ret = TAKE_PTR(hexes);
	*ret_n = n;
	return 0;
}

int img_store_load_image(struct img_store *s, const char *manifest_hex, struct img_image **ret,
			 struct err **err)
{
	_cleanup_(image_freep) struct img_image *img = NULL;
	_cleanup_strv_ char **hexes = NULL;
	_cleanup_free_ char *text = NULL;
	_cleanup_json_ json_t *obj = NULL;
	char name[IMG_HEX_LEN + sizeof(".json")];
	size_t n = 0;
	int r;

	snprintf(name, sizeof(name), "%s.json", manifest_hex);
	/* any unreadable or odd record just means "resolve again": the caller rewrites it */
	if (fs_read_file(s->imagesfd, name, RECORD_MAX, &text, NULL, NULL) < 0 ||
	    img_json_parse(text, "image record", &obj, NULL) < 0)
		return -ENOENT;
	img = calloc(1, sizeof(*img));
	if (!img)
		return err_set(err, ENOMEM, "image record");
	if (dup_digest(obj, "manifest_digest", &img->manifest_digest) < 0 ||
	    dup_digest(obj, "config_digest", &img->config_digest) < 0 ||
	    strcmp(img->manifest_digest + strlen("sha256:"), manifest_hex) != 0)
		return -ENOENT;
	r = record_layers(s, json_object_get(obj, "layers"), &hexes, &n);
	if (r == -ENOMEM)
		return err_set(err, ENOMEM, "image record");
	if (r < 0)
		return -ENOENT;
	if (img_config_parse(json_object_get(obj, "config"), &img->config, NULL) < 0)
		return -ENOENT;
	if (img_store_layer_dirs(s, hexes, n, img) < 0)
		return err_set(err, ENOMEM, "image record");
	*ret = TAKE_PTR(img);
	return 0;
}
