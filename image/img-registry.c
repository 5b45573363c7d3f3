/* Resolving a registry reference: ping, manifest (an index or manifest list picks this host's
 * platform), and, unless the store already holds the image, its config and missing layers. One
 * process at a time builds an image (a lock per manifest); the others wait and reuse it. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "common/cleanup.h"
#include "image/img-reg-internal.h"

static void reg_freep(struct img_reg **c)
{
	img_reg_free(*c);
}

static void image_freep(struct img_image **img)
{
	img_image_free(*img);
}

static int pick_from_index(const char *body, const char *digest, struct img_desc *ret, struct err **err)
{
	_cleanup_json_ json_t *doc = NULL;
	struct img_platform p;
	json_t *list;
	int r;

	r = img_json_parse(body, digest, &doc, err);
	if (r < 0)
		return r;
	list = json_object_get(doc, "manifests");
	if (!json_is_array(list) || json_array_size(list) == 0)
		return err_set(err, ENOENT, "index %s: no manifests", digest);
	img_platform_host(&p);
	r = img_platform_select(list, &p);
	if (r < 0)
		return err_set(err, ENOENT, "index %s: no manifest for %s/%s%s%s", digest, p.os, p.arch,
			       p.variant ? "/" : "", p.variant ? p.variant : "");
	return img_desc_parse(json_array_get(list, (size_t)r), digest, ret, err);
}

/* Fetches ref's manifest, following indexes down to this platform's image manifest. */
static int fetch_manifest(struct img_reg *c, const struct img_ref *ref, char **ret_body, char **ret_digest,
			  struct err **err)
{
	_cleanup_free_ char *body = NULL, *digest = NULL, *mt = NULL;
	const char *want = ref->digest ? ref->digest : ref->tag;
	int r;

	r = img_reg_get_manifest(c, want, &body, &digest, &mt, err);
	for (int depth = 0; r >= 0; depth++) {
		struct img_desc next = {0};
		enum img_doc_kind kind = img_doc_kind(mt);

		if (kind == IMG_DOC_MANIFEST) {
			*ret_body = TAKE_PTR(body);
			*ret_digest = TAKE_PTR(digest);
			return 0;
		}
		if (kind == IMG_DOC_UNKNOWN)
			return err_set(err, ENOTSUP, "registry %s: %s: unsupported manifest media type '%s'",
				       img_reg_host(c), digest, *mt ? mt : "(none)");
		if (depth >= IMG_INDEX_DEPTH_MAX)
			return err_set(err, ELOOP, "image indexes nested deeper than %d",
				       IMG_INDEX_DEPTH_MAX);
		r = pick_from_index(body, digest, &next, err);
		if (r < 0)
			return r;
		free(body);
		free(digest);
		free(mt);
		body = digest = mt = NULL;
		r = img_reg_get_manifest(c, next.digest, &body, &digest, &mt, err);
		img_desc_done(&next);
	}
	return r;
}

static int build(struct img_store *s, struct img_reg *c, json_t *manifest, const char *digest,
		 const struct img_reg_opts *o, struct img_image **ret, struct err **err)
{
	_cleanup_(image_freep) struct img_image *img = calloc(1, sizeof(*img));
	_cleanup_free_ char *cfgbuf = NULL;
	_cleanup_strv_ char **hexes = NULL;
	struct img_desc cfg = {0}, *layers = NULL;
	size_t n = 0;
	int r;

	if (!img)
		return err_set(err, ENOMEM, "image");
	r = img_manifest_parse(manifest, digest, &cfg, &layers, &n, err);
	if (r < 0)
		return r;
	hexes = calloc(n + 1, sizeof(*hexes));
	img->manifest_digest = strdup(digest);
	img->config_digest = strdup(cfg.digest);
	if (!hexes || !img->manifest_digest || !img->config_digest) {
		img_desc_done(&cfg);
		img_descs_free(layers, n);
		return err_set(err, ENOMEM, "image");
	}
	for (size_t i = 0; r >= 0 && i < n; i++)
		if (!(hexes[i] = strdup(layers[i].hex)))
			r = err_set(err, ENOMEM, "image");
	if (r >= 0)
		r = img_reg_get_blob(c, &cfg, IMG_CONFIG_MAX, &cfgbuf, err);
	if (r >= 0)
		r = img_config_diff_ids(cfgbuf, &cfg, layers, n, err);
	if (r >= 0)
		r = img_config_load(cfgbuf, &cfg, n, &img->config, err);
	if (r >= 0)
		r = img_store_check_layers(s, layers, n, err);
	if (r >= 0)
		r = img_pull_layers(s, c, layers, n, o, err);
	if (r >= 0 && img_store_layer_dirs(s, hexes, n, img) < 0)
		r = err_set(err, ENOMEM, "image");
	img_desc_done(&cfg);
	img_descs_free(layers, n);
	if (r < 0)
		return r;
	*ret = TAKE_PTR(img);
	return 0;
}

/* The store's copy is handed out only after this resolution read the manifest from the registry
 * with the credentials the reference gets; the result names them (droverd re-checks such images
 * after --image-tag-ttl). */
static int set_auth(struct img_image *img, const struct img_reg *c, struct err **err)
{
	const char *used = img_reg_auth_used(c);

	free(img->auth);
	img->auth = used ? strdup(used) : NULL;
	return used && !img->auth ? err_set(err, ENOMEM, "image") : 0;
}

/* Under the image's lock: the record if the store has the image whole, else a full build. */
static int resolve_digest(struct img_store *s, struct img_reg *c, const char *body, const char *digest,
			  const struct img_reg_opts *o, struct img_image **ret, struct err **err)
{
	_cleanup_json_ json_t *manifest = NULL;
	_cleanup_close_ int lockfd = -1;
	char hex[IMG_HEX_LEN + 1];
	int r;

	r = img_digest_parse(digest, hex, err);
	if (r >= 0)
		r = img_lock_file(s->imagesfd, hex, &lockfd, err);
	if (r < 0)
		return r;
	r = img_store_load_image(s, hex, ret, err);
	if (r == 0) {
		img_store_touch_image(s, hex);
		return set_auth(*ret, c, err);
	}
	if (r != -ENOENT)
		return r;
	r = img_json_parse(body, digest, &manifest, err);
	if (r >= 0)
		r = build(s, c, manifest, digest, o, ret, err);
	if (r >= 0)
		r = set_auth(*ret, c, err);
	if (r >= 0)
		r = img_store_commit(s, *ret, NULL, err);
	return r;
}

int img_from_registry(struct img_store *s, const char *refstr, const struct img_reg_opts *o,
		      struct img_image **ret, struct err **err)
{
	_cleanup_(reg_freep) struct img_reg *c = NULL;
	_cleanup_(image_freep) struct img_image *img = NULL;
	_cleanup_free_ char *body = NULL, *digest = NULL, *canon = NULL;
	struct img_ref ref = {0};
	int r;

	r = img_ref_parse(refstr, &ref, err);
	if (r < 0)
		return r;
	canon = img_ref_string(&ref);
	if (!canon)
		r = err_set(err, ENOMEM, "image reference");
	if (r >= 0)
		r = img_reg_new(&ref, o, &c, err);
	if (r >= 0)
		r = img_reg_ping(c, err);
	if (r >= 0)
		r = fetch_manifest(c, &ref, &body, &digest, err);
	if (r >= 0)
		r = resolve_digest(s, c, body, digest, o, &img, err);
	if (r >= 0)
		r = img_store_commit(s, img, canon, err);
	img_ref_done(&ref);
	if (r < 0)
		return err_wrap(err, "image '%s'", canon ? canon : refstr);
	*ret = TAKE_PTR(img);
	return 0;
}
