/* OCI image layouts: "oci:/path[:tag]" -> index.json -> (nested index ->) manifest -> config and
 * layers. Every document is read size-capped from a verified blob; layers go to the store. */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

#include "common/cleanup.h"
#include "common/fs.h"
#include "image/img-internal.h"
#include "image/img-reg-internal.h"

#define REF_NAME_ANNOTATION "org.opencontainers.image.ref.name"
#define TAG_MAX 256

static void image_freep(struct img_image **img)
{
	img_image_free(*img);
}

void img_descs_free(struct img_desc *d, size_t n)
{
	for (size_t i = 0; d && i < n; i++)
		img_desc_done(&d[i]);
	free(d);
}

enum img_doc_kind img_doc_kind(const char *media_type)
{
	if (!media_type)
		return IMG_DOC_UNKNOWN;
	if (strcmp(media_type, IMG_MT_OCI_INDEX) == 0 || strcmp(media_type, IMG_MT_DOCKER_LIST) == 0)
		return IMG_DOC_INDEX;
	if (strcmp(media_type, IMG_MT_OCI_MANIFEST) == 0 || strcmp(media_type, IMG_MT_DOCKER_MANIFEST) == 0)
		return IMG_DOC_MANIFEST;
	return IMG_DOC_UNKNOWN;
}

bool img_layer_type_known(const char *mt)
{
	static const char *const known[] = {
	    "application/vnd.oci.image.layer.v1.tar",
	    "application/vnd.oci.image.layer.v1.tar+gzip",
	    "application/vnd.oci.image.layer.v1.tar+zstd",
	    "application/vnd.oci.image.layer.nondistributable.v1.tar",
	    "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip",
	    "application/vnd.oci.image.layer.nondistributable.v1.tar+zstd",
	    "application/vnd.docker.image.rootfs.diff.tar.gzip",
	    "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip",
	};

	for (size_t i = 0; mt && i < ELEMENTSOF(known); i++)
		if (strcmp(mt, known[i]) == 0)
			return true;
	return false;
}

/* "oci:/dir[:tag]" or "/dir[:tag]"; a ':' before the last '/' belongs to the path. */
static int parse_ref(const char *ref, char **ret_path, char **ret_tag, struct err **err)
{
	const char *slash, *colon, *tag = NULL;
	char *path, *tag_copy = NULL;
	size_t plen;

	if (strncmp(ref, "oci:", 4) == 0)
		ref += 4;
	if (!*ref)
		return err_set(err, EINVAL, "image reference has no layout path");
	slash = strrchr(ref, '/');
	colon = strrchr(ref, ':');
	plen = strlen(ref);
	if (colon && (!slash || colon > slash)) {
		tag = colon + 1;
		plen = (size_t)(colon - ref);
		if (!*tag || strlen(tag) > TAG_MAX || plen == 0)
			return err_set(err, EINVAL, "image reference '%s': bad tag or path", ref);
	}
	path = strndup(ref, plen);
	if (tag)
		tag_copy = strdup(tag);
	if (!path || (tag && !tag_copy)) {
		free(path);
		free(tag_copy);
		return err_set(err, ENOMEM, "image reference");
	}
	*ret_path = path;
	*ret_tag = tag_copy;
	return 0;
}

static int read_doc(int layoutfd, const char *name, json_t **ret, struct err **err)
{
	_cleanup_free_ char *buf = NULL;
	_cleanup_close_ int fd = -1;
	int r;

	r = img_open_regular(layoutfd, name, &fd, err);
	if (r >= 0)
		r = fs_read_fd(fd, IMG_DOC_MAX, &buf, NULL, err);
	if (r < 0)
		return r;
	return img_json_parse(buf, name, ret, err);
}

static int check_layout(int layoutfd, struct err **err)
{
	_cleanup_json_ json_t *doc = NULL;
	const char *v;
	int r;

	r = read_doc(layoutfd, "oci-layout", &doc, err);
	if (r < 0)
		return r;
	v = json_string_value(json_object_get(doc, "imageLayoutVersion"));
	if (!v || strncmp(v, "1.", 2) != 0)
		return err_set(err, ENOTSUP, "oci-layout: unsupported imageLayoutVersion '%s'", v ? v : "");
	return 0;
}

static int index_manifests(json_t *index, const char *what, json_t **ret, struct err **err)
{
	json_t *m = json_object_get(index, "manifests");
	json_t *sv = json_object_get(index, "schemaVersion");

	if (!json_is_integer(sv) || json_integer_value(sv) != 2)
		return err_set(err, ENOTSUP, "%s: schemaVersion is not 2", what);
	if (!json_is_array(m) || json_array_size(m) == 0)
		return err_set(err, ENOENT, "%s: no manifests", what);
	*ret = m;
	return 0;
}

/* index.json: the entry annotated with the tag; without a tag the only entry, else "latest". */
static int pick_tagged(json_t *index, const char *tag, struct img_desc *ret, struct err **err)
{
	const char *want = tag ? tag : "latest";
	json_t *list = NULL, *it;
	size_t i;
	int r;

	r = index_manifests(index, "index.json", &list, err);
	if (r < 0)
		return r;
	if (!tag && json_array_size(list) == 1)
		return img_desc_parse(json_array_get(list, 0), "index.json", ret, err);
	json_array_foreach (list, i, it) {
		const char *name = json_string_value(
		    json_object_get(json_object_get(it, "annotations"), REF_NAME_ANNOTATION));
		if (name && strcmp(name, want) == 0)
			return img_desc_parse(it, "index.json", ret, err);
	}
	return err_set(err, ENOENT, "index.json: no manifest tagged '%s'", want);
}

static int pick_platform(json_t *index, const char *digest, struct img_desc *ret, struct err **err)
{
	struct img_platform p;
	json_t *list = NULL;
	int r;

	r = index_manifests(index, digest, &list, err);
	if (r < 0)
		return r;
	img_platform_host(&p);
	r = img_platform_select(list, &p);
	if (r < 0)
		return err_set(err, ENOENT, "index %s: no manifest for %s/%s%s%s", digest, p.os, p.arch,
			       p.variant ? "/" : "", p.variant ? p.variant : "");
	return img_desc_parse(json_array_get(list, (size_t)r), digest, ret, err);
}

static int read_blob_doc(int layoutfd, const struct img_desc *d, json_t **ret, struct err **err)
{
	_cleanup_free_ char *buf = NULL;
	int r;

	r = img_blob_read(layoutfd, d, IMG_DOC_MAX, &buf, err);
	if (r < 0)
		return r;
	return img_json_parse(buf, d->digest, ret, err);
}

/* Follows nested indexes from desc down to a manifest of a known type; returns it, verified. */
static int resolve_manifest(int layoutfd, struct img_desc *desc, json_t **ret_doc, struct err **err)
{
	for (int depth = 0;; depth++) {
		_cleanup_json_ json_t *doc = NULL;
		struct img_desc next = {0};
		const char *mt;
		int r;

		if (depth > IMG_INDEX_DEPTH_MAX)
			return err_set(err, ELOOP, "image indexes nested deeper than %d",
				       IMG_INDEX_DEPTH_MAX);
		if (desc->media_type && img_doc_kind(desc->media_type) == IMG_DOC_UNKNOWN)
			return err_set(err, ENOTSUP, "%s: unsupported manifest media type '%s'", desc->digest,
				       desc->media_type);
		r = read_blob_doc(layoutfd, desc, &doc, err);
		if (r < 0)
			return r;
		mt = json_string_value(json_object_get(doc, "mediaType"));
		if (!desc->media_type && img_doc_kind(mt) == IMG_DOC_UNKNOWN)
			return err_set(err, ENOTSUP, "%s: unsupported manifest media type '%s'", desc->digest,
				       mt ? mt : "(none)");
		if (mt && desc->media_type && strcmp(mt, desc->media_type) != 0)
			return err_set(err, EBADMSG,
				       "%s: media type '%s' does not match its descriptor's '%s'",
				       desc->digest, mt, desc->media_type);
		if (img_doc_kind(desc->media_type ? desc->media_type : mt) == IMG_DOC_MANIFEST) {
			*ret_doc = TAKE_PTR(doc);
			return 0;
		}
		r = pick_platform(doc, desc->digest, &next, err);
		if (r < 0)
			return r;
		img_desc_done(desc);
		*desc = next;
	}
}

static int parse_layers(json_t *manifest, const char *digest, struct img_desc **ret, size_t *ret_n,
			struct err **err)
{
	json_t *arr = json_object_get(manifest, "layers"), *it;
	struct img_desc *d = NULL;
	size_t i, n;
	int r;

	if (!json_is_array(arr))
		return err_set(err, EBADMSG, "manifest %s: 'layers' is not an array", digest);
	n = json_array_size(arr);
	if (n > IMG_LAYERS_MAX)
		return err_set(err, E2BIG, "manifest %s: %zu layers, more than %d", digest, n,
			       IMG_LAYERS_MAX);
	d = calloc(n + 1, sizeof(*d));
	if (!d)
		return err_set(err, ENOMEM, "manifest %s", digest);
	json_array_foreach (arr, i, it) {
		r = img_desc_parse(it, "layer", &d[i], err);
		if (r >= 0 && !img_layer_type_known(d[i].media_type))
			r = err_set(err, ENOTSUP, "layer %s: unsupported media type '%s'", d[i].digest,
				    d[i].media_type ? d[i].media_type : "(none)");
		if (r < 0) {
			img_descs_free(d, n);
			return err_wrap(err, "manifest %s", digest);
		}
	}
	*ret = d;
	*ret_n = n;
	return 0;
}

int img_manifest_parse(json_t *m, const char *digest, struct img_desc *ret_cfg, struct img_desc **ret_layers,
		       size_t *ret_n, struct err **err)
{
	json_t *sv = json_object_get(m, "schemaVersion");
	int r;

	if (!json_is_integer(sv) || json_integer_value(sv) != 2)
		return err_set(err, ENOTSUP, "manifest %s: schemaVersion is not 2", digest);
	r = img_desc_parse(json_object_get(m, "config"), "config", ret_cfg, err);
	if (r < 0)
		return err_wrap(err, "manifest %s", digest);
	if (!ret_cfg->media_type || (strcmp(ret_cfg->media_type, IMG_MT_OCI_CONFIG) != 0 &&
				     strcmp(ret_cfg->media_type, IMG_MT_DOCKER_CONFIG) != 0)) {
		r = err_set(err, ENOTSUP, "manifest %s: unsupported config media type '%s'", digest,
			    ret_cfg->media_type ? ret_cfg->media_type : "(none)");
		img_desc_done(ret_cfg);
		return r;
	}
	r = parse_layers(m, digest, ret_layers, ret_n, err);
	if (r < 0)
		img_desc_done(ret_cfg);
	return r;
}

int img_config_load(const char *buf, const struct img_desc *d, size_t n_layers, struct img_config *ret,
		    struct err **err)
{
	_cleanup_json_ json_t *doc = NULL;
	json_t *diff_ids;
	int r;

	r = img_json_parse(buf, d->digest, &doc, err);
	if (r < 0)
		return r;
	diff_ids = json_object_get(json_object_get(doc, "rootfs"), "diff_ids");
	if (!json_is_array(diff_ids) || json_array_size(diff_ids) != n_layers)
		return err_set(err, EBADMSG, "config %s: %zu diff_ids for %zu layers", d->digest,
			       json_array_size(diff_ids), n_layers);
	r = img_config_parse(json_object_get(doc, "config"), ret, err);
	if (r < 0)
		return err_wrap(err, "config %s", d->digest);
	return 0;
}

int img_config_diff_ids(const char *buf, const struct img_desc *cfg, struct img_desc *layers, size_t n,
			struct err **err)
{
	_cleanup_json_ json_t *doc = NULL;
	json_t *ids;
	int r;

	r = img_json_parse(buf, cfg->digest, &doc, err);
	if (r < 0)
		return r;
	ids = json_object_get(json_object_get(doc, "rootfs"), "diff_ids");
	if (!json_is_array(ids) || json_array_size(ids) != n)
		return err_set(err, EBADMSG, "config %s: rootfs.diff_ids does not list the %zu layers",
			       cfg->digest, n);
	for (size_t i = 0; i < n; i++) {
		r = img_digest_parse(json_string_value(json_array_get(ids, i)), layers[i].diff_hex, err);
		if (r < 0)
			return err_wrap(err, "config %s: diff_id %zu", cfg->digest, i);
	}
	return 0;
}

static int load_config(int layoutfd, const struct img_desc *d, struct img_desc *layers, size_t n_layers,
		       struct img_config *ret, struct err **err)
{
	_cleanup_free_ char *buf = NULL;
	int r;

	r = img_blob_read(layoutfd, d, IMG_CONFIG_MAX, &buf, err);
	if (r >= 0)
		r = img_config_diff_ids(buf, d, layers, n_layers, err);
	if (r < 0)
		return r;
	return img_config_load(buf, d, n_layers, ret, err);
}

/* Loads the config and puts every missing layer into the store, then records the image. */
static int build_image(struct img_store *s, int layoutfd, const char *digest, const struct img_desc *cfg,
		       struct img_desc *layers, size_t n, struct img_image **ret, struct err **err)
{
	_cleanup_(image_freep) struct img_image *img = NULL;
	_cleanup_strv_ char **hexes = NULL;
	int r = 0;

	img = calloc(1, sizeof(*img));
	hexes = calloc(n + 1, sizeof(*hexes));
	if (img) {
		img->manifest_digest = strdup(digest);
		img->config_digest = strdup(cfg->digest);
	}
	if (!img || !hexes || !img->manifest_digest || !img->config_digest)
		r = err_set(err, ENOMEM, "image");
	for (size_t i = 0; r >= 0 && i < n; i++)
		if (!(hexes[i] = strdup(layers[i].hex)))
			r = err_set(err, ENOMEM, "image");
	if (r >= 0)
		r = load_config(layoutfd, cfg, layers, n, &img->config, err);
	if (r >= 0)
		r = img_store_check_layers(s, layers, n, err);
	if (r >= 0)
		r = img_store_add_layers(s, layoutfd, layers, n, err);
	if (r >= 0 && img_store_layer_dirs(s, hexes, n, img) < 0)
		r = err_set(err, ENOMEM, "image");
	if (r >= 0)
		r = img_store_save_image(s, img, err);
	if (r < 0)
		return r;
	*ret = TAKE_PTR(img);
	return 0;
}

/* Builds the image from a verified manifest: config, then every missing layer into the store. */
static int resolve_full(struct img_store *s, int layoutfd, json_t *manifest, const char *digest,
			struct img_image **ret, struct err **err)
{
	struct img_desc cfg = {0}, *layers = NULL;
	size_t n = 0;
	int r;

	r = img_manifest_parse(manifest, digest, &cfg, &layers, &n, err);
	if (r < 0)
		return r;
	r = build_image(s, layoutfd, digest, &cfg, layers, n, ret, err);
	img_desc_done(&cfg);
	img_descs_free(layers, n);
	return r;
}

static int from_layout(struct img_store *s, int layoutfd, const char *tag, struct img_image **ret,
		       struct err **err)
{
	_cleanup_json_ json_t *index = NULL, *manifest = NULL;
	struct img_desc desc = {0};
	int r;

	r = check_layout(layoutfd, err);
	if (r >= 0)
		r = read_doc(layoutfd, "index.json", &index, err);
	if (r >= 0)
		r = pick_tagged(index, tag, &desc, err);
	if (r < 0)
		return r;
	r = resolve_manifest(layoutfd, &desc, &manifest, err);
	if (r >= 0) {
		/* the manifest blob is verified; its record, if any, says the rest */
		r = img_store_load_image(s, desc.hex, ret, err);
		if (r == -ENOENT)
			r = resolve_full(s, layoutfd, manifest, desc.digest, ret, err);
	}
	img_desc_done(&desc);
	return r;
}

/* Beneath one of the store's layout roots (no symlink below the root), or anywhere when the
 * store has none (drover-image run by hand). */
static int open_layout(const struct img_store *s, const char *path, int *ret_fd, struct err **err)
{
	_cleanup_close_ int rootfd = -1;
	const char *rel = NULL, *root = NULL;
	int fd;

	if (!s->layout_roots) {
		fd = open(path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		if (fd < 0)
			return err_set(err, errno, "open layout '%s'", path);
		*ret_fd = fd;
		return 0;
	}
	if (img_layout_beneath(path, s->layout_roots, &rel, &root) < 0)
		return err_set(err, EPERM, "layout '%s' is not a directory under --image-layout-root", path);
	rootfd = open(root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (rootfd < 0)
		return err_set(err, errno, "open the layout root '%s'", root);
	fd = img_open_beneath(rootfd, rel, O_RDONLY | O_DIRECTORY);
	if (fd == -ELOOP || fd == -EXDEV)
		return err_set(err, EPERM, "layout '%s': a symlink on the way, refused", path);
	if (fd < 0)
		return err_set(err, -fd, "open layout '%s'", path);
	*ret_fd = fd;
	return 0;
}

int img_from_oci_layout(struct img_store *s, const char *ref, struct img_image **ret, struct err **err)
{
	_cleanup_free_ char *path = NULL, *tag = NULL;
	_cleanup_close_ int layoutfd = -1;
	int r;

	r = parse_ref(ref, &path, &tag, err);
	if (r >= 0)
		r = open_layout(s, path, &layoutfd, err);
	if (r < 0)
		return err_wrap(err, "image '%s'", ref);
	r = from_layout(s, layoutfd, tag, ret, err);
	if (r < 0)
		return err_wrap(err, "image '%s'", ref);
	return 0;
}
