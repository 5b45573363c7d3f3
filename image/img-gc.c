/* The store's bookkeeping: STORE/lock (shared while resolving or importing, exclusive while
 * pruning, so a layer a pull is about to use is never removed), lock files per layer and per
 * image, STORE/refs.json (reference -> manifest digest, rewritten atomically under
 * STORE/refs.lock), and ls, rm and prune. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "common/cleanup.h"
#include "common/fs.h"
#include "image/img-reg-internal.h"

#define REFS_FILE "refs.json"
#define REFS_MAX (16 * 1024 * 1024)
#define RECORD_MAX (1024 * 1024)
#define LOCK_PREFIX ".lock-"

static int lock_at(int dirfd, const char *name, int op, int *ret_fd)
{
	_cleanup_close_ int fd = -1;

	fd = openat(dirfd, name, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd < 0)
		return -errno;
	while (flock(fd, op) < 0)
		if (errno != EINTR)
			return -errno;
	*ret_fd = TAKE_FD(fd);
	return 0;
}

int img_store_lock(struct img_store *s, bool exclusive, int *ret_fd, struct err **err)
{
	int r = lock_at(s->rootfd, "lock", exclusive ? LOCK_EX : LOCK_SH, ret_fd);

	if (r < 0)
		return err_set(err, -r, "image store: lock '%s/lock'", s->root);
	return 0;
}

int img_lock_file(int dirfd, const char *name, int *ret_fd, struct err **err)
{
	char path[NAME_MAX + 1];
	int r;

	if ((size_t)snprintf(path, sizeof(path), LOCK_PREFIX "%s", name) >= sizeof(path))
		return err_set(err, ENAMETOOLONG, "lock name '%s'", name);
	r = lock_at(dirfd, path, LOCK_EX, ret_fd);
	if (r < 0)
		return err_set(err, -r, "image store: lock '%s'", path);
	return 0;
}

/* refs.json's "refs" object (a new empty one when there is no file). */
static int refs_load(struct img_store *s, json_t **ret, struct err **err)
{
	_cleanup_free_ char *text = NULL;
	_cleanup_json_ json_t *doc = NULL;
	json_t *refs;
	int r;

	r = fs_read_file(s->rootfd, REFS_FILE, REFS_MAX, &text, NULL, NULL);
	if (r == -ENOENT) {
		*ret = json_object();
		return *ret ? 0 : err_set(err, ENOMEM, "refs");
	}
	if (r < 0)
		return err_set(err, -r, "image store: read '%s/%s'", s->root, REFS_FILE);
	r = img_json_parse(text, REFS_FILE, &doc, err);
	if (r < 0)
		return r;
	refs = json_object_get(doc, "refs");
	if (!json_is_object(refs))
		return err_set(err, EBADMSG, "image store: '%s/%s' has no \"refs\" object", s->root,
			       REFS_FILE);
	*ret = json_incref(refs);
	return 0;
}

static int refs_save(struct img_store *s, json_t *refs, struct err **err)
{
	_cleanup_json_ json_t *doc = json_pack("{s:O}", "refs", refs);
	_cleanup_free_ char *text = doc ? json_dumps(doc, JSON_COMPACT | JSON_SORT_KEYS) : NULL;

	if (!text)
		return err_set(err, ENOMEM, "refs");
	return fs_write_atomic(s->rootfd, REFS_FILE, text, strlen(text), 0600, 0, err);
}

int img_store_commit(struct img_store *s, const struct img_image *img, const char *ref, struct err **err)
{
	_cleanup_close_ int lockfd = -1;
	_cleanup_json_ json_t *refs = NULL;
	const char *cur;
	int r;

	r = lock_at(s->rootfd, "refs.lock", LOCK_EX, &lockfd);
	if (r < 0)
		return err_set(err, -r, "image store: lock refs");
	r = img_store_save_image(s, img, err);
	if (r < 0 || !ref)
		return r;
	r = refs_load(s, &refs, err);
	if (r < 0)
		return r;
	cur = json_string_value(json_object_get(refs, ref));
	if (cur && strcmp(cur, img->manifest_digest) == 0)
		return 0;
	if (json_object_set_new(refs, ref, json_string(img->manifest_digest)) < 0)
		return err_set(err, ENOMEM, "refs");
	return refs_save(s, refs, err);
}

void img_store_touch_image(struct img_store *s, const char *manifest_hex)
{
	char name[IMG_HEX_LEN + sizeof(".json")];

	snprintf(name, sizeof(name), "%s.json", manifest_hex);
	(void)utimensat(s->imagesfd, name, NULL, 0); /* best effort: only prune's grace uses it */
}

json_t *img_store_refs_of(struct img_store *s, const char *manifest_digest)
{
	_cleanup_json_ json_t *refs = NULL;
	json_t *out = json_array(), *v;
	const char *k;

	if (!out || refs_load(s, &refs, NULL) < 0)
		return out;
	json_object_foreach (refs, k, v)
		if (json_is_string(v) && strcmp(json_string_value(v), manifest_digest) == 0)
			json_array_append_new(out, json_string(k));
	return out;
}

/* Bytes on disk below dirfd/name (st_blocks), without following symlinks or crossing mounts. */
static uint64_t du_at(int pfd, const char *name, dev_t dev, int depth)
{
	_cleanup_closedir_ DIR *d = NULL;
	struct dirent *de;
	struct stat st;
	uint64_t sum;
	int fd;

	if (fstatat(pfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
		return 0;
	sum = (uint64_t)st.st_blocks * 512;
	if (!S_ISDIR(st.st_mode) || depth > 256 || (dev && st.st_dev != dev))
		return sum;
	fd = openat(pfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0 || !(d = fdopendir(fd))) {
		if (fd >= 0)
			(void)close(fd);
		return sum;
	}
	while ((de = readdir(d)))
		if (strcmp(de->d_name, ".") != 0 && strcmp(de->d_name, "..") != 0)
			sum += du_at(dirfd(d), de->d_name, st.st_dev, depth + 1);
	return sum;
}

static bool is_record_name(const char *name, char hex[IMG_HEX_LEN + 1])
{
	if (strlen(name) != IMG_HEX_LEN + 5 || strcmp(name + IMG_HEX_LEN, ".json") != 0 ||
	    strspn(name, "0123456789abcdef") != IMG_HEX_LEN)
		return false;
	memcpy(hex, name, IMG_HEX_LEN);
	hex[IMG_HEX_LEN] = '\0';
	return true;
}

static int load_record(struct img_store *s, const char *name, json_t **ret)
{
	_cleanup_free_ char *text = NULL;

	if (fs_read_file(s->imagesfd, name, RECORD_MAX, &text, NULL, NULL) < 0)
		return -ENOENT;
	return img_json_parse(text, name, ret, NULL);
}

static DIR *open_dir(int dirfd)
{
	int fd = openat(dirfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	DIR *d;

	if (fd < 0)
		return NULL;
	d = fdopendir(fd);
	if (!d)
		(void)close(fd);
	return d;
}

static json_t *list_entry(struct img_store *s, json_t *rec, json_t *refs, const char *digest)
{
	json_t *layers = json_object_get(rec, "layers"), *it, *names = json_array();
	uint64_t size = 0;
	const char *k;
	size_t i;

	json_array_foreach (layers, i, it)
		if (json_is_string(it))
			size += du_at(s->layersfd, json_string_value(it), 0, 0);
	json_object_foreach (refs, k, it)
		if (json_is_string(it) && strcmp(json_string_value(it), digest) == 0)
			json_array_append_new(names, json_string(k));
	return json_pack("{s:o, s:s, s:I, s:I}", "refs", names, "digest", digest, "size", (json_int_t)size,
			 "layers", (json_int_t)json_array_size(layers));
}

int img_store_list(struct img_store *s, json_t **ret, struct err **err)
{
	_cleanup_closedir_ DIR *d = open_dir(s->imagesfd);
	_cleanup_json_ json_t *refs = NULL, *out = json_array();
	char hex[IMG_HEX_LEN + 1], digest[IMG_HEX_LEN + 8];
	struct dirent *de;
	int r;

	if (!d || !out)
		return err_set(err, errno ? errno : ENOMEM, "image store: list '%s/images'", s->root);
	r = refs_load(s, &refs, err);
	if (r < 0)
		return r;
	while ((de = readdir(d))) {
		_cleanup_json_ json_t *rec = NULL;
		if (!is_record_name(de->d_name, hex) || load_record(s, de->d_name, &rec) < 0)
			continue;
		snprintf(digest, sizeof(digest), "sha256:%s", hex);
		json_array_append_new(out, list_entry(s, rec, refs, digest));
	}
	*ret = TAKE_PTR(out);
	return 0;
}

/* Drops every ref naming digest; true if one was there. */
static bool drop_refs_to(json_t *refs, const char *digest)
{
	bool any = false;
	const char *k;
	json_t *v;
	void *tmp;

	json_object_foreach_safe (refs, tmp, k, v)
		if (json_is_string(v) && strcmp(json_string_value(v), digest) == 0) {
			json_object_del(refs, k);
			any = true;
		}
	return any;
}

static bool digest_named(json_t *refs, const char *digest)
{
	const char *k;
	json_t *v;

	json_object_foreach (refs, k, v)
		if (json_is_string(v) && strcmp(json_string_value(v), digest) == 0)
			return true;
	return false;
}

static int remove_record(struct img_store *s, const char *digest, struct err **err)
{
	char name[IMG_HEX_LEN + sizeof(".json")];

	snprintf(name, sizeof(name), "%s.json", digest + strlen("sha256:"));
	if (unlinkat(s->imagesfd, name, 0) < 0 && errno != ENOENT)
		return err_set(err, errno, "image store: remove record %s", digest);
	return 0;
}

int img_store_remove_ref(struct img_store *s, const char *ref, struct err **err)
{
	_cleanup_close_ int lockfd = -1;
	_cleanup_json_ json_t *refs = NULL;
	_cleanup_free_ char *canon = NULL, *digest = NULL;
	char hex[IMG_HEX_LEN + 1];
	int r;

	if (strncmp(ref, "sha256:", 7) == 0) {
		r = img_digest_parse(ref, hex, err);
		if (r >= 0 && !(digest = strdup(ref)))
			r = err_set(err, ENOMEM, "rm");
	} else {
		r = img_ref_canonical(ref, &canon, err);
	}
	if (r < 0)
		return r;
	r = lock_at(s->rootfd, "refs.lock", LOCK_EX, &lockfd);
	if (r < 0)
		return err_set(err, -r, "image store: lock refs");
	r = refs_load(s, &refs, err);
	if (r < 0)
		return r;
	if (canon) {
		const char *v = json_string_value(json_object_get(refs, canon));
		if (!v)
			return err_set(err, ENOENT, "image '%s' is not in the store", canon);
		if (!(digest = strdup(v)))
			return err_set(err, ENOMEM, "rm");
		json_object_del(refs, canon);
	} else {
		char name[IMG_HEX_LEN + sizeof(".json")];
		snprintf(name, sizeof(name), "%s.json", hex);
		if (!drop_refs_to(refs, digest) && faccessat(s->imagesfd, name, F_OK, 0) < 0)
			return err_set(err, ENOENT, "image %s is not in the store", digest);
	}
	r = refs_save(s, refs, err);
	if (r >= 0 && !digest_named(refs, digest))
		r = remove_record(s, digest, err);
	return r;
}

struct prune_stats {
	json_int_t images, layers, bytes;
};

static bool in_list(char *const *list, const char *s)
{
	for (char *const *i = list; i && *i; i++)
		if (strcmp(*i, s) == 0)
			return true;
	return false;
}

static bool kept(const struct stat *st, const struct timespec *start, char *const *keep, const char *digest)
{
	if (in_list(keep, digest))
		return true;
	return st->st_mtim.tv_sec > start->tv_sec ||
	       (st->st_mtim.tv_sec == start->tv_sec && st->st_mtim.tv_nsec >= start->tv_nsec);
}

/* Removes records not kept (only the one named `only`, when set) and their refs; collects the
 * layers the remaining ones use. */
static int prune_records(struct img_store *s, char *const *keep, const struct timespec *start,
			 const char *only, json_t *refs, json_t *used, struct prune_stats *st,
			 struct err **err)
{
	_cleanup_closedir_ DIR *d = open_dir(s->imagesfd);
	char hex[IMG_HEX_LEN + 1], digest[IMG_HEX_LEN + 8];
	struct dirent *de;
	struct stat sb;

	if (!d)
		return err_set(err, errno, "image store: list '%s/images'", s->root);
	while ((de = readdir(d))) {
		_cleanup_json_ json_t *rec = NULL;
		json_t *it;
		size_t i;

		if (!is_record_name(de->d_name, hex) || fstatat(s->imagesfd, de->d_name, &sb, 0) < 0)
			continue;
		snprintf(digest, sizeof(digest), "sha256:%s", hex);
		if ((kept(&sb, start, keep, digest) || (only && strcmp(only, de->d_name) != 0)) &&
		    load_record(s, de->d_name, &rec) == 0) {
			json_array_foreach (json_object_get(rec, "layers"), i, it)
				if (json_is_string(it))
					json_object_set(used, json_string_value(it), json_true());
			continue;
		}
		if (unlinkat(s->imagesfd, de->d_name, 0) < 0)
			return err_set(err, errno, "image store: remove record %s", digest);
		(void)drop_refs_to(refs, digest); /* whether or not a ref named it */
		st->images++;
		st->bytes += (json_int_t)sb.st_blocks * 512;
	}
	return 0;
}

/* The record of the least recently used image not kept (records are touched on every use). */
static bool oldest_unkept(struct img_store *s, char *const *keep, const struct timespec *start,
			  char ret_name[IMG_HEX_LEN + 8])
{
	_cleanup_closedir_ DIR *d = open_dir(s->imagesfd);
	char hex[IMG_HEX_LEN + 1], digest[IMG_HEX_LEN + 8];
	struct timespec best = {0};
	struct dirent *de;
	struct stat sb;
	bool found = false;

	while (d && (de = readdir(d))) {
		if (!is_record_name(de->d_name, hex) || fstatat(s->imagesfd, de->d_name, &sb, 0) < 0)
			continue;
		snprintf(digest, sizeof(digest), "sha256:%s", hex);
		if (kept(&sb, start, keep, digest))
			continue;
		if (!found || sb.st_mtim.tv_sec < best.tv_sec ||
		    (sb.st_mtim.tv_sec == best.tv_sec && sb.st_mtim.tv_nsec < best.tv_nsec)) {
			best = sb.st_mtim;
			snprintf(ret_name, IMG_HEX_LEN + 8, "%.71s", de->d_name);
			found = true;
		}
	}
	return found;
}

static int fs_percent_used(int fd)
{
	struct statvfs v;

	if (fstatvfs(fd, &v) < 0 || v.f_blocks == 0)
		return -1;
	return (int)(100 * (v.f_blocks - v.f_bavail) / v.f_blocks);
}

/* Removes every layer no kept record uses, and the lock files nobody can hold now. */
static int prune_layers(struct img_store *s, json_t *used, struct prune_stats *st, struct err **err)
{
	_cleanup_closedir_ DIR *d = open_dir(s->layersfd);
	struct dirent *de;

	if (!d)
		return err_set(err, errno, "image store: list '%s/layers'", s->root);
	while ((de = readdir(d))) {
		uint64_t size;
		int r;

		if (strncmp(de->d_name, LOCK_PREFIX, strlen(LOCK_PREFIX)) == 0) {
			(void)unlinkat(s->layersfd, de->d_name, 0); /* no pull runs: nobody holds it */
			continue;
		}
		if (de->d_name[0] == '.' || strlen(de->d_name) != IMG_HEX_LEN ||
		    json_object_get(used, de->d_name))
			continue;
		size = du_at(s->layersfd, de->d_name, 0, 0);
		r = fs_rm_rf(s->layersfd, de->d_name);
		if (r < 0)
			return err_set(err, -r, "image store: remove layer %s", de->d_name);
		st->layers++;
		st->bytes += (json_int_t)size;
	}
	return 0;
}

/* One pass: drop records (all unkept, or just `only`), save refs, drop unused layers. */
static int prune_pass(struct img_store *s, char *const *keep, const struct timespec *start, const char *only,
		      struct prune_stats *st, struct err **err)
{
	_cleanup_json_ json_t *refs = NULL, *used = json_object();
	int r;

	if (!used)
		return err_set(err, ENOMEM, "prune");
	r = refs_load(s, &refs, err);
	if (r >= 0)
		r = prune_records(s, keep, start, only, refs, used, st, err);
	if (r >= 0)
		r = refs_save(s, refs, err);
	if (r >= 0)
		r = prune_layers(s, used, st, err);
	return r;
}

int img_store_prune(struct img_store *s, char *const *keep, int until_below, json_t **ret, struct err **err)
{
	_cleanup_close_ int storefd = -1, refsfd = -1;
	char name[IMG_HEX_LEN + 8];
	struct prune_stats st = {0};
	struct timespec start;
	int r;

	clock_gettime(CLOCK_REALTIME, &start); /* images used from now on are kept */
	r = img_store_lock(s, true, &storefd, err);
	if (r < 0)
		return r;
	r = lock_at(s->rootfd, "refs.lock", LOCK_EX, &refsfd);
	if (r < 0)
		return err_set(err, -r, "image store: lock refs");
	if (until_below < 0) {
		r = prune_pass(s, keep, &start, NULL, &st, err);
	} else {
		/* least recently used first, until the filesystem is below the mark */
		while (r >= 0 && fs_percent_used(s->rootfd) > until_below &&
		       oldest_unkept(s, keep, &start, name))
			r = prune_pass(s, keep, &start, name, &st, err);
	}
	if (r < 0)
		return r;
	*ret = json_pack("{s:I, s:I, s:I}", "images_removed", st.images, "layers_removed", st.layers,
			 "bytes_freed", st.bytes);
	return *ret ? 0 : err_set(err, ENOMEM, "prune");
}
