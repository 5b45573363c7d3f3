/* Instance root filesystems: an overlay of the image's store layers (read-only, shared) under
 * a per-instance upper and work dir, mounted on inst_dir/rootfs. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <unistd.h>

#include "common/cleanup.h"
#include "common/fs.h"
#include "image/img-internal.h"

#define OVERLAY_MAGIC 0x794c7630
#define UMOUNT_TRIES 8 /* a few stacked mounts at most */

/* Overlay's option parser splits on ',' and ':' and treats '\' as an escape. */
static bool opt_path_ok(const char *p)
{
	return p && p[0] == '/' && !strpbrk(p, ",:\\");
}

static int build_opts(const struct img_image *img, const char *lower_empty, const char *upper,
		      const char *work, char **ret, struct err **err)
{
	long page = sysconf(_SC_PAGESIZE);
	size_t len = strlen("lowerdir=,upperdir=,workdir=") + strlen(upper) + strlen(work) + 1;
	_cleanup_free_ char *opts = NULL;
	char *p;

	if (!opt_path_ok(upper) || !opt_path_ok(work) || (lower_empty && !opt_path_ok(lower_empty)))
		return err_set(err, EINVAL, "overlay: instance path '%s' has ',', ':' or '\\'", upper);
	for (size_t i = 0; i < img->n_layers; i++) {
		if (!opt_path_ok(img->layer_dirs[i]))
			return err_set(err, EINVAL,
				       "overlay: layer path '%s' is not absolute or has ',', ':' or '\\'",
				       img->layer_dirs[i]);
		len += strlen(img->layer_dirs[i]) + 1;
	}
	if (lower_empty)
		len += strlen(lower_empty);
	if (page <= 0)
		page = 4096;
	if (len > (size_t)page)
		return err_set(
		    err, E2BIG,
		    "overlay options need %zu bytes, more than one page (%ld): %zu layers under '%s'", len,
		    page, img->n_layers, img->n_layers ? img->layer_dirs[0] : "");
	opts = malloc(len);
	if (!opts)
		return err_set(err, ENOMEM, "overlay options");
	p = stpcpy(opts, "lowerdir=");
	/* overlay lists the top layer first; img lists the bottom one first */
	for (size_t i = img->n_layers; i > 0; i--) {
		p = stpcpy(p, img->layer_dirs[i - 1]);
		if (i > 1)
			p = stpcpy(p, ":");
	}
	if (lower_empty)
		p = stpcpy(p, lower_empty);
	snprintf(p, len - (size_t)(p - opts), ",upperdir=%s,workdir=%s", upper, work);
	*ret = TAKE_PTR(opts);
	return 0;
}

static int make_dir(const char *base, const char *name, mode_t mode, char **ret, struct err **err)
{
	_cleanup_free_ char *p = fs_path_join(base, name);

	if (!p)
		return err_set(err, ENOMEM, "rootfs dir");
	if (mkdir(p, mode) < 0 && errno != EEXIST)
		return err_set(err, errno, "create '%s'", p);
	*ret = TAKE_PTR(p);
	return 0;
}

/* 1: rootfs already has an overlay mounted; 0: not a mount point; <0: something else is there. */
static int overlay_mounted(const char *inst, const char *rootfs)
{
	struct stat a, b;
	struct statfs sf;

	if (stat(inst, &a) < 0 || stat(rootfs, &b) < 0)
		return -errno;
	if (a.st_dev == b.st_dev)
		return 0;
	if (statfs(rootfs, &sf) < 0)
		return -errno;
	return sf.f_type == OVERLAY_MAGIC ? 1 : -EBUSY;
}

int img_rootfs_mount(const struct img_image *img, const char *inst_dir, struct err **err)
{
	_cleanup_free_ char *inst = NULL, *upper = NULL, *work = NULL, *rootfs = NULL, *empty = NULL;
	_cleanup_free_ char *opts = NULL;
	int r;

	r = fs_mkdir_p(AT_FDCWD, inst_dir, 0700);
	if (r < 0)
		return err_set(err, -r, "rootfs: create '%s'", inst_dir);
	inst = realpath(inst_dir, NULL);
	if (!inst)
		return err_set(err, errno, "rootfs: resolve '%s'", inst_dir);
	r = make_dir(inst, "upper", 0755, &upper, err);
	if (r >= 0)
		r = make_dir(inst, "work", 0700, &work, err);
	if (r >= 0)
		r = make_dir(inst, "rootfs", 0755, &rootfs, err);
	if (r >= 0 && img->n_layers == 0)
		r = make_dir(inst, "lower-empty", 0755, &empty, err); /* overlay needs one lower dir */
	if (r < 0)
		return err_wrap(err, "rootfs");
	r = overlay_mounted(inst, rootfs);
	if (r == 1)
		return 0; /* mounted by an earlier call (e.g. before an agent restart) */
	if (r < 0)
		return err_set(err, -r, "rootfs: '%s' is already a mount point that is not an overlay",
			       rootfs);
	r = build_opts(img, empty, upper, work, &opts, err);
	if (r < 0)
		return err_wrap(err, "rootfs '%s'", rootfs);
	if (mount("overlay", rootfs, "overlay", 0, opts) < 0)
		return err_set(err, errno, "rootfs: mount overlay on '%s' (%zu layers)", rootfs,
			       img->n_layers);
	return 0;
}

int img_rootfs_umount(const char *inst_dir, struct err **err)
{
	_cleanup_free_ char *rootfs = fs_path_join(inst_dir, "rootfs");

	if (!rootfs)
		return err_set(err, ENOMEM, "rootfs");
	for (int i = 0; i < UMOUNT_TRIES; i++) {
		if (umount2(rootfs, UMOUNT_NOFOLLOW) == 0)
			continue; /* one down: look for another stacked below */
		if (errno == EINVAL || errno == ENOENT)
			return 0; /* not (or no longer) a mount point */
		if (errno == EBUSY && umount2(rootfs, MNT_DETACH | UMOUNT_NOFOLLOW) == 0)
			continue;
		return err_set(err, errno, "rootfs: unmount '%s'", rootfs);
	}
	return err_set(err, EBUSY, "rootfs: '%s' is still mounted after %d unmounts", rootfs, UMOUNT_TRIES);
}
