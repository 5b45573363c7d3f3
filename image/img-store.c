/* The content-addressed layer store: layers/<hex> holds the unpacked layer whose blob has digest
 * sha256:<hex>, written once (unpacked into layers/.tmp-<hex>-<pid>, then renamed into place) and
 * shared by every image and instance. images/<manifest-hex>.json records resolved images. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <archive.h>
#include <jansson.h>
#include <openssl/evp.h>

#include "common/cleanup.h"
#include "common/fs.h"
#include "common/proc.h"
#include "image/img-internal.h"
#include "image/img-reg-internal.h"

#define TMP_PREFIX ".tmp-"
#define DIFF_XATTR "trusted.drover.diff_id" /* on a layer's root dir; containers cannot read trusted.* */
#define READ_CHUNK (64 * 1024)

static void store_freep(struct img_store **s)
{
	img_store_free(*s);
}

struct img_store *img_store_free(struct img_store *s)
{
	if (!s)
		return NULL;
	closep(&s->rootfd);
	closep(&s->layersfd);
	closep(&s->imagesfd);
	free(s->root);
	free(s);
	return NULL;
}

const char *img_store_root(const struct img_store *s)
{
	return s->root;
}

static int open_subdir(int rootfd, const char *name, int *ret_fd)
{
	int fd;

	if (mkdirat(rootfd, name, 0700) < 0 && errno != EEXIST)
		return -errno;
	fd = openat(rootfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	*ret_fd = fd;
	return 0;
}

/* A .tmp-<hex>-<pid> dir is stale unless its pid is another live process (a second agent). */
static bool tmp_is_stale(const char *name)
{
	const char *dash = strrchr(name, '-');
	char *end = NULL;
	long pid;

	if (!dash)
		return true;
	errno = 0;
	pid = strtol(dash + 1, &end, 10);
	if (errno || !end || *end || pid <= 0 || pid > INT_MAX)
		return true;
	return (pid_t)pid == getpid() || !proc_alive((pid_t)pid);
}

static int remove_stale_tmp(int layersfd)
{
	_cleanup_closedir_ DIR *d = NULL;
	struct dirent *de;
	int fd, r = 0;

	fd = openat(layersfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	d = fdopendir(fd);
	if (!d) {
		(void)close(fd);
		return -errno;
	}
	while ((de = readdir(d))) {
		if (strncmp(de->d_name, TMP_PREFIX, strlen(TMP_PREFIX)) != 0 || !tmp_is_stale(de->d_name))
			continue;
		int rr = fs_rm_rf(layersfd, de->d_name);
		if (rr < 0)
			r = rr;
	}
	return r;
}

static int store_init(struct img_store *s, const char *root, struct err **err)
{
	int r;

	s->root = realpath(root, NULL);
	if (!s->root)
		return err_set(err, errno, "image store: resolve '%s'", root);
	s->rootfd = open(s->root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (s->rootfd < 0)
		return err_set(err, errno, "image store: open '%s'", s->root);
	r = open_subdir(s->rootfd, "layers", &s->layersfd);
	if (r >= 0)
		r = open_subdir(s->rootfd, "images", &s->imagesfd);
	if (r < 0)
		return err_set(err, -r, "image store: open the subdirectories of '%s'", s->root);
	r = remove_stale_tmp(s->layersfd);
	if (r < 0)
		return err_set(err, -r, "image store: remove unfinished layers in '%s/layers'", s->root);
	return 0;
}

int img_store_open(const char *root, struct img_store **ret, struct err **err)
{
	_cleanup_(store_freep) struct img_store *s = NULL;
	int r;

	r = fs_mkdir_p(AT_FDCWD, root, 0700);
	if (r < 0)
		return err_set(err, -r, "image store: create '%s'", root);
	s = calloc(1, sizeof(*s));
	if (!s)
		return err_set(err, ENOMEM, "image store");
	s->rootfd = s->layersfd = s->imagesfd = -1;
	s->limits = (struct img_limits)IMG_LIMITS_DEFAULT;
	r = store_init(s, root, err);
	if (r < 0)
		return r;
	*ret = TAKE_PTR(s);
	return 0;
}

bool img_store_has_layer(const struct img_store *s, const char *hex)
{
	struct stat st;

	return fstatat(s->layersfd, hex, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISDIR(st.st_mode);
}

/* The blob as libarchive reads it: every byte is hashed and counted on the way through. */
struct hashed_src {
	struct img_src *src;
	EVP_MD_CTX *md;
	uint64_t count, limit;
	int src_error; /* the source's -errno, 0 if it never failed */
};

static ssize_t hashed_pull(struct hashed_src *h, const void **ret_buf)
{
	ssize_t n = h->src->read(h->src->ctx, ret_buf);

	if (n < 0) {
		h->src_error = (int)n;
		return n;
	}
	h->count += (uint64_t)n;
	if (h->count > h->limit)
		return -EFBIG;
	if (n > 0 && EVP_DigestUpdate(h->md, *ret_buf, (size_t)n) != 1)
		return -EIO;
	return n;
}

static la_ssize_t hashed_read(struct archive *a, void *data, const void **ret_buf)
{
	struct hashed_src *h = data;
	ssize_t n = hashed_pull(h, ret_buf);

	if (n == -EFBIG)
		archive_set_error(a, EBADMSG, "blob larger than the descriptor's %" PRIu64 " bytes",
				  h->limit);
	else if (n < 0)
		archive_set_error(a, (int)-n, "read blob: %s", strerror((int)-n));
	return n < 0 ? -1 : n;
}

/* Hashes what libarchive left unread (tar padding), then compares size and digest. */
static int hashed_finish(struct hashed_src *h, const struct img_desc *d, struct err **err)
{
	char hex[IMG_HEX_LEN + 1];
	const void *buf;
	ssize_t n;

	while ((n = hashed_pull(h, &buf)) > 0)
		;
	if (n == -EFBIG)
		return err_set(err, EBADMSG, "blob %s: larger than the descriptor's %" PRIu64 " bytes",
			       d->digest, d->size);
	if (n < 0)
		return err_set(err, (int)-n, "read blob %s", d->digest);
	if (h->count != d->size)
		return err_set(err, EBADMSG, "blob %s: %" PRIu64 " bytes, the descriptor says %" PRIu64,
			       d->digest, h->count, d->size);
	img_md_hex(h->md, hex);
	if (strcmp(hex, d->hex) != 0)
		return err_set(err, EBADMSG, "blob %s: digest mismatch, content hashes to sha256:%s",
			       d->digest, hex);
	return 0;
}

/* The decompressed stream between the two readers: the tar reader pulls from the filter reader
 * (gzip, zstd or none, "raw" format), every byte counted and hashed for the diff_id. */
struct tar_src {
	struct archive *outer;
	EVP_MD_CTX *md;
	uint64_t count, max;
	bool empty;			/* the blob had no bytes at all */
	char diff_hex[IMG_HEX_LEN + 1]; /* what the decompressed stream hashed to */
	char buf[READ_CHUNK];
};

static la_ssize_t tar_read(struct archive *inner, void *data, const void **ret_buf)
{
	struct tar_src *t = data;
	la_ssize_t n = t->empty ? 0 : archive_read_data(t->outer, t->buf, sizeof(t->buf));

	*ret_buf = t->buf;
	if (n < 0) {
		archive_set_error(
		    inner, archive_errno(t->outer) > 0 ? archive_errno(t->outer) : EBADMSG, "%s",
		    archive_error_string(t->outer) ? archive_error_string(t->outer) : "decompress");
		return -1;
	}
	t->count += (uint64_t)n;
	if (t->count > t->max) {
		archive_set_error(inner, EFBIG,
				  "the uncompressed layer passes %" PRIu64 " bytes (--image-max-unpacked)",
				  t->max);
		return -1;
	}
	if (n > 0 && EVP_DigestUpdate(t->md, t->buf, (size_t)n) != 1) {
		archive_set_error(inner, EIO, "sha256 failed");
		return -1;
	}
	return n;
}

static int archive_fail(struct archive *a, const char *what, struct err **err)
{
	return err_set(err, archive_errno(a) > 0 ? archive_errno(a) : EBADMSG, "%s: %s", what,
		       archive_error_string(a) ? archive_error_string(a) : "unknown error");
}

/* The filter reader over the hashed blob: one "raw" entry, the decompressed tar. */
static int open_outer(struct hashed_src *h, struct tar_src *t, struct err **err)
{
	struct archive_entry *e;
	int r;

	t->outer = archive_read_new();
	if (!t->outer || archive_read_support_filter_none(t->outer) != ARCHIVE_OK ||
	    archive_read_support_filter_gzip(t->outer) != ARCHIVE_OK ||
	    archive_read_support_filter_zstd(t->outer) != ARCHIVE_OK ||
	    archive_read_support_format_raw(t->outer) != ARCHIVE_OK)
		return err_set(err, ENOTSUP, "libarchive without built-in gzip/zstd");
	if (archive_read_open(t->outer, h, NULL, hashed_read, NULL) != ARCHIVE_OK)
		return archive_fail(t->outer, "open", err);
	r = archive_read_next_header(t->outer, &e);
	if (r == ARCHIVE_EOF)
		t->empty = true;
	else if (r < ARCHIVE_WARN)
		return archive_fail(t->outer, "open", err);
	return 0;
}

/* Reads the rest of the decompressed stream (end-of-archive blocks, padding) into the diff_id,
 * then compares it with the config's. */
static int diff_finish(struct tar_src *t, const struct img_desc *d, struct err **err)
{
	char hex[IMG_HEX_LEN + 1];
	la_ssize_t n = 0;

	while (!t->empty && (n = archive_read_data(t->outer, t->buf, sizeof(t->buf))) > 0) {
		t->count += (uint64_t)n;
		if (t->count > t->max)
			return err_set(
			    err, EFBIG,
			    "the uncompressed layer passes %" PRIu64 " bytes (--image-max-unpacked)", t->max);
		if (EVP_DigestUpdate(t->md, t->buf, (size_t)n) != 1)
			return err_set(err, EIO, "sha256 failed");
	}
	if (!t->empty && n < 0)
		return archive_fail(t->outer, "decompress", err);
	img_md_hex(t->md, hex);
	if (d->diff_hex[0] && strcmp(hex, d->diff_hex) != 0)
		return err_set(err, EBADMSG,
			       "diff_id mismatch: the uncompressed layer hashes to sha256:%s, "
			       "the config says sha256:%s",
			       hex, d->diff_hex);
	memcpy(t->diff_hex, hex, sizeof(hex));
	return 0;
}

static int unpack_tar(struct tar_src *t, int dest, struct img_budget *b, struct err **err)
{
	_cleanup_archive_ struct archive *a = archive_read_new();

	if (!a || archive_read_support_filter_none(a) != ARCHIVE_OK ||
	    archive_read_support_format_tar(a) != ARCHIVE_OK)
		return err_set(err, ENOMEM, "libarchive reader");
	if (archive_read_open(a, t, NULL, tar_read, NULL) != ARCHIVE_OK)
		return archive_fail(a, "open", err);
	return img_unpack_archive(a, dest, b, err);
}

/* A failed unpack usually shows up as a broken tar stream: a wrong blob or a broken transfer
 * explains it better. */
static int explain_failure(struct hashed_src *h, const struct img_desc *d, struct err **err)
{
	_cleanup_err_ struct err *verr = NULL;
	int errnum = err && *err ? (*err)->errnum : EIO;

	if (h->src_error < 0)
		return err_set(err, -h->src_error, "layer %s: the blob stream broke", d->digest);
	if (errnum != EFBIG && errnum != E2BIG && errnum != ENOSPC && hashed_finish(h, d, &verr) < 0 &&
	    h->src_error == 0) {
		err_free(err);
		return err_set(err, verr->errnum, "%s", err_msg(verr));
	}
	if (h->src_error < 0)
		return err_set(err, -h->src_error, "layer %s: the blob stream broke", d->digest);
	return err_wrap(err, "layer %s", d->digest);
}

static int unpack_verified(struct img_store *s, struct img_src *src, int dest, const struct img_desc *d,
			   struct err **err)
{
	_cleanup_md_ EVP_MD_CTX *md = EVP_MD_CTX_new(), *dmd = EVP_MD_CTX_new();
	_cleanup_free_ struct tar_src *t = calloc(1, sizeof(*t));
	struct img_budget b = {.limits = &s->limits, .used = &s->unpacked};
	struct hashed_src h;
	int r;

	if (!md || !dmd || !t || EVP_DigestInit_ex(md, EVP_sha256(), NULL) != 1 ||
	    EVP_DigestInit_ex(dmd, EVP_sha256(), NULL) != 1)
		return err_set(err, ENOMEM, "layer %s: allocate", d->digest);
	h = (struct hashed_src){.src = src, .md = md, .limit = d->size};
	*t = (struct tar_src){.md = dmd, .max = s->limits.max_unpacked};
	r = open_outer(&h, t, err);
	if (r >= 0)
		r = unpack_tar(t, dest, &b, err);
	if (r >= 0)
		r = diff_finish(t, d, err);
	if (r < 0)
		r = explain_failure(&h, d, err);
	else
		r = hashed_finish(&h, d, err);
	/* the layer remembers its diff_id, so a later config naming the same blob is checked too;
	 * best effort: without CAP_SYS_ADMIN or xattrs that later check is skipped */
	if (r >= 0)
		(void)fsetxattr(dest, DIFF_XATTR, t->diff_hex, IMG_HEX_LEN, 0);
	if (t->outer)
		(void)archive_read_free(t->outer); /* read side: nothing is lost on a failed free */
	if (r < 0 && h.src_error < 0)
		return err_set(err, -h.src_error, "layer %s: the blob stream broke", d->digest);
	return r;
}

struct fd_src {
	int fd;
	char buf[READ_CHUNK];
};

static ssize_t fd_src_read(void *ctx, const void **ret_buf)
{
	struct fd_src *f = ctx;
	ssize_t n;

	do
		n = read(f->fd, f->buf, sizeof(f->buf));
	while (n < 0 && errno == EINTR);
	*ret_buf = f->buf;
	return n < 0 ? -errno : n;
}

static int tmp_name(const char *hex, char *buf, size_t size)
{
	int n = snprintf(buf, size, TMP_PREFIX "%s-%d", hex, (int)getpid());

	return n < 0 || (size_t)n >= size ? -ENAMETOOLONG : 0;
}

/* Unpacks one layer from src into layers/.tmp-<hex>-<pid>; on failure the tmp dir is gone. */
static int src_to_tmp(struct img_store *s, struct img_src *src, const struct img_desc *d, struct err **err)
{
	_cleanup_close_ int dfd = -1;
	char tmp[NAME_MAX + 1];
	int r;

	r = tmp_name(d->hex, tmp, sizeof(tmp));
	if (r < 0)
		return err_set(err, -r, "layer %s: tmp name", d->digest);
	(void)fs_rm_rf(s->layersfd, tmp); /* left by an earlier run with our pid; mkdirat reports trouble */
	if (mkdirat(s->layersfd, tmp, 0755) < 0)
		return err_set(err, errno, "layer %s: create '%s'", d->digest, tmp);
	dfd = openat(s->layersfd, tmp, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (dfd < 0)
		r = err_set(err, errno, "layer %s: open '%s'", d->digest, tmp);
	else
		r = unpack_verified(s, src, dfd, d, err);
	if (r >= 0 && syncfs(dfd) < 0)
		r = err_set(err, errno, "layer %s: sync", d->digest);
	if (r < 0)
		(void)fs_rm_rf(s->layersfd, tmp); /* best effort; img_store_open sweeps leftovers */
	return r;
}

static int unpack_to_tmp(struct img_store *s, int layoutfd, const struct img_desc *d, struct err **err)
{
	_cleanup_close_ int blobfd = -1;
	_cleanup_free_ struct fd_src *f = NULL;
	struct img_src src;
	int r;

	r = img_blob_open(layoutfd, d, &blobfd, err);
	if (r < 0)
		return r;
	f = malloc(sizeof(*f));
	if (!f)
		return err_set(err, ENOMEM, "layer %s: allocate", d->digest);
	f->fd = blobfd;
	src = (struct img_src){.read = fd_src_read, .ctx = f};
	return src_to_tmp(s, &src, d, err);
}

int img_store_put_layer(struct img_store *s, const struct img_desc *d, struct img_src *src, struct err **err)
{
	char tmp[NAME_MAX + 1];
	int r;

	r = src_to_tmp(s, src, d, err);
	if (r < 0)
		return r;
	if (tmp_name(d->hex, tmp, sizeof(tmp)) < 0)
		return err_set(err, ENAMETOOLONG, "layer %s: tmp name", d->digest);
	if (renameat(s->layersfd, tmp, s->layersfd, d->hex) < 0) {
		r = errno;
		(void)fs_rm_rf(s->layersfd, tmp); /* best effort; swept on the next open */
		if (r != EEXIST && r != ENOTEMPTY)
			return err_set(err, r, "layer %s: commit", d->digest);
	}
	if (fsync(s->layersfd) < 0)
		return err_set(err, errno, "layer store: sync '%s/layers'", s->root);
	return 0;
}

static void drop_tmps(struct img_store *s, const struct img_desc *layers, size_t n)
{
	char tmp[NAME_MAX + 1];

	for (size_t i = 0; i < n; i++)
		if (tmp_name(layers[i].hex, tmp, sizeof(tmp)) == 0)
			(void)fs_rm_rf(s->layersfd, tmp); /* best effort; img_store_open sweeps leftovers */
}

static bool listed_before(const struct img_desc *layers, size_t i)
{
	for (size_t j = 0; j < i; j++)
		if (strcmp(layers[j].hex, layers[i].hex) == 0)
			return true;
	return false;
}

int img_store_add_layers(struct img_store *s, int layoutfd, const struct img_desc *layers, size_t n,
			 struct err **err)
{
	char tmp[NAME_MAX + 1];
	int r;

	/* phase 1: unpack and verify every missing layer; nothing is visible in layers/ yet */
	for (size_t i = 0; i < n; i++) {
		if (listed_before(layers, i) || img_store_has_layer(s, layers[i].hex))
			continue;
		r = unpack_to_tmp(s, layoutfd, &layers[i], err);
		if (r < 0) {
			drop_tmps(s, layers, i);
			return r;
		}
	}
	/* phase 2: commit them by rename; a layer committed meanwhile by someone else wins */
	for (size_t i = 0; i < n; i++) {
		if (tmp_name(layers[i].hex, tmp, sizeof(tmp)) < 0 ||
		    faccessat(s->layersfd, tmp, F_OK, AT_SYMLINK_NOFOLLOW) < 0)
			continue;
		if (renameat(s->layersfd, tmp, s->layersfd, layers[i].hex) < 0) {
			if (errno != EEXIST && errno != ENOTEMPTY) {
				r = err_set(err, errno, "layer %s: commit", layers[i].digest);
				drop_tmps(s, layers, n);
				return r;
			}
			(void)fs_rm_rf(s->layersfd, tmp); /* best effort; swept on the next open */
		}
	}
	if (fsync(s->layersfd) < 0)
		return err_set(err, errno, "layer store: sync '%s/layers'", s->root);
	return 0;
}

/* A layer already in the store was hashed when it was unpacked; the config must agree. */
static int check_stored_diff_id(const struct img_store *s, const struct img_desc *d, struct err **err)
{
	_cleanup_close_ int fd = -1;
	char hex[IMG_HEX_LEN + 1] = "";
	ssize_t n;

	if (!d->diff_hex[0])
		return 0;
	fd = openat(s->layersfd, d->hex, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return 0; /* not there (any more): it is unpacked and checked then */
	n = fgetxattr(fd, DIFF_XATTR, hex, IMG_HEX_LEN);
	if (n != IMG_HEX_LEN)
		return 0; /* a layer from before diff_ids were kept */
	if (strcmp(hex, d->diff_hex) != 0)
		return err_set(err, EBADMSG,
			       "layer %s: diff_id mismatch: its uncompressed tar hashes to sha256:%s, "
			       "the config says sha256:%s",
			       d->digest, hex, d->diff_hex);
	return 0;
}

int img_store_check_layers(struct img_store *s, const struct img_desc *layers, size_t n, struct err **err)
{
	uint64_t total = 0, missing = 0;
	int r;

	for (size_t i = 0; i < n; i++) {
		r = check_stored_diff_id(s, &layers[i], err);
		if (r < 0)
			return r;
		if (layers[i].size > s->limits.max_layer_size)
			return err_set(err, EFBIG,
				       "layer %s: %" PRIu64
				       " bytes, more than --image-max-layer-size (%" PRIu64 ")",
				       layers[i].digest, layers[i].size, s->limits.max_layer_size);
		if (listed_before(layers, i))
			continue;
		total = total + layers[i].size < total ? UINT64_MAX : total + layers[i].size;
		if (!img_store_has_layer(s, layers[i].hex))
			missing = missing + layers[i].size < missing ? UINT64_MAX : missing + layers[i].size;
	}
	if (total > s->limits.max_size)
		return err_set(err, EFBIG,
			       "the image's layers declare %" PRIu64
			       " bytes, more than --image-max-size (%" PRIu64 ")",
			       total, s->limits.max_size);
	return img_space_check(s->layersfd, missing, s->limits.min_free, "pull", err);
}

int img_store_layer_dirs(const struct img_store *s, char *const *hexes, size_t n, struct img_image *img)
{
	img->layer_dirs = calloc(n + 1, sizeof(*img->layer_dirs));
	if (!img->layer_dirs)
		return -ENOMEM;
	img->n_layers = n;
	for (size_t i = 0; i < n; i++)
		if (asprintf(&img->layer_dirs[i], "%s/layers/%s", s->root, hexes[i]) < 0) {
			img->layer_dirs[i] = NULL;
			return -ENOMEM;
		}
	return 0;
}
