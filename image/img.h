#pragma once
/* Images: OCI image layouts read and verified, layers unpacked once each into
 * a content-addressed store, rootfs = overlay of the layers + a per-instance upper dir. */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/err.h"

/* What the image config says about how to run it (OCI image config "config" object). */
struct img_config {
	char **entrypoint; /* NULL-terminated, may be NULL */
	char **cmd;	   /* NULL-terminated, may be NULL */
	char **env;	   /* "K=V" strings, NULL-terminated, may be NULL */
	char *workdir;	   /* may be NULL */
	char *user;	   /* may be NULL */
};

struct img_image {
	char *manifest_digest; /* "sha256:<hex>": the image's identity, reported as image_digest */
	char *config_digest;
	size_t n_layers;
	char **layer_dirs; /* absolute paths of unpacked layers in the store, bottom layer first */
	struct img_config config;
	char *auth; /* the --registry-auth entry whose credentials the resolution sent; NULL: none */
};

struct img_store;

/* Checks the form of an image reference: "oci:/abs/layout[:tag]", or a registry reference
 * "host[:port]/path[:tag][@sha256:...]" (Docker Hub short forms allowed). Touches nothing. */
int img_ref_validate(const char *ref, struct err **err);

/* root: the store directory (created if missing), e.g. STATE_DIR/images. */
int img_store_open(const char *root, struct img_store **ret, struct err **err);
struct img_store *img_store_free(struct img_store *s);
const char *img_store_root(const struct img_store *s);

/* Resolves "oci:/path/to/layout[:tag]" (the "oci:" prefix already stripped by the caller or not,
 * both accepted). Reads index.json -> manifest -> config, verifies every blob's sha256, unpacks every
 * layer not yet in the store. tag NULL picks the only manifest, or the one tagged "latest". */
int img_from_oci_layout(struct img_store *s, const char *ref, struct img_image **ret, struct err **err);
struct img_image *img_image_free(struct img_image *img);

/* Unpacks one layer stream (tar, gzip or zstd; detected) from fd into dest_dirfd safely: no
 * "..", absolute paths, writes through symlinks, hard links leaving the dir, or device nodes. OCI
 * whiteouts ".wh.NAME" become overlay whiteouts (0/0 char devices), ".wh..wh..opq" sets the
 * overlay opaque xattr on its directory. On error the caller removes dest. */
int img_unpack_layer(int fd, int dest_dirfd, struct err **err);

/* droverd's side of image resolution. The work (verifying, unpacking) runs in drover-image, a
 * separate process that links the digest and archive code; its result is remembered per ref
 * while the layout's index.json and the layer dirs stay the same. */
struct img_job;
/* 1 and *ret set when ref resolved before and nothing changed since; 0 otherwise. */
int img_resolve_cached(const char *ref, struct img_image **ret);
struct img_job_opts {
	const char *auth_file; /* passed when the file exists */
	const char *ca_file;
	const char *insecure; /* comma-separated HOST:PORT list */
	int parallel;
	int progress_fd;	  /* -1, or the write end the tool reports "progress DONE TOTAL" lines to */
	const char *layout_roots; /* comma-separated; resolve only */
	bool limits;		  /* pass what follows (resolve and import) */
	uint64_t max_size, max_layer_size, max_unpacked, max_entries, min_free;
	uint64_t low_speed_limit, low_speed_time_s;
};
/* Starts `drover-image CMD [options] STORE ARGS...` (options only for resolve); watch img_job_fd (a
 * pidfd) and call img_job_finish (resolve, import) or img_job_output (ls, rm, prune) once it is
 * readable. args[0] is the job's key (the reference for resolve). */
int img_job_start(const char *tool, const char *store_root, const char *cmd, char *const *args,
		  const struct img_job_opts *o, struct img_job **ret, struct err **err);
int img_job_fd(const struct img_job *j);
const char *img_job_ref(const struct img_job *j);
int img_job_finish(struct img_job *j, struct img_image **ret, struct err **err);
/* The tool's stdout (raw JSON) on success, its one-line error otherwise. */
int img_job_output(struct img_job *j, char **ret_out, struct err **err);
struct img_job *img_job_free(struct img_job *j);
void img_resolve_cache_clear(void);
/* How long a resolution of a tag, or of an image that needed credentials, is reused (ms); a
 * digest reference resolved anonymously and an unchanged layout are reused for good. */
void img_resolve_cache_ttl(int64_t ms);
/* SIGKILLs the tool (a deadline passed, or nobody waits for it any more). */
void img_job_kill(struct img_job *j);

/* Mounts the overlay rootfs of img under inst_dir (inst_dir/upper, work, rootfs created). */
int img_rootfs_mount(const struct img_image *img, const char *inst_dir, struct err **err);
/* Unmounts inst_dir/rootfs if mounted (lazy-detaches if busy); idempotent. */
int img_rootfs_umount(const char *inst_dir, struct err **err);
