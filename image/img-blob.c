/* Descriptors and blobs of an OCI image layout: every blob is checked against the size and
 * sha256 digest its descriptor promises before any of it is trusted. */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <linux/openat2.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <jansson.h>
#include <openssl/evp.h>

#include "common/cleanup.h"
#include "common/fs.h"
#include "image/img-internal.h"

void img_md_hex(EVP_MD_CTX *md, char ret_hex[IMG_HEX_LEN + 1])
{
	unsigned char raw[EVP_MAX_MD_SIZE];
	unsigned int len = 0;

	if (EVP_DigestFinal_ex(md, raw, &len) != 1 || len != IMG_HEX_LEN / 2) {
		/* cannot happen with sha256; an impossible digest can never match a real one */
		memset(ret_hex, 'x', IMG_HEX_LEN);
		ret_hex[IMG_HEX_LEN] = '\0';
		return;
	}
	for (unsigned int i = 0; i < len; i++)
		snprintf(ret_hex + 2 * i, 3, "%02x", raw[i]);
}

void img_desc_done(struct img_desc *d)
{
	free(d->media_type);
	free(d->digest);
	d->media_type = NULL;
	d->digest = NULL;
}

int img_desc_parse(json_t *j, const char *what, struct img_desc *ret, struct err **err)
{
	struct img_desc d = {0};
	json_t *mt, *dg, *sz;
	int r;

	if (!json_is_object(j))
		return err_set(err, EINVAL, "%s: descriptor is not an object", what);
	mt = json_object_get(j, "mediaType");
	dg = json_object_get(j, "digest");
	sz = json_object_get(j, "size");
	if (mt && !json_is_string(mt))
		return err_set(err, EINVAL, "%s: 'mediaType' is not a string", what);
	if (!json_is_string(dg))
		return err_set(err, EINVAL, "%s: 'digest' is missing or not a string", what);
	if (!json_is_integer(sz) || json_integer_value(sz) < 0)
		return err_set(err, EINVAL, "%s: 'size' is missing or not a non-negative integer", what);
	r = img_digest_parse(json_string_value(dg), d.hex, err);
	if (r < 0)
		return err_wrap(err, "%s", what);
	d.size = (uint64_t)json_integer_value(sz);
	d.digest = strdup(json_string_value(dg));
	d.media_type = mt ? strdup(json_string_value(mt)) : NULL;
	if (!d.digest || (mt && !d.media_type)) {
		img_desc_done(&d);
		return err_set(err, ENOMEM, "%s: descriptor", what);
	}
	*ret = d;
	return 0;
}

int img_open_beneath(int dirfd, const char *name, int flags)
{
	struct open_how how = {
	    /* openat2 refuses O_PATH with any flag it ignores, O_NOCTTY included */
	    .flags = (uint64_t)(flags | O_CLOEXEC | (flags & O_PATH ? 0 : O_NOCTTY)),
	    .resolve = RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS,
	};
	long fd;
	int tries = 0;

	do
		fd = syscall(SYS_openat2, dirfd, name, &how, sizeof(how));
	while (fd < 0 && (errno == EINTR || (errno == EAGAIN && ++tries < 16)));
	return fd < 0 ? -errno : (int)fd;
}

int img_open_regular(int dirfd, const char *name, int *ret_fd, struct err **err)
{
	_cleanup_close_ int pfd = -1, fd = -1;
	char self[64];
	struct stat st, st2;

	/* an O_PATH fd opens nothing: a FIFO or a device is never opened, only looked at */
	pfd = img_open_beneath(dirfd, name, O_PATH);
	if (pfd < 0)
		return err_set(err, -pfd, "open '%s'%s", name,
			       pfd == -ELOOP || pfd == -EXDEV ? ": a symlink, refused" : "");
	if (fstat(pfd, &st) < 0)
		return err_set(err, errno, "stat '%s'", name);
	if (!S_ISREG(st.st_mode))
		return err_set(err, EINVAL, "'%s' is not a regular file", name);
	snprintf(self, sizeof(self), "/proc/self/fd/%d", pfd);
	fd = open(self, O_RDONLY | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
	if (fd < 0)
		return err_set(err, errno, "open '%s'", name);
	if (fstat(fd, &st2) < 0 || st2.st_ino != st.st_ino || st2.st_dev != st.st_dev)
		return err_set(err, EIO, "open '%s': it changed while opened", name);
	*ret_fd = TAKE_FD(fd);
	return 0;
}

int img_blob_open(int layoutfd, const struct img_desc *d, int *ret_fd, struct err **err)
{
	char path[sizeof("blobs/sha256/") + IMG_HEX_LEN];
	_cleanup_close_ int fd = -1;
	struct stat st;
	int r;

	snprintf(path, sizeof(path), "blobs/sha256/%s", d->hex);
	r = img_open_regular(layoutfd, path, &fd, err);
	if (r < 0)
		return err_wrap(err, "blob %s", d->digest);
	if (fstat(fd, &st) < 0)
		return err_set(err, errno, "blob %s: stat", d->digest);
	if ((uint64_t)st.st_size != d->size)
		return err_set(err, EBADMSG, "blob %s: size %lld does not match the descriptor's %" PRIu64,
			       d->digest, (long long)st.st_size, d->size);
	*ret_fd = TAKE_FD(fd);
	return 0;
}

static int read_exact(int fd, char *buf, size_t len)
{
	size_t got = 0;

	while (got < len) {
		ssize_t n = read(fd, buf + got, len - got);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		if (n == 0)
			return -EBADMSG; /* the file shrank under us */
		got += (size_t)n;
	}
	return 0;
}

int img_blob_read(int layoutfd, const struct img_desc *d, size_t max, char **ret_buf, struct err **err)
{
	_cleanup_close_ int fd = -1;
	_cleanup_free_ char *buf = NULL;
	_cleanup_md_ EVP_MD_CTX *md = NULL;
	char hex[IMG_HEX_LEN + 1], extra;
	int r;

	if (d->size > max)
		return err_set(err, EFBIG, "blob %s: %" PRIu64 " bytes, more than the %zu allowed", d->digest,
			       d->size, max);
	r = img_blob_open(layoutfd, d, &fd, err);
	if (r < 0)
		return r;
	buf = malloc(d->size + 1);
	md = EVP_MD_CTX_new();
	if (!buf || !md || EVP_DigestInit_ex(md, EVP_sha256(), NULL) != 1)
		return err_set(err, ENOMEM, "blob %s: allocate", d->digest);
	r = read_exact(fd, buf, d->size);
	if (r < 0)
		return err_set(err, -r, "blob %s: read", d->digest);
	if (read(fd, &extra, 1) > 0)
		return err_set(err, EBADMSG, "blob %s: larger than the descriptor's %" PRIu64 " bytes",
			       d->digest, d->size);
	buf[d->size] = '\0';
	if (EVP_DigestUpdate(md, buf, d->size) != 1)
		return err_set(err, EIO, "blob %s: sha256 failed", d->digest);
	img_md_hex(md, hex);
	if (strcmp(hex, d->hex) != 0)
		return err_set(err, EBADMSG, "blob %s: digest mismatch, content hashes to sha256:%s",
			       d->digest, hex);
	*ret_buf = TAKE_PTR(buf);
	return 0;
}

int img_json_parse(const char *buf, const char *what, json_t **ret, struct err **err)
{
	json_error_t jerr;
	json_t *j;

	j = json_loads(buf, JSON_REJECT_DUPLICATES, &jerr);
	if (!j)
		return err_set(err, EBADMSG, "parse %s %d:%d: %s", what, jerr.line, jerr.column, jerr.text);
	if (!json_is_object(j)) {
		json_decref(j);
		return err_set(err, EBADMSG, "%s is not a JSON object", what);
	}
	*ret = j;
	return 0;
}
