/* Host-local IPAM. Each leased address is a file in the lease dir named by the dotted address and
 * holding the instance id. Files are created with O_EXCL and the directory fsync'd, so an address
 * is never handed to two instances, also across agent crashes. "last_reserved" holds the address
 * handed out last; allocation continues after it, wrapping around, so a freed address is not
 * reused at once. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/fs.h"
#include "net/net-internal.h"

#define CURSOR_FILE "last_reserved"

struct net_ipam {
	int dirfd;
	char *dir;
	char subnet[NET_SUBNET_STRLEN];
	struct net_subnet sn;
};

int net_ipam_open(const char *lease_dir, const char *subnet, struct net_ipam **ret, struct err **err)
{
	_cleanup_(net_ipam_freep) struct net_ipam *ipam = NULL;
	int r;

	ipam = calloc(1, sizeof(*ipam));
	if (!ipam)
		return err_set(err, ENOMEM, "out of memory");
	ipam->dirfd = -1;
	r = net_subnet_parse(subnet, &ipam->sn);
	if (r < 0)
		return err_set(err, -r, "subnet '%s' is not a.b.c.d/len (len 8..30, no host bits set)",
			       subnet ? subnet : "");
	snprintf(ipam->subnet, sizeof(ipam->subnet), "%s", subnet);
	ipam->dir = strdup(lease_dir);
	if (!ipam->dir)
		return err_set(err, ENOMEM, "out of memory");
	r = fs_mkdir_p(AT_FDCWD, lease_dir, 0700);
	if (r < 0)
		return err_set(err, -r, "create lease dir '%s'", lease_dir);
	ipam->dirfd = open(lease_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (ipam->dirfd < 0)
		return err_set(err, errno, "open lease dir '%s'", lease_dir);
	*ret = TAKE_PTR(ipam);
	return 0;
}

struct net_ipam *net_ipam_free(struct net_ipam *ipam)
{
	if (!ipam)
		return NULL;
	if (ipam->dirfd >= 0)
		(void)close(ipam->dirfd); /* a directory fd: nothing to flush */
	free(ipam->dir);
	free(ipam);
	return NULL;
}

const struct net_subnet *net_ipam_subnet(const struct net_ipam *ipam)
{
	return &ipam->sn;
}

/* A lease file name: a dotted quad in canonical form. */
static bool lease_name(const char *name, uint32_t *ret_ip)
{
	char canon[NET_IP_STRLEN];

	if (net_ip_parse(name, ret_ip) < 0)
		return false;
	net_ip_format(*ret_ip, canon);
	return strcmp(canon, name) == 0;
}

static int read_lease(int dirfd, const char *name, char id[NET_ID_MAX + 1])
{
	_cleanup_close_ int fd = -1;
	ssize_t n;

	fd = openat(dirfd, name, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0)
		return -errno;
	do
		n = read(fd, id, NET_ID_MAX);
	while (n < 0 && errno == EINTR);
	if (n < 0)
		return -errno;
	id[n] = '\0';
	while (n > 0 && (id[n - 1] == '\n' || id[n - 1] == ' '))
		id[--n] = '\0';
	return 0;
}

static int lease_push(struct net_lease **v, size_t *n, size_t *cap, uint32_t ip, const char *id)
{
	if (*n == *cap) {
		size_t ncap = *cap ? *cap * 2 : 16;
		struct net_lease *nv = reallocarray(*v, ncap, sizeof(**v));
		if (!nv)
			return -ENOMEM;
		*v = nv;
		*cap = ncap;
	}
	(*v)[*n].ip = ip;
	snprintf((*v)[*n].id, sizeof((*v)[*n].id), "%s", id);
	(*n)++;
	return 0;
}

int net_ipam_list(struct net_ipam *ipam, struct net_lease **ret, size_t *ret_n, struct err **err)
{
	_cleanup_free_ struct net_lease *v = NULL;
	_cleanup_closedir_ DIR *d = NULL;
	size_t n = 0, cap = 0;
	struct dirent *de;
	int fd, r;

	fd = openat(ipam->dirfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return err_set(err, errno, "open lease dir '%s'", ipam->dir);
	d = fdopendir(fd);
	if (!d) {
		r = -errno;
		(void)close(fd);
		return err_set(err, -r, "read lease dir '%s'", ipam->dir);
	}
	while ((errno = 0, de = readdir(d))) {
		char id[NET_ID_MAX + 1];
		uint32_t ip;

		if (!lease_name(de->d_name, &ip))
			continue;
		r = read_lease(ipam->dirfd, de->d_name, id);
		if (r == -ENOENT)
			continue; /* released while we looked */
		if (r < 0)
			return err_set(err, -r, "read lease '%s/%s'", ipam->dir, de->d_name);
		if (lease_push(&v, &n, &cap, ip, id) < 0)
			return err_set(err, ENOMEM, "out of memory");
	}
	if (errno)
		return err_set(err, errno, "read lease dir '%s'", ipam->dir);
	*ret = TAKE_PTR(v);
	*ret_n = n;
	return 0;
}

/* The lease file for ip, made with O_EXCL: -EEXIST if any instance holds it already. */
static int lease_create(struct net_ipam *ipam, uint32_t ip, const char *id)
{
	_cleanup_close_ int fd = -1;
	char name[NET_IP_STRLEN];
	int r;

	net_ip_format(ip, name);
	fd = openat(ipam->dirfd, name, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0644);
	if (fd < 0)
		return -errno;
	r = fs_write_all(fd, id, strlen(id));
	/* the directory entry is what keeps the address taken, so the directory is fsync'd; the
	 * content (the id) is not: a lease emptied by a power loss is freed by the reclaim at start,
	 * and after a power loss no instance is running on it anyway */
	if (r >= 0 && close(TAKE_FD(fd)) < 0)
		r = -errno;
	if (r >= 0 && fsync(ipam->dirfd) < 0)
		r = -errno;
	if (r < 0)
		(void)unlinkat(ipam->dirfd, name, 0); /* never leave a half-written lease */
	return r;
}

/* The address after which allocation continues; the end of the range when unknown. */
static uint32_t cursor_read(struct net_ipam *ipam)
{
	char buf[NET_IP_STRLEN + 2] = "";
	_cleanup_close_ int fd = -1;
	uint32_t ip;
	ssize_t n;

	fd = openat(ipam->dirfd, CURSOR_FILE, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0)
		return ipam->sn.last;
	n = read(fd, buf, sizeof(buf) - 1);
	if (n <= 0)
		return ipam->sn.last;
	buf[n] = '\0';
	buf[strcspn(buf, "\n")] = '\0';
	if (net_ip_parse(buf, &ip) < 0 || ip < ipam->sn.first || ip > ipam->sn.last)
		return ipam->sn.last;
	return ip;
}

static int cmp_u32(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;

	return (x > y) - (x < y);
}

/* Sorted addresses of the leases inside the subnet. */
static int used_set(const struct net_ipam *ipam, const struct net_lease *v, size_t n, uint32_t **ret,
		    size_t *ret_n)
{
	uint32_t *u = calloc(n ? n : 1, sizeof(*u));
	size_t k = 0;

	if (!u)
		return -ENOMEM;
	for (size_t i = 0; i < n; i++)
		if (v[i].ip >= ipam->sn.first && v[i].ip <= ipam->sn.last)
			u[k++] = v[i].ip;
	qsort(u, k, sizeof(*u), cmp_u32);
	*ret = u;
	*ret_n = k;
	return 0;
}

static int take_next(struct net_ipam *ipam, const char *id, const uint32_t *used, size_t n_used,
		     uint32_t *ret_ip, struct err **err)
{
	uint32_t total = ipam->sn.last - ipam->sn.first + 1;
	uint32_t start = cursor_read(ipam) - ipam->sn.first + 1;
	char name[NET_IP_STRLEN];
	int r;

	for (uint32_t i = 0; i < total; i++) {
		uint32_t ip = ipam->sn.first + (start + i) % total;

		if (bsearch(&ip, used, n_used, sizeof(*used), cmp_u32))
			continue;
		r = lease_create(ipam, ip, id);
		if (r == -EEXIST)
			continue; /* taken since we listed, or by hand: O_EXCL is the real guard */
		net_ip_format(ip, name);
		if (r < 0)
			return err_set(err, -r, "create lease '%s/%s'", ipam->dir, name);
		/* the cursor is only where the next search starts: losing it in a crash costs a longer
		 * search, never a duplicate address, so it is not fsync'd */
		r = fs_write_atomic(ipam->dirfd, CURSOR_FILE, name, strlen(name), 0644, FS_NOSYNC, err);
		if (r < 0) {
			(void)unlinkat(ipam->dirfd, name, 0); /* undo: the caller sees a failure */
			return err_wrap(err, "record last reserved address");
		}
		*ret_ip = ip;
		return 1;
	}
	return err_set(err, ENOSPC, "subnet %s has no free address (%zu in use)", ipam->subnet, n_used);
}

int net_ipam_allocate(struct net_ipam *ipam, const char *id, uint32_t *ret_ip, struct err **err)
{
	_cleanup_free_ struct net_lease *v = NULL;
	_cleanup_free_ uint32_t *used = NULL;
	size_t n = 0, n_used = 0;
	int r;

	if (!net_id_valid(id))
		return err_set(err, EINVAL, "invalid instance id '%s'", id ? id : "");
	r = net_ipam_list(ipam, &v, &n, err);
	if (r < 0)
		return r;
	for (size_t i = 0; i < n; i++) {
		if (strcmp(v[i].id, id) == 0 && v[i].ip >= ipam->sn.first && v[i].ip <= ipam->sn.last) {
			*ret_ip = v[i].ip;
			return 0;
		}
	}
	if (used_set(ipam, v, n, &used, &n_used) < 0)
		return err_set(err, ENOMEM, "out of memory");
	return take_next(ipam, id, used, n_used, ret_ip, err);
}

int net_ipam_release_ip(struct net_ipam *ipam, uint32_t ip, const char *expect_id, struct err **err)
{
	char name[NET_IP_STRLEN], id[NET_ID_MAX + 1];
	int r;

	net_ip_format(ip, name);
	r = read_lease(ipam->dirfd, name, id);
	if (r == -ENOENT)
		return 0;
	if (r < 0)
		return err_set(err, -r, "read lease '%s/%s'", ipam->dir, name);
	if (strcmp(id, expect_id) != 0)
		return 0;
	if (unlinkat(ipam->dirfd, name, 0) < 0) {
		if (errno == ENOENT)
			return 0;
		return err_set(err, errno, "remove lease '%s/%s'", ipam->dir, name);
	}
	/* a lost unlink after a crash only leaves a lease that reclaim frees: no fsync needed */
	return 1;
}

int net_ipam_release(struct net_ipam *ipam, const char *id, struct err **err)
{
	_cleanup_free_ struct net_lease *v = NULL;
	size_t n = 0;
	int r, released = 0;

	r = net_ipam_list(ipam, &v, &n, err);
	if (r < 0)
		return r;
	for (size_t i = 0; i < n; i++) {
		if (strcmp(v[i].id, id) != 0)
			continue;
		r = net_ipam_release_ip(ipam, v[i].ip, id, err);
		if (r < 0)
			return r;
		released |= r;
	}
	return released;
}

int net_ipam_clear(struct net_ipam *ipam, struct err **err)
{
	_cleanup_free_ struct net_lease *v = NULL;
	size_t n = 0;
	int r;

	r = net_ipam_list(ipam, &v, &n, err);
	if (r < 0)
		return r;
	for (size_t i = 0; i < n; i++) {
		char name[NET_IP_STRLEN];

		net_ip_format(v[i].ip, name);
		if (unlinkat(ipam->dirfd, name, 0) < 0 && errno != ENOENT)
			return err_set(err, errno, "remove lease '%s/%s'", ipam->dir, name);
	}
	if (unlinkat(ipam->dirfd, CURSOR_FILE, 0) < 0 && errno != ENOENT)
		return err_set(err, errno, "remove '%s/%s'", ipam->dir, CURSOR_FILE);
	return 0;
}
