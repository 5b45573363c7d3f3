/* Imports for hosts with no registry: an OCI layout directory, or a `docker save` tar
 * (manifest.json + config + uncompressed layer tars). A tar's layers are streamed straight
 * out of the archive through sha256 (each must hash to its diff_id) into the store; the image
 * gets a Docker schema2 manifest made up from them, whose digest names it. */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <archive.h>
#include <archive_entry.h>
#include <jansson.h>
#include <openssl/evp.h>

#include "common/cleanup.h"
#include "common/fs.h"
#include "image/img-reg-internal.h"

#define ENTRY_CHUNK (64 * 1024)
#define MT_DOCKER_LAYER_TAR "application/vnd.docker.image.rootfs.diff.tar"

static void image_freep(struct img_image **img)
{
	img_image_free(*img);
}

static int open_tar(const char *path, struct archive **ret, struct err **err)
{
	_cleanup_archive_ struct archive *a = archive_read_new();

	if (!a || archive_read_support_format_tar(a) != ARCHIVE_OK ||
	    archive_read_support_filter_none(a) != ARCHIVE_OK)
		return err_set(err, ENOMEM, "libarchive reader");
	if (archive_read_open_filename(a, path, ENTRY_CHUNK) != ARCHIVE_OK)
		return err_set(err, archive_errno(a) > 0 ? archive_errno(a) : EINVAL, "open '%s': %s", path,
			       archive_error_string(a) ? archive_error_string(a) : "not a tar");
	*ret = TAKE_PTR(a);
	return 0;
}

static const char *clean_name(const char *p)
{
	while (p && p[0] == '.' && p[1] == '/')
		p += 2;
	return p ? p : "";
}

/* Reads the entry called name (at most max bytes) out of the tar. */
static int read_entry(const char *path, const char *name, size_t max, char **ret, size_t *ret_len,
		      struct err **err)
{
	_cleanup_archive_ struct archive *a = NULL;
	struct archive_entry *e;
	int r;

	r = open_tar(path, &a, err);
	if (r < 0)
		return r;
	while ((r = archive_read_next_header(a, &e)) == ARCHIVE_OK || r == ARCHIVE_WARN) {
		la_int64_t size = archive_entry_size(e);
		_cleanup_free_ char *buf = NULL;
		la_ssize_t n;

		if (strcmp(clean_name(archive_entry_pathname(e)), name) != 0)
			continue;
		if (size < 0 || (uint64_t)size > max)
			return err_set(err, EFBIG, "'%s' in '%s': more than %zu bytes", name, path, max);
		buf = malloc((size_t)size + 1);
		if (!buf)
			return err_set(err, ENOMEM, "'%s'", name);
		n = archive_read_data(a, buf, (size_t)size);
		if (n != size)
			return err_set(err, EBADMSG, "'%s' in '%s': short read", name, path);
		buf[size] = '\0';
		*ret_len = (size_t)size;
		*ret = TAKE_PTR(buf);
		return 0;
	}
	return err_set(err, ENOENT, "'%s' has no '%s': not a docker save archive", path, name);
}

static int sha256_digest(const char *buf, size_t len, char **ret)
{
	_cleanup_md_ EVP_MD_CTX *md = EVP_MD_CTX_new();
	char hex[IMG_HEX_LEN + 1];

	if (!md || EVP_DigestInit_ex(md, EVP_sha256(), NULL) != 1 || EVP_DigestUpdate(md, buf, len) != 1)
		return -ENOMEM;
	img_md_hex(md, hex);
	return asprintf(ret, "sha256:%s", hex) < 0 ? -ENOMEM : 0;
}

struct entry_src {
	struct archive *a;
	char buf[ENTRY_CHUNK];
};

static ssize_t entry_read(void *ctx, const void **ret_buf)
{
	struct entry_src *src = ctx;
	la_ssize_t n = archive_read_data(src->a, src->buf, sizeof(src->buf));

	*ret_buf = src->buf;
	return n < 0 ? -EIO : (ssize_t)n;
}

/* One pass over the tar: every layer entry not in the store yet goes in, under its lock. */
static int put_layers(struct img_store *s, const char *path, json_t *layer_paths, struct img_desc *d,
		      struct err **err)
{
	_cleanup_archive_ struct archive *a = NULL;
	_cleanup_free_ struct entry_src *src = calloc(1, sizeof(*src));
	struct archive_entry *e;
	size_t i;
	json_t *it;
	int r;

	if (!src)
		return err_set(err, ENOMEM, "import");
	r = open_tar(path, &a, err);
	if (r < 0)
		return r;
	src->a = a;
	while ((r = archive_read_next_header(a, &e)) == ARCHIVE_OK || r == ARCHIVE_WARN) {
		const char *name = clean_name(archive_entry_pathname(e));
		json_array_foreach (layer_paths, i, it) {
			_cleanup_close_ int lockfd = -1;
			struct img_src is = {.read = entry_read, .ctx = src};

			if (strcmp(json_string_value(it), name) != 0)
				continue;
			d[i].size = (uint64_t)archive_entry_size(e);
			r = img_lock_file(s->layersfd, d[i].hex, &lockfd, err);
			if (r >= 0 && !img_store_has_layer(s, d[i].hex))
				r = img_store_put_layer(s, &d[i], &is, err);
			if (r < 0)
				return err_wrap(err, "'%s'", name);
			break; /* the entry's data is read: one layer per entry */
		}
	}
	json_array_foreach (layer_paths, i, it)
		if (!img_store_has_layer(s, d[i].hex))
			return err_set(err, ENOENT, "'%s': layer '%s' is missing", path,
				       json_string_value(it));
	return 0;
}

/* A schema2 manifest for the imported image: its digest is the image's identity. */
static int make_manifest(const struct img_desc *cfg, const struct img_desc *layers, size_t n,
			 char **ret_digest, struct err **err)
{
	_cleanup_json_ json_t *arr = json_array(), *m = NULL;
	_cleanup_free_ char *text = NULL;

	for (size_t i = 0; arr && i < n; i++)
		json_array_append_new(arr,
				      json_pack("{s:s, s:I, s:s}", "mediaType", MT_DOCKER_LAYER_TAR, "size",
						(json_int_t)layers[i].size, "digest", layers[i].digest));
	m = json_pack("{s:i, s:s, s:{s:s, s:I, s:s}, s:O}", "schemaVersion", 2, "mediaType",
		      IMG_MT_DOCKER_MANIFEST, "config", "mediaType", IMG_MT_DOCKER_CONFIG, "size",
		      (json_int_t)cfg->size, "digest", cfg->digest, "layers", arr);
	text = m ? json_dumps(m, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
	if (!text || sha256_digest(text, strlen(text), ret_digest) < 0)
		return err_set(err, ENOMEM, "import manifest");
	return 0;
}

/* Layer descriptors from the config's diff_ids (docker save layers are uncompressed tars). */
static int layer_descs(json_t *config, size_t n, struct img_desc **ret, struct err **err)
{
	json_t *ids = json_object_get(json_object_get(config, "rootfs"), "diff_ids");
	struct img_desc *d;

	if (!json_is_array(ids) || json_array_size(ids) != n || n > IMG_LAYERS_MAX)
		return err_set(err, EBADMSG, "the config's diff_ids do not match the %zu layers", n);
	d = calloc(n + 1, sizeof(*d));
	if (!d)
		return err_set(err, ENOMEM, "import");
	for (size_t i = 0; i < n; i++) {
		const char *id = json_string_value(json_array_get(ids, i));
		if (img_digest_parse(id, d[i].hex, err) < 0 || !(d[i].digest = strdup(id))) {
			img_descs_free(d, n);
			return err_set(err, EBADMSG, "diff_id %zu is not a sha256 digest", i);
		}
	}
	*ret = d;
	return 0;
}

struct save_doc {
	const char *config_name;
	json_t *layers; /* paths in the tar */
	json_t *tags;
};

static int parse_save_manifest(json_t *doc, const char *path, struct save_doc *ret, struct err **err)
{
	json_t *m = json_array_get(doc, 0);
	size_t i;
	json_t *it;

	if (!json_is_array(doc) || json_array_size(doc) != 1)
		return err_set(err, ENOTSUP, "'%s': manifest.json must hold exactly one image", path);
	ret->config_name = json_string_value(json_object_get(m, "Config"));
	ret->layers = json_object_get(m, "Layers");
	ret->tags = json_object_get(m, "RepoTags");
	if (!ret->config_name || !json_is_array(ret->layers))
		return err_set(err, EBADMSG, "'%s': manifest.json has no Config or Layers", path);
	json_array_foreach (ret->layers, i, it)
		if (!json_is_string(it))
			return err_set(err, EBADMSG, "'%s': manifest.json Layers are not strings", path);
	return 0;
}

static int import_save_image(struct img_store *s, const char *path, const struct save_doc *sd,
			     struct img_image *img, struct err **err)
{
	_cleanup_free_ char *cfgbuf = NULL;
	_cleanup_json_ json_t *cfgdoc = NULL;
	_cleanup_strv_ char **hexes = NULL;
	struct img_desc cfg = {0}, *layers = NULL;
	size_t len = 0, n = json_array_size(sd->layers);
	int r;

	r = read_entry(path, sd->config_name, IMG_CONFIG_MAX, &cfgbuf, &len, err);
	if (r >= 0 && sha256_digest(cfgbuf, len, &cfg.digest) < 0)
		r = err_set(err, ENOMEM, "import");
	if (r >= 0) {
		memcpy(cfg.hex, cfg.digest + 7, IMG_HEX_LEN + 1);
		cfg.size = len;
		r = img_json_parse(cfgbuf, sd->config_name, &cfgdoc, err);
	}
	if (r >= 0)
		r = layer_descs(cfgdoc, n, &layers, err);
	if (r >= 0)
		r = img_config_load(cfgbuf, &cfg, n, &img->config, err);
	if (r >= 0)
		r = put_layers(s, path, sd->layers, layers, err);
	if (r >= 0)
		r = make_manifest(&cfg, layers, n, &img->manifest_digest, err);
	hexes = calloc(n + 1, sizeof(*hexes));
	for (size_t i = 0; r >= 0 && i < n; i++)
		if (!hexes || !(hexes[i] = strdup(layers[i].hex)))
			r = err_set(err, ENOMEM, "import");
	if (r >= 0 &&
	    (!(img->config_digest = strdup(cfg.digest)) || img_store_layer_dirs(s, hexes, n, img) < 0))
		r = err_set(err, ENOMEM, "import");
	img_desc_done(&cfg);
	img_descs_free(layers, n);
	return r;
}

static int import_save_tar(struct img_store *s, const char *path, struct img_image **ret, char ***ret_refs,
			   struct err **err)
{
	_cleanup_(image_freep) struct img_image *img = calloc(1, sizeof(*img));
	_cleanup_free_ char *text = NULL;
	_cleanup_json_ json_t *doc = NULL;
	_cleanup_strv_ char **refs = NULL;
	struct save_doc sd = {0};
	json_error_t jerr;
	size_t len = 0, i, k = 0;
	json_t *it;
	int r;

	if (!img)
		return err_set(err, ENOMEM, "import");
	r = read_entry(path, "manifest.json", IMG_DOC_MAX, &text, &len, err);
	if (r < 0)
		return r;
	doc = json_loads(text, JSON_REJECT_DUPLICATES, &jerr);
	if (!doc)
		return err_set(err, EBADMSG, "'%s': manifest.json %d:%d: %s", path, jerr.line, jerr.column,
			       jerr.text);
	r = parse_save_manifest(doc, path, &sd, err);
	if (r >= 0)
		r = import_save_image(s, path, &sd, img, err);
	if (r < 0)
		return r;
	refs = calloc(json_array_size(sd.tags) + 1, sizeof(*refs));
	if (!refs)
		return err_set(err, ENOMEM, "import");
	/* a saved image's tags are registry names: one that reads as a local OCI layout ("oci:/srv/x",
	 * "/srv/x") would let the tar claim a layout's name, and is dropped */
	json_array_foreach (sd.tags, i, it)
		if (json_is_string(it) && !img_ref_is_layout(json_string_value(it)) &&
		    img_ref_canonical(json_string_value(it), &refs[k], NULL) == 0)
			k++;
	*ret = TAKE_PTR(img);
	*ret_refs = TAKE_PTR(refs);
	return 0;
}

/* The ref a layout import records: the picked entry's name (a full reference, or a tag). */
static int layout_refs(const char *path, char ***ret)
{
	_cleanup_free_ char *text = NULL, *idx = NULL;
	_cleanup_json_ json_t *doc = NULL;
	_cleanup_strv_ char **refs = calloc(2, sizeof(char *));
	json_t *list;
	const char *name = "latest";

	if (!refs || asprintf(&idx, "%s/index.json", path) < 0)
		return -ENOMEM;
	if (fs_read_file(AT_FDCWD, idx, IMG_DOC_MAX, &text, NULL, NULL) == 0 &&
	    img_json_parse(text, "index.json", &doc, NULL) == 0) {
		list = json_object_get(doc, "manifests");
		if (json_array_size(list) == 1)
			name = json_string_value(
			    json_object_get(json_object_get(json_array_get(list, 0), "annotations"),
					    "org.opencontainers.image.ref.name"));
	}
	if (name && strchr(name, '/')) {
		if (img_ref_canonical(name, &refs[0], NULL) < 0)
			refs[0] = NULL;
	} else if (name && asprintf(&refs[0], "oci:%s:%s", path, name) < 0) {
		refs[0] = NULL;
	}
	*ret = TAKE_PTR(refs);
	return 0;
}

int img_import(struct img_store *s, const char *path, struct img_image **ret, char ***ret_refs,
	       struct err **err)
{
	_cleanup_free_ char *abs = realpath(path, NULL);
	struct stat st;
	int r;

	if (!abs || stat(abs, &st) < 0)
		return err_set(err, errno, "import '%s'", path);
	if (S_ISDIR(st.st_mode)) {
		r = img_from_oci_layout(s, abs, ret, err);
		if (r >= 0 && layout_refs(abs, ret_refs) < 0)
			r = err_set(err, ENOMEM, "import");
		return r;
	}
	r = import_save_tar(s, abs, ret, ret_refs, err);
	if (r < 0)
		return err_wrap(err, "import '%s'", path);
	r = img_store_commit(s, *ret, NULL, err);
	if (r < 0) {
		*ret = img_image_free(*ret);
		strv_freep(ret_refs);
		*ret_refs = NULL;
	}
	return r;
}
