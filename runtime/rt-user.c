/* Resolves the spec's (or image's) user inside the container's rootfs, never
 * the host's: names come from the rootfs's /etc/passwd and /etc/group. */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "common/cleanup.h"
#include "common/fs.h"
#include "runtime/rt.h"

#define DB_MAX (4 * 1024 * 1024)

static bool parse_id(const char *s, unsigned long *ret)
{
	char *end = NULL;

	if (!isdigit((unsigned char)*s))
		return false;
	errno = 0;
	*ret = strtoul(s, &end, 10);
	return errno == 0 && *end == '\0' && *ret < 4294967295UL;
}

static const char *file_kind(mode_t m)
{
	if (S_ISFIFO(m))
		return "a FIFO";
	if (S_ISDIR(m))
		return "a directory";
	if (S_ISCHR(m) || S_ISBLK(m))
		return "a device";
	if (S_ISSOCK(m))
		return "a socket";
	return "not a regular file";
}

/* Reads ROOTFS/etc/NAME with every path step kept inside the rootfs; a missing file is empty.
 * The image chose what is there: O_NONBLOCK keeps a FIFO from blocking the agent in open() (no
 * writer ever comes), and anything but a regular file is refused before a byte is read. */
static int read_db(const char *rootfs, const char *name, char **ret, struct err **err)
{
	struct open_how how = {.flags = O_RDONLY | O_NONBLOCK | O_NOCTTY | O_CLOEXEC,
			       .resolve = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS};
	_cleanup_close_ int root = -1, fd = -1;
	struct stat st;
	char path[64];

	root = open(rootfs, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (root < 0)
		return err_set(err, errno, "open rootfs '%s'", rootfs);
	snprintf(path, sizeof(path), "/etc/%s", name);
	fd = (int)syscall(SYS_openat2, root, path, &how, sizeof(how));
	if (fd < 0 && errno == ENOENT) {
		*ret = strdup("");
		return *ret ? 0 : err_set(err, ENOMEM, "out of memory");
	}
	if (fd < 0)
		return err_set(err, errno, "open the image's %s", path);
	if (fstat(fd, &st) < 0)
		return err_set(err, errno, "stat the image's %s", path);
	if (!S_ISREG(st.st_mode))
		return err_set(err, EINVAL, "the image's %s is %s, not a regular file", path,
			       file_kind(st.st_mode));
	if (fs_read_fd(fd, DB_MAX, ret, NULL, err) < 0)
		return err_wrap(err, "read the image's %s", path);
	return 0;
}

/* Finds a line whose field 0 (name) or field 2 (id) matches; returns a copy of it. */
static char *find_entry(char *db, const char *name, long id)
{
	char *save = NULL;

	for (char *line = strtok_r(db, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		char *f[4] = {0};
		_cleanup_free_ char *copy = strdup(line);
		char *p = copy;
		if (!copy)
			return NULL;
		for (int k = 0; k < 4 && p; k++) {
			f[k] = p;
			p = strchr(p, ':');
			if (p)
				*p++ = '\0';
		}
		if (!f[2])
			continue;
		if ((name && strcmp(f[0], name) == 0) ||
		    (id >= 0 && strtol(f[2], NULL, 10) == id && isdigit((unsigned char)f[2][0])))
			return strdup(line);
	}
	return NULL;
}

static int field_ul(const char *line, int idx, unsigned long *ret)
{
	const char *p = line;
	char buf[32];
	size_t n;

	for (int k = 0; k < idx; k++) {
		p = strchr(p, ':');
		if (!p)
			return -EINVAL;
		p++;
	}
	n = strcspn(p, ":");
	if (n == 0 || n >= sizeof(buf))
		return -EINVAL;
	memcpy(buf, p, n);
	buf[n] = '\0';
	return parse_id(buf, ret) ? 0 : -EINVAL;
}

static int resolve_group(const char *rootfs, const char *group, gid_t *ret, struct err **err)
{
	_cleanup_free_ char *db = NULL, *line = NULL;
	unsigned long v;
	int r;

	if (parse_id(group, &v)) {
		*ret = (gid_t)v;
		return 0;
	}
	r = read_db(rootfs, "group", &db, err);
	if (r < 0)
		return r;
	if (!(line = find_entry(db, group, -1)) || field_ul(line, 2, &v) < 0)
		return err_field(err, "user", ENOENT, "group '%s' not found in the image's /etc/group",
				 group);
	*ret = (gid_t)v;
	return 0;
}

/* Supplementary groups: every group in /etc/group listing the user's name as a member. */
static int extra_groups(const char *rootfs, const char *uname, gid_t primary, gid_t **ret, size_t *ret_n,
			struct err **err)
{
	_cleanup_free_ char *db = NULL;
	_cleanup_free_ gid_t *out = NULL;
	char *save = NULL;
	size_t n = 0;
	int r;

	*ret = NULL;
	*ret_n = 0;
	if (!uname)
		return 0;
	r = read_db(rootfs, "group", &db, err);
	if (r < 0)
		return r;
	for (char *line = strtok_r(db, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		unsigned long gid;
		const char *members = line;
		for (int k = 0; k < 3 && members; k++)
			members = strchr(members, ':') ? strchr(members, ':') + 1 : NULL;
		if (!members || field_ul(line, 2, &gid) < 0 || gid == primary)
			continue;
		_cleanup_free_ char *m = strdup(members);
		char *msave = NULL;
		for (char *tok = m ? strtok_r(m, ",", &msave) : NULL; tok;
		     tok = strtok_r(NULL, ",", &msave)) {
			if (strcmp(tok, uname) != 0)
				continue;
			gid_t *nb = realloc(out, (n + 1) * sizeof(*out));
			if (!nb)
				return err_set(err, ENOMEM, "out of memory");
			out = nb;
			out[n++] = (gid_t)gid;
		}
	}
	*ret = TAKE_PTR(out);
	*ret_n = n;
	return 0;
}

int rt_user_resolve(const char *rootfs, const char *user, uid_t *ret_uid, gid_t *ret_gid, gid_t **ret_gids,
		    size_t *ret_n_gids, struct err **err)
{
	_cleanup_free_ char *u = NULL, *db = NULL, *line = NULL, *uname = NULL;
	char *group;
	unsigned long v, g = 0;
	int r;

	*ret_gids = NULL;
	*ret_n_gids = 0;
	if (!user || !*user)
		user = "0";
	u = strdup(user);
	if (!u)
		return err_set(err, ENOMEM, "out of memory");
	group = strchr(u, ':');
	if (group)
		*group++ = '\0';
	r = read_db(rootfs, "passwd", &db, err);
	if (r < 0)
		return r;
	if (parse_id(u, &v)) {
		line = find_entry(db, NULL, (long)v);
	} else {
		line = find_entry(db, u, -1);
		if (!line || field_ul(line, 2, &v) < 0)
			return err_field(err, "user", ENOENT,
					 "user '%s' not found in the image's /etc/passwd", u);
	}
	if (line) {
		(void)field_ul(line, 3, &g); /* a passwd line without a gid leaves group 0 */
		uname = strndup(line, strcspn(line, ":"));
	}
	*ret_uid = (uid_t)v;
	*ret_gid = (gid_t)g;
	if (group && (r = resolve_group(rootfs, group, ret_gid, err)) < 0)
		return r;
	return extra_groups(rootfs, uname, *ret_gid, ret_gids, ret_n_gids, err);
}
