/* Safe layer unpacking: drover writes every tar entry itself, resolving each parent with
 * openat2(RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS) below the layer dir, so
 * no entry can land outside it. Anything dubious refuses the whole layer. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/openat2.h>
#include <stdint.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <archive.h>
#include <archive_entry.h>

#include "common/cleanup.h"
#include "common/fs.h"
#include "image/img-internal.h"

#define WH_PREFIX ".wh."
#define WH_META_PREFIX ".wh..wh."
#define WH_OPAQUE ".wh..wh..opq"
#define OPAQUE_XATTR "trusted.overlay.opaque"

/* An entry path split into its parent and last component, "." and empty components dropped. */
struct upath {
	char parent[PATH_MAX]; /* "" for the layer root */
	char name[NAME_MAX + 1];
};

/* What an entry asks for, checked once. */
struct umeta {
	uid_t uid;
	gid_t gid;
	mode_t mode; /* permission bits only */
	struct timespec times[2];
};

/* Names as libarchive gives them in the current locale, else as the archive's UTF-8 (a pax
 * name with non-ASCII bytes cannot be converted in the "C" locale droverd runs in). */
static const char *entry_path(struct archive_entry *e)
{
	const char *p = archive_entry_pathname(e);

	return p ? p : archive_entry_pathname_utf8(e);
}

static const char *entry_hardlink(struct archive_entry *e)
{
	const char *p = archive_entry_hardlink(e);

	return p ? p : archive_entry_hardlink_utf8(e);
}

static const char *entry_symlink(struct archive_entry *e)
{
	const char *p = archive_entry_symlink(e);

	return p ? p : archive_entry_symlink_utf8(e);
}

static int openat2_beneath(int dirfd, const char *path, int flags)
{
	struct open_how how = {
	    .flags = (uint64_t)(flags | O_CLOEXEC),
	    .resolve = RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS,
	};
	long fd;
	int tries = 0;

	do
		fd = syscall(SYS_openat2, dirfd, path, &how, sizeof(how));
	while (fd < 0 && (errno == EINTR || (errno == EAGAIN && ++tries < 16)));
	return fd < 0 ? -errno : (int)fd;
}

static int refuse(const char **why, const char *what, int r)
{
	*why = what;
	return r;
}

/* 1: a path naming the layer root itself; 0: split into ret; <0 with *why set: refuse. */
static int upath_parse(const char *raw, struct upath *ret, const char **why)
{
	char copy[PATH_MAX], norm[PATH_MAX] = "";
	size_t len = 0;
	char *save = NULL, *slash;

	if (!raw || !*raw)
		return refuse(why, "empty path", -EINVAL);
	if (raw[0] == '/')
		return refuse(why, "absolute path", -EPERM);
	if (strlen(raw) >= sizeof(copy))
		return refuse(why, "path too long", -ENAMETOOLONG);
	strcpy(copy, raw);
	for (char *c = strtok_r(copy, "/", &save); c; c = strtok_r(NULL, "/", &save)) {
		size_t cl = strlen(c);
		if (strcmp(c, ".") == 0)
			continue;
		if (strcmp(c, "..") == 0)
			return refuse(why, "'..' path component", -EPERM);
		if (cl > NAME_MAX)
			return refuse(why, "name component too long", -ENAMETOOLONG);
		if (len > 0)
			norm[len++] = '/';
		memcpy(norm + len, c, cl + 1); /* fits: norm never grows past raw */
		len += cl;
	}
	if (len == 0)
		return 1;
	slash = strrchr(norm, '/');
	if (slash) {
		*slash = '\0';
		strcpy(ret->parent, norm);
		strcpy(ret->name, slash + 1);
	} else {
		ret->parent[0] = '\0';
		strcpy(ret->name, norm);
	}
	return 0;
}

static const char *resolve_why(int r)
{
	switch (r) {
	case -ELOOP:
		return "path goes through a symlink";
	case -EXDEV:
		return "path escapes the layer";
	case -ENOTDIR:
		return "a parent is not a directory";
	case -ENOENT:
		return "a parent does not exist";
	case -ENOSYS:
		return "openat2() is not supported by this kernel";
	default:
		return strerror(-r);
	}
}

/* Opens parent (components below dest) as an O_PATH dir, creating missing dirs if asked. */
static int open_parent(int dest, const char *parent, bool create, int *ret_fd)
{
	char copy[PATH_MAX];
	_cleanup_close_ int fd = -1;
	char *save = NULL;

	fd = openat2_beneath(dest, ".", O_PATH | O_DIRECTORY);
	if (fd < 0)
		return fd;
	strcpy(copy, parent); /* parent comes from a struct upath: always fits */
	for (char *c = strtok_r(copy, "/", &save); c; c = strtok_r(NULL, "/", &save)) {
		int nfd = openat2_beneath(fd, c, O_PATH | O_DIRECTORY);
		if (nfd == -ENOENT && create) {
			if (mkdirat(fd, c, 0755) < 0 && errno != EEXIST)
				return -errno;
			nfd = openat2_beneath(fd, c, O_PATH | O_DIRECTORY);
		}
		if (nfd < 0)
			return nfd;
		closep(&fd);
		fd = nfd;
	}
	*ret_fd = TAKE_FD(fd);
	return 0;
}

/* Makes room for a new entry: non-dirs are unlinked, dirs removed unless keep_dir. */
static int clear_slot(int pfd, const char *name, bool keep_dir, bool *ret_kept)
{
	struct stat st;

	if (ret_kept)
		*ret_kept = false;
	if (fstatat(pfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
		return errno == ENOENT ? 0 : -errno;
	if (S_ISDIR(st.st_mode)) {
		if (keep_dir) {
			if (ret_kept)
				*ret_kept = true;
			return 0;
		}
		return fs_rm_rf(pfd, name);
	}
	if (unlinkat(pfd, name, 0) < 0 && errno != ENOENT)
		return -errno;
	return 0;
}

static int meta_get(struct archive_entry *e, struct umeta *m)
{
	int64_t uid = archive_entry_uid(e), gid = archive_entry_gid(e);

	if (uid < 0 || uid >= UINT32_MAX || gid < 0 || gid >= UINT32_MAX)
		return -ERANGE;
	m->uid = (uid_t)uid;
	m->gid = (gid_t)gid;
	m->mode = archive_entry_perm(e) & 07777;
	m->times[0].tv_sec = archive_entry_atime_is_set(e) ? archive_entry_atime(e) : archive_entry_mtime(e);
	m->times[0].tv_nsec = archive_entry_atime_is_set(e) ? archive_entry_atime_nsec(e) : 0;
	m->times[1].tv_sec = archive_entry_mtime(e);
	m->times[1].tv_nsec = archive_entry_mtime_nsec(e);
	if (m->times[0].tv_nsec < 0 || m->times[0].tv_nsec > 999999999)
		m->times[0].tv_nsec = 0;
	if (m->times[1].tv_nsec < 0 || m->times[1].tv_nsec > 999999999)
		m->times[1].tv_nsec = 0;
	return 0;
}

/* Layer xattrs are applied best-effort; overlay's own namespace is never taken from a layer, so
 * a layer cannot forge redirects, metacopy or opaque markers except through real whiteouts. */
static void apply_xattrs(struct archive_entry *e, int fd)
{
	const char *name;
	const void *value;
	size_t size;

	archive_entry_xattr_reset(e);
	while (archive_entry_xattr_next(e, &name, &value, &size) == ARCHIVE_OK) {
		if (!name || strncmp(name, "trusted.overlay.", 16) == 0 ||
		    strncmp(name, "user.overlay.", 13) == 0)
			continue;
		(void)fsetxattr(fd, name, value, size, 0); /* best effort, e.g. ENOTSUP on this fs */
	}
}

static int write_at(int fd, const char *buf, size_t len, off_t off)
{
	while (len > 0) {
		ssize_t n = pwrite(fd, buf, len, off);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		buf += n;
		len -= (size_t)n;
		off += n;
	}
	return 0;
}

static int copy_data(struct archive *a, struct archive_entry *e, int fd, const char *raw, struct err **err)
{
	uint64_t size = archive_entry_size_is_set(e) ? (uint64_t)archive_entry_size(e) : 0;

	for (;;) {
		const void *buf;
		size_t len;
		la_int64_t off;
		int r = archive_read_data_block(a, &buf, &len, &off);

		if (r == ARCHIVE_EOF)
			break;
		if (r < ARCHIVE_WARN)
			return err_set(err, archive_errno(a) > 0 ? archive_errno(a) : EIO,
				       "entry '%s': read data: %s", raw, archive_error_string(a));
		if (off < 0)
			return err_set(err, EINVAL, "entry '%s': negative data offset", raw);
		/* what was charged is the declared size: no block may write past it */
		if ((uint64_t)off > size || len > size - (uint64_t)off)
			return err_set(err, EFBIG,
				       "entry '%s': data past its declared size, refusing the layer", raw);
		r = write_at(fd, buf, len, (off_t)off);
		if (r < 0)
			return err_set(err, -r, "entry '%s': write", raw);
	}
	/* sparse files end in a hole that no data block covers */
	if (archive_entry_size_is_set(e) && ftruncate(fd, (off_t)size) < 0)
		return err_set(err, errno, "entry '%s': truncate", raw);
	return 0;
}

static int put_file(struct archive *a, struct archive_entry *e, int pfd, const char *name,
		    const struct umeta *m, const char *raw, struct img_budget *b, struct err **err)
{
	_cleanup_close_ int fd = -1;
	int64_t size = archive_entry_size_is_set(e) ? archive_entry_size(e) : 0;
	int r;

	if (size < 0)
		return err_set(err, EINVAL, "entry '%s': negative size, refusing the layer", raw);
	/* the declared size is charged before a byte is written: a sparse file counts in full */
	r = img_budget_bytes(b, (uint64_t)size, pfd, err);
	if (r < 0)
		return err_wrap(err, "entry '%s'", raw);
	r = clear_slot(pfd, name, false, NULL);
	if (r < 0)
		return err_set(err, -r, "entry '%s': remove the existing one", raw);
	fd = openat(pfd, name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (fd < 0)
		return err_set(err, errno, "entry '%s': create", raw);
	r = copy_data(a, e, fd, raw, err);
	if (r < 0)
		return r;
	if (fchown(fd, m->uid, m->gid) < 0)
		return err_set(err, errno, "entry '%s': chown %u:%u", raw, m->uid, m->gid);
	if (fchmod(fd, m->mode) < 0) /* after chown, which clears set-id bits */
		return err_set(err, errno, "entry '%s': chmod", raw);
	apply_xattrs(e, fd);
	if (futimens(fd, m->times) < 0)
		return err_set(err, errno, "entry '%s': set times", raw);
	if (close(TAKE_FD(fd)) < 0)
		return err_set(err, errno, "entry '%s': close", raw);
	return 0;
}

static int put_dir(struct archive_entry *e, int pfd, const char *name, const struct umeta *m, const char *raw,
		   struct err **err)
{
	_cleanup_close_ int fd = -1;
	bool kept;
	int r;

	r = clear_slot(pfd, name, true, &kept);
	if (r < 0)
		return err_set(err, -r, "entry '%s': remove the existing one", raw);
	if (!kept && mkdirat(pfd, name, 0700) < 0)
		return err_set(err, errno, "entry '%s': mkdir", raw);
	fd = openat2_beneath(pfd, name, O_RDONLY | O_DIRECTORY);
	if (fd < 0)
		return err_set(err, -fd, "entry '%s': open: %s", raw, resolve_why(fd));
	if (fchown(fd, m->uid, m->gid) < 0)
		return err_set(err, errno, "entry '%s': chown %u:%u", raw, m->uid, m->gid);
	if (fchmod(fd, m->mode) < 0)
		return err_set(err, errno, "entry '%s': chmod", raw);
	apply_xattrs(e, fd);
	/* no times: the entries that follow would change them again */
	return 0;
}

static int put_symlink(struct archive_entry *e, int pfd, const char *name, const struct umeta *m,
		       const char *raw, struct err **err)
{
	const char *target = entry_symlink(e);
	int r;

	if (!target || !*target)
		return err_set(err, EINVAL, "entry '%s': symlink without a target", raw);
	if (strlen(target) >= PATH_MAX)
		return err_set(err, ENAMETOOLONG, "entry '%s': symlink target too long", raw);
	r = clear_slot(pfd, name, false, NULL);
	if (r < 0)
		return err_set(err, -r, "entry '%s': remove the existing one", raw);
	/* the target is only text here: it is interpreted inside the container, never by us */
	if (symlinkat(target, pfd, name) < 0)
		return err_set(err, errno, "entry '%s': symlink", raw);
	if (fchownat(pfd, name, m->uid, m->gid, AT_SYMLINK_NOFOLLOW) < 0)
		return err_set(err, errno, "entry '%s': chown %u:%u", raw, m->uid, m->gid);
	if (utimensat(pfd, name, m->times, AT_SYMLINK_NOFOLLOW) < 0)
		return err_set(err, errno, "entry '%s': set times", raw);
	return 0;
}

static int put_fifo(int pfd, const char *name, const struct umeta *m, const char *raw, struct err **err)
{
	int r;

	r = clear_slot(pfd, name, false, NULL);
	if (r < 0)
		return err_set(err, -r, "entry '%s': remove the existing one", raw);
	if (mknodat(pfd, name, S_IFIFO | 0600, 0) < 0)
		return err_set(err, errno, "entry '%s': mkfifo", raw);
	if (fchownat(pfd, name, m->uid, m->gid, AT_SYMLINK_NOFOLLOW) < 0)
		return err_set(err, errno, "entry '%s': chown %u:%u", raw, m->uid, m->gid);
	if (fchmodat(pfd, name, m->mode, 0) < 0) /* just created as a FIFO: nothing to follow */
		return err_set(err, errno, "entry '%s': chmod", raw);
	if (utimensat(pfd, name, m->times, AT_SYMLINK_NOFOLLOW) < 0)
		return err_set(err, errno, "entry '%s': set times", raw);
	return 0;
}

static int put_hardlink(struct archive_entry *e, int dest, int pfd, const struct upath *p, const char *raw,
			struct err **err)
{
	const char *traw = entry_hardlink(e);
	_cleanup_close_ int tfd = -1;
	const char *why = NULL;
	struct upath t;
	struct stat st;
	int r;

	r = upath_parse(traw, &t, &why);
	if (r > 0)
		return err_set(err, EPERM, "entry '%s': hard link to the layer root, refusing the layer",
			       raw);
	if (r < 0)
		return err_set(err, -r, "entry '%s': hard link target '%s': %s, refusing the layer", raw,
			       traw ? traw : "", why);
	r = open_parent(dest, t.parent, false, &tfd);
	if (r < 0)
		return err_set(err, r == -ELOOP || r == -EXDEV ? EPERM : -r,
			       "entry '%s': hard link target '%s': %s, refusing the layer", raw, traw,
			       resolve_why(r));
	if (fstatat(tfd, t.name, &st, AT_SYMLINK_NOFOLLOW) < 0)
		return err_set(err, errno, "entry '%s': hard link target '%s'", raw, traw);
	if (S_ISDIR(st.st_mode))
		return err_set(err, EPERM, "entry '%s': hard link to directory '%s', refusing the layer", raw,
			       traw);
	if (strcmp(t.parent, p->parent) == 0 && strcmp(t.name, p->name) == 0)
		return 0; /* a link to itself: already there */
	r = clear_slot(pfd, p->name, false, NULL);
	if (r < 0)
		return err_set(err, -r, "entry '%s': remove the existing one", raw);
	if (linkat(tfd, t.name, pfd, p->name, 0) < 0)
		return err_set(err, errno, "entry '%s': hard link to '%s'", raw, traw);
	return 0;
}

/* ".wh..wh..opq" marks its directory opaque; ".wh.NAME" becomes overlay's 0/0 char device. */
static int put_whiteout(int pfd, const char *name, const char *raw, struct err **err)
{
	const char *target = name + strlen(WH_PREFIX);
	_cleanup_close_ int dfd = -1;
	int r;

	if (strcmp(name, WH_OPAQUE) == 0) {
		dfd = openat2_beneath(pfd, ".", O_RDONLY | O_DIRECTORY);
		if (dfd < 0)
			return err_set(err, -dfd, "entry '%s': open its directory", raw);
		if (fsetxattr(dfd, OPAQUE_XATTR, "y", 1, 0) < 0)
			return err_set(err, errno, "entry '%s': set %s", raw, OPAQUE_XATTR);
		return 0;
	}
	if (strncmp(name, WH_META_PREFIX, strlen(WH_META_PREFIX)) == 0)
		return 0; /* other whiteout metadata (hard link dirs of old tools): nothing for overlay */
	if (!*target || strcmp(target, ".") == 0 || strcmp(target, "..") == 0)
		return err_set(err, EPERM, "entry '%s': invalid whiteout, refusing the layer", raw);
	r = clear_slot(pfd, target, false, NULL);
	if (r < 0)
		return err_set(err, -r, "entry '%s': remove the whited-out entry", raw);
	if (mknodat(pfd, target, S_IFCHR | 0000, makedev(0, 0)) < 0)
		return err_set(err, errno, "entry '%s': create whiteout", raw);
	return 0;
}

static int put_by_type(struct archive *a, struct archive_entry *e, int pfd, const struct upath *p,
		       const char *raw, struct img_budget *b, struct err **err)
{
	mode_t type = archive_entry_filetype(e);
	struct umeta m;

	if (type == AE_IFCHR || type == AE_IFBLK)
		return err_set(err, EPERM, "entry '%s': device node, refusing the layer", raw);
	if (meta_get(e, &m) < 0)
		return err_set(err, ERANGE, "entry '%s': owner out of range, refusing the layer", raw);
	switch (type) {
	case AE_IFREG:
		return put_file(a, e, pfd, p->name, &m, raw, b, err);
	case AE_IFDIR:
		return put_dir(e, pfd, p->name, &m, raw, err);
	case AE_IFLNK:
		return put_symlink(e, pfd, p->name, &m, raw, err);
	case AE_IFIFO:
		return put_fifo(pfd, p->name, &m, raw, err);
	case AE_IFSOCK:
		return 0; /* sockets are runtime objects: nothing to restore */
	default:
		return err_set(err, EINVAL, "entry '%s': unknown file type 0%o, refusing the layer", raw,
			       (unsigned)type);
	}
}

static int unpack_entry(struct archive *a, struct archive_entry *e, int dest, struct img_budget *b,
			struct err **err)
{
	const char *raw = entry_path(e);
	_cleanup_close_ int pfd = -1;
	const char *why = NULL;
	struct upath p;
	int r;

	r = upath_parse(raw, &p, &why);
	if (r > 0)
		return 0; /* "./": the layer root belongs to the store, not to the layer */
	if (r < 0)
		return err_set(err, -r, "entry '%s': %s, refusing the layer", raw ? raw : "", why);
	r = open_parent(dest, p.parent, true, &pfd);
	if (r < 0)
		return err_set(err, r == -ELOOP || r == -EXDEV ? EPERM : -r,
			       "entry '%s': %s, refusing the layer", raw, resolve_why(r));
	if (strncmp(p.name, WH_PREFIX, strlen(WH_PREFIX)) == 0)
		return put_whiteout(pfd, p.name, raw, err);
	if (entry_hardlink(e))
		return put_hardlink(e, dest, pfd, &p, raw, err);
	return put_by_type(a, e, pfd, &p, raw, b, err);
}

int img_unpack_archive(struct archive *a, int dest_dirfd, struct img_budget *b, struct err **err)
{
	struct archive_entry *e;
	int r;

	for (;;) {
		r = archive_read_next_header(a, &e);
		if (r == ARCHIVE_EOF)
			return 0;
		if (r < ARCHIVE_WARN || r == ARCHIVE_RETRY)
			return err_set(err, archive_errno(a) > 0 ? archive_errno(a) : EBADMSG,
				       "read layer: %s",
				       archive_error_string(a) ? archive_error_string(a) : "unknown error");
		r = img_budget_entry(b, err);
		if (r < 0)
			return r;
		r = unpack_entry(a, e, dest_dirfd, b, err);
		if (r < 0)
			return r;
	}
}

int img_archive_new(struct archive **ret, struct err **err)
{
	_cleanup_archive_ struct archive *a = archive_read_new();

	if (!a)
		return err_set(err, ENOMEM, "libarchive reader");
	/* ARCHIVE_OK only: a warning means an external helper program, which drover never runs */
	if (archive_read_support_filter_none(a) != ARCHIVE_OK ||
	    archive_read_support_filter_gzip(a) != ARCHIVE_OK ||
	    archive_read_support_filter_zstd(a) != ARCHIVE_OK ||
	    archive_read_support_format_tar(a) != ARCHIVE_OK)
		return err_set(err, ENOTSUP, "libarchive without built-in tar/gzip/zstd: %s",
			       archive_error_string(a) ? archive_error_string(a) : "unknown error");
	*ret = TAKE_PTR(a);
	return 0;
}

int img_unpack_layer(int fd, int dest_dirfd, struct err **err)
{
	_cleanup_archive_ struct archive *a = NULL;
	int r;

	r = img_archive_new(&a, err);
	if (r < 0)
		return r;
	if (archive_read_open_fd(a, fd, 64 * 1024) != ARCHIVE_OK)
		return err_set(err, archive_errno(a) > 0 ? archive_errno(a) : EBADMSG, "open layer: %s",
			       archive_error_string(a) ? archive_error_string(a) : "unknown error");
	return img_unpack_archive(a, dest_dirfd, NULL, err);
}
