#pragma once
/* Private declarations shared by the image/ files: descriptors and blob checks, the
 * safe tar walker, image config (de)serialisation and the layer store. */
#include <stdatomic.h>
#include <stdbool.h>
#include <inttypes.h>
#include <stdint.h>

#include <archive.h>
#include <jansson.h>
#include <openssl/evp.h>

#include "common/cleanup.h"
#include "common/err.h"
#include "image/img.h"

#define IMG_HEX_LEN 64 /* sha256 in hex */
#define DIGEST_PREFIX "sha256:"
#define IMG_DOC_MAX (1024 * 1024)	 /* index.json, nested indexes, manifests */
#define IMG_CONFIG_MAX (8 * 1024 * 1024) /* image config blobs (history can be long) */
#define IMG_LAYERS_MAX 128		 /* overlay's own limit is 500 lower dirs */
#define IMG_INDEX_DEPTH_MAX 4		 /* index -> nested index -> ... -> manifest */

#define IMG_MT_OCI_INDEX "application/vnd.oci.image.index.v1+json"
#define IMG_MT_OCI_MANIFEST "application/vnd.oci.image.manifest.v1+json"
#define IMG_MT_OCI_CONFIG "application/vnd.oci.image.config.v1+json"
#define IMG_MT_DOCKER_LIST "application/vnd.docker.distribution.manifest.list.v2+json"
#define IMG_MT_DOCKER_MANIFEST "application/vnd.docker.distribution.manifest.v2+json"
#define IMG_MT_DOCKER_CONFIG "application/vnd.docker.container.image.v1+json"

static inline void img_json_decrefp(json_t **j)
{
	if (*j)
		json_decref(*j);
}
#define _cleanup_json_ _cleanup_(img_json_decrefp)

static inline void img_archive_freep(struct archive **a)
{
	if (*a)
		(void)archive_read_free(*a); /* read side: nothing is lost on a failed free */
}
#define _cleanup_archive_ _cleanup_(img_archive_freep)

static inline void img_md_freep(EVP_MD_CTX **c)
{
	if (*c)
		EVP_MD_CTX_free(*c);
}
#define _cleanup_md_ _cleanup_(img_md_freep)

/* What one image may take (drover-image's --image-max-* and --image-min-free). */
struct img_limits {
	uint64_t max_size;	 /* declared (compressed) bytes of all layers of one image */
	uint64_t max_layer_size; /* declared (compressed) bytes of one layer */
	uint64_t max_unpacked;	 /* bytes unpacked for one image: file sizes as declared, sparse or not */
	uint64_t max_entries;	 /* tar entries in one layer */
	uint64_t min_free;	 /* bytes the store's filesystem keeps free */
};
#define IMG_LIMITS_DEFAULT                                                                                   \
	{                                                                                                    \
		.max_size = 20ULL << 30, .max_layer_size = 10ULL << 30, .max_unpacked = 50ULL << 30,         \
		.max_entries = 1000000, .min_free = 1ULL << 30                                               \
	}

/* One layer's unpack charged against its image's limits. */
struct img_budget {
	const struct img_limits *limits;
	_Atomic uint64_t *used; /* bytes charged for the whole image (shared by parallel layers) */
	uint64_t entries;	/* of this layer */
	uint64_t since_check;	/* bytes since the last free space check */
};

struct img_store {
	char *root; /* absolute */
	int rootfd;
	int layersfd;
	int imagesfd;
	struct img_limits limits;
	_Atomic uint64_t unpacked; /* bytes unpacked by this process (one image per run) */
	char **layout_roots;	   /* NULL-terminated, borrowed; NULL: any absolute path (tool use) */
};

/* An OCI content descriptor, strings owned. */
struct img_desc {
	char *media_type; /* may be NULL when the document omits it */
	char *digest;	  /* "sha256:<hex>" */
	char hex[IMG_HEX_LEN + 1];
	uint64_t size;
	char diff_hex[IMG_HEX_LEN +
		      1]; /* the uncompressed tar's sha256 (config rootfs.diff_ids); "": unchecked */
};

/* img-blob.c */
/* Checks "sha256:<64 lowercase hex>" and copies the hex part out. */
int img_digest_parse(const char *digest, char ret_hex[IMG_HEX_LEN + 1], struct err **err);
void img_md_hex(EVP_MD_CTX *md, char ret_hex[IMG_HEX_LEN + 1]);
int img_desc_parse(json_t *j, const char *what, struct img_desc *ret, struct err **err);
void img_desc_done(struct img_desc *d);
/* Opens blobs/sha256/<hex>, a regular file whose size must equal the descriptor's. */
int img_blob_open(int layoutfd, const struct img_desc *d, int *ret_fd, struct err **err);
/* Reads a whole blob (at most max bytes) and verifies its size and sha256. NUL-terminated. */
int img_blob_read(int layoutfd, const struct img_desc *d, size_t max, char **ret_buf, struct err **err);
/* Parses a JSON document, rejecting duplicate keys; what names it in errors. */
int img_json_parse(const char *buf, const char *what, json_t **ret, struct err **err);

/* img-layout.c: documents shared with the registry client */
enum img_doc_kind { IMG_DOC_INDEX, IMG_DOC_MANIFEST, IMG_DOC_UNKNOWN };
enum img_doc_kind img_doc_kind(const char *media_type);
bool img_layer_type_known(const char *media_type);
/* An image manifest's config and layer descriptors (media types checked). */
int img_manifest_parse(json_t *m, const char *digest, struct img_desc *ret_cfg, struct img_desc **ret_layers,
		       size_t *ret_n, struct err **err);
/* An image config blob's run config; its diff_ids must match n_layers. */
int img_config_load(const char *buf, const struct img_desc *d, size_t n_layers, struct img_config *ret,
		    struct err **err);
void img_descs_free(struct img_desc *d, size_t n);

/* img-unpack.c */
/* A libarchive reader set up for tar (ustar, pax, gnu) behind gzip, zstd or no compression. */
int img_archive_new(struct archive **ret, struct err **err);
/* Writes every entry of an opened archive below dest_dirfd (the rules of img_unpack_layer),
 * charging entries and declared file sizes to b (NULL: unlimited). */
int img_unpack_archive(struct archive *a, int dest_dirfd, struct img_budget *b, struct err **err);

/* Fills each layer's diff_hex from the config's rootfs.diff_ids (which must list n of them). */
int img_config_diff_ids(const char *buf, const struct img_desc *cfg, struct img_desc *layers, size_t n,
			struct err **err);
/* Refuses layer descriptors past --image-max-layer-size or, together, --image-max-size, and
 * layers the store lacks that would not fit on its filesystem above --image-min-free. */
int img_store_check_layers(struct img_store *s, const struct img_desc *layers, size_t n, struct err **err);
/* openat2 below dirfd with no symlink (or magic link) anywhere on the way; -errno. */
int img_open_beneath(int dirfd, const char *name, int flags);
/* Opens name beneath dirfd without following any symlink and without blocking (a FIFO fails
 * at once); must be a regular file. */
int img_open_regular(int dirfd, const char *name, int *ret_fd, struct err **err);

/* img-policy.c */
/* true for localhost and loopback addresses (127.0.0.0/8, ::1), with or without a port. */
bool img_host_is_loopback(const char *hostport);
/* true when url's host and port (scheme default if absent) are base's. */
bool img_url_is_host(const char *url, const char *base);
/* Adds n to *used unless that passes max: -EFBIG then, and nothing is added. */
int img_budget_add(_Atomic uint64_t *used, uint64_t n, uint64_t max);
/* Whether need bytes fit in avail with reserve left over. */
bool img_space_fits(uint64_t avail, uint64_t need, uint64_t reserve);
/* -ENOSPC (with a message naming --image-min-free) if need does not fit on fd's filesystem. */
int img_space_check(int fd, uint64_t need, uint64_t reserve, const char *what, struct err **err);
int img_budget_entry(struct img_budget *b, struct err **err);
/* Charges n bytes about to be written through fd; checks free space now and then. */
int img_budget_bytes(struct img_budget *b, uint64_t n, int fd, struct err **err);
/* 0 with *ret_rel (path below the root) and *ret_root when path lies beneath one of roots;
 * -EPERM otherwise, or when it has "." or ".." components. */
int img_layout_beneath(const char *path, char *const *roots, const char **ret_rel, const char **ret_root);

/* img-config.c */
int img_config_parse(json_t *obj, struct img_config *ret, struct err **err);
/* The "config" object as stored in an image record (OCI key names); NULL on OOM. */
json_t *img_config_to_json(const struct img_config *c);
void img_config_done(struct img_config *c);

/* img-store.c */
/* Unpacks every layer that is not in the store yet, verifying each blob while it streams, then
 * commits them all by rename. On any failure nothing new is left in layers/. */
int img_store_add_layers(struct img_store *s, int layoutfd, const struct img_desc *layers, size_t n,
			 struct err **err);
bool img_store_has_layer(const struct img_store *s, const char *hex);
/* images/<manifest-hex>.json: written after a full resolution, read back on the next one. */
int img_store_save_image(struct img_store *s, const struct img_image *img, struct err **err);
/* 0 and *ret set on a usable record; -ENOENT when there is none or a layer is missing. */
int img_store_load_image(struct img_store *s, const char *manifest_hex, struct img_image **ret,
			 struct err **err);
/* Fills img->layer_dirs from layer hex digests (bottom first). */
int img_store_layer_dirs(const struct img_store *s, char *const *hexes, size_t n, struct img_image *img);
