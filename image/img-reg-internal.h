#pragma once
/* Private declarations of drover-image's registry half: references, credentials and
 * challenges, platform choice, the distribution v2 client, the layer puller and the store's
 * reference table, locks, listing and garbage collection. */
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include <jansson.h>

#include "common/err.h"
#include "image/img-internal.h"

#define IMG_REF_MAX 512			/* a whole reference string */
#define IMG_AUTH_FILE_MAX (1024 * 1024) /* auth.json */
#define IMG_DEFAULT_AUTH "/etc/drover/auth.json"
#define IMG_PARALLEL_MAX 16

/* A registry reference, normalised the way docker and podman read it:
 * "busybox" -> domain "docker.io", path "library/busybox", tag "latest". */
struct img_ref {
	char *domain; /* "docker.io", "127.0.0.1:5000", "quay.io" */
	char *path;   /* "library/busybox" */
	char *tag;    /* NULL when only a digest names the image */
	char *digest; /* "sha256:<hex>" or NULL */
};

/* img-ref.c */
/* true for "oci:..." and paths ("/x", "./x"): an OCI layout, not a registry reference. */
bool img_ref_is_layout(const char *s);
int img_ref_parse(const char *s, struct img_ref *ret, struct err **err);
void img_ref_done(struct img_ref *r);
/* "domain/path:tag", "domain/path@digest" or "domain/path:tag@digest"; NULL on OOM. */
char *img_ref_string(const struct img_ref *r);
/* The name a store records: "oci:PATH[:tag]" for layouts, img_ref_string() for the rest. */
int img_ref_canonical(const char *s, char **ret, struct err **err);
/* The host the API is served on: "registry-1.docker.io" for docker.io, else the domain. */
const char *img_ref_api_host(const struct img_ref *r);

/* img-auth.c */
enum img_auth_scheme { IMG_AUTH_NONE, IMG_AUTH_BASIC, IMG_AUTH_BEARER };

struct img_challenge {
	enum img_auth_scheme scheme;
	char *realm, *service, *scope; /* each may be NULL */
};

struct img_creds {
	char *user, *pass; /* both NULL: anonymous */
	char *key;	   /* the auths entry they came from ("host" or "host/path-prefix") */
};

/* Parses one WWW-Authenticate value ("Bearer realm=\"...\",service=\"...\""). -EINVAL if malformed,
 * -ENOTSUP for a scheme drover does not speak. */
int img_challenge_parse(const char *value, struct img_challenge *ret);
void img_challenge_done(struct img_challenge *c);
/* Reads a Docker config.json ("auths"); refuses a file group or others may access. */
int img_auth_load(const char *path, json_t **ret, struct err **err);
/* Credentials for repository path on domain from a loaded auth file: the entry with the longest
 * matching scope ("host/team" for "team/app" before "host"); 0 with empty creds when none. */
int img_auth_lookup(json_t *doc, const char *domain, const char *path, struct img_creds *ret,
		    struct err **err);
void img_creds_done(struct img_creds *c);

/* img-platform.c */
struct img_platform {
	const char *os, *arch, *variant; /* variant may be NULL */
};

void img_platform_host(struct img_platform *ret);
/* Index of the best entry of an index's "manifests" for p; -ENOENT when none fits. */
int img_platform_select(json_t *manifests, const struct img_platform *p);

/* img-http.c: the registry client */
struct img_reg_opts {
	const char *auth_file;	  /* NULL: IMG_DEFAULT_AUTH if present */
	const char *ca_file;	  /* extra CA bundle, or NULL */
	char **insecure;	  /* NULL-terminated HOST:PORT list, may be NULL */
	unsigned parallel;	  /* layers at once */
	int progress_fd;	  /* -1: none */
	uint64_t low_speed_limit; /* bytes/s; 0: 10 KiB/s */
	uint64_t low_speed_time;  /* seconds; 0: 60 */
};

struct img_reg;

int img_reg_new(const struct img_ref *ref, const struct img_reg_opts *o, struct img_reg **ret,
		struct err **err);
struct img_reg *img_reg_free(struct img_reg *c);
const char *img_reg_host(const struct img_reg *c);
/* The auths entry whose credentials this client has sent so far; NULL: none sent (anonymous). */
const char *img_reg_auth_used(const struct img_reg *c);
/* GET /v2/: chooses https or (when allowed) http, learns the auth challenge. */
int img_reg_ping(struct img_reg *c, struct err **err);
/* Fetches a manifest or index by tag or digest, size-capped; ret_digest is the sha256 of the body,
 * checked against ref when ref is a digest. ret_media_type from the document or Content-Type. */
int img_reg_get_manifest(struct img_reg *c, const char *ref, char **ret_body, char **ret_digest,
			 char **ret_media_type, struct err **err);
/* Fetches a whole blob (at most max bytes) and verifies it against d. NUL-terminated. */
int img_reg_get_blob(struct img_reg *c, const struct img_desc *d, size_t max, char **ret_buf,
		     struct err **err);

/* A blob streamed for the puller: its bytes come out of img_blob_stream_read() as they arrive
 * (the store hashes them); progress counts every byte received. */
struct img_blob_stream;
int img_blob_stream_open(struct img_reg *c, void *curl, const struct img_desc *d, _Atomic uint64_t *progress,
			 struct img_blob_stream **ret, struct err **err);
/* > 0 bytes at *ret_buf, 0 at the end, < 0 on a transport or HTTP error. */
ssize_t img_blob_stream_read(struct img_blob_stream *s, const void **ret_buf);
/* Explains a failed read: sets err and *ret_retryable (network trouble, 5xx, 429). */
int img_blob_stream_error(struct img_blob_stream *s, bool *ret_retryable, struct err **err);
struct img_blob_stream *img_blob_stream_free(struct img_blob_stream *s);
void *img_reg_curl_new(struct img_reg *c);
void img_reg_curl_free(void *curl);

/* img-registry.c */
int img_from_registry(struct img_store *s, const char *ref, const struct img_reg_opts *o,
		      struct img_image **ret, struct err **err);

/* img-pull.c */
/* Fetches every missing layer of the image from the registry into the store, o->parallel at a
 * time; each layer under its lock file, so one process downloads it and the others wait. */
int img_pull_layers(struct img_store *s, struct img_reg *c, const struct img_desc *layers, size_t n,
		    const struct img_reg_opts *o, struct err **err);

/* img-gc.c: locks, refs, ls, rm, prune */
/* flock on STORE/lock: shared for resolve/import/rm, exclusive for prune; ret_fd to close. */
int img_store_lock(struct img_store *s, bool exclusive, int *ret_fd, struct err **err);
/* flock (exclusive) on dirfd/.lock-<name>; waits. */
int img_lock_file(int dirfd, const char *name, int *ret_fd, struct err **err);
/* Records img (again) and points ref at it, both under the refs lock. ref may be NULL. */
int img_store_commit(struct img_store *s, const struct img_image *img, const char *ref, struct err **err);
/* Marks the record as used just now (prune keeps what was used after it started). */
void img_store_touch_image(struct img_store *s, const char *manifest_hex);
int img_store_list(struct img_store *s, json_t **ret, struct err **err);
int img_store_remove_ref(struct img_store *s, const char *ref, struct err **err);
/* Takes the exclusive store lock itself (waiting for pulls to end); keeps the images in keep and
 * those used since it began. */
/* Removes records not kept and the layers no remaining record uses. until_below >= 0: least
 * recently used first, one at a time, until the filesystem is at most that percent full. */
int img_store_prune(struct img_store *s, char *const *keep, int until_below, json_t **ret, struct err **err);
/* The refs naming a digest, as a new JSON array. */
json_t *img_store_refs_of(struct img_store *s, const char *manifest_digest);

/* img-import.c */
/* Imports an OCI layout dir or a `docker save` tar; *ret_refs gets the names found in it. */
int img_import(struct img_store *s, const char *path, struct img_image **ret, char ***ret_refs,
	       struct err **err);

/* img-store.c: a layer from any byte source, verified while it unpacks */
struct img_src {
	/* > 0 bytes at *ret_buf, 0 at the end, < 0 -errno (the source keeps the details) */
	ssize_t (*read)(void *ctx, const void **ret_buf);
	void *ctx;
};

/* Unpacks src (which must yield exactly d's bytes) into layers/.tmp-<hex>-<pid>, verifies size
 * and sha256, then renames it to layers/<hex>. On failure nothing is left. The caller holds the
 * layer's lock. After a source error (read < 0) that error comes back with a short message; the
 * caller asks its source for the details (and may retry). -EBADMSG: the bytes were wrong. */
int img_store_put_layer(struct img_store *s, const struct img_desc *d, struct img_src *src, struct err **err);
